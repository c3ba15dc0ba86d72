import type { Slice } from "./target-slices.ts";
import { formatBytes } from "../../duration.ts";
import { LOCAL_TARGET } from "../../storage/storage-targets.ts";

// What a verify --target run read, and the one line the audit log, the reply's title and the schedule's last
// run say about it: "offsite slice 2/7: 14 copies, 3.10 GiB read, 1 broken: web-1/s3".

export interface TargetVerified {
  target: string;
  slice: Slice | null;
  /** Done and broken units the target holds, in every slice. */
  held: number;
  /** The units this run set out to read. */
  planned: number;
  read: { copy: number; snapshot: number };
  bytes: number;
  broken: Array<{ place: string; noun: "copy" | "snapshot"; problems: string[] }>;
  /** Read errors (not verdicts): the unit was not verified. */
  unreadable: Array<{ place: string; error: string }>;
  /** Skipped: another operation held the unit (a copy being replaced, a prune, the server's own work). */
  busy: Array<{ place: string; why: string }>;
  /** A round's run: units of earlier slices it read too (moved by the cuts, or not read when their turn came). */
  caughtUp: number;
  /** A round's run: units of this slice re-read since the round began (copied or verified meanwhile): not read again. */
  alreadyRead: number;
}

const MISSING = "manifest.json is missing";

export function targetVerifyLine(v: TargetVerified): string {
  const head = v.slice ? `${v.target} slice ${v.slice.n}/${v.slice.m}` : v.target;
  if (v.planned === 0) return `${head}: nothing to read (${nothingWhy(v)})`;
  const parts = [`${counted(v.read)}${v.caughtUp ? ` (${v.caughtUp} from earlier slices)` : ""}`, `${formatBytes(v.bytes)} read`];
  const read = v.read.copy + v.read.snapshot;
  if (read > 0 && v.broken.length === read && v.broken.every((b) => b.problems.length === 1 && b.problems[0] === MISSING))
    parts.push(`${v.broken.length} broken: ${placeOf(v.target)} holds none of them (every ${MISSING}): was it emptied, or does it point somewhere else?`);
  else if (v.broken.length) parts.push(`${v.broken.length} broken: ${names(v.broken)}`);
  else if (read > 0) parts.push("every part matches");
  if (v.unreadable.length) parts.push(`${v.unreadable.length} could not be read: ${names(v.unreadable)} (${v.unreadable[0]!.error})`);
  if (v.busy.length) parts.push(`${v.busy.length} skipped, busy: ${names(v.busy)}`);
  if (v.alreadyRead) parts.push(`${v.alreadyRead} already re-read this round`);
  return `${head}: ${parts.join(", ")}`;
}

/** "14 copies", "3 snapshots", "12 copies and 2 snapshots". */
export function counted(n: { copy: number; snapshot: number }): string {
  const copies = `${n.copy} ${n.copy === 1 ? "copy" : "copies"}`;
  const snaps = `${n.snapshot} snapshot${n.snapshot === 1 ? "" : "s"}`;
  if (n.snapshot === 0) return copies;
  return n.copy === 0 ? snaps : `${copies} and ${snaps}`;
}

const placeOf = (target: string) => (target === LOCAL_TARGET ? "storage.path" : target);

function nothingWhy(v: TargetVerified): string {
  const what = v.target === LOCAL_TARGET ? "no done or broken snapshot" : "no done or broken copy";
  if (v.held === 0) return `${placeOf(v.target)} holds ${what}`;
  if (v.alreadyRead) return `${v.alreadyRead} of this slice already re-read this round`;
  return `${v.held} on ${placeOf(v.target)}, none in this slice`;
}

function names(items: Array<{ place: string }>, max = 5): string {
  const shown = items.slice(0, max).map((i) => i.place).join(", ");
  return items.length > max ? `${shown} and ${items.length - max} more` : shown;
}
