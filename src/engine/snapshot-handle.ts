import type { ServerRow, SnapshotRow } from "../../db/types.ts";
import type { SnapshotDriver, SnapshotHandle } from "../drivers/driver.ts";
import { UserError } from "../errors.ts";

export const handleOf = (s: SnapshotRow): SnapshotHandle => ({ server: s.server, name: s.name, location: s.location, createdAt: s.created_at });

/** A driver's optional capability, or the clear refusal "web-1 (lxd) cannot export". */
export function capabilityOf<K extends "verify" | "restore" | "copy" | "clone" | "export" | "listBackend" | "hostKeys" | "regenHostKeys" | "nativeSchedule">(
  driver: SnapshotDriver,
  cap: K,
  server: ServerRow,
): NonNullable<SnapshotDriver[K]> {
  const fn = driver[cap];
  if (typeof fn !== "function") throw new UserError("not_capable", `${server.name} (${server.driver}) cannot ${cap}`);
  return fn as NonNullable<SnapshotDriver[K]>;
}
