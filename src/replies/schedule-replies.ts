import type { ScheduleRow } from "../../db/ledger.ts";
import type { Reply } from "../reply.ts";
import { HAS_CHILDREN, type RetentionPlan } from "../retention/apply-policy.ts";
import type { PruneOutcome } from "../engine/schedule/retention.ts";
import { formatKeep } from "../retention/keep-policy.ts";
import { formatSpan } from "../duration.ts";
import { ago, clip, dash, utc } from "./format.ts";
import { mention } from "./mention.ts";
import { targetScheduleLine, type TargetScheduleView } from "./target-schedule-replies.ts";

// Pure builders for schedule, schedules and prune.

export interface ScheduleView {
  row: ScheduleRow;
  next: number | null; // null for --native (LXD decides)
  warnMs: number;
  critMs: number;
}

export function scheduledReply(v: ScheduleView, replaced: ScheduleRow | undefined): Reply {
  const r = v.row;
  return {
    visibility: "channel",
    tone: "success",
    title: `⏰ ${r.server}: snapshots on "${r.cron}"${r.native ? " by LXD itself (--native)" : `, next ${utc(v.next)}`}`,
    fields: [
      ["names", r.pattern ?? "dated (like create)"],
      ["expiry", r.expiry ?? "none"],
      ["keep", r.keep ? formatKeep(r.keep) : "everything (no --keep)"],
      ["stale alert", `warn after ${formatSpan(v.warnMs)}, critical after ${formatSpan(v.critMs)}`],
    ],
    lines: replaced ? [`replaces "${replaced.cron}" (set by ${mention(dash(replaced.created_by))} ${utc(replaced.created_at)})`] : [],
  };
}

/** The servers' schedules as a table; the storage targets' verification schedules as lines below the title. */
export function schedulesReply(views: ScheduleView[], now: number, targets: TargetScheduleView[] = []): Reply {
  if (views.length === 0 && targets.length === 0)
    return { visibility: "ephemeral", tone: "info", title: 'no schedules yet: e.g. schedule <server> "@daily" --keep daily=7,weekly=4,monthly=6' };
  const lines = targets.map((t) => targetScheduleLine(t, now));
  return {
    visibility: "ephemeral",
    tone: "info",
    title: `${views.length + targets.length} schedule(s)`,
    ...(lines.length ? { lines } : {}),
    table: views.length === 0 ? undefined : {
      columns: ["server", "cron", "next run", "last run", "keep", "expiry", "names"],
      rows: views.map((v) => [
        v.row.server,
        v.row.cron,
        v.row.native ? "LXD (--native)" : utc(v.next),
        v.row.last_run_at === null ? "—" : `${dash(v.row.last_status)} ${ago(now, v.row.last_run_at)}`,
        v.row.keep ? formatKeep(v.row.keep) : "—",
        dash(v.row.expiry),
        clip(v.row.pattern ?? "dated", 40),
      ]),
    },
  };
}

export function unscheduledReply(row: ScheduleRow, user: string): Reply {
  return { visibility: "channel", tone: "success", title: `${row.server}: schedule "${row.cron}" removed by ${user}`, lines: ["its snapshots stay; their expiry still applies"] };
}

/** What expiry removes, and what it keeps past its expiry because it has children. */
export interface ExpiryPlan {
  expired: string[];
  held: string[];
}

/** The copies part of a prune (copies kept elsewhere under that place's own policy): the plan or outcome, or why not. */
export type CopiesView = { where: string; keep: string; plan: RetentionPlan; removed?: string[] } | { where: string; keep: string; error: string };

const copiesHead = (c: CopiesView) => `copies on ${c.where} (${c.keep})`;

function copiesPlanned(c: CopiesView | undefined): { title: string; lines: string[]; kept: string[][] } {
  if (!c) return { title: "", lines: [], kept: [] };
  if ("error" in c) return { title: `; ${copiesHead(c)}: not listed`, lines: [`${copiesHead(c)}: could not list them: ${c.error.split("\n")[0]}`], kept: [] };
  const lines = [...c.plan.remove.map((r) => `remove copy ${r.name}: ${r.why}`), ...c.plan.protect.map((r) => `keep copy ${r.name}: ${r.why}`)];
  const title = `; ${copiesHead(c)}: would remove ${c.plan.remove.length}, keep ${c.plan.keep.length + c.plan.protect.length}`;
  return { title, lines, kept: c.plan.keep.map((k) => [k.name, k.reasons.join(", ")]) };
}

function copiesPruned(c: CopiesView | undefined): { title: string; lines: string[]; failed: boolean } {
  if (!c) return { title: "", lines: [], failed: false };
  if ("error" in c) return { title: `; ${copiesHead(c)}: failed`, lines: [`failed ${copiesHead(c)}: ${c.error.split("\n")[0]}`], failed: true };
  const removed = c.removed ?? [];
  const lines = removed.length ? [`removed copies: ${clip(removed.join(", "), 2500)}`] : [`no copy to remove on ${c.where}`];
  return { title: `; ${copiesHead(c)}: removed ${removed.length}, kept ${c.plan.keep.length + c.plan.protect.length}`, lines, failed: false };
}

const heldLine = (verb: string, name: string) => `${verb} ${name}: ${HAS_CHILDREN} (would be removed: past its expiry)`;

export function prunePlanReply(server: string, plan: RetentionPlan, expiry: ExpiryPlan, keep: string, copies?: CopiesView): Reply {
  const c = copiesPlanned(copies);
  const lines = [
    ...plan.remove.map((r) => `remove ${r.name}: ${r.why}`),
    ...expiry.expired.map((n) => `remove ${n}: past its expiry`),
    ...plan.protect.map((r) => `keep ${r.name}: ${r.why}`),
    ...expiry.held.map((n) => heldLine("keep", n)),
    ...c.lines,
  ];
  const kept = plan.keep.length + plan.protect.length + expiry.held.length;
  const rows = [...plan.keep.map((k) => [k.name, k.reasons.join(", ")]), ...c.kept];
  return {
    visibility: "ephemeral",
    tone: "info",
    title: `prune ${server} --dry-run (${keep}): would remove ${plan.remove.length + expiry.expired.length}, keep ${kept}${c.title}`,
    lines: lines.length > 40 ? [...lines.slice(0, 40), `… and ${lines.length - 40} more`] : lines,
    table: rows.length ? { columns: ["kept", "because"], rows: rows.slice(0, 30) } : undefined,
  };
}

/** What expiry removed, what failed, and what it kept past its expiry because it has children. */
export interface ExpiryOutcome {
  pruned: string[];
  failed: string[];
  held: string[];
}

export function prunedReply(server: string, out: PruneOutcome, expired: ExpiryOutcome, user: string, copies?: CopiesView): Reply {
  const removed = [...out.pruned, ...expired.pruned];
  const failed = [...out.failed.map((f) => `${f.name}: ${f.error}`), ...expired.failed];
  const kept = out.plan.keep.length + out.plan.protect.length + expired.held.length;
  const c = copiesPruned(copies);
  return {
    visibility: "channel",
    tone: failed.length || out.stopped || c.failed ? "error" : "success",
    title: `prune ${server} (asked by ${user}): removed ${removed.length}, kept ${kept}${failed.length ? `, ${failed.length} failed` : ""}${c.title}`,
    lines: [
      ...(removed.length ? [`removed: ${clip(removed.join(", "), 2500)}`] : ["nothing to remove"]),
      ...c.lines,
      ...failed.slice(0, 10).map((f) => `failed ${f}`),
      ...(out.stopped ? [`stopped: ${out.stopped}`] : []),
      ...out.plan.protect.slice(0, 10).map((p) => `kept ${p.name}: ${p.why}`),
      ...expired.held.slice(0, 10).map((n) => heldLine("kept", n)),
    ],
  };
}
