import type { ServerRow } from "../../../db/types.ts";
import type { SnapshotDriver, SnapshotHandle } from "../../drivers/driver.ts";
import type { PartStore } from "../../storage/part-store.ts";
import { UserError } from "../../errors.ts";

// Copies exist for drivers whose snapshots are stored parts (the driver has storedIn/withStore): the engine asks
// the driver, never its name, and answers the others in one line.

export interface StoredAccess {
  /** The store holding the snapshot where it was made. */
  storedIn(snap: SnapshotHandle): PartStore;
  /** The server's driver reading its snapshots from another store (a target's copy). */
  withStore(store: PartStore): SnapshotDriver;
}

/** The driver's stored-snapshot methods, or the refusal: "web-1 (lxd) keeps its snapshots on its backend: …". */
export function storedAccess(driver: SnapshotDriver, server: ServerRow, ref: string, then?: string): StoredAccess {
  const { storedIn, withStore } = driver;
  if (storedIn && withStore) return { storedIn: (s) => storedIn.call(driver, s), withStore: (s) => withStore.call(driver, s) };
  throw keepsOnBackend(driver, server, ref, then);
}

/** What to do instead: a driver that copies between its own servers is pointed there; `then` is a fix ("drop --from"). */
export function keepsOnBackend(driver: SnapshotDriver, server: ServerRow, ref: string, then?: string): UserError {
  const what = `${server.name} (${server.driver}) keeps its snapshots on its backend`;
  if (then) return new UserError("not_stored", `${what}: it has no copies on storage targets; ${then}`);
  const instead = typeof driver.copy === "function" ? `copy it to a remote with copy ${ref} <remote>` : "they cannot be copied to a storage target";
  return new UserError("not_stored", `${what}: ${instead}`);
}

/** The place a copy takes on every target: the snapshot's own server and name (a target's layout is the store's). */
export const copyKey = (server: string, name: string) => ({ server, name, location: null });

/** The lease a copy's operations hold: one per snapshot and target, so the server's own work never waits for an upload. */
export const copyLease = (server: string, name: string, target: string) => `${server}/${name}@${target}`;
