import { postOrder } from "../tree-walk.ts";
import type { RepoContext } from "./context.ts";
import type { SnapshotRepo, SnapshotRow, TreeNodeRow, TreeRepo } from "../ledger.ts";
import { LIVE_STATES, SNAPSHOT_SELECT, snapshotRow, type RawSnapshot } from "./snapshot-repo.ts";

// The snapshot tree, as SQLite's tree-repo.ts: only live snapshots are part of a tree. A subtree is read with one
// recursive query (not one round trip per snapshot), then walked in memory in the same post-order.

const LIVE = `state NOT IN ${LIVE_STATES}`;
const byAge = (a: SnapshotRow, b: SnapshotRow) => a.created_at - b.created_at || a.id - b.id;

export function treeRepo({ s, now }: RepoContext, snapshots: SnapshotRepo): TreeRepo {
  const children = async (id: number) =>
    (await s.rows<RawSnapshot>(`${SNAPSHOT_SELECT} WHERE s.parent_id = $1 AND s.${LIVE} ORDER BY s.created_at, s.id`, [id])).map(snapshotRow);
  const currentId = async (serverId: number) =>
    (await s.one<{ snapshot_id: number | null }>("SELECT snapshot_id FROM server_positions WHERE server_id = $1", [serverId]))?.snapshot_id ?? null;

  return {
    children,
    async descendants(id) {
      // UNION (not UNION ALL) drops rows already found, so a parent loop in bad data ends the recursion.
      const rows = (
        await s.rows<RawSnapshot>(
          `WITH RECURSIVE d(id) AS (
             SELECT id FROM snapshots WHERE parent_id = $1 AND ${LIVE}
             UNION SELECT c.id FROM snapshots c JOIN d ON c.parent_id = d.id WHERE c.${LIVE})
           ${SNAPSHOT_SELECT} WHERE s.id IN (SELECT id FROM d)`,
          [id],
        )
      ).map(snapshotRow);
      const kidsOf = new Map<number, SnapshotRow[]>();
      for (const r of rows) if (r.parent_id !== null) kidsOf.set(r.parent_id, [...(kidsOf.get(r.parent_id) ?? []), r]);
      const kids = (p: number) => [...(kidsOf.get(p) ?? [])].sort(byAge);
      return postOrder(id, kids); // each snapshot after all of its descendants, siblings oldest first
    },
    async current(serverId) {
      const id = await currentId(serverId);
      const row = id === null ? undefined : await snapshots.get(id);
      return row && !["deleted", "failed", "expired"].includes(row.state) ? row : undefined;
    },
    currentId,
    async setCurrent(serverId, snapshotId) {
      await s.run(
        `INSERT INTO server_positions (server_id, snapshot_id, changed_at) VALUES ($1, $2, $3)
         ON CONFLICT (server_id) DO UPDATE SET snapshot_id = EXCLUDED.snapshot_id, changed_at = EXCLUDED.changed_at`,
        [serverId, snapshotId, now()],
      );
    },
    async reparent(snapshotId, parentId) {
      await s.run("UPDATE snapshots SET parent_id = $1 WHERE id = $2", [parentId, snapshotId]);
    },
    reparentChildren: (fromId, toId) => s.run(`UPDATE snapshots SET parent_id = $1 WHERE parent_id = $2 AND ${LIVE}`, [toId, fromId]),
    nodes: (serverId) => s.rows<TreeNodeRow>(`SELECT id, name, parent_id, state, created_at, origin FROM snapshots WHERE server_id = $1 AND ${LIVE} ORDER BY id`, [serverId]),
  };
}
