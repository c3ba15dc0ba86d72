import type { TargetScheduleRow } from "../../db/ledger.ts";
import type { Reply } from "../reply.ts";
import { ago, clip, dash, utc } from "./format.ts";
import { mention } from "./mention.ts";

// Pure builders for a storage target's verification schedule: schedule --target, its line in schedules, unschedule.

export interface TargetScheduleView {
  row: TargetScheduleRow;
  /** When it next runs; null when the scheduler does not have it (its cron cannot be parsed). */
  next: number | null;
}

const sliceOf = (r: TargetScheduleRow) => `slice ${r.next_slice}/${r.slices}`;

function what(r: TargetScheduleRow): string {
  return r.slices === 1 ? `the whole target re-read on "${r.cron}"` : `every copy re-read once every ${r.slices} runs of "${r.cron}", one slice a run`;
}

export function targetScheduledReply(v: TargetScheduleView, replaced: TargetScheduleRow | undefined): Reply {
  const r = v.row;
  const continues = r.next_slice > 1 || r.round_started_at !== null;
  return {
    visibility: "channel",
    tone: "success",
    title: `⏰ ${r.target}: ${what(r)}; next ${utc(v.next)} reads ${sliceOf(r)}`,
    fields: [
      ["slices", r.slices === 1 ? "1 (each run reads everything)" : `${r.slices} (each run reads the next; a run also reads what earlier slices of the round could not)`],
      ["round", continues ? `continues at ${sliceOf(r)} (begun ${utc(r.round_started_at)})` : `starts at slice 1/${r.slices}`],
    ],
    lines: replaced ? [`replaces "${replaced.cron}" in ${replaced.slices} slice(s) (set by ${mention(dash(replaced.created_by))} ${utc(replaced.created_at)})`] : [],
  };
}

/** One line of `schedules`. */
export function targetScheduleLine(v: TargetScheduleView, now: number): string {
  const r = v.row;
  const round = r.round_started_at === null ? "" : ` (round begun ${ago(now, r.round_started_at)})`;
  const last = r.last_run_at === null ? "not run yet" : `last run ${dash(r.last_status)} ${ago(now, r.last_run_at)}${r.last_message ? `: ${r.last_message}` : ""}`;
  return clip(`verify --target ${r.target} "${r.cron}" in ${r.slices} slice(s): next ${utc(v.next)} reads ${sliceOf(r)}${round}; ${last}`, 400);
}

export function targetUnscheduledReply(row: TargetScheduleRow, user: string): Reply {
  return {
    visibility: "channel",
    tone: "success",
    title: `${row.target}: verification schedule "${row.cron}" (${row.slices} slice(s)) removed by ${mention(user)}`,
    lines: ["its copies stay, and verify --target still reads it when asked"],
  };
}
