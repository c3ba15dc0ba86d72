import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from "prom-client";
import type { Ledger } from "../../db/sqlite/ledger.ts";
import type { AlertKind } from "../../db/sqlite/alert-repo.ts";
import type { FinishedOperation, StatsRepo } from "../../db/sqlite/stats-repo.ts";
import type { Clock } from "../clock.ts";

// Prometheus metrics read from the ledger at scrape time: gauges are recomputed by their collect()
// callbacks, so they are right after a restart; the histogram and counter are fed from operations that
// finished since the previous scrape, so the engine needs no hooks.

export interface Metrics {
  registry: Registry;
  /** Feeds the histogram and counter with operations finished since the last call (a scrape does this too). */
  collectNow(): void;
}

export interface MetricsDeps {
  ledger: Pick<Ledger, "stats">;
  clock: Clock;
  /** Operations written this late (behind the clock) are still counted once; see finishedFeed. */
  graceMs?: number;
  /** The scheduler's last tick (null before the first): a stopped scheduler shows as a growing age. */
  lastTick?: () => number | null;
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

export function createMetrics({ ledger, clock, graceMs = GRACE_MS, lastTick }: MetricsDeps): Metrics {
  const { stats } = ledger;
  const registry = new Registry(); // not the global one: each app (and each test) has its own
  collectDefaultMetrics({ register: registry });
  const registers = [registry];

  new Gauge({
    name: "snapbot_snapshots",
    help: "Snapshots in the ledger by server and state (servers not unregistered; done is always present).",
    labelNames: ["server", "state"] as const,
    registers,
    collect() {
      this.reset(); // a server unregistered or a state emptied since the last scrape disappears
      for (const { server, counts } of stats.snapshotCounts())
        for (const [state, n] of Object.entries(counts)) if (n > 0 || state === "done") this.set({ server, state }, n);
    },
  });

  new Gauge({
    name: "snapbot_newest_good_snapshot_age_seconds",
    help: "Seconds since the newest done snapshot of each server was made (absent for a server with none).",
    labelNames: ["server"] as const,
    registers,
    collect() {
      this.reset();
      const now = clock.now();
      for (const { server, at } of stats.newestGood()) this.set({ server }, Math.max(0, (now - at) / 1000));
    },
  });

  new Gauge({
    name: "snapbot_alerts_open",
    help: "Open alerts by kind.",
    labelNames: ["kind"] as const,
    registers,
    collect() {
      this.reset();
      for (const kind of Object.keys(ALERT_KINDS)) this.set({ kind }, 0);
      for (const { kind, n } of stats.openAlerts()) this.set({ kind }, n);
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

  const take = finishedFeed(stats, clock, graceMs);
  const feed = () => {
    for (const op of take()) observe(op);
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
 */
export function finishedFeed(stats: Pick<StatsRepo, "finishedSince">, clock: Clock, graceMs: number): () => FinishedOperation[] {
  let since = clock.now();
  let seen = new Set(stats.finishedSince(since - graceMs).map((o) => o.id));
  return () => {
    const rows = stats.finishedSince(since - graceMs);
    const fresh = rows.filter((o) => !seen.has(o.id));
    since = Math.max(since, clock.now()); // never backwards: a clock set back cannot replay what was counted
    seen = new Set(rows.filter((o) => o.finished_at >= since - graceMs).map((o) => o.id));
    return fresh;
  };
}
