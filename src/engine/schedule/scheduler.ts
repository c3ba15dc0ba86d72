import cron, { type ScheduledTask } from "node-cron";
import type { LedgerRepos, ScheduleRow } from "../../../db/ledger.ts";
import type { ServerRow, SnapshotRow } from "../../../db/types.ts";
import type { CreateInput } from "../engine.ts";
import type { OperationHandle } from "../operations/run-operation.ts";
import { parseCron, type CronSchedule } from "../../schedule/cron.ts";
import { renderPattern } from "../../schedule/pattern.ts";
import { addDuration, formatAge, parseDuration } from "../../duration.ts";
import { errorMessage } from "../../errors.ts";
import { createTurns } from "../../turns.ts";
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
// Runs recorded per transaction. On PostgreSQL each step of a batch is one statement for all of its runs, so 1,000 a
// batch record 10,000 due in one minute in about a second (250 took 2.7 s: the per-statement round trips, on a box
// the started jobs keep busy). On SQLite a batch holds the one connection: 1,000 runs hold it ~0.1 s.
const FIRE_BATCH = 1000;

export interface TickReport {
  fired: number;
  skipped: number;
  missed: number;
}

const ASKER = { user: SCHEDULER_USER, channel: null };

type Late = { since: number; runs: number };
type Outcome = { ok: true } | { ok: false; err: unknown };
/** A run to start: the create's input, ready. */
interface Pending {
  e: ScheduleEntry;
  server: ServerRow;
  due: number;
  wasLate: boolean;
  input: CreateInput;
}
interface Started extends Pending {
  opId: number;
  outcome: Promise<Outcome>;
}
interface Skipped {
  e: ScheduleEntry;
  server: ServerRow;
  due: number;
  why: string;
  status: "skipped" | "failed";
  op?: number;
}

/** The job's end, as a value: taken at once, so a job that fails before anyone waits is not an unhandled rejection. */
const outcomeOf = (done: Promise<unknown>): Promise<Outcome> =>
  done.then(
    () => ({ ok: true }),
    (err: unknown) => ({ ok: false, err }),
  );

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

  // Ticks (and loads) take turns: one that starts while another is still recording its runs waits for it, so
  // two never decide on the same schedules at once (a run is never started twice for one minute).
  const turns = createTurns<"ledger">();
  const inTurn = <T>(fn: () => Promise<T>): Promise<T> => turns("ledger", fn);

  /** Reads every live schedule from the ledger (waits for a tick in progress); returns how many. */
  const load = (): Promise<number> => inTurn(loadNow);
  /**
   * Fires what is due at `now`; a tick still running is waited for first (ticks never overlap). With replicas, a
   * schedule set or removed by a command on another one is read first (schedules.version tells when).
   */
  const tick = (now = clock.now()): Promise<TickReport> =>
    track(
      inTurn(async () => {
        if (ledger.coordination.shared && (await ledger.schedules.version()) !== loadedVersion) await loadNow();
        return tickNow(now);
      }),
    );
  let loadedVersion: string | null = null;

  // Schedules a command set or removed while a load read the ledger: applied again over what it read.
  let changedDuringLoad: (() => void)[] | null = null;
  function change(fn: () => void): void {
    fn();
    changedDuringLoad?.push(fn);
  }

  async function loadNow(): Promise<number> {
    const changed: (() => void)[] = (changedDuringLoad = []);
    let rows: ScheduleRow[];
    try {
      const version = await ledger.schedules.version();
      rows = await ledger.schedules.live();
      loadedVersion = version; // read before the rows: a change between the two is read again at the next tick
    } finally {
      changedDuringLoad = null;
    }
    // A run still going keeps its place: a re-read (another replica changed a schedule) must not stack a second one.
    const runningBefore = new Map([...entries.values()].map((e) => [e.row.id, e.running]));
    entries.clear();
    parsed.clear();
    for (const row of rows) {
      const e = add(row);
      if (e) e.running = runningBefore.get(row.id) ?? null;
    }
    for (const fn of changed) fn();
    await rounds.load();
    await warmDrivers();
    await freshness.load([...entries.values()]);
    return entries.size;
  }

  /** Each scheduled server's driver made (its settings validated) now, not in the first busy minute. */
  async function warmDrivers(): Promise<void> {
    const servers = new Map((await ledger.servers.list()).map((s) => [s.name, s]));
    for (const e of entries.values()) {
      const server = servers.get(e.row.server);
      try {
        if (server) deps.engine.hasLimit(server);
      } catch (err) {
        log.warn({ server: e.row.server, err: errorMessage(err) }, "a scheduled server's driver cannot be made: its runs will fail");
      }
    }
  }

  /** Fires everything due at `now` (the minute tick; with a fake clock in tests). */
  async function tickNow(now: number): Promise<TickReport> {
    lastTick = now;
    const report: TickReport = { fired: 0, skipped: 0, missed: 0 };
    const due = [...entries.values()].filter((e) => !e.row.native && e.next <= now);
    // A thousand runs per transaction: their records (each skipped run's operation, each started run's last run)
    // are written together, so 10,000 runs due in the same minute cost ten commits, not 10,000.
    for (let i = 0; i < due.length; i += FIRE_BATCH) await fireBatch(due.slice(i, i + FIRE_BATCH), now, report);
    const verified = await rounds.tick(now);
    report.fired += verified.fired;
    report.skipped += verified.skipped;
    report.missed += verified.missed;
    await freshness.check([...entries.values()], now);
    await retention.expireDue(now);
    return report;
  }

  /**
   * Starts the batch's runs; each skipped one is recorded in the audit log. One transaction (engine.batch) claims
   * each run's minute (schedules.claim: with several replicas, a minute another leader already ran is not run
   * again), records the started runs' operations and the skips, and commits them together: a crash leaves a
   * minute either run and recorded or free. The jobs start once it committed. Each step is one statement for the
   * whole batch (servers, claims, the creates' checks, leases and operations, the skips, the runs), so 10,000 runs
   * due in one minute are recorded in about a second on PostgreSQL.
   */
  async function fireBatch(batch: ScheduleEntry[], now: number, report: TickReport): Promise<void> {
    const skips: Skipped[] = [];
    const started: Started[] = [];
    const limited: Pending[] = [];
    const late: { e: ScheduleEntry; server: ServerRow; late: Late }[] = [];
    const claimed: ScheduleEntry[] = [];
    try {
      await deps.engine.batch(async (t) => {
        const due = batch.flatMap((e) => {
          if (entries.get(e.row.id) !== e) return []; // unscheduled or replaced while earlier runs were recorded
          const at = e.cron.previous(now) ?? e.next;
          const l = now - e.next >= LATE_MS ? { since: e.next, runs: countRuns(e.cron, e.next, now) } : null;
          e.next = e.cron.next(now);
          return [{ e, at, l }];
        });
        const servers = await t.servers.getMany([...new Set(due.map((d) => d.e.row.server))]);
        const known = due.filter((d) => servers.has(d.e.row.server));
        report.skipped += due.length - known.length; // unregistered: its schedule is gone at the next load
        // A run on a backend with a snapshot limit makes room first, after this batch: its minute is claimed when
        // its create is recorded (startLimited), so a crash meanwhile leaves the minute to be caught up, not lost.
        const later = new Set(known.filter((d) => d.e.running === null && limitedBackend(servers.get(d.e.row.server)!)).map((d) => d.e));
        const won = await t.schedules.claim(known.filter((d) => !later.has(d.e)).map((d) => ({ id: d.e.row.id, at: d.at })));
        const creates: Pending[] = [];
        for (const { e, at, l } of known) {
          if (!won.has(e.row.id) && !later.has(e)) continue; // another replica's scheduler ran this minute
          const server = servers.get(e.row.server)!;
          claimed.push(e);
          if (l) report.missed++;
          if (l) late.push({ e, server, late: l });
          if (e.running !== null) {
            skips.push({ e, server, due: at, why: `skipped: the previous run${e.running > 0 ? ` (operation #${e.running})` : ""} is still running`, status: "skipped" });
            report.skipped++;
            continue;
          }
          let name: string | undefined;
          let expiresAt: number | null = null;
          try {
            if (e.row.pattern) name = renderPattern(e.row.pattern, now, await t.snapshots.liveNames(server.id));
            if (e.row.expiry) expiresAt = addDuration(now, parseDuration(e.row.expiry));
          } catch (err) {
            skips.push({ e, server, due: at, why: `skipped: ${errorMessage(err)}`, status: "failed" });
            report.skipped++;
            continue;
          }
          report.fired++;
          e.running = -1; // claimed until the operation exists
          const run: Pending = { e, server, due: at, wasLate: l !== null, input: { server, name, expiresAt, ...ASKER, scheduleId: e.row.id, note: `schedule "${e.row.cron}"` } };
          // A backend with a snapshot limit may need room first (async, once the batch is recorded); the others
          // start once the batch commits, so the operation is recorded within the tick.
          (later.has(e) ? limited : creates).push(run);
        }
        const answers = await deps.engine.createMany(
          creates.map((r) => r.input),
          t,
        );
        creates.forEach((run, i) => {
          const a = answers[i]!;
          if ("refused" in a) {
            run.e.running = null;
            skips.push({ e: run.e, server: run.server, due: run.due, why: `skipped: ${errorMessage(a.refused)}`, status: "skipped" });
          } else {
            run.e.running = a.op.id;
            started.push({ ...run, opId: a.op.id, outcome: outcomeOf(a.job.done) });
          }
        });
        await recordSkips(t, skips);
        await t.schedules.ran(started.map((r) => ({ id: r.e.row.id, at: r.due, status: "started", op: r.opId })));
      });
    } catch (err) {
      // Nothing of the batch was recorded (its jobs fail at once: "the transaction recording it was rolled back").
      for (const e of claimed) e.running = null;
      for (const k of skips) k.op = undefined;
      log.error({ err: errorMessage(err), runs: claimed.length }, "a batch of scheduled runs could not be recorded");
      limited.length = 0;
    } finally {
      followBatch(skips, started, limited, late, now);
    }
  }

  /** After the batch's transaction: the skips logged, the missed alerts raised, the runs followed (they run). */
  function followBatch(skips: Skipped[], started: Started[], limited: Pending[], late: { e: ScheduleEntry; server: ServerRow; late: Late }[], now: number): void {
    const alerted = new Map<ScheduleEntry, Promise<void>>();
    for (const k of skips) if (k.op !== undefined) log.warn({ schedule: k.e.row.id, server: k.server.name, op: k.op }, k.why);
    for (const m of late) alerted.set(m.e, missedAlert(m.e, m.server, m.late, now));
    for (const r of started) void track(finish(r, r.opId, r.outcome, alerted.get(r.e)));
    for (const r of limited) void track(startLimited(r, alerted.get(r.e)));
  }

  /** Whether the server's backend has a snapshot limit; a driver that cannot be made has none (its create fails and says why). */
  function limitedBackend(server: ServerRow): boolean {
    try {
      return deps.engine.hasLimit(server);
    } catch {
      return false;
    }
  }

  /**
   * A run on a backend with a snapshot limit: room made first, then its minute claimed and its create recorded in
   * one transaction, as a batch's are (another replica's scheduler may have run the minute meanwhile: then nothing).
   */
  async function startLimited(r: Pending, alerted: Promise<void> | undefined): Promise<void> {
    const { e, server, due } = r;
    const skip = (why: string): Skipped => ({ e, server, due, why: `skipped: ${why}`, status: "skipped" });
    let refused: Skipped | null = null;
    let run: { opId: number; outcome: Promise<Outcome> } | null = null;
    try {
      await deps.engine.makeRoom(server, ASKER);
      run = await deps.engine.batch(async (t) => {
        if (!(await t.schedules.claim([{ id: e.row.id, at: due }])).has(e.row.id)) return null;
        const [a] = await deps.engine.createMany([r.input], t);
        if ("refused" in a!) {
          await recordSkips(t, [(refused = skip(errorMessage(a.refused)))]);
          return null;
        }
        const started = { opId: a!.op.id, outcome: outcomeOf(a!.job.done) }; // taken at once: a rolled-back job fails at once
        await t.schedules.ran([{ id: e.row.id, at: due, status: "started", op: a!.op.id }]);
        return started;
      });
    } catch (err) {
      const skipped = (refused = skip(errorMessage(err)));
      try {
        await ledger.tx((t) => recordSkips(t, [skipped]));
      } catch (e2) {
        log.error({ schedule: e.row.id, server: server.name, err: errorMessage(e2) }, "could not record a skipped scheduled run");
      }
    }
    if (refused) log.warn({ schedule: e.row.id, server: server.name, op: refused.op }, refused.why);
    if (!run) {
      e.running = null;
      return;
    }
    e.running = run.opId;
    await finish(r, run.opId, run.outcome, alerted);
  }

  /** A started run's outcome, on its schedule's row; a success resolves the staleness and applies --keep. */
  async function finish(r: Pick<Pending, "e" | "server" | "wasLate">, opId: number, outcome: Promise<Outcome>, alerted: Promise<void> | undefined): Promise<void> {
    const { e, server } = r;
    try {
      await alerted; // a catch-up run's schedule_missed is raised before its success resolves it
      const o = await outcome;
      if (!o.ok) throw o.err;
      await ledger.schedules.settled(e.row.id, opId, "succeeded");
      await succeeded(e, server, r.wasLate);
    } catch (err) {
      await ledger.schedules.settled(e.row.id, opId, "failed", errorMessage(err).split("\n")[0]!);
    } finally {
      e.running = null;
      const now = entries.get(e.row.id); // re-read since (another replica changed a schedule): the same run ended
      if (now && now !== e && now.running === opId) now.running = null;
    }
  }

  /** Runs that did not happen: each an operation recorded as cancelled, with why, so `audit` shows it (its id set on each). */
  async function recordSkips(t: LedgerRepos, skips: Skipped[]): Promise<void> {
    if (skips.length === 0) return;
    const ops = await t.operations.insertMany(
      skips.map(({ e, server, due, why }) => ({
        kind: "create",
        server_id: server.id,
        requested_by: SCHEDULER_USER,
        args: { schedule: e.row.id, due: new Date(due).toISOString() },
        state: "cancelled",
        error: why,
      })),
    );
    skips.forEach((k, i) => (k.op = ops[i]!.id));
    await t.schedules.ran(skips.map((k) => ({ id: k.e.row.id, at: k.due, status: k.status, op: k.op!, message: k.why })));
  }

  /** Never rejects: a failure to raise it is logged. */
  async function missedAlert(e: ScheduleEntry, server: ServerRow, late: Late, now: number): Promise<void> {
    const runs = late.runs > 1 ? `${late.runs} runs missed, ` : "";
    try {
      await deps.alerts.raise({
        kind: "schedule_missed",
        server,
        title: `${server.name}'s schedule "${e.row.cron}" ran ${formatAge(now - late.since)} late`,
        lines: [`${runs}due ${iso(late.since)}, started ${iso(now)}: snapbot was not running (or was stalled); it catches up with one run`],
      });
    } catch (err) {
      log.warn({ schedule: e.row.id, server: server.name, err: errorMessage(err) }, "could not raise schedule_missed");
    }
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
      let entry: ScheduleEntry | null = null;
      change(() => {
        for (const [id, e] of entries) if (e.row.server_id === row.server_id) entries.delete(id);
        entry = add(row);
      });
      return entry;
    },
    remove(serverId: number): void {
      change(() => {
        for (const [id, e] of entries) if (e.row.server_id === serverId) entries.delete(id);
      });
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
    async start(): Promise<void> {
      await load();
      await tick();
      retention.passSoon();
      const onTick = () => void tick().catch((e: unknown) => log.error({ err: errorMessage(e) }, "a scheduler tick failed"));
      task = cron.schedule("* * * * *", onTick, { name: "snapbot-scheduler", unref: true });
    },
    /** Stops ticking and waits for the runs, prunes and alerts already started. */
    async stop(): Promise<void> {
      const t = task; // a start() while this one waits makes its own task: that one is not stopped here
      task = null;
      await t?.stop();
      await t?.destroy();
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
