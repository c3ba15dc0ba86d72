import type { RepoContext } from "./context.ts";
import type { ExpiredRef, SnapshotChanges, SnapshotRepo, SnapshotRow } from "../ledger.ts";
import { fromJson } from "../json.ts";
import { setClause } from "./session.ts";
import { assertTransition, snapshotMachine } from "../states.ts";
import { SnapbotError } from "../../src/errors.ts";
import { LIVE_OWNER } from "./operation-repo.ts";

export const SNAPSHOT_SELECT = "SELECT s.*, v.name AS server FROM snapshots s JOIN servers v ON v.id = s.server_id";
export const LIVE_STATES = "('deleted','failed','expired')";
export type RawSnapshot = Omit<SnapshotRow, "checksums" | "details"> & { checksums: string | null; details: string | null };
export const snapshotRow = (r: RawSnapshot): SnapshotRow => ({ ...r, checksums: fromJson(r.checksums), details: fromJson(r.details) });

const CHANGES = ["location", "size", "checksum", "checksums", "details", "finished_at", "verified_at", "error", "deleted_at", "deleted_by"] as const;
const JSON_COLUMNS = ["checksums", "details"];
const EXPIRED = `SELECT s.id, s.server_id, v.name AS server, s.name, s.location, s.created_at, s.expires_at
  FROM snapshots s JOIN servers v ON v.id = s.server_id
  WHERE s.state = 'done' AND s.expires_at IS NOT NULL AND s.expires_at <= $1`;

export function snapshotRepo({ s, now }: RepoContext): SnapshotRepo {
  const many = async (sql: string, values: unknown[]) => (await s.rows<RawSnapshot>(sql, values)).map(snapshotRow);
  const first = async (sql: string, values: unknown[]) => {
    const r = await s.one<RawSnapshot>(sql, values);
    return r && snapshotRow(r);
  };
  const get = (id: number) => first(`${SNAPSHOT_SELECT} WHERE s.id = $1`, [id]);
  const findLive = (serverId: number, name: string) =>
    first(`${SNAPSHOT_SELECT} WHERE s.server_id = $1 AND s.name = $2 AND s.state NOT IN ${LIVE_STATES}`, [serverId, name]);

  return {
    get,
    findLive,
    liveAmong: (pairs) =>
      many(
        `${SNAPSHOT_SELECT} JOIN unnest($1::bigint[], $2::text[]) AS p(server_id, name) ON s.server_id = p.server_id AND s.name = p.name
         WHERE s.state NOT IN ${LIVE_STATES}`,
        [pairs.map((p) => p.serverId), pairs.map((p) => p.name)],
      ),
    async find(serverId, name) {
      return (await findLive(serverId, name)) ?? first(`${SNAPSHOT_SELECT} WHERE s.server_id = $1 AND s.name = $2 ORDER BY s.id DESC LIMIT 1`, [serverId, name]);
    },
    async insert(n) {
      // ON CONFLICT DO NOTHING rather than catching the unique violation: inside a transaction an error would
      // abort the whole of it on PostgreSQL, where SQLite lets the caller catch snapshot_exists and go on.
      const r = await first(
        `WITH s AS (INSERT INTO snapshots (server_id, name, parent_id, state, origin, note, stateful, created_by, created_at, finished_at, expires_at, size)
          VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) ON CONFLICT DO NOTHING RETURNING *)
        SELECT s.*, v.name AS server FROM s JOIN servers v ON v.id = s.server_id`,
        [n.server_id, n.name, n.parent_id ?? null, n.state ?? "pending", n.origin ?? "snapbot", n.note ?? null, n.stateful === true,
          n.created_by, n.created_at ?? now(), n.finished_at ?? null, n.expires_at ?? null, n.size ?? null],
      );
      if (!r) throw new SnapbotError("snapshot_exists", `a snapshot named ${n.name} already exists on this server`);
      return r;
    },
    async transition(id, to, changes: SnapshotChanges = {}) {
      const cur = await get(id);
      if (!cur) throw new SnapbotError("unknown_snapshot", `snapshot #${id} does not exist`);
      assertTransition(snapshotMachine, "snapshot", id, cur.state, to);
      const { sets, values } = setClause(changes, CHANGES, 4, JSON_COLUMNS);
      // Guarded on the state read: of two writers racing, the second's UPDATE finds the state moved and changes nothing.
      const r = await s.one<Omit<RawSnapshot, "server">>(
        `UPDATE snapshots SET ${["state = $3", ...sets].join(", ")} WHERE id = $1 AND state = $2 RETURNING *`,
        [id, cur.state, to, ...values],
      );
      if (!r) throw new SnapbotError("concurrent_change", `snapshot #${id} changed while being updated`);
      return snapshotRow({ ...r, server: cur.server });
    },
    async annotate(id, changes) {
      const { sets, values } = setClause(changes, ["error", "verified_at", "details"], 2, JSON_COLUMNS);
      if (sets.length) await s.run(`UPDATE snapshots SET ${sets.join(", ")} WHERE id = $1`, [id, ...values]);
    },
    async list(serverId, o) {
      const where = ["s.server_id = $1"];
      const values: unknown[] = [serverId];
      if (o.state) where.push(`s.state = $${values.push(o.state)}`);
      else if (!o.all) where.push(`s.state NOT IN ${LIVE_STATES}`);
      const w = where.join(" AND ");
      const rows = await many(`${SNAPSHOT_SELECT} WHERE ${w} ORDER BY s.created_at DESC, s.id DESC LIMIT $${values.length + 1} OFFSET $${values.length + 2}`, [
        ...values, o.limit, o.offset,
      ]);
      const total = (await s.one<{ n: number }>(`SELECT count(*) AS n FROM snapshots s WHERE ${w}`, values))!.n;
      return { rows, total };
    },
    async liveCount(serverId) {
      return (await s.one<{ n: number }>(`SELECT count(*) AS n FROM snapshots WHERE server_id = $1 AND state NOT IN ${LIVE_STATES}`, [serverId]))!.n;
    },
    async liveNames(serverId) {
      const rows = await s.rows<{ name: string }>(`SELECT name FROM snapshots WHERE server_id = $1 AND state NOT IN ${LIVE_STATES} ORDER BY name`, [serverId]);
      return rows.map((r) => r.name);
    },
    // Ties in expiry in the covering index's order (server, name), as SQLite reads them.
    expired: (at) => s.rows<ExpiredRef>(`${EXPIRED} ORDER BY s.expires_at, s.server_id, s.name`, [at]),
    expiredOf: (serverId, at) => s.rows<ExpiredRef>(`${EXPIRED} AND s.server_id = $2 ORDER BY s.expires_at, s.name`, [at, serverId]),
    verifiable: (serverId) => many(`${SNAPSHOT_SELECT} WHERE s.server_id = $1 AND s.state IN ('done','broken') ORDER BY s.id`, [serverId]),
    // Work some replica left half-done, not work under way: neither its server's lease nor an open operation on it
    // belongs to a live replica (every change to a snapshot runs under its server's lease).
    unfinished: () =>
      many(
        `${SNAPSHOT_SELECT} WHERE s.state IN ('pending','running','deleting')
          AND NOT EXISTS (SELECT 1 FROM leases l JOIN replicas r ON r.id = l.replica AND r.alive_until > snapbot_now_ms() WHERE l.key = v.name)
          AND NOT EXISTS (SELECT 1 FROM operations o WHERE o.snapshot_id = s.id AND o.state IN ('queued','running') AND ${LIVE_OWNER})
          ORDER BY s.id`,
        [],
      ),
  };
}
