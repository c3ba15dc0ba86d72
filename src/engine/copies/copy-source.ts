import type { CopyRow, ServerRow, SnapshotRow } from "../../../db/types.ts";
import type { EngineDeps } from "../deps.ts";
import type { SnapshotDriver, SnapshotHandle } from "../../drivers/driver.ts";
import type { StorageTarget } from "../../storage/storage-targets.ts";
import { handleOf } from "../operations/snapshot-handle.ts";
import { UserError } from "../../errors.ts";
import { storedAccess } from "./stored-access.ts";

// restore|verify <snap> --from <target>: the copy there, read by the driver of the server it goes to (or is checked
// for), on the target's store. Used when the local snapshot is missing or broken, so its state is not asked.

export interface CopySource {
  target: StorageTarget;
  copy: CopyRow;
  /** The driver reading the target's store. */
  driver: SnapshotDriver;
  /** The snapshot as that driver finds it on the target (no local location). */
  handle: SnapshotHandle;
}

/**
 * The live copy of `snap` on `from`, or one line: an unknown target, a driver that cannot store, no such copy, a
 * copy that is not done (`broken` allowed only where a verify may find it good again).
 */
export async function copySource(deps: Pick<EngineDeps, "targets" | "drivers" | "ledger">, snap: SnapshotRow, reader: ServerRow, from: string, allowBroken = false): Promise<CopySource> {
  const ref = `${snap.server}/${snap.name}`;
  const target = deps.targets.need(from);
  const driver = storedAccess(deps.drivers.get(reader), reader, ref, "drop --from").withStore(target.store);
  const copy = await deps.ledger.copies.live(snap.id, target.name);
  if (!copy) throw new UserError("no_copy", `${ref} has no copy on ${target.name}: see copies ${ref}`);
  const fine = copy.state === "done" || (allowBroken && copy.state === "broken");
  if (!fine) throw new UserError("copy_not_done", `the copy of ${ref} on ${target.name} is ${copy.state}${whatNow(copy, ref)}`);
  return { target, copy, driver, handle: { ...handleOf(snap), location: null } };
}

function whatNow(copy: CopyRow, ref: string): string {
  if (copy.state === "running") return `: it is still being written (operation #${copy.operation_id ?? "?"}); try again when it is done`;
  if (copy.state === "broken") return `: it will not be used to restore; verify ${ref} --from ${copy.target} says why`;
  return ": it is being removed";
}
