import type { ServerRow, SnapshotRow } from "../../../db/types.ts";
import type { BackendSnapshot } from "../../drivers/driver.ts";
import type { LedgerRepos } from "../../../db/ledger.ts";

// A tree server's ledger brought in line with what its backend reports (inside the sync's transaction). A backend
// that keeps the tree itself (libvirt: every snapshot's parent, the current one) is the truth: its parents and
// its current snapshot replace the ledger's. One that keeps none (qemu-img, QMP) says nothing about either:
// the ledger's tree stands, and a snapshot made outside snapbot goes under the current position, marked so.

export const PLACED = "under the current position";
const IN_PROGRESS: SnapshotRow["state"][] = ["pending", "running", "deleting"];

/**
 * `rows`: the server's live snapshots after the import; `imported`: the names imported in this pass. `deps.ledger`
 * is the sync transaction's handle (`{ ...deps, ledger: t }`).
 */
export async function reconcileTree(deps: { ledger: LedgerRepos }, server: ServerRow, found: BackendSnapshot[], rows: SnapshotRow[], imported: Set<string>): Promise<void> {
  const { tree, snapshots } = deps.ledger;
  const byName = new Map(rows.map((r) => [r.name, r]));
  const settled = (r: SnapshotRow | undefined): r is SnapshotRow => r !== undefined && !IN_PROGRESS.includes(r.state);
  for (const b of found) {
    const row = byName.get(b.name);
    if (b.parent === undefined || !settled(row)) continue;
    const want = b.parent === null ? null : (byName.get(b.parent)?.id ?? null);
    if (row.parent_id !== want && want !== row.id) await tree.reparent(row.id, want);
  }
  if (found.some((b) => b.current !== undefined)) {
    const cur = found.find((b) => b.current === true);
    const row = cur && byName.get(cur.name);
    const want = settled(row) ? row.id : null;
    if (!(cur && row && !settled(row)) && (await tree.currentId(server.id)) !== want) await tree.setCurrent(server.id, want);
  }
  const under = await tree.current(server.id);
  for (const b of found) {
    const row = byName.get(b.name);
    if (b.parent !== undefined || !imported.has(b.name) || !row) continue;
    if (!under) continue; // no current position: it stays a root
    await tree.reparent(row.id, under.id);
    await snapshots.annotate(row.id, { details: { ...row.details, placed: PLACED, placed_under: under.name } });
  }
}
