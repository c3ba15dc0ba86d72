import type { CopyRow, SnapshotRow } from "../../db/types.ts";
import type { Button, Follow, Reply } from "../reply.ts";
import type { StartedCopy } from "../engine/copies/auto-copies.ts";
import type { TargetPlan } from "../engine/copies/copies.ts";
import type { TargetPrune } from "../engine/copies/copy-retention.ts";
import { failureMessage } from "../engine/operations/run-operation.ts";
import { progressText } from "./job-replies.ts";
import { ago, clip, dash, size, utc } from "./format.ts";
import { mention } from "./mention.ts";

// Replies about copies on storage targets: `copies <server>/<snap>`, a copy's result, the copies that follow a
// create (in the create's own message, updated in place), and what prune does on targets. Pure.

const LIVE = new Set(["running", "done", "broken", "deleting"]);
const GONE_LOCALLY = new Set(["deleted", "expired", "failed"]);

/** One row per target: its live copy, else the newest attempt (failed, expired, deleted), newest targets first. */
function perTarget(rows: CopyRow[]): CopyRow[] {
  const chosen = new Map<string, CopyRow>();
  for (const c of rows) {
    const had = chosen.get(c.target);
    if (!had || (!LIVE.has(had.state) && LIVE.has(c.state))) chosen.set(c.target, c);
  }
  return [...chosen.values()].sort((a, b) => a.target.localeCompare(b.target));
}

function localLine(s: SnapshotRow, now: number): string {
  if (s.deleted_at !== null) return `local: ${s.state} ${ago(now, s.deleted_at)} by ${mention(dash(s.deleted_by))}; its copies stay until each target's own keep removes them`;
  return `local: ${s.state}, last verified ${s.verified_at ? ago(now, s.verified_at) : "never"}`;
}

export function copiesReply(s: SnapshotRow, rows: CopyRow[], now: number, targets: string[]): Reply {
  const ref = `${s.server}/${s.name}`;
  const shown = perTarget(rows);
  const lines = [localLine(s, now)];
  if (shown.length === 0) {
    const hint = targets.length ? `copy it with copy ${ref} <target> (targets: ${targets.join(", ")})` : "no storage.targets are configured: add one in snapbot.yml to keep copies elsewhere";
    return { visibility: "ephemeral", tone: "info", title: `${ref} has no copies on storage targets`, lines: [...lines, hint] };
  }
  for (const c of shown) if (c.error && c.state !== "deleted") lines.push(`${c.target}: ${clip(c.error, 300)}`);
  const live = shown.filter((c) => LIVE.has(c.state)).length;
  return {
    visibility: "ephemeral",
    tone: shown.some((c) => c.state === "broken") ? "error" : "info",
    title: `${ref}: ${live} copy(ies) on storage targets`,
    lines,
    table: {
      columns: ["target", "state", "size", "copied", "last verified", "where"],
      rows: shown.map((c) => [c.target, c.state, size(c.size), c.finished_at ? `${utc(c.finished_at)} (${ago(now, c.finished_at)})` : "—", c.verified_at ? ago(now, c.verified_at) : "never", dash(c.location)]),
    },
    buttons: copyButtons(s, shown),
  };
}

function copyButtons(s: SnapshotRow, shown: CopyRow[]): Button[] | undefined {
  const ref = `${s.server}/${s.name}`;
  const done = shown.filter((c) => c.state === "done" || c.state === "broken");
  const buttons: Button[] = done.map((c) => ({ label: `Verify on ${c.target}`, command: `verify ${ref} --from ${c.target}` }));
  const usable = shown.find((c) => c.state === "done");
  if (usable && (GONE_LOCALLY.has(s.state) || s.state === "broken")) buttons.push({ label: `Restore from ${usable.target}`, command: `restore ${ref} --from ${usable.target}` });
  return buttons.length ? buttons.slice(0, 5) : undefined;
}

/** The result of a copy (the copy command, and each copy after a create): where, how much, read back. */
export function copyDoneLine(c: CopyRow): string {
  return `copied to ${c.target} and read back: ${size(c.size)} in ${c.parts ?? 0} part(s), every part's SHA-256 matches (${dash(c.location)})`;
}

/**
 * A create whose server has `copies:`: the create's own message goes on to say each copy's progress and how it
 * ended, so one message tells the whole story (Slack updates it in place, the console prints each step).
 */
export function withCopies(reply: Reply, ref: string, copies: Promise<StartedCopy[]>): Reply {
  const created = reply.follow;
  if (!created) return reply;
  const listeners: Array<(r: Reply) => void> = [];
  const emit = (r: Reply) => listeners.forEach((l) => l(r));
  const done = created.done.then(async (final) => {
    const started = await copies;
    if (final.tone !== "success" || started.length === 0) return final;
    const state = new Map(started.map((c) => [c.target, c.refused ? `✖ copy to ${c.target} did not start: ${c.refused}` : `copy to ${c.target}: queued`]));
    const now = (tone: Reply["tone"]): Reply => ({ ...final, tone, lines: [...(final.lines ?? []), ...state.values()] });
    // A progress version leads with the line that changed: the console prints a progress update's first line.
    const moved = (target: string): Reply => ({ ...final, tone: "progress", lines: [state.get(target)!, ...(final.lines ?? [])] });
    await Promise.all(
      started.map(async (c) => {
        if (!c.handle) return;
        const what = `copy to ${c.target} (operation #${c.handle.op.id})`;
        c.handle.job.on("progress", (p) => (state.set(c.target, `${what}: ${progressText(p)}`), emit(moved(c.target))));
        await c.handle.job.done.then(
          (row) => state.set(c.target, `${copyDoneLine(row)} (operation #${c.handle!.op.id})`),
          (e: unknown) => state.set(c.target, `✖ ${what} failed: ${clip(failureMessage(e).split("\n")[0]!, 400)}`),
        );
      }),
    );
    const failed = [...state.values()].some((l) => l.startsWith("✖"));
    const retry = started.filter((c) => state.get(c.target)!.startsWith("✖")).map((c) => ({ label: `Copy to ${c.target}`, command: `copy ${ref} ${c.target}` }));
    return { ...now(final.tone), ...(failed ? { buttons: [...(final.buttons ?? []), ...retry] } : {}) };
  });
  void done.then(emit, () => undefined);
  const follow: Follow = {
    subscribe: (l) => {
      listeners.push(l);
      created.subscribe(l);
    },
    done,
  };
  return { ...reply, follow };
}

/** prune --dry-run: what each target's keep would remove of the server's copies (never a local snapshot). */
export function targetPlanLines(plans: TargetPlan[]): string[] {
  return plans.flatMap(({ target, keep, plan }) => [
    `on ${target} (${keep}): would remove ${plan.remove.length} copy(ies), keep ${plan.keep.length + plan.protect.length}`,
    ...plan.remove.slice(0, 20).map((r) => `  remove the copy of ${r.name} on ${target}: ${r.why}`),
    ...plan.protect.slice(0, 10).map((r) => `  keep the copy of ${r.name} on ${target}: ${r.why}`),
  ]);
}

/** prune: what each target's keep removed. */
export function targetPrunedLines(outs: TargetPrune[]): string[] {
  return outs.flatMap((o) => [
    `on ${o.target} (${o.keep}): ${o.pruned.length ? `removed the copies of ${clip(o.pruned.join(", "), 1500)}` : "no copy to remove"}`,
    ...o.failed.slice(0, 10).map((f) => `  failed ${f.name} on ${o.target}: ${f.error}`),
    ...(o.stopped ? [`  stopped on ${o.target}: ${o.stopped}`] : []),
  ]);
}
