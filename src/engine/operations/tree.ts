import type { ServerRow, SnapshotRow } from "../../../db/types.ts";
import type { Ledger } from "../../../db/sqlite/ledger.ts";
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

/** The parent a new snapshot of the server gets: its current position (null without a tree or a position). */
export function parentForNew(deps: Pick<EngineDeps, "drivers" | "ledger">, server: ServerRow): number | null {
  return hasTree(deps, server) ? (deps.ledger.tree.current(server.id)?.id ?? null) : null;
}

/** A create or a restore of `snapshotId` committed: on a tree, it is the current position now. */
export function moveCurrent(deps: Pick<EngineDeps, "drivers" | "ledger">, server: ServerRow, snapshotId: number): void {
  if (hasTree(deps, server)) deps.ledger.tree.setCurrent(server.id, snapshotId);
}

/**
 * Inside the transaction that marks `snap` deleted (or expired): its live children go to its parent, and if it
 * was the current position, its parent is. Done for every driver (the ledger never points at a gone parent);
 * only tree servers ever have parents or a position.
 */
export function afterRemoved(ledger: Ledger, snap: SnapshotRow): void {
  const parent = snap.parent_id === null ? undefined : ledger.snapshots.get(snap.parent_id);
  const to = LIVE(parent) && parent.id !== snap.id ? parent.id : null;
  ledger.tree.reparentChildren(snap.id, to);
  if (ledger.tree.currentId(snap.server_id) === snap.id) ledger.tree.setCurrent(snap.server_id, to);
}

/** `snap` and every snapshot below it, leaves first: the order delete --subtree removes them in. */
export function subtreeOf(ledger: Ledger, snap: SnapshotRow): SnapshotRow[] {
  return [...ledger.tree.descendants(snap.id), snap];
}
