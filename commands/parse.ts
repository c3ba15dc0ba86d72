import { UserError } from "../src/errors.ts";

// The grammar of DESIGN.md §2: words, "quoted phrases" (Slack's curly quotes too), --flags with or
// without a value, key=value pairs, and <server>/<snap> references (checked by the commands).

export type FlagKind = "bool" | "value";
export type FlagSpec = Record<string, FlagKind>;

export interface ParsedArgs {
  positionals: string[];
  flags: Record<string, string | true>;
  pairs: Record<string, string>;
}

const QUOTES: Record<string, string> = { '"': '"', "'": "'", "\u201c": "\u201d", "\u2018": "\u2019", "\u201d": "\u201d" };
export const MAX_INPUT = 4000;

/** Splits a command line into words, honouring quotes; an unclosed quote is an error, not a guess. */
export function tokenize(line: string): string[] {
  if (line.length > MAX_INPUT) throw new UserError("too_long", `that command is ${line.length} characters long: keep it under ${MAX_INPUT}`);
  const words: string[] = [];
  let cur = "";
  let inWord = false;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i]!;
    const close = QUOTES[ch];
    if (close) {
      const end = line.indexOf(close, i + 1);
      if (end < 0) throw new UserError("unclosed_quote", `unclosed quote ${ch}: close it, e.g. --note "before upgrade"`);
      cur += line.slice(i + 1, end);
      inWord = true;
      i = end;
    } else if (/\s/.test(ch)) {
      if (inWord) words.push(cur);
      cur = "";
      inWord = false;
    } else {
      cur += ch;
      inWord = true;
    }
  }
  if (inWord) words.push(cur);
  return words;
}

/** Sorts words into positionals, flags (per the command's spec) and key=value pairs. */
export function parseArgs(words: string[], spec: FlagSpec, usage: string, allowPairs = false): ParsedArgs {
  const out: ParsedArgs = { positionals: [], flags: {}, pairs: {} };
  for (let i = 0; i < words.length; i++) {
    const w = words[i]!;
    if (w.startsWith("--") && w.length > 2) {
      const [rawName, inline] = splitOnce(w.slice(2), "=");
      const kind = spec[rawName];
      if (!kind) throw new UserError("unknown_flag", `unknown option --${rawName}; usage: ${usage}`);
      // Last-wins would silently drop what was typed first: say so instead.
      if (rawName in out.flags) throw new UserError("repeated_flag", `--${rawName} given twice: give it once; usage: ${usage}`);
      if (kind === "bool") {
        if (inline !== undefined) throw new UserError("bad_flag", `--${rawName} takes no value; usage: ${usage}`);
        out.flags[rawName] = true;
      } else {
        const value = inline ?? words[++i];
        if (value === undefined || (inline === undefined && value.startsWith("--")))
          throw new UserError("missing_value", `--${rawName} needs a value; usage: ${usage}`);
        out.flags[rawName] = value;
      }
    } else if (allowPairs && /^[a-z_]+=/.test(w)) {
      const [k, v] = splitOnce(w, "=");
      if (k in out.pairs) throw new UserError("repeated_pair", `${k}= given twice: give it once (lists are comma-separated, e.g. paths=/etc,/srv)`);
      out.pairs[k] = v ?? "";
    } else out.positionals.push(w);
  }
  return out;
}

function splitOnce(s: string, sep: string): [string, string | undefined] {
  const at = s.indexOf(sep);
  return at < 0 ? [s, undefined] : [s.slice(0, at), s.slice(at + 1)];
}

/** Positional count check with the usage line in the answer. */
export function expectPositionals(args: ParsedArgs, min: number, max: number, usage: string): string[] {
  const n = args.positionals.length;
  if (n < min) throw new UserError("missing_argument", `missing argument; usage: ${usage}`);
  if (n > max) throw new UserError("extra_argument", `unexpected "${args.positionals[max]}"; usage: ${usage}`);
  return args.positionals;
}
