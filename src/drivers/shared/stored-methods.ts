import { UserError } from "../../errors.ts";
import { formatBytes } from "../../duration.ts";
import type { DriverContext, DriverDeps, SnapshotDriver, SnapshotHandle, VerifyResult } from "../driver.ts";
import type { ManifestSchema, StoredManifest } from "../../storage/manifest.ts";
import { readManifest } from "../../storage/manifest.ts";
import { createLocalPartStore } from "../../storage/local-part-store.ts";
import type { PartStore } from "../../storage/part-store.ts";
import { scanStorage, type DescribeManifest } from "../../storage/storage-scan.ts";
import { SIDE_FILES } from "../../storage/storage-targets.ts";
import { checkParts, verifyParts } from "../../storage/verify-parts.ts";
import type { AtRest } from "../../storage/encryption/at-rest.ts";
import { decryptsToTheEnd } from "../../storage/encryption/sealed-parts.ts";

// What every driver that stores its snapshots as parts + manifest (archive, consul, command) answers the same
// way, built once from its store and its manifest schema: delete, check, verify [--full], leftover, storedIn,
// withStore, scanStorage, removeStored. A driver spreads these into its SnapshotDriver and adds create/restore.

export type StoredMethods = Required<
  Pick<SnapshotDriver, "delete" | "check" | "verify" | "leftover" | "storedIn" | "withStore" | "scanStorage" | "removeStored">
>;

/** A driver's own --full check after the hashes (archive: decompress and list the tar); the default decrypts to the end. */
export type FullVerify = (snap: SnapshotHandle, hashed: VerifyResult, ctx: DriverContext) => Promise<VerifyResult>;

export interface StoredKit<M extends StoredManifest> {
  store: PartStore;
  schema: ManifestSchema<M>;
  /** The ledger's details of a snapshot found in storage (storage scan adopts it with them). */
  details: DescribeManifest<M>;
  atRest: AtRest;
  /** The same driver reading and writing another store (restore|verify --from <target>). */
  rebuild: (store: PartStore) => SnapshotDriver;
  full?: FullVerify;
}

export function storedMethods<M extends StoredManifest>(kit: StoredKit<M>): StoredMethods {
  const { store, schema } = kit;
  const full = kit.full ?? ((snap, hashed, ctx) => decryptedToTheEnd(store, schema, kit.atRest, snap, hashed, ctx));
  return {
    async delete(snap, ctx) {
      ctx.progress({ stage: "deleting" });
      await store.remove(snap);
    },
    check: (snap, result) => checkParts(store, snap, schema, result),
    async verify(snap, ctx, opts) {
      const hashed = await verifyParts(store, snap, schema, ctx);
      return opts?.full && hashed.ok ? full(snap, hashed, ctx) : hashed;
    },
    leftover: (snap) => store.leftover(snap),
    storedIn: () => store,
    withStore: (other) => kit.rebuild(other),
    scanStorage: () => scanStorage(store, schema, kit.details),
    // The same guarded removal as delete: exactly <root>/<server>/<snap>, holding only files snapbot writes.
    removeStored: (found) => store.remove({ server: found.server, name: found.name }),
  };
}

/** verify --full for a stream stored as it was made (no compression of snapbot's): age's MAC on every chunk, to the end. */
async function decryptedToTheEnd<M extends StoredManifest>(
  store: PartStore,
  schema: ManifestSchema<M>,
  atRest: AtRest,
  snap: SnapshotHandle,
  hashed: VerifyResult,
  ctx: DriverContext,
): Promise<VerifyResult> {
  const read = await readManifest(store, snap, schema);
  if (read.state !== "ok") return { ...hashed, ok: false, problems: ["manifest.json changed while it was being verified"] };
  if (!read.manifest.encryption) return { ...hashed, notes: [`not encrypted: every byte (${formatBytes(hashed.checkedBytes)}) was read and hashed`] };
  const problem = await decryptsToTheEnd(store, snap, read.manifest, atRest, ctx.signal, () => {});
  if (problem) return { ...hashed, ok: false, problems: [problem] };
  return { ...hashed, notes: ["decrypted (age's MAC checked on every chunk) to its end"] };
}

/**
 * Where a stored driver's snapshots go: deps.store (a copy read elsewhere, tests), else its `store:` target,
 * else the local folder storage.path, which keeps the side files (README.txt, metadata.json) and `ownEntry`'s.
 */
export function storeFor(target: string | undefined, deps: DriverDeps, ownEntry?: (entry: string) => boolean): PartStore {
  if (deps.store) return deps.store;
  if (target) {
    if (!deps.targets) throw new UserError("unknown_target", `no storage target "${target}": storage.targets is not available here`);
    return deps.targets.need(target).store;
  }
  const own = (e: string) => SIDE_FILES.includes(e) || (ownEntry?.(e) ?? false);
  return createLocalPartStore(deps.storageDir, { fsync: deps.fsync, ownEntry: own });
}
