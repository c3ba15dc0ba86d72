import type { ServerRow } from "../../../db/types.ts";
import type { ScheduleRow } from "../../../db/ledger.ts";
import type { SchedulerDeps } from "./scheduler-deps.ts";
import { executePlan, keptParents, originsOf, planFor, type PruneOutcome } from "./retention.ts";
import { errorMessage } from "../../errors.ts";
import type { CopyPruneOutcome } from "./copy-retention.ts";

// When retention runs on its own: a schedule's --keep policy after each of its successful runs and in a
// pass over every schedule (at start-up, then hourly); snapshots past their expiry at every tick; in the
// same pass, each server's copies by the policy of the place they are kept (copy-retention.ts). One
// prune at a time per server; a busy server is left for the next time.

const SCHEDULER = { user: "scheduler", channel: null };
const PASS_EVERY_MS = 60 * 60_000;

export function createRetentionRunner(deps: SchedulerDeps, track: <T>(p: Promise<T>) => Promise<T>) {
  const { ledger, log } = deps;
  const busy = new Set<number>(); // server ids being pruned
  let lastPass = 0;

  /** `names`: the plan carries snapshot names (for a reply); the scheduler's own passes do without. */
  async function pruneServer(server: ServerRow, schedule: Pick<ScheduleRow, "keep" | "native">, names = false): Promise<PruneOutcome | null> {
    if (!schedule.keep || busy.has(server.id)) return null;
    busy.add(server.id);
    try {
      const plan = await planFor(ledger, server, schedule.keep, originsOf(schedule), undefined, names);
      if (plan.remove.length === 0) return { plan, pruned: [], failed: [], stopped: null };
      const out = await executePlan(ledger, plan, schedule.keep, async (snap, why) => deps.engine.delete(server, snap, SCHEDULER, why));
      log.info({ server: server.name, pruned: out.pruned.length, failed: out.failed.length, stopped: out.stopped }, "retention applied");
      return out;
    } finally {
      busy.delete(server.id);
    }
  }

  /** The server's copies pruned by their place's own policy; null when it has none or the server is busy. */
  async function pruneCopiesOf(server: ServerRow): Promise<CopyPruneOutcome | null> {
    if (!deps.engine.copyRetention(server)) return null;
    try {
      return await deps.engine.pruneCopies(server, SCHEDULER);
    } catch (e) {
      // Busy: the next pass. A failure is raised as an alert by pruneCopies (and recorded, if it removed).
      log.warn({ server: server.name, err: errorMessage(e) }, "copies not pruned");
      return null;
    }
  }

  return {
    pruneServer,
    pruneCopiesOf,
    /** Snapshots past their expiry (fixed at creation, as LXD does), removed one by one per server. */
    async expireDue(now: number): Promise<void> {
      const due = await ledger.snapshots.expired(now);
      if (due.length === 0) return;
      const byServer = new Map<string, typeof due>();
      for (const s of due) {
        const list = byServer.get(s.server);
        if (list) list.push(s);
        else byServer.set(s.server, [s]);
      }
      for (const [name, snaps] of byServer) {
        const server = await ledger.servers.get(name);
        if (!server || busy.has(server.id)) continue; // checked and claimed with no await between: one prune at a time
        busy.add(server.id);
        const work = async () => {
          const parents = await keptParents(ledger, server.id); // past its expiry, a parent still waits for its children
          for (const ref of snaps) {
            const snap = await ledger.snapshots.get(ref.id);
            if (snap?.state !== "done" || parents.has(snap.id)) continue;
            await (await deps.engine.delete(server, snap, SCHEDULER, `expired at ${new Date(ref.expires_at!).toISOString()}`)).job.done;
          }
        };
        void track(
          work()
            .catch((e: unknown) => log.warn({ server: name, err: errorMessage(e) }, "could not prune an expired snapshot"))
            .finally(() => busy.delete(server.id)),
        );
      }
      if (now - lastPass >= PASS_EVERY_MS) this.passSoon(now);
    },
    /** Every schedule's --keep policy applied, in the background. */
    passSoon(now = deps.clock.now()): void {
      lastPass = now;
      void track(this.pass());
    },
    async pass(): Promise<number> {
      let pruned = 0;
      let planned = 0;
      const inUse = await ledger.retention.inUse();
      for (const s of await ledger.schedules.live()) {
        if (!s.keep || busy.has(s.server_id)) continue;
        // Planning may not yield to the event loop (an embedded ledger answers at once): let timers (the minute
        // tick) and requests in every 200 servers.
        if (++planned % 200 === 0) await new Promise((r) => setImmediate(r));
        // Most servers have nothing to remove: only those that do are looked up and pruned (pruneServer plans
        // again, with what is in use by then: earlier servers' deletions may have taken minutes).
        if ((await planFor(ledger, { id: s.server_id }, s.keep, originsOf(s), inUse, false)).remove.length === 0) continue;
        const server = await ledger.servers.get(s.server);
        if (!server) continue;
        const out = await pruneServer(server, s).catch((e: unknown) => (log.warn({ server: s.server, err: errorMessage(e) }, "retention failed"), null));
        pruned += out?.pruned.length ?? 0;
      }
      let seen = 0;
      for (const server of await ledger.servers.list()) {
        if (++seen % 200 === 0) await new Promise((r) => setImmediate(r)); // as above: timers and requests get in
        pruned += (await pruneCopiesOf(server))?.removed.length ?? 0;
      }
      // Each storage target's own keep over the copies it holds (never a local snapshot).
      return pruned + (await deps.engine.copies.pruneAll());
    },
    /** The planning half of a pass, with no deletions: what the benchmark times over a big ledger. */
    async planAll(): Promise<{ servers: number; candidates: number; remove: number }> {
      const inUse = await ledger.retention.inUse();
      let servers = 0;
      let candidates = 0;
      let remove = 0;
      for (const s of await ledger.schedules.live()) {
        if (!s.keep) continue;
        const plan = await planFor(ledger, { id: s.server_id }, s.keep, originsOf(s), inUse, false);
        servers++;
        candidates += plan.keep.length + plan.remove.length + plan.protect.length;
        remove += plan.remove.length;
      }
      return { servers, candidates, remove };
    },
  };
}
export type RetentionRunner = ReturnType<typeof createRetentionRunner>;
