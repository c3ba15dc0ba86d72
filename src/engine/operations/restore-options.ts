import type { ServerRow, SnapshotRow } from "../../../db/types.ts";
import type { RestoreDescription, RestoreOptions, SnapshotDriver } from "../../drivers/driver.ts";
import { handleOf } from "./snapshot-handle.ts";

// restore's typed options, from the command's flags or from the operation's recorded args (the audit log's
// JSON), and the driver's description of them, so the dry run, the request and the run read the same thing.

export function restoreOptionsOf(args: Record<string, unknown> | null): RestoreOptions {
  const a = args ?? {};
  return {
    ...(typeof a.target === "string" ? { target: a.target } : {}),
    ...(typeof a.to === "string" ? { to: a.to } : {}),
    ...(a.force === true ? { force: true } : {}),
  };
}

/** What the restore onto `dest` would write; a driver that cannot say is shown as saying nothing more. */
export async function describeRestoreOn(
  driver: SnapshotDriver,
  dest: ServerRow,
  snap: SnapshotRow,
  opts: RestoreOptions,
): Promise<RestoreDescription> {
  if (driver.describeRestore) return driver.describeRestore(handleOf(snap), opts);
  const from = snap.server === dest.name ? "" : ` from ${snap.server}/${snap.name}`;
  const writes = `${dest.name}${from}, as the ${driver.kind} driver restores it (it does not say what it overwrites)`;
  return { writes, notes: [], bytes: null };
}
