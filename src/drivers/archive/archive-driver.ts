import type { DriverDeps, SnapshotDriver, SnapshotHandle } from "../driver.ts";
import { createLocalPartStore } from "../../storage/local-part-store.ts";
import type { PartStore } from "../../storage/part-store.ts";
import { createArchive, type ArchiveServer } from "./create-archive.ts";
import { manifestSchema, type Manifest } from "./archive-manifest.ts";
import { parsePartSize } from "./part-size.ts";
import { describeArchiveRestore, restoreArchive } from "./restore-archive.ts";
import { EXPORT_FILES, EXPORT_TEMP_PREFIX, exportArchive } from "./export-archive.ts";
import { README_FILE } from "./readme.ts";
import { createLocalRunner } from "../../transport/local-runner.ts";
import { UserError } from "../../errors.ts";
import { createAtRest } from "../../storage/encryption/at-rest.ts";
import { verifyFull } from "./full-verify.ts";
import { storeFor, storedMethods } from "../shared/stored-methods.ts";

// The archive driver: tar (or dd) of a host's folders, compressed, cut into checksummed parts in a PartStore
// (src/storage/; by default the folder <storage>/<server>/<snapshot>/) with a manifest written last.
// See create-archive.ts for the data path.

export function createArchiveDriver(settings: ArchiveServer, deps: DriverDeps): SnapshotDriver {
  const partSize = parsePartSize(settings.part_size); // a bad size fails at start-up, not at 3 a.m.
  const store = deps.store ?? (settings.store ? storeFor(settings.store, deps) : archiveStore(deps));
  // Export reads the parts where they are stored, on this machine, whichever host the snapshot came from.
  const local = settings.host === "local" ? deps.runner : createLocalRunner(deps.log);
  const dest = { name: settings.name, mode: settings.mode, device: settings.device };
  const atRest = createAtRest(deps.encryption);
  return {
    kind: "archive",
    // delete, check, verify, leftover, storedIn, withStore, scanStorage, removeStored: the same for every stored driver.
    ...storedMethods({
      store,
      schema: manifestSchema,
      details: detailsOf,
      atRest,
      rebuild: (other) => createArchiveDriver(settings, { ...deps, store: other }),
      // --full also reads the stream as a restore would (decrypted, decompressed), on this machine like export.
      full: (snap, hashed, ctx) => verifyFull(store, snap, hashed, local, atRest, ctx),
    }),
    create: (req, ctx) => createArchive(settings, deps, store, partSize, req, ctx, atRest),
    // restore --to: another server's snapshot (read where its parts are stored) written onto this server.
    async restore(snap, opts, ctx) {
      const done = await restoreArchive(store, snap, opts, dest, deps.runner, ctx, atRest);
      return { summary: `restored ${done.writes}` };
    },
    async describeRestore(snap, opts) {
      const { writes, notes, bytes } = await describeArchiveRestore(store, snap, opts, dest, atRest);
      return { writes, notes, bytes };
    },
    checkExport: rawOnly,
    export(snap, format, ctx) {
      rawOnly(snap);
      return exportArchive(store, snap, format, local, ctx, atRest);
    },
  };
}

/** A disk image comes from a raw snapshot (dd of a device); a tar archive of folders has no disk to write. */
function rawOnly(snap: SnapshotHandle): void {
  if (snap.details?.mode === "tar")
    throw new UserError("not_raw", `export needs a raw snapshot (mode: raw); ${snap.server}/${snap.name} is a tar archive`);
}

/** The local folder store, knowing the files the archive adds beside the parts (README.txt, exports). */
export function archiveStore(deps: Pick<DriverDeps, "storageDir" | "fsync">): PartStore {
  const own = new Set([README_FILE, ...EXPORT_FILES]);
  return createLocalPartStore(deps.storageDir, { fsync: deps.fsync, ownEntry: (e) => own.has(e) || e.startsWith(EXPORT_TEMP_PREFIX) });
}

function detailsOf(m: Manifest): Record<string, unknown> {
  return {
    format: m.format,
    mode: m.mode,
    compression: m.compression,
    part_size: m.part_size,
    source: m.source,
    ...(m.encryption ? { encryption: m.encryption } : {}),
  };
}
