import type { Db } from "./open-db.ts";
import type { KeepPolicy } from "../../src/retention/keep-policy.ts";
import { fromJson } from "../json.ts";
import { transactional } from "./statements.ts";

// Schedules: one live schedule per server (unschedule marks it removed; history stays for the audit log).

export interface ScheduleRow {
  id: number;
  server_id: number;
  server: string;
  cron: string;
  pattern: string | null;
  expiry: string | null;
  keep: KeepPolicy | null;
  native: boolean;
  warn_after_ms: number | null;
  crit_after_ms: number | null;
  created_by: string | null;
  created_at: number;
  last_run_at: number | null; // the scheduled minute of the last run (not when it finished)
  last_status: "started" | "succeeded" | "failed" | "skipped" | null;
  last_operation_id: number | null;
  last_message: string | null;
  removed_at: number | null;
}

export type NewSchedule = Pick<ScheduleRow, "server_id" | "cron" | "pattern" | "expiry" | "keep" | "native" | "warn_after_ms" | "crit_after_ms"> & {
  created_by: string;
};

/** A run started (or skipped, or failed to start) for the scheduled minute `at`, with its operation. */
export interface ScheduleRun {
  id: number;
  at: number;
  status: "started" | "skipped" | "failed";
  op: number | null;
  message?: string | null;
}

type Raw = Omit<ScheduleRow, "keep" | "native"> & { keep: string | null; native: number };
const row = (r: Raw | undefined): ScheduleRow | undefined => r && { ...r, keep: fromJson<KeepPolicy>(r.keep), native: r.native === 1 };

const SELECT = "SELECT c.*, v.name AS server FROM schedules c JOIN servers v ON v.id = c.server_id";

export function scheduleRepo(db: Db, now: () => number) {
  const inTx = transactional(db);
  const live = db.prepare(`${SELECT} WHERE c.removed_at IS NULL AND v.removed_at IS NULL ORDER BY v.name`);
  const forServer = db.prepare(`${SELECT} WHERE c.server_id = ? AND c.removed_at IS NULL`);
  const byId = db.prepare(`${SELECT} WHERE c.id = ?`);
  const remove = db.prepare("UPDATE schedules SET removed_at = ? WHERE server_id = ? AND removed_at IS NULL");
  const insert = db.prepare(`INSERT INTO schedules (server_id, cron, pattern, expiry, keep, native, warn_after_ms, crit_after_ms, created_by, created_at)
    VALUES (@server_id, @cron, @pattern, @expiry, @keep, @native, @warn_after_ms, @crit_after_ms, @created_by, @created_at)`);
  const ran = db.prepare(`UPDATE schedules SET last_run_at = @at, last_status = @status, last_operation_id = @op, last_message = @message
    WHERE id = @id AND removed_at IS NULL`);
  const settled = db.prepare(`UPDATE schedules SET last_status = @status, last_message = @message WHERE id = @id AND last_operation_id = @op`);
  const version = db.prepare("SELECT (SELECT count(*) || '.' || count(removed_at) FROM schedules) || '.' || (SELECT count(*) || '.' || count(removed_at) FROM target_schedules) AS v").pluck();
  const claim = db.prepare("UPDATE schedules SET last_run_at = @at WHERE id = @id AND removed_at IS NULL AND (last_run_at IS NULL OR last_run_at < @at)");

  return {
    /** Every live schedule of a live server, by server name. */
    live(): ScheduleRow[] {
      return (live.all() as Raw[]).map((r) => row(r)!);
    },
    forServer(serverId: number): ScheduleRow | undefined {
      return row(forServer.get(serverId) as Raw | undefined);
    },
    get(id: number): ScheduleRow | undefined {
      return row(byId.get(id) as Raw | undefined);
    },
    /** A server's new schedule replaces its old one, in one transaction. */
    set(s: NewSchedule): { schedule: ScheduleRow; replaced: ScheduleRow | undefined } {
      return inTx(() => {
        const replaced = row(forServer.get(s.server_id) as Raw | undefined);
        const t = now();
        if (replaced) remove.run(t, s.server_id);
        const id = Number(insert.run({ ...s, keep: s.keep ? JSON.stringify(s.keep) : null, native: s.native ? 1 : 0, created_at: t }).lastInsertRowid);
        return { schedule: row(byId.get(id) as Raw)!, replaced };
      });
    },
    remove(serverId: number): ScheduleRow | undefined {
      return inTx(() => {
        const existing = row(forServer.get(serverId) as Raw | undefined);
        if (existing) remove.run(now(), serverId);
        return existing;
      });
    },
    /** Runs were started (or skipped) for their scheduled minutes. */
    ran(runs: ScheduleRun[]): void {
      for (const r of runs) ran.run({ message: null, ...r });
    },
    /** The runs for these minutes that are this caller's (not: one at or after it is recorded, or the schedule is gone). */
    claim(runs: { id: number; at: number }[]): Set<number> {
      return new Set(runs.filter((r) => claim.run(r).changes === 1).map((r) => r.id));
    },
    /** Changes when a schedule or target schedule is set or removed (rows are never deleted, only removed_at set). */
    version(): string {
      return String(version.get());
    },
    /** The run's operation ended; ignored if a newer run has been recorded since. */
    settled(id: number, op: number, status: "succeeded" | "failed", message: string | null = null): void {
      settled.run({ id, op, status, message });
    },
  };
}
export type ScheduleRepo = ReturnType<typeof scheduleRepo>;
