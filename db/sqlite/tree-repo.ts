import { postOrder } from "../tree-walk.ts";
import type { Db } from "./open-db.ts";
import type { SnapshotRow } from "../types.ts";
import type { SnapshotRepo } from "./snapshot-repo.ts";

// The snapshot tree (drivers with features.trees): each snapshot's parent (snapshots.parent_id) and each
// server's current position (server_positions, 013). Only live snapshots are part of a tree: deleted,
// failed and expired ones keep their old parent_id as history but are never walked.

const LIVE = "state NOT IN ('deleted','failed','expired')";

/** One snapshot as the tree drawing needs it (lean: no JSON columns). */
export interface TreeNodeRow {
  id: number;
  name: string;
  parent_id: number | null;
  state: string;
  created_at: number;
  origin: string;
}

export function treeRepo(db: Db, now: () => number, snapshots: SnapshotRepo) {
  const childIds = db.prepare(`SELECT id FROM snapshots WHERE parent_id = ? AND ${LIVE} ORDER BY created_at, id`).pluck();
  const nodes = db.prepare(`SELECT id, name, parent_id, state, created_at, origin FROM snapshots WHERE server_id = ? AND ${LIVE}`);
  const position = db.prepare("SELECT snapshot_id FROM server_positions WHERE server_id = ?").pluck();
  const setPosition = db.prepare(`INSERT INTO server_positions (server_id, snapshot_id, changed_at) VALUES (?, ?, ?)
    ON CONFLICT(server_id) DO UPDATE SET snapshot_id = excluded.snapshot_id, changed_at = excluded.changed_at`);
  const reparent = db.prepare("UPDATE snapshots SET parent_id = ? WHERE id = ?");
  const reparentChildren = db.prepare(`UPDATE snapshots SET parent_id = ? WHERE parent_id = ? AND ${LIVE}`);

  const children = (id: number): SnapshotRow[] => (childIds.all(id) as number[]).map((c) => snapshots.get(c)!);

  return {
    /** The live snapshots whose parent is `id`, oldest first. */
    children,
    /**
     * Every live snapshot below `id` (not `id` itself), leaves first: each snapshot comes after all of its
     * descendants (post-order, siblings oldest first), the order a subtree is deleted in. Iterative, so a
     * chain of thousands does not run out of stack; a parent loop in bad data is walked once.
     */
    descendants(id: number): SnapshotRow[] {
      return postOrder(id, children);
    },
    /** The server's current position, if it is a live snapshot. */
    current(serverId: number): SnapshotRow | undefined {
      const id = position.get(serverId) as number | null | undefined;
      const row = id == null ? undefined : snapshots.get(id);
      return row && !["deleted", "failed", "expired"].includes(row.state) ? row : undefined;
    },
    /** The current position's id as recorded (for the drawing: no row read). */
    currentId(serverId: number): number | null {
      return (position.get(serverId) as number | null | undefined) ?? null;
    },
    setCurrent(serverId: number, snapshotId: number | null): void {
      setPosition.run(serverId, snapshotId, now());
    },
    /** One snapshot moved under another (null: a root). */
    reparent(snapshotId: number, parentId: number | null): void {
      reparent.run(parentId, snapshotId);
    },
    /** The live children of `fromId` moved under `toId` (a deleted snapshot's children go to its parent); returns how many. */
    reparentChildren(fromId: number, toId: number | null): number {
      return reparentChildren.run(toId, fromId).changes;
    },
    /** Every live snapshot of the server, for list --tree. */
    nodes(serverId: number): TreeNodeRow[] {
      return nodes.all(serverId) as TreeNodeRow[];
    },
  };
}
export type TreeRepo = ReturnType<typeof treeRepo>;
