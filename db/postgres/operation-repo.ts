import type { RepoContext } from "./context.ts";
import type { NewOperation, OperationChanges, OperationRepo, OperationRow } from "../ledger.ts";
import { fromJson, toJson } from "../json.ts";
import { setClause } from "./session.ts";
import { assertTransition, OPERATION_FINAL, operationMachine, recordedTimes } from "../states.ts";
import { SnapbotError } from "../../src/errors.ts";

const SELECT = "SELECT o.*, v.name AS server FROM operations o LEFT JOIN servers v ON v.id = o.server_id";
type Raw = Omit<OperationRow, "args"> & { args: string | null; replica?: string | null };
// The replica column is coordination's (LIVE_OWNER), not part of the row callers see.
const row = ({ replica: _owner, ...r }: Raw): OperationRow => ({ ...r, args: fromJson(r.args) });
const CHANGES = ["result", "error", "approved_by", "snapshot_id"] as const;
/** True for an operation row `o` whose replica is alive (its heartbeat not expired, by the database's clock). */
export const LIVE_OWNER = "EXISTS (SELECT 1 FROM replicas r WHERE r.id = o.replica AND r.alive_until > snapbot_now_ms())";

export function operationRepo({ s, now, replica }: RepoContext): OperationRepo {
  const get = async (id: number) => {
    const r = await s.one<Raw>(`${SELECT} WHERE o.id = $1`, [id]);
    return r && row(r);
  };
  /** One INSERT … SELECT FROM unnest for all of them; the rows come back in the order given. */
  async function insertMany(ops: NewOperation[]): Promise<OperationRow[]> {
    if (ops.length === 0) return [];
    const t = now();
    const states = ops.map((o) => o.state ?? "queued");
    const col = <T>(f: (o: NewOperation) => T) => ops.map(f);
    const rows = await s.rows<Raw>(
      `WITH w AS (SELECT * FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[],
                   $10::bigint[], $11::bigint[]) WITH ORDINALITY AS w(kind, server_id, snapshot_id, state, requested_by, channel, args, result, error, started_at, finished_at, n)),
       o AS (INSERT INTO operations (kind, server_id, snapshot_id, state, requested_by, channel, args, result, error, created_at, started_at, finished_at, replica)
             SELECT kind, server_id, snapshot_id, state, requested_by, channel, args, result, error, $12, started_at, finished_at, $13 FROM w ORDER BY n
             RETURNING *)
       SELECT o.*, v.name AS server FROM o LEFT JOIN servers v ON v.id = o.server_id ORDER BY o.id`,
      [
        col((o) => o.kind), col((o) => o.server_id), col((o) => o.snapshot_id ?? null), states, col((o) => o.requested_by), col((o) => o.channel ?? null),
        col((o) => toJson(o.args)), col((o) => o.result ?? null), col((o) => o.error ?? null),
        states.map((st) => recordedTimes(st, t).started_at), states.map((st) => recordedTimes(st, t).finished_at), t, replica,
      ],
    );
    return rows.map(row); // serial ids are taken in the SELECT's order (ORDER BY n), so by id is the order given
  }
  return {
    get,
    async insert(o) {
      return (await insertMany([o]))[0]!;
    },
    insertMany,
    async attachSnapshot(id, snapshotId) {
      await s.run("UPDATE operations SET snapshot_id = $1 WHERE id = $2 AND snapshot_id IS NULL", [snapshotId, id]);
    },
    // As snapshots' transition: one guarded UPDATE … RETURNING.
    async transition(id, to, changes: OperationChanges = {}) {
      const cur = await get(id);
      if (!cur) throw new SnapbotError("unknown_operation", `operation #${id} does not exist`);
      assertTransition(operationMachine, "operation", id, cur.state, to);
      const t = now();
      const { sets, values } = setClause(changes, CHANGES, 7);
      // Whoever queues or starts the work owns it (an approval decided on another replica than the request's).
      const r = await s.one<Omit<Raw, "server">>(
        `UPDATE operations SET ${["state = $3", "started_at = $4", "finished_at = $5", "replica = CASE WHEN $3 IN ('queued','running') THEN $6 ELSE replica END", ...sets].join(", ")} WHERE id = $1 AND state = $2 RETURNING *`,
        [id, cur.state, to, to === "running" ? t : cur.started_at, OPERATION_FINAL.includes(to) ? t : null, replica, ...values],
      );
      if (!r) throw new SnapbotError("concurrent_change", `operation #${id} changed while being updated`);
      return row({ ...r, server: cur.server });
    },
    async list(o) {
      const rows =
        o.serverId === undefined
          ? await s.rows<Raw>(`${SELECT} ORDER BY o.id DESC LIMIT $1`, [o.limit])
          : await s.rows<Raw>(`${SELECT} WHERE o.server_id = $1 ORDER BY o.id DESC LIMIT $2`, [o.serverId, o.limit]);
      return rows.map(row);
    },
    async interrupted() {
      // Only work whose replica is gone: the others' operations are running, not interrupted.
      return (await s.rows<Raw>(`${SELECT} WHERE o.state IN ('queued','running') AND NOT ${LIVE_OWNER} ORDER BY o.id`)).map(row);
    },
  };
}
