import type { RepoContext } from "./context.ts";
import type { ScheduleRepo, ScheduleRow } from "../ledger.ts";
import type { KeepPolicy } from "../../src/retention/keep-policy.ts";
import type { Session } from "./session.ts";
import { fromJson, toJson } from "../json.ts";

// Schedules: one live schedule per server (unschedule marks it removed; history stays for the audit log).

type Raw = Omit<ScheduleRow, "keep"> & { keep: string | null };
const row = (r: Raw): ScheduleRow => ({ ...r, keep: fromJson<KeepPolicy>(r.keep) });
const SELECT = "SELECT c.*, v.name AS server FROM schedules c JOIN servers v ON v.id = c.server_id";

export function scheduleRepo({ s, now }: RepoContext): ScheduleRepo {
  const first = async (t: Session, sql: string, values: unknown[]) => {
    const r = await t.one<Raw>(sql, values);
    return r && row(r);
  };
  const forServer = (t: Session, serverId: number) => first(t, `${SELECT} WHERE c.server_id = $1 AND c.removed_at IS NULL`, [serverId]);
  /** Replicas changing one server's schedule at once take turns on its row: each then reads what the other wrote. */
  const lockServer = (t: Session, serverId: number) => t.run("SELECT 1 FROM servers WHERE id = $1 FOR UPDATE", [serverId]);

  return {
    async live() {
      return (await s.rows<Raw>(`${SELECT} WHERE c.removed_at IS NULL AND v.removed_at IS NULL ORDER BY v.name`)).map(row);
    },
    forServer: (serverId) => forServer(s, serverId),
    get: (id) => first(s, `${SELECT} WHERE c.id = $1`, [id]),
    set: (n) =>
      s.atomic(async (t) => {
        await lockServer(t, n.server_id);
        const replaced = await forServer(t, n.server_id);
        const at = now();
        if (replaced) await t.run("UPDATE schedules SET removed_at = $1 WHERE server_id = $2 AND removed_at IS NULL", [at, n.server_id]);
        const { id } = (await t.one<{ id: number }>(
          `INSERT INTO schedules (server_id, cron, pattern, expiry, keep, native, warn_after_ms, crit_after_ms, created_by, created_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id`,
          [n.server_id, n.cron, n.pattern, n.expiry, toJson(n.keep), Boolean(n.native), n.warn_after_ms, n.crit_after_ms, n.created_by, at],
        ))!;
        return { schedule: (await first(t, `${SELECT} WHERE c.id = $1`, [id]))!, replaced };
      }),
    remove: (serverId) =>
      s.atomic(async (t) => {
        await lockServer(t, serverId);
        const existing = await forServer(t, serverId);
        if (existing) await t.run("UPDATE schedules SET removed_at = $1 WHERE server_id = $2 AND removed_at IS NULL", [now(), serverId]);
        return existing;
      }),
    async ran(runs) {
      if (runs.length === 0) return;
      await s.run(
        `UPDATE schedules c SET last_run_at = r.at, last_status = r.status, last_operation_id = r.op, last_message = r.message
         FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::bigint[], $5::text[]) AS r(id, at, status, op, message)
         WHERE c.id = r.id AND c.removed_at IS NULL`,
        [runs.map((r) => r.id), runs.map((r) => r.at), runs.map((r) => r.status), runs.map((r) => r.op), runs.map((r) => r.message ?? null)],
      );
    },
    async claim(runs) {
      if (runs.length === 0) return new Set();
      const won = await s.rows<{ id: number }>(
        `UPDATE schedules c SET last_run_at = r.at FROM unnest($1::bigint[], $2::bigint[]) AS r(id, at)
         WHERE c.id = r.id AND c.removed_at IS NULL AND (c.last_run_at IS NULL OR c.last_run_at < r.at) RETURNING c.id`,
        [runs.map((r) => r.id), runs.map((r) => r.at)],
      );
      return new Set(won.map((r) => Number(r.id)));
    },
    async version() {
      return (await s.one<{ v: string }>("SELECT (SELECT count(*) || '.' || count(removed_at) FROM schedules) || '.' || (SELECT count(*) || '.' || count(removed_at) FROM target_schedules) AS v"))!.v;
    },
    async settled(id, op, status, message = null) {
      await s.run("UPDATE schedules SET last_status = $3, last_message = $4 WHERE id = $1 AND last_operation_id = $2", [id, op, status, message]);
    },
  };
}
