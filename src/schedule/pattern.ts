// LXD's snapshots.pattern, so an LXD user's value works unchanged (lxd/instance/instance_utils.go
// NextSnapshotName, lxd/db GetNextInstanceSnapshotIndex):
//  1. render the Pongo2 template with creation_date (we render in UTC);
//  2. more than one "%d" is an error;
//  3. one "%d": replaced by 1 + the highest number found at that position in existing names, 0 if none;
//  4. no "%d" and the name exists: "-%d" is appended and step 3 applies ("name-0", "name-1", …).
import { UserError } from "../errors.ts";
import { checkName } from "../names.ts";
import { PATTERN_EXAMPLE, TemplateSyntaxError, parseTemplate, renderTemplate, type TemplatePart } from "./pongo-template.ts";

export const DEFAULT_PATTERN = "snap%d";

/** Existing snapshot names, or a predicate saying whether a name is taken. */
export type TakenNames = ((name: string) => boolean) | Iterable<string>;

const HINT = `use e.g. "snap%d" or "${PATTERN_EXAMPLE}" (a Go layout; %d is the next free number)`;
// Wide and narrow sample times: September/Wednesday give the longest names, the 2nd of January the
// space that "_2" pads with.
const SAMPLES = [Date.UTC(2006, 8, 27, 23, 59, 59, 999), Date.UTC(2006, 0, 2, 3, 4, 5, 0)];

/** Syntax and name checks at `schedule` time, so a bad pattern is refused before its first run. */
export function checkPattern(pattern: string): void {
  const parts = parse(pattern);
  for (const at of SAMPLES) nameFrom(pattern, renderTemplate(parts, at), () => 0);
}

/** The snapshot name for a run at createdAtMs; pass the existing names to get LXD's numbering exactly. */
export function renderPattern(pattern: string, createdAtMs: number, taken: TakenNames): string {
  const rendered = renderTemplate(parse(pattern), createdAtMs);
  const isTaken = toPredicate(taken);
  const index = (prefix: string, suffix: string): number => nextIndex(prefix, suffix, taken, isTaken);
  // LXD: a name without %d that already exists gets "-%d" appended.
  if (!rendered.includes("%d") && isTaken(rendered)) return nameFrom(pattern, `${rendered}-%d`, index);
  return nameFrom(pattern, rendered, index);
}

function parse(pattern: string): TemplatePart[] {
  try {
    return parseTemplate(pattern === "" ? DEFAULT_PATTERN : pattern);
  } catch (e) {
    if (e instanceof TemplateSyntaxError) throw badPattern(pattern, e.message);
    throw e;
  }
}

/** Applies the %d rule and snapbot's name rule to a rendered template. */
function nameFrom(pattern: string, rendered: string, index: (prefix: string, suffix: string) => number): string {
  const pieces = rendered.split("%d");
  if (pieces.length > 2) throw badPattern(pattern, `"%d" may appear only once`);
  const name = pieces.length === 2 ? `${pieces[0]}${index(pieces[0]!, pieces[1]!)}${pieces[1]}` : rendered;
  try {
    return checkName("snapshot", name);
  } catch {
    const shown = name.length > 40 ? `${name.slice(0, 40)}…` : name;
    throw badPattern(pattern, `it gives the name "${shown}", but snapshot names are 1–63 letters, digits, '.', '_' or '-', starting with a letter or digit`);
  }
}

function badPattern(pattern: string, what: string): UserError {
  const shown = pattern.length > 60 ? `${pattern.slice(0, 60)}…` : pattern;
  return new UserError("bad_pattern", `pattern "${shown}": ${what}; ${HINT}`);
}

function toPredicate(taken: TakenNames): (name: string) => boolean {
  if (typeof taken === "function") return taken;
  const set = new Set(taken);
  return (name) => set.has(name);
}

/**
 * With a list of names: LXD's rule, 1 + the highest number any name has at the %d position (as Go's
 * fmt.Sscanf(name, prefix+"%d"+suffix) reads it: optional sign, digits, then the suffix; anything after
 * is ignored), or 0. With only a predicate the highest cannot be known: the first free number is used.
 * Either way a number whose name is taken is skipped.
 */
function nextIndex(prefix: string, suffix: string, taken: TakenNames, isTaken: (name: string) => boolean): number {
  let n = 0;
  if (typeof taken !== "function") {
    for (const name of taken) {
      const num = scanIndex(name, prefix, suffix);
      if (num !== null && num >= n) n = num + 1;
    }
  }
  while (isTaken(`${prefix}${n}${suffix}`)) n++;
  return n;
}

function scanIndex(name: string, prefix: string, suffix: string): number | null {
  if (!name.startsWith(prefix)) return null;
  const m = /^[+-]?\d+/.exec(name.slice(prefix.length));
  if (!m || !name.startsWith(suffix, prefix.length + m[0].length)) return null;
  const num = Number(m[0]);
  return Number.isSafeInteger(num) ? num : null;
}
