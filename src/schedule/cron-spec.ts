// One five-field cron expression with robfig/cron v3's rules (what LXD validates snapshots.schedule
// with): lists, ranges, "*" and "?", steps ("*/n", "a-b/n", and "a/n" meaning a-max/n), month and
// weekday names, and the Vixie day rule: if day-of-month or day-of-week is unrestricted (starts with
// "*" or "?", and has no step above 1) both must match, otherwise either may. Also 7 = Sunday (Vixie;
// robfig refuses 7, so accepting it only widens what works).

/** A field problem, phrased for the user; the caller adds the expression and the usage hint. */
export class CronFieldError extends Error {}

interface FieldDef {
  name: string;
  min: number;
  max: number;
  starMax: number; // where "*" and "a/n" end: 6 for weekdays, though 7 (Sunday) may be written
  names?: Record<string, number>;
}

const MONTH_NAMES = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"];
const DAY_NAMES = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];
const FIELDS: readonly FieldDef[] = [
  { name: "minute", min: 0, max: 59, starMax: 59 },
  { name: "hour", min: 0, max: 23, starMax: 23 },
  { name: "day", min: 1, max: 31, starMax: 31 },
  { name: "month", min: 1, max: 12, starMax: 12, names: Object.fromEntries(MONTH_NAMES.map((n, i) => [n, i + 1])) },
  { name: "weekday", min: 0, max: 7, starMax: 6, names: Object.fromEntries(DAY_NAMES.map((n, i) => [n, i])) },
];

/** Allowed values of one field with lookup tables: next[v] = first allowed >= v, prev[v] = last <= v, or -1. */
export class FieldSet {
  readonly next: number[];
  readonly prev: number[];
  readonly first: number;
  readonly last: number;
  constructor(readonly has: readonly boolean[], readonly star: boolean) {
    this.next = new Array<number>(has.length + 1);
    this.prev = new Array<number>(has.length);
    this.next[has.length] = -1;
    for (let v = has.length - 1; v >= 0; v--) this.next[v] = has[v] ? v : this.next[v + 1]!;
    for (let v = 0; v < has.length; v++) this.prev[v] = has[v] ? v : v > 0 ? this.prev[v - 1]! : -1;
    this.first = this.next[0]!;
    this.last = this.prev[has.length - 1]!;
  }
}

export interface CronSpec {
  minutes: FieldSet;
  hours: FieldSet;
  days: FieldSet;
  months: FieldSet;
  weekdays: FieldSet;
}

export function parseSpec(fields: readonly string[]): CronSpec {
  const [minutes, hours, days, months, weekdays] = FIELDS.map((def, i) => cachedField(fields[i]!, def)) as [FieldSet, FieldSet, FieldSet, FieldSet, FieldSet];
  return { minutes, hours, days, months, weekdays };
}

// Field sets are immutable and schedules repeat the same fields ("0", "*"): thousands of schedules
// parse at start-up, so each distinct field is parsed once.
const cache = new Map<string, FieldSet>();
const CACHE_LIMIT = 20_000;

function cachedField(text: string, def: FieldDef): FieldSet {
  const key = `${def.name} ${text.toLowerCase()}`;
  let set = cache.get(key);
  if (!set) {
    set = parseField(text, def);
    if (cache.size >= CACHE_LIMIT) cache.clear();
    cache.set(key, set);
  }
  return set;
}

function parseField(text: string, def: FieldDef): FieldSet {
  const has: boolean[] = [];
  for (let v = 0; v <= def.max; v++) has.push(false);
  let star = false;
  const items = text.split(",").filter((s) => s !== ""); // robfig skips empty items
  if (items.length === 0) throw new CronFieldError(`the ${def.name} field "${text}" is empty`);
  for (const item of items) {
    const slash = item.split("/");
    const hyphen = slash[0]!.split("-");
    if (slash.length > 2) throw new CronFieldError(`${def.name} "${item}" has more than one "/"`);
    if (hyphen.length > 2) throw new CronFieldError(`${def.name} "${item}" has more than one "-"`);
    const [low, high] = [hyphen[0]!, hyphen[1]];
    const isStar = low === "*" || low === "?";
    if (isStar && high !== undefined) throw new CronFieldError(`${def.name} "${item}" mixes "*" with a range: write "*" or a range like 1-5`);
    const start = isStar ? def.min : value(low, def);
    let end = isStar ? def.starMax : high !== undefined ? value(high, def) : start;
    let step = 1;
    if (slash.length === 2) {
      step = /^\d+$/.test(slash[1]!) ? Number(slash[1]) : 0;
      if (step < 1) throw new CronFieldError(`the step in ${def.name} "${item}" must be a whole number of 1 or more`);
      if (high === undefined && !isStar) end = Math.max(def.starMax, start); // "a/n" means a-max/n
    }
    if (start > end) throw new CronFieldError(`${def.name} range ${start}-${end} runs backwards: write ${start}-${def.starMax},${def.min}-${end}`);
    for (let v = start; v <= end; v += step) has[v] = true;
    if (isStar && step === 1) star = true;
  }
  if (def.max === 7 && has[7]) has[0] = true; // 7 is Sunday too
  return new FieldSet(def.max === 7 ? has.slice(0, 7) : has, star);
}

function value(text: string, def: FieldDef): number {
  const named = def.names?.[text.toLowerCase()];
  if (named !== undefined) return named;
  if (!/^\d+$/.test(text)) {
    const names = def.names ? ` or a name (${Object.keys(def.names)[0]!.toUpperCase()}-${Object.keys(def.names).at(-1)!.toUpperCase()})` : "";
    throw new CronFieldError(`${def.name} "${text}" is not a number${names}`);
  }
  const n = Number(text);
  if (n < def.min || n > def.max) {
    throw new CronFieldError(`${def.name} ${n} is out of range ${def.min}-${def.max}${def.max === 7 ? " (0 and 7 are Sunday)" : ""}`);
  }
  return n;
}

const MONTH_DAYS = [0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/** Why a spec can never fire (a day no allowed month has, e.g. "0 0 30 2 *"), or null. */
export function neverFires(s: CronSpec): string | null {
  if (s.days.star || !s.weekdays.star) return null; // every month has each weekday
  const months = [];
  for (let m = 1; m <= 12; m++) {
    if (!s.months.has[m]) continue;
    if (s.days.first <= MONTH_DAYS[m]!) return null;
    months.push(MONTH_NAMES[m - 1]![0]!.toUpperCase() + MONTH_NAMES[m - 1]!.slice(1));
  }
  const days = s.days.has.flatMap((on, d) => (on ? [d] : [])).join(",");
  return `${months.join(", ")} ${months.length > 1 ? "have" : "has"} no day ${days}`;
}
