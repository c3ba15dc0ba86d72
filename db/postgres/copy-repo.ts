import type { RepoContext } from "./context.ts";
import type { CopyCandidate, CopyChanges, CopyRepo, CopyRow } from "../ledger.ts";
import { setClause } from "./session.ts";
import { assertTransition, copyMachine } from "../states.ts";
import { SnapbotError } from "../../src/errors.ts";

// Copies of stored snapshots on storage targets, as SQLite's copy-repo.ts: guarded transitions, one live copy per
// place on a target (the partial unique index copies_live_place).

import { LIVE_OWNER } from "./operation-repo.ts";
const SELECT = "SELECT c.*, v.name AS server FROM copies c JOIN servers v ON v.id = c.server_id";
const LIVE = "('running','done','broken','deleting')";
const CHANGES = ["location", "size", "checksum", "parts", "error", "operation_id", "finished_at", "verified_at", "deleted_at", "deleted_by"] as const;

export function copyRepo({ s, now }: RepoContext): CopyRepo {
  const get = (id: number) => s.one<CopyRow>(`${SELECT} WHERE c.id = $1`, [id]);
  return {
    get,
    async insert(c) {
      // DO NOTHING, not a caught unique violation: an error would abort an enclosing transaction on PostgreSQL.
      const r = await s.one<CopyRow>(
        `WITH c AS (INSERT INTO copies (snapshot_id, server_id, name, target, state, created_by, created_at, snapshot_created_at)
          VALUES ($1, $2, $3, $4, 'running', $5, $6, $7) ON CONFLICT DO NOTHING RETURNING *)
        SELECT c.*, v.name AS server FROM c JOIN servers v ON v.id = c.server_id`,
        [c.snapshot_id, c.server_id, c.name, c.target, c.created_by, now(), c.snapshot_created_at],
      );
      if (!r) throw new SnapbotError("copy_exists", `${c.target} already holds a copy named ${c.name} of this server`);
      return r;
    },
    async transition(id, to, changes: CopyChanges = {}) {
      const cur = await get(id);
      if (!cur) throw new SnapbotError("unknown_copy", `copy #${id} does not exist`);
      assertTransition(copyMachine, "copy", id, cur.state, to);
      const { sets, values } = setClause(changes, CHANGES, 4);
      const r = await s.one<Omit<CopyRow, "server">>(`UPDATE copies SET ${["state = $3", ...sets].join(", ")} WHERE id = $1 AND state = $2 RETURNING *`, [
        id, cur.state, to, ...values,
      ]);
      if (!r) throw new SnapbotError("concurrent_change", `copy #${id} changed while being updated`);
      return { ...r, server: cur.server };
    },
    async annotate(id, changes) {
      const { sets, values } = setClause(changes, ["location", "verified_at", "error", "operation_id"], 2);
      if (sets.length) await s.run(`UPDATE copies SET ${sets.join(", ")} WHERE id = $1`, [id, ...values]);
    },
    live: (snapshotId, target) => s.one<CopyRow>(`${SELECT} WHERE c.snapshot_id = $1 AND c.target = $2 AND c.state IN ${LIVE}`, [snapshotId, target]),
    liveAt: (serverId, name, target) =>
      s.one<CopyRow>(`${SELECT} WHERE c.server_id = $1 AND c.name = $2 AND c.target = $3 AND c.state IN ${LIVE}`, [serverId, name, target]),
    ofSnapshot: (snapshotId) => s.rows<CopyRow>(`${SELECT} WHERE c.snapshot_id = $1 ORDER BY c.id DESC`, [snapshotId]),
    candidates: (target, serverId) =>
      s.rows<CopyCandidate>(
        `SELECT id, snapshot_id, name, snapshot_created_at AS "createdAt", state FROM copies
         WHERE target = $1 AND server_id = $2 AND state IN ('done','broken') ORDER BY snapshot_created_at, id`,
        [target, serverId],
      ),
    async serversOn(target) {
      const rows = await s.rows<{ name: string }>(
        `SELECT DISTINCT v.name FROM copies c JOIN servers v ON v.id = c.server_id WHERE c.target = $1 AND c.state IN ('done','broken') ORDER BY v.name`,
        [target],
      );
      return rows.map((r) => r.name);
    },
    onTarget: (target) => s.rows<CopyRow>(`${SELECT} WHERE c.target = $1 AND c.state IN ('done','broken') ORDER BY c.id`, [target]),
    // As snapshots' unfinished: not while a live replica holds the server's or this copy's lease, or runs its operation.
    unfinished: () =>
      s.rows<CopyRow>(
        `${SELECT} WHERE c.state IN ('running','deleting')
          AND NOT EXISTS (SELECT 1 FROM leases l JOIN replicas r ON r.id = l.replica AND r.alive_until > snapbot_now_ms()
            WHERE l.key IN (v.name, v.name || '/' || c.name || '@' || c.target))
          AND NOT EXISTS (SELECT 1 FROM operations o WHERE o.id = c.operation_id AND o.state IN ('queued','running') AND ${LIVE_OWNER})
          ORDER BY c.id`,
      ),
  };
}
