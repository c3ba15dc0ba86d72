import type { RepoContext } from "./context.ts";
import type { TargetScheduleRepo, TargetScheduleRow } from "../ledger.ts";
import type { Session } from "./session.ts";

// Schedules that re-read a whole storage target in slices: one live schedule per target, the round persisted.

/** A target has no row of its own to lock: replicas changing one target's schedule take turns on this advisory key. */
const TARGET_LOCK = 0x74676574; // "tget"

export function targetScheduleRepo({ s, now }: RepoContext): TargetScheduleRepo {
  const forTarget = (t: Session, target: string) => t.one<TargetScheduleRow>("SELECT * FROM target_schedules WHERE target = $1 AND removed_at IS NULL", [target]);
  const lock = (t: Session, target: string) => t.run("SELECT pg_advisory_xact_lock($1, hashtext($2))", [TARGET_LOCK, target]);
  return {
    live: () => s.rows<TargetScheduleRow>("SELECT * FROM target_schedules WHERE removed_at IS NULL ORDER BY target"),
    forTarget: (target) => forTarget(s, target),
    get: (id) => s.one<TargetScheduleRow>("SELECT * FROM target_schedules WHERE id = $1", [id]),
    set: (n) =>
      s.atomic(async (t) => {
        await lock(t, n.target);
        const replaced = await forTarget(t, n.target);
        const at = now();
        if (replaced) await t.run("UPDATE target_schedules SET removed_at = $1 WHERE target = $2 AND removed_at IS NULL", [at, n.target]);
        // The same number of slices keeps the round where it was; another number starts a new round at slice 1.
        const same = replaced && replaced.slices === n.slices ? replaced : null;
        const schedule = await t.one<TargetScheduleRow>(
          `INSERT INTO target_schedules (target, cron, slices, next_slice, round_started_at, created_by, created_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING *`,
          [n.target, n.cron, n.slices, same?.next_slice ?? 1, same?.round_started_at ?? null, n.created_by, at],
        );
        return { schedule: schedule!, replaced };
      }),
    remove: (target) =>
      s.atomic(async (t) => {
        await lock(t, target);
        const existing = await forTarget(t, target);
        if (existing) await t.run("UPDATE target_schedules SET removed_at = $1 WHERE target = $2 AND removed_at IS NULL", [now(), target]);
        return existing;
      }),
    async ran(id, at, status, op, message = null) {
      await s.run(
        "UPDATE target_schedules SET last_run_at = $2, last_status = $3, last_operation_id = $4, last_message = $5 WHERE id = $1 AND removed_at IS NULL",
        [id, at, status, op, message],
      );
    },
    async settled(id, op, status, message = null) {
      await s.run("UPDATE target_schedules SET last_status = $3, last_message = $4 WHERE id = $1 AND last_operation_id = $2", [id, op, status, message]);
    },
    async beginRound(id, at) {
      await s.run("UPDATE target_schedules SET round_started_at = $2 WHERE id = $1 AND round_started_at IS NULL", [id, at]);
    },
    async advance(id, from, next) {
      return (await s.run(
        `UPDATE target_schedules SET next_slice = $3, round_started_at = CASE WHEN $3 = 1 THEN NULL ELSE round_started_at END
         WHERE id = $1 AND next_slice = $2 AND removed_at IS NULL`,
        [id, from, next],
      )) === 1;
    },
  };
}
