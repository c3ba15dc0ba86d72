import { civilFromDays } from "../civil-date.ts";
import { checkKeep, formatKeep, KEEP_RULES, type KeepPolicy, type KeepRule } from "./keep-policy.ts";

// restic's ApplyPolicy (internal/restic/snapshot_policy.go), periods in UTC: walk the snapshots newest
// first; each rule with a count left keeps a snapshot whose period differs from the one it kept last, and
// since restic 0.17 also the oldest snapshot while it still has a count left ("oldest daily …"). Rules
// are ORed. On top: only `done` snapshots take part, `broken` ones are removed, and some are protected.

export interface RetentionCandidate {
  id: number;
  name: string;
  createdAt: number; // ms since the epoch
  state: string; // "done" | "broken" take part; any other state is ignored
  hasChildren: boolean;
  inUse: string | null; // e.g. "restore running": set by the caller
}

export interface RetentionPlan {
  keep: Array<{ id: number; name: string; reasons: string[] }>;
  remove: Array<{ id: number; name: string; why: string }>;
  protect: Array<{ id: number; name: string; why: string }>;
}

const HOUR = 3_600_000;
const DAY = 86_400_000;

const civil = civilFromDays;

/** The day number of the Monday starting the ISO week of `days` (1970-01-01 was a Thursday). */
const mondayOf = (days: number): number => days - ((((days + 3) % 7) + 7) % 7);

/** The period of time `t` (on `day`, whose civil date is `ymd`) for a rule; `nr` makes every snapshot its own period for `last`. */
function periodKey(rule: KeepRule, t: number, nr: number, day: number, ymd: number): number {
  switch (rule) {
    case "last": return nr;
    case "hourly": return Math.floor(t / HOUR);
    case "daily": return day;
    case "weekly": return mondayOf(day);
    case "monthly": return Math.floor(ymd / 100);
    case "yearly": return Math.floor(ymd / 10_000);
  }
}

const pad = (n: number, w = 2): string => String(n).padStart(w, "0");
const ymdText = (ymd: number): string => `${Math.floor(ymd / 10_000)}-${pad(Math.floor(ymd / 100) % 100)}-${pad(ymd % 100)}`;

/** What a reason says about the period: "2026-11-21", "2026-W47", "2026-11-21 14:00"… */
function periodText(rule: Exclude<KeepRule, "last">, t: number): string {
  const day = Math.floor(t / DAY);
  const ymd = civil(day);
  switch (rule) {
    case "hourly": return `${ymdText(ymd)} ${pad(Math.floor(t / HOUR) - day * 24)}:00`;
    case "daily": return ymdText(ymd);
    case "weekly": {
      const thursday = mondayOf(day) + 3; // an ISO week belongs to the year of its Thursday
      const year = Math.floor(civil(thursday) / 10_000);
      return `${year}-W${pad(Math.floor((thursday - january1(year)) / 7) + 1)}`;
    }
    case "monthly": return ymdText(ymd).slice(0, 7);
    case "yearly": return String(Math.floor(ymd / 10_000));
  }
}

/** The day number of 1 January of `year` (days_from_civil with March-based years: 1 January is day 306 of year - 1). */
function january1(year: number): number {
  const y = year - 1;
  const era = Math.floor(y / 400);
  const yoe = y - era * 400;
  return era * 146_097 + yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + 306 - 719_468;
}

const takesPart = (s: RetentionCandidate): boolean => s.state === "done" || s.state === "broken";

/**
 * The done and broken snapshots, newest first by createdAt, then by id. Input in either order (as the
 * ledger's index gives it) is only checked; otherwise an LSD radix sort on 16-bit digits of the time, then
 * runs of equal times by id: a comparator sort of 100,000 shuffled rows alone costs ~100 ms on a small VM.
 */
function newestFirst(snapshots: RetentionCandidate[]): RetentionCandidate[] {
  const list: RetentionCandidate[] = [];
  const time = new Float64Array(snapshots.length);
  let minT = Infinity, maxT = -Infinity, desc = true, asc = true, prevT = Number.NaN, prevId = 0;
  for (let i = 0; i < snapshots.length; i++) {
    const s = snapshots[i]!;
    if (!takesPart(s)) continue;
    const t = s.createdAt;
    const id = s.id;
    if (!Number.isSafeInteger(t)) return snapshots.filter(takesPart).sort((a, b) => b.createdAt - a.createdAt || b.id - a.id);
    if (t < prevT || (t === prevT && id < prevId)) asc = false;
    else if (list.length > 0) desc = false;
    time[list.length] = prevT = t;
    prevId = id;
    list.push(s);
    if (t < minT) minT = t;
    if (t > maxT) maxT = t;
  }
  if (desc) return list;
  if (asc) return list.reverse();
  const n = list.length;
  const lo = new Uint32Array(n); // time - minT, split in two for integer digit arithmetic
  const hi = new Uint32Array(n);
  for (let i = 0; i < n; i++) (lo[i] = (time[i]! - minT) % 4_294_967_296), (hi[i] = Math.floor((time[i]! - minT) / 4_294_967_296));
  let order = new Uint32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  let spare = new Uint32Array(n);
  const count = new Uint32Array(65_536);
  const span = maxT - minT;
  for (const [key, shift, reach] of [[lo, 0, 1], [lo, 16, 65_536], [hi, 0, 4_294_967_296], [hi, 16, 2 ** 48]] as const) {
    if (span < reach) break;
    count.fill(0);
    for (let i = 0; i < n; i++) count[(key[i]! >>> shift) & 0xffff]!++;
    for (let d = 0, sum = 0, c = 0; d < 65_536; d++, sum += c) (c = count[d]!), (count[d] = sum);
    for (let i = 0; i < n; i++) spare[count[(key[order[i]!]! >>> shift) & 0xffff]!++] = order[i]!;
    [order, spare] = [spare, order];
  }
  order.reverse();
  const out = new Array<RetentionCandidate>(n);
  for (let i = 0, j = 1; i < n; i = j++) {
    while (j < n && time[order[j]!] === time[order[i]!]) j++;
    for (let k = i; k < j; k++) out[k] = list[order[k]!]!;
    if (j - i > 1) out.splice(i, j - i, ...out.slice(i, j).sort((a, b) => b.id - a.id));
  }
  return out;
}

/** restic's bucket walk, one snapshot at a time, newest first: the reasons to keep it, or undefined. */
function keeper(policy: KeepPolicy, oldest: RetentionCandidate | undefined, explain: boolean) {
  const buckets = KEEP_RULES.filter((r) => policy[r] > 0).map((rule) => ({ rule, left: policy[rule], last: Number.NaN }));
  let live = buckets.length; // once every count is spent nothing else is kept
  let nr = 0;
  let day = Number.NaN, ymd = 0; // the civil date, recomputed only when the day changes
  return (snap: RetentionCandidate): string[] | undefined => {
    if (live === 0) return undefined;
    const t = snap.createdAt;
    if (Math.floor(t / DAY) !== day) ymd = civil((day = Math.floor(t / DAY)));
    let reasons: string[] | undefined;
    for (const b of buckets) {
      if (b.left === 0) continue;
      const key = periodKey(b.rule, t, nr, day, ymd);
      if (key === b.last && snap !== oldest) continue;
      if (explain) {
        const label = b.rule === "last" ? String(policy.last - b.left + 1) : periodText(b.rule, t);
        (reasons ??= []).push(`${key === b.last ? "oldest " : ""}${b.rule} ${label}`);
      } else reasons ??= UNEXPLAINED;
      b.last = key;
      if (--b.left === 0) live--;
    }
    nr++;
    return reasons;
  };
}

const UNEXPLAINED: string[] = []; // kept, reasons not asked for (the pass over every server)

/** Why a parent stays: in a tree its children are built on it (qemu, libvirt), so by default only leaves go. */
export const HAS_CHILDREN = "has children (parents=prune lets it go)";

/** Why a snapshot the policy would remove must stay, or null. */
function guard(s: RetentionCandidate, newestGood: boolean, p: KeepPolicy): string | null {
  if (!newestGood && !s.inUse && !(s.hasChildren && p.parents === "keep")) return null;
  const guards: string[] = [];
  if (newestGood) guards.push("newest good snapshot"); // the rules always keep it; this only guards against a bug
  if (s.inUse) guards.push(`in use: ${s.inUse}`);
  if (s.hasChildren && p.parents === "keep") guards.push(HAS_CHILDREN);
  return guards.join("; ");
}

/** `explain: false` leaves the kept snapshots' reasons empty (the text costs more than the planning). */
export function planRetention(snapshots: RetentionCandidate[], policy: KeepPolicy, explain = true): RetentionPlan {
  const p = checkKeep(policy);
  const sorted = newestFirst(snapshots);
  let oldest = sorted.length - 1;
  while (oldest >= 0 && sorted[oldest]!.state !== "done") oldest--;
  const keep = keeper(p, sorted[oldest], explain);
  const notKept = `not kept by ${formatKeep({ ...p, parents: "keep" })}`;
  const plan: RetentionPlan = { keep: [], remove: [], protect: [] };
  let newestGood = true;
  for (const s of sorted) {
    const reasons = s.state === "done" ? keep(s) : undefined;
    if (reasons) plan.keep.push({ id: s.id, name: s.name, reasons });
    else {
      const why = s.state === "broken" ? "broken: never counts as kept" : notKept;
      const stay = guard(s, newestGood && s.state === "done", p);
      if (stay) plan.protect.push({ id: s.id, name: s.name, why: `${stay} (would be removed: ${why})` });
      else plan.remove.push({ id: s.id, name: s.name, why });
    }
    if (s.state === "done") newestGood = false;
  }
  return plan;
}
