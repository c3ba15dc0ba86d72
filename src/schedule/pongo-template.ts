// The small part of Pongo2 that LXD's snapshots.pattern uses: text with `{{ creation_date|date:'<Go layout>' }}`
// expressions (either quote, optional spaces). Anything else Pongo2 would accept is refused with a hint,
// because Pongo2 renders an unknown variable as "" and that would silently give every snapshot one name.
import { formatGoTime } from "./go-time-layout.ts";

export const PATTERN_EXAMPLE = `{{ creation_date|date:'2006-01-02_15-04-05' }}`;

export type TemplatePart = { kind: "text"; text: string } | { kind: "date"; layout: string; filters: string[] };

/** Filters that may follow the date (they apply to the formatted string). */
const STRING_FILTERS: Record<string, (s: string) => string> = {
  lower: (s) => s.toLowerCase(),
  upper: (s) => s.toUpperCase(),
};

/** A syntax problem, without the "pattern …:" prefix and the hint, which the caller adds. */
export class TemplateSyntaxError extends Error {}

export function parseTemplate(pattern: string): TemplatePart[] {
  const parts: TemplatePart[] = [];
  let i = 0;
  while (i < pattern.length) {
    const open = pattern.slice(i).search(/\{[{%#]/);
    if (open < 0) {
      parts.push({ kind: "text", text: pattern.slice(i) });
      break;
    }
    if (open > 0) parts.push({ kind: "text", text: pattern.slice(i, i + open) });
    const start = i + open;
    if (pattern[start + 1] !== "{") {
      throw new TemplateSyntaxError(`"${pattern.slice(start, start + 2)}" tags and comments are not supported, only {{ creation_date|date:'…' }}`);
    }
    const close = pattern.indexOf("}}", start + 2);
    if (close < 0) throw new TemplateSyntaxError(`"{{" is not closed with "}}"`);
    parts.push(parseExpression(pattern.slice(start + 2, close)));
    i = close + 2;
  }
  return parts;
}

/** `creation_date|date:'…'` followed by optional `|lower` / `|upper`. */
function parseExpression(src: string): TemplatePart {
  let rest = src.trim();
  const variable = /^[A-Za-z_][A-Za-z0-9_.]*/.exec(rest)?.[0];
  if (!variable) throw new TemplateSyntaxError(`"{{${src}}}" is not a variable`);
  if (variable !== "creation_date") {
    throw new TemplateSyntaxError(`unknown template variable "${variable}" (the only one is creation_date)`);
  }
  rest = rest.slice(variable.length).trimStart();
  let layout: string | null = null;
  const filters: string[] = [];
  while (rest.length > 0) {
    const m = /^\|\s*([A-Za-z_][A-Za-z0-9_]*)\s*/.exec(rest);
    if (!m) throw new TemplateSyntaxError(`unexpected "${rest}" in "{{${src}}}"`);
    const name = m[1]!;
    rest = rest.slice(m[0].length);
    if (name === "date" && layout === null && filters.length === 0) {
      const arg = readStringArgument(rest);
      if (!arg) throw new TemplateSyntaxError(`the date filter needs a quoted Go layout, like date:'2006-01-02'`);
      layout = arg.value;
      rest = rest.slice(arg.length).trimStart();
    } else if (name in STRING_FILTERS && layout !== null) {
      filters.push(name);
    } else {
      throw new TemplateSyntaxError(`unknown or misplaced template filter "${name}" (use |date:'<Go layout>', then optionally |lower or |upper)`);
    }
  }
  if (layout === null) throw new TemplateSyntaxError(`creation_date needs a |date:'<Go layout>' filter`);
  return { kind: "date", layout, filters };
}

/** `:'…'` or `:"…"` with backslash escapes; null if there is none. */
function readStringArgument(s: string): { value: string; length: number } | null {
  const m = /^:\s*(['"])/.exec(s);
  if (!m) return null;
  const quote = m[1]!;
  let value = "";
  for (let i = m[0].length; i < s.length; i++) {
    const c = s[i]!;
    if (c === "\\" && i + 1 < s.length) value += s[++i];
    else if (c === quote) return { value, length: i + 1 };
    else value += c;
  }
  throw new TemplateSyntaxError(`the date layout is missing its closing ${quote}`);
}

export function renderTemplate(parts: readonly TemplatePart[], createdAtMs: number): string {
  return parts
    .map((p) => (p.kind === "text" ? p.text : p.filters.reduce((s, f) => STRING_FILTERS[f]!(s), formatGoTime(p.layout, createdAtMs))))
    .join("");
}
