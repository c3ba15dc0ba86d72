import type { ServerRow, SnapshotRow } from "../../../db/types.ts";
import type { DriverFeatures, SnapshotDriver, SnapshotHandle } from "../../drivers/driver.ts";
import { UserError } from "../../errors.ts";

export const handleOf = (s: SnapshotRow): SnapshotHandle => ({
  server: s.server,
  name: s.name,
  location: s.location,
  createdAt: s.created_at,
  details: s.details,
  size: s.size,
});

type Cap = "verify" | "restore" | "copy" | "clone" | "export" | "listBackend" | "hostKeys" | "regenHostKeys" | "nativeSchedule";

// What each capability is called in a reply: the method names are ours, not the user's.
const CAN: Record<Cap, string> = {
  verify: "verify snapshots",
  restore: "restore snapshots",
  copy: "copy snapshots to another server",
  clone: "clone snapshots into new servers",
  export: "export snapshots as disk images",
  listBackend: "list the snapshots its backend holds",
  hostKeys: "read its SSH host keys",
  regenHostKeys: "regenerate host keys",
  nativeSchedule: "keep its own schedule (--native): drop --native to let snapbot run it",
};

/** A driver's optional capability, or the clear refusal "web-1 (archive) cannot export snapshots as disk images". */
export function capabilityOf<K extends Cap>(driver: SnapshotDriver, cap: K, server: ServerRow): NonNullable<SnapshotDriver[K]> {
  const fn = driver[cap];
  if (typeof fn !== "function") throw new UserError("not_capable", `${server.name} (${server.driver}) cannot ${CAN[cap]}`);
  return fn as NonNullable<SnapshotDriver[K]>;
}

/** verify --full where the driver has no stored stream to read through (LXD, qemu): one line, before any work. */
export function refuseFullVerify(features: DriverFeatures, server: ServerRow): void {
  if (!features.verifyFull)
    throw new UserError("not_capable", `${server.name} (${server.driver}) cannot verify --full (it keeps no stored stream to decrypt and decompress): run verify without --full`);
}
