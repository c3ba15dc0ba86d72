import type { ServerRow, SnapshotRow } from "../../../db/types.ts";
import type { LedgerRepos } from "../../../db/ledger.ts";
import type { DriverContext, SnapshotDriver, StoredSnapshot } from "../../drivers/driver.ts";
import type { Asker, EngineDeps } from "../deps.ts";
import { runOperation, type OperationHandle } from "./run-operation.ts";
import { capabilityOf } from "./snapshot-handle.ts";
import { errorMessage, SnapbotError, UserError } from "../../errors.ts";

// storage scan / adopt / remove (admins): what storage holds that the ledger does not know as a live
// snapshot, e.g. after the ledger was lost. Drivers that keep snapshots in storage say what is there
// (scanStorage); the ledger decides what is unknown. Adopting re-verifies every byte first.

export interface Found {
  stored: StoredSnapshot;
  driver: SnapshotDriver; // the one that found it (and can remove it)
}

export interface ScanReport {
  unknown: Found[];
  scanners: number; // servers whose driver keeps snapshots in storage
}

export interface StoredRef {
  server: string;
  name: string;
}

const refOf = (r: StoredRef) => `${r.server}/${r.name}`;
const notInStorage = (r: StoredRef) =>
  new UserError("not_in_storage", `storage holds no unknown snapshot at ${refOf(r)}: type storage scan to see what it holds`);

export function createStoredSnapshots(deps: EngineDeps, ctx: () => DriverContext) {
  const { ledger, clock } = deps;
  const live = async (r: StoredRef): Promise<SnapshotRow | undefined> => {
    const server = await ledger.servers.find(r.server);
    return server && (await ledger.snapshots.findLive(server.id, r.name));
  };

  async function scan(): Promise<ScanReport> {
    const seen = new Map<string, Found>();
    let scanners = 0;
    for (const server of await ledger.servers.list()) {
      const driver = driverOf(server);
      if (!driver?.scanStorage) continue;
      scanners++;
      for (const stored of await driver.scanStorage(ctx())) if (!seen.has(stored.location)) seen.set(stored.location, { stored, driver });
    }
    const unknown: Found[] = [];
    for (const f of seen.values()) if (!(await live(f.stored))) unknown.push(f);
    return { unknown, scanners };
  }

  function driverOf(server: ServerRow): SnapshotDriver | undefined {
    try {
      return deps.drivers.get(server);
    } catch {
      return undefined; // a driver not available in this build stores nothing we could read
    }
  }

  async function find(r: StoredRef): Promise<Found> {
    const known = await live(r);
    if (known) {
      const ref = refOf(r);
      throw new UserError("known_snapshot", `${ref} is in the ledger (${known.state}): see show ${ref}; delete it with delete ${ref}`);
    }
    const found = (await scan()).unknown.find((f) => f.stored.server === r.server && f.stored.name === r.name);
    if (!found) throw notInStorage(r);
    return found;
  }

  return {
    scan,
    find,
    /** Verifies every part, then records the snapshot as done (origin external), in one operation. */
    async adopt(r: StoredRef, asker: Asker): Promise<OperationHandle<SnapshotRow>> {
      const server = await ledger.servers.get(r.server);
      const ref = refOf(r);
      if (!server)
        throw new UserError("not_registered", `${r.server} is not registered: register it first (see help register), then storage adopt ${ref}; or storage remove ${ref}`);
      const { stored } = await find(r);
      if (stored.status !== "complete")
        throw new UserError("not_adoptable", `${ref} is ${stored.status} (${stored.problem}): it cannot be adopted; remove it with storage remove ${ref}`);
      const verify = capabilityOf(deps.drivers.get(server), "verify", server);
      return runOperation<SnapshotRow>(deps, {
        server,
        kind: "adopt",
        label: `storage adopt ${refOf(r)}`,
        ...asker,
        args: { snapshot: r.name, location: stored.location },
        work: async (c) => {
          const res = await verify({ server: r.server, name: r.name, location: stored.location, createdAt: stored.createdAt ?? 0 }, c);
          const problems = res.problems.slice(0, 3).join("; ");
          if (!res.ok) throw new SnapbotError("adopt_broken", `${ref} did not verify, so it was not adopted: ${problems}; remove it with storage remove ${ref}`);
          return { result: `adopted: ${res.checkedBytes} bytes verified`, commit: (t) => record(t, server, stored, asker.user) };
        },
      });
    },
    /** Removes what storage holds at r (only if the ledger does not know it); the audit log records it. */
    async remove(r: StoredRef, asker: Asker): Promise<Found> {
      const lease = await deps.jobs.lease(r.server, `storage remove ${refOf(r)}`); // nothing starts on that name meanwhile
      try {
        const found = await find(r);
        const serverId = (await ledger.servers.find(r.server))?.id ?? null;
        const base = { kind: "storage-remove", server_id: serverId, requested_by: asker.user, channel: asker.channel ?? null };
        const args = { snapshot: r.name, location: found.stored.location, status: found.stored.status };
        try {
          if (!found.driver.removeStored)
            throw new UserError("not_capable", `${refOf(r)} (${found.driver.kind}) cannot be removed by snapbot: remove it by hand`);
          await found.driver.removeStored(found.stored, ctx());
        } catch (e) {
          await ledger.operations.insert({ ...base, args, state: "failed", error: errorMessage(e) });
          throw e;
        }
        await ledger.operations.insert({ ...base, args, state: "succeeded", result: `removed ${found.stored.location}` });
        return found;
      } finally {
        deps.jobs.release(lease);
      }
    },
  };

  /** Inside the operation's commit transaction (`t`). */
  async function record(t: LedgerRepos, server: ServerRow, s: StoredSnapshot, by: string): Promise<SnapshotRow> {
    const now = clock.now();
    const created = s.createdAt ?? now;
    const row = await t.snapshots.insert({ server_id: server.id, name: s.name, created_by: null, origin: "external", created_at: created });
    await t.snapshots.transition(row.id, "running");
    return t.snapshots.transition(row.id, "done", {
      location: s.location, size: s.size, checksum: s.checksum, checksums: s.parts, finished_at: s.finishedAt ?? now, verified_at: now,
      details: { ...s.details, adopted_by: by, adopted_at: now },
    });
  }
}
export type StoredSnapshots = ReturnType<typeof createStoredSnapshots>;
