import type { ServerRow, SnapshotRow } from "../../../db/types.ts";
import type { LedgerRepos } from "../../../db/ledger.ts";
import type { EngineDeps } from "../deps.ts";
import { UserError } from "../../errors.ts";

// The snapshot tree in the ledger (CloudCIX's model, DESIGN.md §2): a new snapshot is a child of the server's
// current position and becomes it; a restore ("apply") moves the position to the snapshot restored; deleting
// one snapshot hands its children to its parent (libvirt's semantics: its data merges into them). Whether a
// server has a tree is its driver's answer (features.trees), never its name.

const LIVE = (s: SnapshotRow | undefined): s is SnapshotRow => s !== undefined && !["deleted", "failed", "expired"].includes(s.state);

export const hasTree = (deps: Pick<EngineDeps, "drivers">, server: ServerRow): boolean => deps.drivers.features(server).trees === true;

/** Refuses, in one line, what only a server with a snapshot tree can do. */
export function requireTree(deps: Pick<EngineDeps, "drivers">, server: ServerRow, what: string, instead: string): void {
  if (!hasTree(deps, server)) throw new UserError("no_tree", `${server.name} (${server.driver}) keeps no snapshot tree, so ${what} means nothing there: ${instead}`);
}

/** The drivers, and the ledger or (inside a transaction) the transaction's handle: `{ ...deps, ledger: t }`. */
export type TreeDeps = Pick<EngineDeps, "drivers"> & { ledger: LedgerRepos };

/** The parent a new snapshot of the server gets: its current position (null without a tree or a position). */
export async function parentForNew(deps: TreeDeps, server: ServerRow): Promise<number | null> {
  return hasTree(deps, server) ? ((await deps.ledger.tree.current(server.id))?.id ?? null) : null;
}

/** A create or a restore of `snapshotId` committed: on a tree, it is the current position now. */
export async function moveCurrent(deps: TreeDeps, server: ServerRow, snapshotId: number): Promise<void> {
  if (hasTree(deps, server)) await deps.ledger.tree.setCurrent(server.id, snapshotId);
}

/**
 * Inside the transaction that marks `snap` deleted (or expired), given its handle `t`: its live children go to its parent, and if it
 * was the current position, its parent is. Done for every driver (the ledger never points at a gone parent);
 * only tree servers ever have parents or a position.
 */
export async function afterRemoved(ledger: LedgerRepos, snap: SnapshotRow): Promise<void> {
  const parent = snap.parent_id === null ? undefined : await ledger.snapshots.get(snap.parent_id);
  const to = LIVE(parent) && parent.id !== snap.id ? parent.id : null;
  await ledger.tree.reparentChildren(snap.id, to);
  if ((await ledger.tree.currentId(snap.server_id)) === snap.id) await ledger.tree.setCurrent(snap.server_id, to);
}

/** `snap` and every snapshot below it, leaves first: the order delete --subtree removes them in. */
export async function subtreeOf(ledger: LedgerRepos, snap: SnapshotRow): Promise<SnapshotRow[]> {
  return [...(await ledger.tree.descendants(snap.id)), snap];
}
