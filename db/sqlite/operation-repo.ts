import { statementCache } from "./statements.ts";
import type { Db } from "./open-db.ts";
import type { OperationRow } from "../types.ts";
import { fromJson, toJson } from "../json.ts";
import { assertTransition, OPERATION_FINAL, operationMachine, recordedTimes, type OperationState } from "../states.ts";
import { SnapbotError } from "../../src/errors.ts";

const SELECT = "SELECT o.*, v.name AS server FROM operations o LEFT JOIN servers v ON v.id = o.server_id";
type Raw = Omit<OperationRow, "args"> & { args: string };
const row = (r: Raw | undefined): OperationRow | undefined => r && { ...r, args: fromJson(r.args) };

export interface NewOperation {
  kind: string;
  server_id: number | null;
  snapshot_id?: number | null;
  requested_by: string;
  channel?: string | null;
  args?: Record<string, unknown>;
  state?: "awaiting_approval" | "queued" | "running" | "succeeded" | "failed" | "cancelled";
  result?: string | null;
  error?: string | null;
}

export type OperationChanges = Partial<Pick<OperationRow, "result" | "error" | "approved_by" | "snapshot_id">>;

export function operationRepo(db: Db, now: () => number) {
  const prepared = statementCache(db);
  const attach = db.prepare("UPDATE operations SET snapshot_id = ? WHERE id = ? AND snapshot_id IS NULL");
  const byId = db.prepare(`${SELECT} WHERE o.id = ?`);
  const insert = db.prepare(`INSERT INTO operations (kind, server_id, snapshot_id, state, requested_by, channel, args, result, error, created_at, started_at, finished_at)
    VALUES (@kind, @server_id, @snapshot_id, @state, @requested_by, @channel, @args, @result, @error, @created_at, @started_at, @finished_at)`);

  return {
    get(id: number): OperationRow | undefined {
      return row(byId.get(id) as Raw | undefined);
    },
    insert(o: NewOperation): OperationRow {
      const t = now();
      const state = o.state ?? "queued";
      const info = insert.run({
        snapshot_id: null,
        channel: null,
        result: null,
        error: null,
        ...o,
        args: toJson(o.args),
        state,
        created_at: t,
        ...recordedTimes(state, t),
      });
      return this.get(Number(info.lastInsertRowid))!;
    },
    /** Many recorded in one go, in order (the scheduler's runs and skips due in one minute). */
    insertMany(ops: NewOperation[]): OperationRow[] {
      return ops.map((o) => this.insert(o));
    },
    /** A snapshot recorded after its operation (a scheduled create, when it starts). */
    attachSnapshot(id: number, snapshotId: number): void {
      attach.run(snapshotId, id);
    },
    // As snapshots' transition: one guarded UPDATE … RETURNING, no savepoint and no second read.
    transition(id: number, to: OperationState, changes: OperationChanges = {}): OperationRow {
      const cur = this.get(id);
      if (!cur) throw new SnapbotError("unknown_operation", `operation #${id} does not exist`);
      assertTransition(operationMachine, "operation", id, cur.state, to);
      const t = now();
      const times = { started_at: to === "running" ? t : cur.started_at, finished_at: OPERATION_FINAL.includes(to) ? t : null };
      const sets = ["state = @to", "started_at = @started_at", "finished_at = @finished_at"];
      for (const k of Object.keys(changes)) sets.push(`${k} = @${k}`);
      const r = prepared(`UPDATE operations SET ${sets.join(", ")} WHERE id = @id AND state = @from RETURNING *`).get({ ...changes, ...times, id, from: cur.state, to }) as
        | Raw
        | undefined;
      if (!r) throw new SnapbotError("concurrent_change", `operation #${id} changed while being updated`);
      return row({ ...r, server: cur.server })!;
    },
    /** The audit log, newest first. */
    list(o: { serverId?: number; limit: number }): OperationRow[] {
      const where = o.serverId === undefined ? "" : "WHERE o.server_id = @serverId";
      return (prepared(`${SELECT} ${where} ORDER BY o.id DESC LIMIT @limit`).all(o) as Raw[]).map((r) => row(r)!);
    },
    /** Operations a crash interrupted (queued ones never started, running ones died). */
    interrupted(): OperationRow[] {
      return (db.prepare(`${SELECT} WHERE o.state IN ('queued','running')`).all() as Raw[]).map((r) => row(r)!);
    },
  };
}
export type OperationRepo = ReturnType<typeof operationRepo>;
