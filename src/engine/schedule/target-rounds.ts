import type { LedgerRepos, TargetScheduleRow } from "../../../db/ledger.ts";
import type { SchedulerDeps } from "./scheduler-deps.ts";
import type { OperationHandle } from "../operations/run-operation.ts";
import { parseCron, type CronSchedule } from "../../schedule/cron.ts";
import { errorMessage } from "../../errors.ts";
import { formatAge } from "../../duration.ts";
import { utc } from "../../replies/format.ts";
import { targetVerifyLine, type TargetVerified } from "../copies/target-verify-line.ts";

// Scheduled verification of whole storage targets (schedule --target <t> "<cron>" --slices m). Each run reads the
// target's next slice, so every byte there is re-read once a round of m runs. The round is kept in the ledger
// (next_slice advances in the transaction that records the run; round_started_at), so a restart continues where it
// was and a run that fails is tried again with the same slice. A run also reads what earlier slices of the round
// still owe (verify-target.ts planRead). Missed times are caught up once with a schedule_missed alert, and a run is
// never stacked on a running one (recorded as skipped), as a server's schedule does. A run that stops, or cannot
// read some of the target, raises copy_failed on the target ("@offsite"); the next run that reads all it meant to
// resolves it. Broken copies have their own alerts, raised as each is read.

const LATE_MS = 60_000;
const SCHEDULER = { user: "scheduler", channel: null };

export interface RoundEntry {
  row: TargetScheduleRow;
  cron: CronSchedule;
  next: number;
  running: number | null; // operation id of the run in progress
}

export interface RoundsReport {
  fired: number;
  skipped: number;
  missed: number;
}

export function createTargetRounds(deps: SchedulerDeps, track: <T>(p: Promise<T>) => Promise<T>) {
  const { ledger, clock, log } = deps;
  const entries = new Map<string, RoundEntry>(); // by target

  function add(row: TargetScheduleRow): RoundEntry | null {
    try {
      const cron = parseCron(row.cron);
      const entry: RoundEntry = { row, cron, next: cron.next(row.last_run_at ?? row.created_at), running: null };
      entries.set(row.target, entry);
      return entry;
    } catch (e) {
      log.error({ target: row.target, cron: row.cron, err: errorMessage(e) }, "a stored verification schedule cannot be parsed: it will not run");
      return null;
    }
  }

  async function tick(now: number): Promise<RoundsReport> {
    const report: RoundsReport = { fired: 0, skipped: 0, missed: 0 };
    for (const e of [...entries.values()]) {
      if (entries.get(e.row.target) !== e) continue; // unscheduled or replaced while earlier runs were recorded
      if (e.next > now) continue;
      const due = e.cron.previous(now) ?? e.next;
      const late = now - e.next >= LATE_MS ? e.next : null;
      e.next = e.cron.next(now);
      let alerted: Promise<void> | undefined;
      if (late !== null) {
        report.missed++;
        alerted = missed(e, late, now);
      }
      if (await fire(e, due, alerted)) report.fired++;
      else report.skipped++;
    }
    return report;
  }

  /** Starts the run of the round's next slice; false when it was skipped (recorded in the audit log). */
  /** `alerted`: a catch-up run's schedule_missed, raised before the run's success may resolve it. */
  async function fire(e: RoundEntry, due: number, alerted: Promise<void> | undefined): Promise<boolean> {
    if (e.running !== null) return await skip(e, due, `skipped: the previous run (operation #${e.running}) is still running`), false;
    let handle: OperationHandle<TargetVerified>;
    try {
      handle = await start(e.row.id);
    } catch (err) {
      return await skip(e, due, `skipped: ${errorMessage(err)}`), false;
    }
    const opId = (e.running = handle.op.id);
    // Its outcome is written once the run's start is: a quick run's settled must not come before its ran.
    const outcome = handle.job.done.then(
      (v) => ({ ok: true as const, v }),
      (err: unknown) => ({ ok: false as const, err }),
    );
    const recorded = ledger.targetSchedules.ran(e.row.id, due, "started", opId);
    const ended = (async () => {
      try {
        await recorded.catch(() => undefined); // the tick reports it
        await alerted;
        const o = await outcome;
        if (o.ok) await succeeded(e, opId, o.v, alerted !== undefined);
        else await failed(e, opId, errorMessage(o.err).split("\n")[0]!);
      } finally {
        e.running = null;
      }
    })();
    void track(ended);
    await recorded;
    return true;
  }

  /** The slice is read from the ledger at each run (a restart, a replaced schedule); the round begins at its first. */
  async function start(id: number): Promise<OperationHandle<TargetVerified>> {
    const row = await ledger.tx(async (t) => {
      await t.targetSchedules.beginRound(id, clock.now());
      return (await t.targetSchedules.get(id))!;
    });
    const slice = { n: row.next_slice, m: row.slices };
    const next = (slice.n % slice.m) + 1;
    // In the transaction that records the run's outcome (t), so the round moves on only with a read that counted.
    const commit = async (t: LedgerRepos): Promise<void> => void (await t.targetSchedules.advance(id, slice.n, next));
    return await deps.engine.copies.verifyTarget({ target: row.target, slice, round: { scheduleId: id, startedAt: row.round_started_at!, commit } }, SCHEDULER);
  }

  async function succeeded(e: RoundEntry, opId: number, v: TargetVerified, wasLate: boolean): Promise<void> {
    const t = e.row.target;
    await quietly(() => ledger.targetSchedules.settled(e.row.id, opId, "succeeded", targetVerifyLine(v)));
    if (wasLate) void deps.alerts.resolveOnTarget("schedule_missed", t, "the catch-up run succeeded").catch(alertFailed);
    if (v.unreadable.length === 0)
      return void deps.alerts.resolveOnTarget("copy_failed", t, `a later scheduled verification read all it meant to (operation #${opId})`).catch(alertFailed);
    const lines = v.unreadable.slice(0, 10).map((u) => `${u.place} could not be read: ${u.error}`);
    const title = `the scheduled verification of ${t} could not read ${v.unreadable.length} (operation #${opId})`;
    void deps.alerts.raiseOnTarget({ kind: "copy_failed", target: t, title, lines }).catch(alertFailed);
  }

  async function failed(e: RoundEntry, opId: number, message: string): Promise<void> {
    const t = e.row.target;
    await quietly(() => ledger.targetSchedules.settled(e.row.id, opId, "failed", message));
    const lines = [message, `the same slice is read again at the next run (${utc(e.next)})`];
    void deps.alerts.raiseOnTarget({ kind: "copy_failed", target: t, title: `the scheduled verification of ${t} failed (operation #${opId})`, lines }).catch(alertFailed);
  }

  /** A run that did not happen: an operation recorded as cancelled, with why, so `audit` shows it. */
  async function skip(e: RoundEntry, due: number, why: string): Promise<void> {
    const args = { target: e.row.target, schedule: e.row.id, due: new Date(due).toISOString() };
    const op = await ledger.tx(async (t) => {
      const o = await t.operations.insert({ kind: "verify_target", server_id: null, requested_by: SCHEDULER.user, args });
      const cancelled = await t.operations.transition(o.id, "cancelled", { error: why });
      await t.targetSchedules.ran(e.row.id, due, "skipped", cancelled.id, why);
      return cancelled;
    });
    log.warn({ target: e.row.target, op: op.id }, why);
  }

  /** Never rejects: a failure to raise it is logged. */
  function missed(e: RoundEntry, since: number, now: number): Promise<void> {
    const t = e.row.target;
    return deps.alerts
      .raiseOnTarget({
        kind: "schedule_missed",
        target: t,
        title: `${t}'s verification schedule "${e.row.cron}" ran ${formatAge(now - since)} late`,
        lines: [`due ${utc(since)}, started ${utc(now)}: snapbot was not running (or was stalled); it catches up with one run`],
      })
      .catch(alertFailed);
  }

  function alertFailed(err: unknown): void {
    log.warn({ err: errorMessage(err) }, "could not raise or resolve a verification schedule's alert");
  }

  /** A run's outcome is in the ledger already; what the schedule row says of it must not turn it into a failure. */
  async function quietly(write: () => Promise<void>): Promise<void> {
    try {
      await write();
    } catch (err) {
      log.warn({ err: errorMessage(err) }, "could not record a verification schedule's last run");
    }
  }

  // Schedules a command set or removed while a load read the ledger: applied again over what it read.
  let changedDuringLoad: (() => void)[] | null = null;
  function change(fn: () => void): void {
    fn();
    changedDuringLoad?.push(fn);
  }

  return {
    async load(): Promise<void> {
      const changed: (() => void)[] = (changedDuringLoad = []);
      let rows: TargetScheduleRow[];
      try {
        rows = await ledger.targetSchedules.live();
      } finally {
        changedDuringLoad = null;
      }
      entries.clear();
      for (const row of rows) add(row);
      for (const fn of changed) fn();
    },
    tick,
    /** Set or replaced by a command: live from the next tick. */
    upsert(row: TargetScheduleRow): RoundEntry | null {
      let entry: RoundEntry | null = null;
      change(() => void (entry = add(row)));
      return entry;
    },
    remove: (target: string): void => change(() => void entries.delete(target)),
    entry: (target: string): RoundEntry | undefined => entries.get(target),
  };
}
export type TargetRounds = ReturnType<typeof createTargetRounds>;
