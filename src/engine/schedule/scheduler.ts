import cron, { type ScheduledTask } from "node-cron";
import type { ScheduleRow } from "../../../db/sqlite/schedule-repo.ts";
import type { ServerRow } from "../../../db/types.ts";
import { parseCron, type CronSchedule } from "../../schedule/cron.ts";
import { renderPattern } from "../../schedule/pattern.ts";
import { addDuration, formatAge, parseDuration } from "../../duration.ts";
import { errorMessage } from "../../errors.ts";
import { createFreshness, type Freshness } from "./freshness.ts";
import { createRetentionRunner, type RetentionRunner } from "./retention-runner.ts";
import { createTargetRounds, type TargetRounds } from "./target-rounds.ts";
import type { ScheduleEntry, SchedulerDeps } from "./scheduler-deps.ts";
export type { ScheduleEntry, SchedulerDeps } from "./scheduler-deps.ts";

// The scheduler: every live schedule in memory with its next fire time; node-cron ticks once a minute
// (second 0) and each tick fires what is due, catches up what was missed (once, with a schedule_missed
// alert), skips a run whose previous one is still going (recorded, never stacked), checks freshness and
// prunes expired snapshots. Tests call tick() with a fake clock instead of waiting for minutes.

export const SCHEDULER_USER = "scheduler";
const LATE_MS = 60_000; // a run starting more than a minute after its time missed it
const FIRE_BATCH = 250;

export interface TickReport {
  fired: number;
  skipped: number;
  missed: number;
}

export function createScheduler(deps: SchedulerDeps) {
  const { ledger, clock, log } = deps;
  const entries = new Map<number, ScheduleEntry>(); // by schedule id
  const pending = new Set<Promise<unknown>>();
  const freshness: Freshness = createFreshness(deps, track);
  const retention: RetentionRunner = createRetentionRunner(deps, track);
  const rounds: TargetRounds = createTargetRounds(deps, track); // verify --target on a schedule
  let task: ScheduledTask | null = null;
  let lastTick: number | null = null;

  function track<T>(p: Promise<T>): Promise<T> {
    const settled = p.then(
      () => undefined,
      () => undefined,
    );
    pending.add(settled);
    void settled.then(() => pending.delete(settled));
    return p;
  }

  // Many schedules share an expression: parsed once, with its interval (16 next() calls), per load.
  const parsed = new Map<string, { cron: CronSchedule; intervalMs: number }>();
  function add(row: ScheduleRow): ScheduleEntry | null {
    try {
      let p = parsed.get(row.cron);
      if (!p) {
        const c = parseCron(row.cron);
        parsed.set(row.cron, (p = { cron: c, intervalMs: c.typicalIntervalMs(row.created_at) }));
      }
      const entry: ScheduleEntry = { row, cron: p.cron, next: p.cron.next(row.last_run_at ?? row.created_at), intervalMs: p.intervalMs, running: null };
      entries.set(row.id, entry);
      return entry;
    } catch (e) {
      log.error({ schedule: row.id, server: row.server, cron: row.cron, err: errorMessage(e) }, "a stored schedule cannot be parsed: it will not run");
      return null;
    }
  }

  function load(): number {
    entries.clear();
    parsed.clear();
    for (const row of ledger.schedules.live()) add(row);
    rounds.load();
    warmDrivers();
    freshness.load([...entries.values()]);
    return entries.size;
  }

  /** Each scheduled server's driver made (its settings validated) now, not in the first busy minute. */
  function warmDrivers(): void {
    for (const e of entries.values()) {
      const server = ledger.servers.get(e.row.server);
      try {
        if (server) deps.engine.hasLimit(server);
      } catch (err) {
        log.warn({ server: e.row.server, err: errorMessage(err) }, "a scheduled server's driver cannot be made: its runs will fail");
      }
    }
  }

  /** Fires everything due at `now` (the minute tick; with a fake clock in tests). */
  function tick(now = clock.now()): TickReport {
    lastTick = now;
    const report: TickReport = { fired: 0, skipped: 0, missed: 0 };
    const due = [...entries.values()].filter((e) => !e.row.native && e.next <= now);
    // A few hundred runs per transaction: each run's records are a savepoint inside it, so 10,000 runs due
    // in the same minute cost tens of commits, not 10,000, while the dirty pages still fit SQLite's cache.
    for (let i = 0; i < due.length; i += FIRE_BATCH)
      ledger.tx(() => {
        for (const e of due.slice(i, i + FIRE_BATCH)) {
          const at = e.cron.previous(now) ?? e.next;
          const late = now - e.next >= LATE_MS ? { since: e.next, runs: countRuns(e.cron, e.next, now) } : null;
          e.next = e.cron.next(now);
          if (late) report.missed++;
          if (fire(e, at, now, late)) report.fired++;
          else report.skipped++;
        }
      });
    const verified = rounds.tick(now);
    report.fired += verified.fired;
    report.skipped += verified.skipped;
    report.missed += verified.missed;
    freshness.check([...entries.values()], now);
    retention.expireDue(now);
    return report;
  }

  /** Starts one run of a schedule; false when it was skipped (recorded in the audit log). */
  function fire(e: ScheduleEntry, due: number, now: number, late: { since: number; runs: number } | null): boolean {
    const server = ledger.servers.get(e.row.server);
    if (!server) return false; // unregistered: its schedule is gone at the next load
    if (late) void missedAlert(e, server, late, now);
    if (e.running !== null)
      return skip(e, server, due, `skipped: the previous run${e.running > 0 ? ` (operation #${e.running})` : ""} is still running`), false;
    const asker = { user: SCHEDULER_USER, channel: null };
    let name: string | undefined;
    let expiresAt: number | null = null;
    try {
      if (e.row.pattern) name = renderPattern(e.row.pattern, now, ledger.snapshots.liveNames(server.id));
      if (e.row.expiry) expiresAt = addDuration(now, parseDuration(e.row.expiry));
    } catch (err) {
      return skip(e, server, due, `skipped: ${errorMessage(err)}`, "failed"), false;
    }
    let opId: number | null = null;
    const start = () => {
      const h = deps.engine.createLater({ server, name, expiresAt, ...asker, scheduleId: e.row.id, note: `schedule "${e.row.cron}"` });
      opId = e.running = h.op.id;
      ledger.schedules.ran(e.row.id, due, "started", opId);
      return h;
    };
    e.running = -1; // claimed until the operation exists
    const run = (async () => {
      try {
        // A backend with a snapshot limit may need room first (async); the others start at once, so the
        // operation is recorded within the tick.
        const h = deps.engine.hasLimit(server) ? (await deps.engine.makeRoom(server, asker), start()) : start();
        await h.job.done;
        ledger.schedules.settled(e.row.id, opId!, "succeeded");
        await succeeded(e, server, late !== null);
      } catch (err) {
        if (opId === null) skip(e, server, due, `skipped: ${errorMessage(err)}`);
        else ledger.schedules.settled(e.row.id, opId, "failed", errorMessage(err).split("\n")[0]!);
      } finally {
        e.running = null;
      }
    })();
    void track(run);
    return true;
  }

  /** A run that did not happen: an operation recorded as cancelled, with why, so `audit` shows it. */
  function skip(e: ScheduleEntry, server: ServerRow, due: number, why: string, status: "skipped" | "failed" = "skipped"): void {
    const op = ledger.tx(() => {
      const o = ledger.operations.insert({ kind: "create", server_id: server.id, requested_by: SCHEDULER_USER, args: { schedule: e.row.id, due: new Date(due).toISOString() } });
      return ledger.operations.transition(o.id, "cancelled", { error: why });
    });
    ledger.schedules.ran(e.row.id, due, status, op.id, why);
    log.warn({ schedule: e.row.id, server: server.name, op: op.id }, why);
  }

  async function missedAlert(e: ScheduleEntry, server: ServerRow, late: { since: number; runs: number }, now: number): Promise<void> {
    const runs = late.runs > 1 ? `${late.runs} runs missed, ` : "";
    await deps.alerts.raise({
      kind: "schedule_missed",
      server,
      title: `${server.name}'s schedule "${e.row.cron}" ran ${formatAge(now - late.since)} late`,
      lines: [`${runs}due ${iso(late.since)}, started ${iso(now)}: snapbot was not running (or was stalled); it catches up with one run`],
    });
  }

  async function succeeded(e: ScheduleEntry, server: ServerRow, wasLate: boolean): Promise<void> {
    await freshness.fresh(e, server);
    if (wasLate) await deps.alerts.resolve("schedule_missed", server, "the catch-up run succeeded");
    if (e.row.keep) await retention.pruneServer(server, e.row);
  }

  return {
    load,
    tick,
    /** A schedule set or replaced by a command: live from the next tick. */
    upsert(row: ScheduleRow): ScheduleEntry | null {
      for (const [id, e] of entries) if (e.row.server_id === row.server_id) entries.delete(id);
      return add(row);
    },
    remove(serverId: number): void {
      for (const [id, e] of entries) if (e.row.server_id === serverId) entries.delete(id);
    },
    entry(serverId: number): ScheduleEntry | undefined {
      for (const e of entries.values()) if (e.row.server_id === serverId) return e;
      return undefined;
    },
    entries: () => [...entries.values()],
    retention,
    /** The storage targets' verification schedules (schedule --target). */
    rounds,
    lastTick: () => lastTick,
    /** Loads the schedules, catches up missed runs now, then ticks at second 0 of every minute. */
    start(): void {
      load();
      tick();
      retention.passSoon();
      task = cron.schedule("* * * * *", () => void tick(), { name: "snapbot-scheduler", unref: true });
    },
    /** Stops ticking and waits for the runs, prunes and alerts already started. */
    async stop(): Promise<void> {
      await task?.stop();
      await task?.destroy();
      task = null;
      while (pending.size > 0) await Promise.all([...pending]);
    },
    /** Resolves when everything started so far (runs, prunes, checks) has finished (tests, shutdown). */
    async settle(): Promise<void> {
      while (pending.size > 0) await Promise.all([...pending]);
    },
  };
}
export type Scheduler = ReturnType<typeof createScheduler>;

function countRuns(c: CronSchedule, from: number, to: number): number {
  let n = 0;
  for (let t = from; t <= to && n < 10_000; t = c.next(t)) n++;
  return n;
}

export function iso(ms: number): string {
  return new Date(ms).toISOString().replace("T", " ").replace(/:\d\d\.\d+Z$/, "Z");
}
