import type { ServerRow, SnapshotRow } from "../../../db/types.ts";
import type { LedgerRepos } from "../../../db/ledger.ts";
import type { EngineDeps } from "../deps.ts";
import type { VerifyResult } from "../../drivers/driver.ts";
import { errorMessage } from "../../errors.ts";

// What a verify of a snapshot where it is stored leaves behind, the same for `verify <server>/<snap>` and for
// `verify --target local` reading every stored snapshot: the ledger's verdict, and snapshot_broken when it fails.

/** `ledger`: inside the transaction that commits the verify, its handle (`{ ...deps, ledger: t }`). */
type Deps = Pick<EngineDeps, "clock"> & { ledger: LedgerRepos };

/** verified_at set; done → broken on a failure, broken → done when it passes again (a part restored by hand). */
export async function recordSnapshotVerify(deps: Deps, snap: SnapshotRow, res: VerifyResult): Promise<void> {
  const { ledger } = deps;
  const cur = (await ledger.snapshots.get(snap.id))!;
  const t = deps.clock.now();
  if (res.ok && cur.state === "broken") await ledger.snapshots.transition(snap.id, "done", { verified_at: t, error: null });
  else if (res.ok) await ledger.snapshots.annotate(snap.id, { verified_at: t });
  else if (cur.state === "done") await ledger.snapshots.transition(snap.id, "broken", { verified_at: t, error: res.problems.join("; ") });
  else await ledger.snapshots.annotate(snap.id, { verified_at: t, error: res.problems.join("; ") });
}

/** After the verdict is committed: a failed verify raises snapshot_broken (with a Delete button). */
export async function announceSnapshotVerify(deps: Pick<EngineDeps, "alerts" | "log">, server: ServerRow, snap: Pick<SnapshotRow, "id" | "name">, res: VerifyResult): Promise<void> {
  if (res.ok) return;
  await deps.alerts.raise({
    kind: "snapshot_broken",
    server,
    snapshotId: snap.id,
    snapshotName: snap.name,
    title: `${server.name}/${snap.name} is broken: it will not be used to restore`,
    lines: res.problems.slice(0, 10),
    buttons: [{ label: "Delete", command: `delete ${server.name}/${snap.name}`, style: "danger" }],
  }).catch((e: unknown) => deps.log.warn({ snapshot: snap.id, err: errorMessage(e) }, "could not raise snapshot_broken"));
}
