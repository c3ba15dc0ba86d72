import type { Logger } from "pino";
import type { Coordination } from "../../db/ledger.ts";
import { errorMessage, SnapbotError } from "../errors.ts";

// One process among the replicas on a ledger (DESIGN.md §1a, src/coordination/): it keeps its heartbeat (which
// renews every lease it holds), tries for the leadership, and says when either changes. Steps never overlap: one
// loop, one step at a time. On SQLite (coordination.shared false) it leads from the first step and never loses it.

export type Role = "leader" | "follower";

export interface ReplicaOptions {
  coordination: Coordination;
  log: Logger;
  /** How long one heartbeat vouches for this replica's leases (default 15 s). */
  ttlMs?: number;
  /** How often it beats (default a third of ttlMs). */
  heartbeatMs?: number;
  /** How often a follower tries for the leadership, and the leader checks it still holds it (default 2 s). */
  leadEveryMs?: number;
  /** Became the leader: start the leader's work (the scheduler, the sweeps…). */
  onLead: () => Promise<void>;
  /** Stopped leading (lost the lock, the ledger unreachable, stopping): stop the leader's work at once. */
  onFollow: () => Promise<void>;
  /** Its leases may be someone else's now (the heartbeat lapsed): the work they guard must stop. */
  onLapsed: (reason: SnapbotError) => void;
}

export interface Replica {
  readonly id: string;
  role(): Role;
  /** Heartbeats that failed since start (snapbot_lease_renew_failures_total). */
  renewFailures(): number;
  /** The first heartbeat and the first try for the leadership; throws when the ledger cannot be reached. */
  join(): Promise<Role>;
  /** Keeps beating and trying, every few seconds, until stop(). */
  start(): void;
  /** Stops leading (onFollow), then leaves: its leases and its leadership go at once, not at their expiry. */
  stop(): Promise<void>;
}

export function createReplica(o: ReplicaOptions): Replica {
  const c = o.coordination;
  const ttlMs = o.ttlMs ?? 15_000;
  const heartbeatMs = o.heartbeatMs ?? Math.floor(ttlMs / 3);
  const leadEveryMs = o.leadEveryMs ?? 2_000;
  let role: Role = "follower";
  let failures = 0;
  let lastBeat = 0; // when the last heartbeat succeeded (this process's monotonic ms)
  let timer: NodeJS.Timeout | null = null;
  let stopped = false;
  let stepping: Promise<void> = Promise.resolve();
  const mono = () => performance.now();

  async function follow(why: string): Promise<void> {
    if (role !== "leader") return;
    role = "follower";
    o.log.warn({ replica: c.replica, why }, "no longer the leader: the scheduler and the sweeps stop here");
    await o.onFollow().catch((e: unknown) => o.log.error({ err: errorMessage(e) }, "stopping the leader's work failed"));
  }

  async function beat(): Promise<boolean> {
    try {
      const { lapsed } = await c.heartbeat(ttlMs);
      const was = lastBeat;
      lastBeat = mono();
      if (lapsed && was > 0) lapse(`its heartbeat lapsed (none for ${Math.round((lastBeat - was) / 1000)}s)`);
      return true;
    } catch (e) {
      failures++;
      o.log.warn({ replica: c.replica, err: errorMessage(e) }, "could not renew this replica's leases");
      if (lastBeat > 0 && mono() - lastBeat > ttlMs) lapse(`the ledger has not answered its heartbeat for ${Math.round((mono() - lastBeat) / 1000)}s`);
      return false;
    }
  }

  function lapse(why: string): void {
    o.log.error({ replica: c.replica, why }, "this replica's leases lapsed: its running operations stop");
    o.onLapsed(new SnapbotError("lease_lapsed", `stopped: snapbot lost its lease on the server (${why}); another replica may run it`));
  }

  let lastBeatAt = -Infinity;
  async function step(): Promise<void> {
    if (stopped) return;
    const beatDue = mono() - lastBeatAt >= heartbeatMs;
    if (beatDue) {
      lastBeatAt = mono();
      const ok = await beat();
      if (!ok && c.shared) return follow("the ledger did not answer its heartbeat");
    }
    let leads = false;
    try {
      leads = await c.lead();
    } catch (e) {
      o.log.warn({ err: errorMessage(e) }, "could not try for the leadership");
    }
    if (stopped) return;
    if (leads && role === "follower") {
      role = "leader";
      o.log.info({ replica: c.replica }, "this replica is the leader: it runs the scheduler and the sweeps");
      await o.onLead().catch((e: unknown) => o.log.error({ err: errorMessage(e) }, "starting the leader's work failed"));
    } else if (!leads) await follow("another replica holds the leader lock, or the ledger did not answer");
  }

  const queue = (): Promise<void> => (stepping = stepping.then(step, step));
  const loop = () => {
    timer = setTimeout(() => {
      void queue().finally(() => {
        if (!stopped) loop();
      });
    }, Math.min(leadEveryMs, heartbeatMs));
    timer.unref();
  };

  return {
    id: c.replica,
    role: () => role,
    renewFailures: () => failures,
    async join() {
      lastBeatAt = mono();
      await c.heartbeat(ttlMs); // unreachable: start-up fails with the ledger's line
      lastBeat = mono();
      if (await c.lead()) role = "leader";
      return role;
    },
    start() {
      if (timer || stopped) return;
      // Already leading from join(): the leader's work starts now.
      if (role === "leader") void (stepping = stepping.then(() => o.onLead().catch((e: unknown) => o.log.error({ err: errorMessage(e) }, "starting the leader's work failed"))));
      if (c.shared) loop();
    },
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      timer = null;
      await stepping;
      await follow("stopping");
      await c.resign().catch(() => undefined);
      await c.leave().catch((e: unknown) => o.log.warn({ err: errorMessage(e) }, "could not leave the replicas cleanly: its leases lapse with its heartbeat"));
    },
  };
}
