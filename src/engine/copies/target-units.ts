import type { CopyRow, ServerRow, SnapshotRow } from "../../../db/types.ts";
import type { LedgerRepos } from "../../../db/ledger.ts";
import type { EngineDeps } from "../deps.ts";
import type { DriverContext, SnapshotDriver, VerifyResult } from "../../drivers/driver.ts";
import type { PartStore } from "../../storage/part-store.ts";
import { LOCAL_TARGET, type StorageTarget } from "../../storage/storage-targets.ts";
import { storedManifestSchema } from "../../storage/manifest.ts";
import { verifyParts } from "../../storage/verify-parts.ts";
import { errorMessage, UserError } from "../../errors.ts";
import { handleOf } from "../operations/snapshot-handle.ts";
import { announceSnapshotVerify, recordSnapshotVerify } from "../operations/verify-outcome.ts";
import { copyKey, copyLease } from "./stored-access.ts";
import { readBack } from "./copy-snapshot.ts";
import { recordCopyVerify } from "./copy-verify.ts";
import { announceCopyVerify } from "./copy-alerts.ts";

// What verify --target <t> reads, as the ledger knows it: every done or broken copy on the target (whichever
// server made it, registered or not: copies outlive both), and every done or broken snapshot a driver stores
// there itself (storedIn). `--target local` is storage.path: the stored snapshots no target holds. Each unit
// reads back the way its single verify does (verify --from, verify <server>/<snap>) and records and alerts the same.

export interface TargetUnit {
  /** <server>/<snap>: its place on the target, which the slices hash. */
  place: string;
  noun: "copy" | "snapshot";
  size: number;
  verifiedAt: number | null;
  /** The lease its read holds: the copy's own, or (a stored snapshot) its server's, as its single verify does. */
  leaseKey: string;
  /** Asked under the lease: false when it is no longer done or broken (removed or replaced meanwhile). */
  live(): Promise<boolean>;
  read(ctx: DriverContext): Promise<VerifyResult>;
  /** The verdict in the ledger: verified_at, and broken (or done again). The caller holds the transaction: `t` is its handle. */
  record(t: LedgerRepos, res: VerifyResult): Promise<void>;
  /** After the record commits: copy_failed / snapshot_broken raised, or the copy's resolved. */
  announce(res: VerifyResult): Promise<void>;
}

/** The place verify --target reads: a configured target, or storage.path ("local", target null). */
export interface TargetScope {
  name: string;
  target: StorageTarget | null;
}

/** The scope, or one line naming the targets there are (an unknown target). */
export function scopeOf(deps: Pick<EngineDeps, "targets">, name: string): TargetScope {
  return name === LOCAL_TARGET ? { name, target: null } : { name, target: deps.targets.need(name) };
}

export async function unitsOn(deps: EngineDeps, scope: TargetScope): Promise<TargetUnit[]> {
  const { target } = scope;
  const readers = new Map<string, SnapshotDriver | null>();
  const readerOf = async (server: string) => {
    if (!readers.has(server)) readers.set(server, target && (await readerOn(deps, server, target)));
    return readers.get(server)!;
  };
  const copies = target ? (await deps.ledger.copies.onTarget(target.name)).map((c) => copyUnit(deps, target, c, readerOf)) : [];
  return [...copies, ...(await storedUnits(deps, scope))];
}

const isLive = (state: string | undefined) => state === "done" || state === "broken";

function copyUnit(deps: EngineDeps, target: StorageTarget, c: CopyRow, readerOf: (server: string) => Promise<SnapshotDriver | null>): TargetUnit {
  const snap = async () => (await deps.ledger.snapshots.get(c.snapshot_id))!;
  const server = async () => (await deps.ledger.servers.find(c.server))!;
  return {
    place: `${c.server}/${c.name}`,
    noun: "copy",
    size: c.size ?? 0,
    verifiedAt: c.verified_at,
    leaseKey: copyLease(c.server, c.name, target.name),
    live: async () => isLive((await deps.ledger.copies.get(c.id))?.state),
    async read(ctx) {
      const reader = await readerOf(c.server);
      // A server unregistered since (or whose driver this build lacks): the stored parts are checked alone.
      if (!reader) return verifyParts(target.store, copyKey(c.server, c.name), storedManifestSchema, ctx);
      return readBack(reader, target, { ...handleOf(await snap()), location: null }, ctx);
    },
    record: (t, res) => recordCopyVerify({ ledger: t, clock: deps.clock }, c, res),
    announce: async (res) => announceCopyVerify(deps, await server(), await snap(), target.name, res),
  };
}

/** The server's driver reading the target's store, as verify --from does; null when it cannot be made. */
async function readerOn(deps: EngineDeps, name: string, target: StorageTarget): Promise<SnapshotDriver | null> {
  const server = await deps.ledger.servers.find(name);
  try {
    const driver = server && deps.drivers.get(server);
    return driver?.withStore ? driver.withStore(target.store) : null;
  } catch (e) {
    deps.log.warn({ server: name, err: errorMessage(e) }, "verify --target: the server's driver cannot be made; its copies are checked by their parts alone");
    return null;
  }
}

/** Snapshots a driver stores on the scope's store itself: for "local", those on no configured target's store. */
async function storedUnits(deps: EngineDeps, scope: TargetScope): Promise<TargetUnit[]> {
  const elsewhere = new Set(deps.targets.names().map((n) => deps.targets.get(n)!.store));
  const here = (store: PartStore) => (scope.target ? store === scope.target.store : !elsewhere.has(store));
  const out: TargetUnit[] = [];
  for (const server of await deps.ledger.servers.list()) {
    const driver = storingDriver(deps, server);
    if (!driver) continue;
    for (const s of await deps.ledger.snapshots.verifiable(server.id)) if (here(driver.storedIn!(handleOf(s)))) out.push(storedUnit(deps, server, driver, s));
  }
  return out;
}

/** A driver whose snapshots are stored parts it can verify (archive…); null for backends that keep their own (LXD). */
function storingDriver(deps: EngineDeps, server: ServerRow): SnapshotDriver | null {
  try {
    const driver = deps.drivers.get(server);
    return driver.storedIn && driver.verify ? driver : null;
  } catch (e) {
    // A kind this build lacks (not_available) stores nothing here; any other failure is worth a line.
    const quiet = e instanceof UserError && e.code === "not_available";
    if (!quiet) deps.log.warn({ server: server.name, err: errorMessage(e) }, "verify --target: the server's driver cannot be made; its snapshots are not read");
    return null;
  }
}

function storedUnit(deps: EngineDeps, server: ServerRow, driver: SnapshotDriver, s: SnapshotRow): TargetUnit {
  return {
    place: `${server.name}/${s.name}`,
    noun: "snapshot",
    size: s.size ?? 0,
    verifiedAt: s.verified_at,
    leaseKey: server.name,
    live: async () => isLive((await deps.ledger.snapshots.get(s.id))?.state),
    read: (ctx) => driver.verify!(handleOf(s), ctx),
    record: async (t, res) => recordSnapshotVerify({ ledger: t, clock: deps.clock }, s, res),
    announce: async (res) => announceSnapshotVerify(deps, server, s, res),
  };
}
