import type { Command, CommandContext } from "./types.ts";
import type { ServerRow } from "../db/types.ts";
import { expectPositionals } from "./parse.ts";
import { serverOf } from "./lookup.ts";
import { UserError, errorMessage } from "../src/errors.ts";
import { keptParents, originsOf, planFor, type PruneOutcome } from "../src/engine/schedule/retention.ts";
import type { CopyRetention } from "../src/drivers/driver.ts";
import { formatKeep } from "../src/retention/keep-policy.ts";
import { prunedReply, prunePlanReply, type CopiesView } from "../src/replies/schedule-replies.ts";
import { targetPlanLines, targetPrunedLines } from "../src/replies/copy-replies.ts";

const usage = "prune <server> [--dry-run]";

// prune <server> applies the server's own --keep and expiries, and each storage target's own keep to the server's
// copies there: one command per server, whose reply says which snapshot or copy went where. A target's keep never
// removes a local snapshot, and the local policy never removes a copy.
const EMPTY_PLAN = { keep: [], remove: [], protect: [] };

export const prune: Command = {
  name: "prune",
  usage,
  summary: "apply the server's --keep policy and expiries now, each storage target's keep to its copies, and the copies' own policy where a backend keeps them (--dry-run shows what would go)",
  role: "operator",
  flags: { "dry-run": "bool" },
  async run(ctx, args) {
    const [name] = expectPositionals(args, 1, 1, usage);
    const server = await serverOf(ctx, name!);
    const schedule = await ctx.ledger.schedules.forServer(server.id);
    const due = await ctx.ledger.snapshots.expiredOf(server.id, ctx.clock.now());
    const parents = due.length ? await keptParents(ctx.ledger, server.id) : new Set<number>();
    const expired = due.filter((s) => !parents.has(s.id));
    const held = due.filter((s) => parents.has(s.id)).map((s) => s.name); // past their expiry, with children
    const copyPolicy = ctx.engine.copyRetention(server); // copies kept elsewhere under that place's own policy
    if (!schedule?.keep && due.length === 0 && !copyPolicy && !ctx.engine.copies.anyKeep())
      throw new UserError(
        "no_policy",
        `${server.name} has no --keep policy and nothing past its expiry: set one with schedule ${server.name} "@daily" --keep daily=7,weekly=4`,
      );
    const keepText = schedule?.keep ? formatKeep(schedule.keep) : "expiry only";
    // Planned here only for the dry run (or to report a busy prune); a real prune plans inside pruneServer.
    const planNow = async () => (schedule?.keep ? planFor(ctx.ledger, server, schedule.keep, originsOf(schedule)) : EMPTY_PLAN);
    if (args.flags["dry-run"]) {
      const copies = copyPolicy ? await plannedCopies(ctx, server, copyPolicy) : undefined;
      const reply = prunePlanReply(server.name, await planNow(), { expired: expired.map((s) => s.name), held }, keepText, copies);
      return { ...reply, lines: [...(reply.lines ?? []), ...targetPlanLines(await ctx.engine.copies.plans(server))] };
    }

    const asker = { user: ctx.user, channel: ctx.channel };
    const gone = { pruned: [] as string[], failed: [] as string[], held };
    for (const ref of expired) {
      const snap = await ctx.ledger.snapshots.get(ref.id);
      if (snap?.state !== "done") continue;
      try {
        await (await ctx.engine.delete(server, snap, asker, `expired at ${new Date(ref.expires_at!).toISOString()}`)).job.done;
        gone.pruned.push(snap.name);
      } catch (e) {
        gone.failed.push(`${snap.name}: ${errorMessage(e).split("\n")[0]}`);
      }
    }
    const out: PruneOutcome = schedule?.keep
      ? ((await ctx.scheduler.retention.pruneServer(server, schedule, true)) ?? { plan: await planNow(), pruned: [], failed: [], stopped: `${server.name} is being pruned already: try again in a moment` })
      : { plan: EMPTY_PLAN, pruned: [], failed: [], stopped: null };
    const copies = copyPolicy ? await prunedCopies(ctx, server, copyPolicy, asker) : undefined;
    const reply = prunedReply(server.name, out, gone, ctx.user, copies);
    const onTargets = await ctx.engine.copies.prune(server, asker);
    const trouble = onTargets.some((t) => t.failed.length || t.stopped);
    return { ...reply, ...(trouble ? { tone: "error" as const } : {}), lines: [...(reply.lines ?? []), ...targetPrunedLines(onTargets)] };
  },
};

async function plannedCopies(ctx: CommandContext, server: ServerRow, policy: CopyRetention): Promise<CopiesView> {
  const base = { where: policy.where, keep: formatKeep(policy.keep) };
  try {
    const p = await ctx.engine.planCopies(server);
    return p ? { ...base, plan: p.plan } : { ...base, plan: EMPTY_PLAN };
  } catch (e) {
    return { ...base, error: errorMessage(e) };
  }
}

async function prunedCopies(ctx: CommandContext, server: ServerRow, policy: CopyRetention, asker: { user: string; channel: string | null }): Promise<CopiesView> {
  const base = { where: policy.where, keep: formatKeep(policy.keep) };
  try {
    const out = await ctx.engine.pruneCopies(server, asker);
    return out ? { ...base, plan: out.plan, removed: out.removed } : { ...base, plan: EMPTY_PLAN, removed: [] };
  } catch (e) {
    return { ...base, error: errorMessage(e) };
  }
}
