import type { Db } from "./open-db.ts";
import { transactional } from "./statements.ts";

// Schedules that re-read a whole storage target in slices (migration 015): one live schedule per target. The
// round (which slice is next, when the round began) is persisted here, so a restart continues where it was.

export interface TargetScheduleRow {
  id: number;
  target: string;
  cron: string;
  slices: number;
  next_slice: number;
  round_started_at: number | null;
  created_by: string | null;
  created_at: number;
  last_run_at: number | null;
  last_status: "started" | "succeeded" | "failed" | "skipped" | null;
  last_operation_id: number | null;
  last_message: string | null;
  removed_at: number | null;
}

export interface NewTargetSchedule {
  target: string;
  cron: string;
  slices: number;
  created_by: string;
}

export function targetScheduleRepo(db: Db, now: () => number) {
  const inTx = transactional(db);
  const live = db.prepare("SELECT * FROM target_schedules WHERE removed_at IS NULL ORDER BY target");
  const forTarget = db.prepare("SELECT * FROM target_schedules WHERE target = ? AND removed_at IS NULL");
  const byId = db.prepare("SELECT * FROM target_schedules WHERE id = ?");
  const remove = db.prepare("UPDATE target_schedules SET removed_at = ? WHERE target = ? AND removed_at IS NULL");
  const insert = db.prepare(`INSERT INTO target_schedules (target, cron, slices, next_slice, round_started_at, created_by, created_at)
    VALUES (@target, @cron, @slices, @next_slice, @round_started_at, @created_by, @created_at)`);
  const ran = db.prepare(`UPDATE target_schedules SET last_run_at = @at, last_status = @status, last_operation_id = @op, last_message = @message
    WHERE id = @id AND removed_at IS NULL`);
  const settled = db.prepare("UPDATE target_schedules SET last_status = @status, last_message = @message WHERE id = @id AND last_operation_id = @op");
  const begin = db.prepare("UPDATE target_schedules SET round_started_at = @at WHERE id = @id AND round_started_at IS NULL");
  const advance = db.prepare(`UPDATE target_schedules SET next_slice = @next, round_started_at = CASE WHEN @next = 1 THEN NULL ELSE round_started_at END
    WHERE id = @id AND next_slice = @from AND removed_at IS NULL`);

  return {
    live(): TargetScheduleRow[] {
      return live.all() as TargetScheduleRow[];
    },
    forTarget(target: string): TargetScheduleRow | undefined {
      return forTarget.get(target) as TargetScheduleRow | undefined;
    },
    get(id: number): TargetScheduleRow | undefined {
      return byId.get(id) as TargetScheduleRow | undefined;
    },
    /**
     * A target's new schedule replaces its old one in one transaction. The same number of slices keeps the round
     * where it was (only the times change); another number starts a new round at slice 1.
     */
    set(s: NewTargetSchedule): { schedule: TargetScheduleRow; replaced: TargetScheduleRow | undefined } {
      return inTx(() => {
        const replaced = forTarget.get(s.target) as TargetScheduleRow | undefined;
        const t = now();
        if (replaced) remove.run(t, s.target);
        const same = replaced && replaced.slices === s.slices ? replaced : null;
        const round = { next_slice: same?.next_slice ?? 1, round_started_at: same?.round_started_at ?? null };
        const id = Number(insert.run({ ...s, ...round, created_at: t }).lastInsertRowid);
        return { schedule: byId.get(id) as TargetScheduleRow, replaced };
      });
    },
    remove(target: string): TargetScheduleRow | undefined {
      return inTx(() => {
        const existing = forTarget.get(target) as TargetScheduleRow | undefined;
        if (existing) remove.run(now(), target);
        return existing;
      });
    },
    /** A run was started (or skipped) for the scheduled minute `at`. */
    ran(id: number, at: number, status: "started" | "skipped" | "failed", op: number | null, message: string | null = null): void {
      ran.run({ id, at, status, op, message });
    },
    /** The run's operation ended; ignored if a newer run has been recorded since. */
    settled(id: number, op: number, status: "succeeded" | "failed", message: string | null = null): void {
      settled.run({ id, op, status, message });
    },
    /** The round's first run began at `at` (kept if a round is already under way: a retry continues it). */
    beginRound(id: number, at: number): void {
      begin.run({ id, at });
    },
    /** Slice `from` was read: the next run reads `next` (1 ends the round). Guarded, so a replaced schedule is not moved. */
    advance(id: number, from: number, next: number): boolean {
      return advance.run({ id, from, next }).changes === 1;
    },
  };
}
export type TargetScheduleRepo = ReturnType<typeof targetScheduleRepo>;
