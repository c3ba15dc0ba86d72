import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from "prom-client";
import type { AlertKind, FinishedOperation, Ledger, StatsRepo } from "../../db/ledger.ts";
import type { Clock } from "../clock.ts";

// Prometheus metrics read from the ledger at scrape time: gauges are recomputed by their collect()
// callbacks, so they are right after a restart; the histogram and counter are fed from operations that
// finished since the previous scrape, so the engine needs no hooks. Each collect() reads first, then resets and
// sets the gauge in one go, so a failed read or another scrape meanwhile never leaves it half-filled.

export interface Metrics {
  registry: Registry;
  /** Feeds the histogram and counter with operations finished since the last call (a scrape does this too). */
  collectNow(): Promise<void>;
}

export interface MetricsDeps {
  ledger: Pick<Ledger, "stats">;
  clock: Clock;
  /** Operations written this late (behind the clock) are still counted once; see finishedFeed. */
  graceMs?: number;
  /** The scheduler's last tick (null before the first): a stopped scheduler shows as a growing age. */
  lastTick?: () => number | null;
  /** This process among the replicas: whether it leads, and its failed lease renewals. */
  replica?: { role(): "leader" | "follower"; renewFailures(): number };
}

// 0.1 s (a refused or quick verify) to 6 h (a big raw disk over SSH).
export const DURATION_BUCKETS = [0.1, 0.5, 1, 5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200, 14400, 21600];
const GRACE_MS = 5 * 60_000;
// Every kind gets a series (0 when none are open), so "alerts_open > 0" needs no absent().
const ALERT_KINDS: Record<AlertKind, true> = {
  snapshot_failed: true,
  snapshot_broken: true,
  hostkey_regen_needed: true,
  hostkey_changed: true,
  schedule_missed: true,
  snapshot_stale: true,
  limit_near: true,
  ledger_full: true,
  copy_failed: true,
  hook_failed: true,
};

/** Reads where the finished operations stand now (history is never replayed), so it answers once the ledger has. */
export async function createMetrics({ ledger, clock, graceMs = GRACE_MS, lastTick, replica }: MetricsDeps): Promise<Metrics> {
  const { stats } = ledger;
  const registry = new Registry(); // not the global one: each app (and each test) has its own
  collectDefaultMetrics({ register: registry });
  const registers = [registry];

  new Gauge({
    name: "snapbot_snapshots",
    help: "Snapshots in the ledger by server and state (servers not unregistered; done is always present).",
    labelNames: ["server", "state"] as const,
    registers,
    async collect() {
      const rows = await stats.snapshotCounts();
      this.reset(); // a server unregistered or a state emptied since the last scrape disappears
      for (const { server, counts } of rows)
        for (const [state, n] of Object.entries(counts)) if (n > 0 || state === "done") this.set({ server, state }, n);
    },
  });

  new Gauge({
    name: "snapbot_newest_good_snapshot_age_seconds",
    help: "Seconds since the newest done snapshot of each server was made (absent for a server with none).",
    labelNames: ["server"] as const,
    registers,
    async collect() {
      const rows = await stats.newestGood();
      this.reset();
      const now = clock.now();
      for (const { server, at } of rows) this.set({ server }, Math.max(0, (now - at) / 1000));
    },
  });

  new Gauge({
    name: "snapbot_alerts_open",
    help: "Open alerts by kind.",
    labelNames: ["kind"] as const,
    registers,
    async collect() {
      const rows = await stats.openAlerts();
      this.reset();
      for (const kind of Object.keys(ALERT_KINDS)) this.set({ kind }, 0);
      for (const { kind, n } of rows) this.set({ kind }, n);
    },
  });

  if (lastTick) {
    const since = clock.now();
    new Gauge({
      name: "snapbot_scheduler_last_tick_age_seconds",
      help: "Seconds since the scheduler last ticked (it ticks every minute; counted from start-up before the first tick).",
      registers,
      collect() {
        this.set(Math.max(0, (clock.now() - (lastTick() ?? since)) / 1000));
      },
    });
  }

  if (replica) {
    new Gauge({
      name: "snapbot_leader",
      help: "1 while this replica is the leader (it runs the scheduler, the sweeps and the alert posts), else 0.",
      registers,
      collect() {
        this.set(replica.role() === "leader" ? 1 : 0);
      },
    });
    // A counter read from the replica's own count: set to it on each scrape (it only grows).
    let reported = 0;
    new Counter({
      name: "snapbot_lease_renew_failures_total",
      help: "Heartbeats (each renewing all of this replica's leases) that the ledger did not take, since this process started.",
      registers,
      collect() {
        const n = replica.renewFailures();
        if (n > reported) this.inc(n - reported);
        reported = n;
      },
    });
  }

  const take = await finishedFeed(stats, clock, graceMs);
  const feed = async () => {
    for (const op of await take()) observe(op);
  };
  const duration = new Histogram({
    name: "snapbot_operation_duration_seconds",
    help: "How long operations ran (started to finished), by kind and outcome; operations that never started are not observed.",
    labelNames: ["kind", "outcome"] as const,
    buckets: DURATION_BUCKETS,
    registers,
    collect: feed,
  });
  const failures = new Counter({
    name: "snapbot_operation_failures_total",
    help: "Operations that ended failed, by kind and server, since this process started.",
    labelNames: ["kind", "server"] as const,
    registers,
    collect: feed, // both metrics feed, so neither depends on the order the registry collects them in
  });
  const observe = (op: FinishedOperation) => {
    if (op.started_at !== null) duration.observe({ kind: op.kind, outcome: op.state }, Math.max(0, op.finished_at - op.started_at) / 1000);
    if (op.state === "failed") failures.inc({ kind: op.kind, server: op.server ?? "" });
  };

  return { registry, collectNow: feed };
}

/**
 * Each call returns the operations that finished since the previous call, each exactly once. History
 * (operations finished before start-up) is never replayed. A plain (finished_at, id) cursor would miss an
 * operation with a lower id that finishes in the same millisecond after a scrape, so instead the window
 * re-read each time reaches `graceMs` behind the clock and the ids already counted in it are remembered.
 * Calls take turns (the histogram and the counter both feed on one scrape): each reads after the previous one
 * has updated what was counted, so no read that answers late can forget an id.
 */
export async function finishedFeed(stats: Pick<StatsRepo, "finishedSince">, clock: Clock, graceMs: number): Promise<() => Promise<FinishedOperation[]>> {
  let since = clock.now();
  let seen = new Set((await stats.finishedSince(since - graceMs)).map((o) => o.id));
  const step = async (): Promise<FinishedOperation[]> => {
    const rows = await stats.finishedSince(since - graceMs);
    const fresh = rows.filter((o) => !seen.has(o.id));
    since = Math.max(since, clock.now()); // never backwards: a clock set back cannot replay what was counted
    seen = new Set(rows.filter((o) => o.finished_at >= since - graceMs).map((o) => o.id));
    return fresh;
  };
  let turn: Promise<unknown> = Promise.resolve();
  return () => {
    const run = turn.then(step);
    turn = run.catch(() => undefined); // a failed read fails its own scrape, not the next one
    return run;
  };
}
