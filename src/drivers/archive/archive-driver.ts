import type { DriverContext, DriverDeps, SnapshotDriver, SnapshotHandle } from "../driver.ts";
import { createArchive, type ArchiveServer } from "./create-archive.ts";
import { parsePartSize } from "./part-size.ts";
import { folderOf, leftoverIn, removeSnapshotFolder } from "./snapshot-folder.ts";
import { checkParts, verifyParts } from "./verify-parts.ts";
import { describeArchiveRestore, restoreArchive } from "./restore-archive.ts";
import { exportArchive } from "./export-archive.ts";
import { scanStorage } from "./storage-scan.ts";
import { createLocalRunner } from "../../transport/local-runner.ts";
import { UserError } from "../../errors.ts";

// The archive driver: tar (or dd) of a host's folders, compressed, cut into checksummed parts under
// <storage>/<server>/<snapshot>/ with a manifest written last. See create-archive.ts for the data path.

export function createArchiveDriver(settings: ArchiveServer, deps: DriverDeps): SnapshotDriver {
  const partSize = parsePartSize(settings.part_size); // a bad size fails at start-up, not at 3 a.m.
  const folder = (snap: SnapshotHandle) => folderOf(deps.storageDir, snap);
  // Export reads the parts where they are stored, on this machine, whichever host the snapshot came from.
  const local = settings.host === "local" ? deps.runner : createLocalRunner(deps.log);
  const dest = { name: settings.name, mode: settings.mode, device: settings.device };
  return {
    kind: "archive",
    create: (req, ctx) => createArchive(settings, deps, partSize, req, ctx),
    async delete(snap: SnapshotHandle, ctx: DriverContext) {
      ctx.progress({ stage: "deleting" });
      await removeSnapshotFolder(deps.storageDir, snap);
    },
    check: (snap, result) => checkParts(folder(snap), result),
    verify: (snap, ctx) => verifyParts(folder(snap), ctx),
    leftover: (snap) => leftoverIn(folder(snap)),
    // restore --to: another server's snapshot (read where its parts are stored) written onto this server.
    async restore(snap, opts, ctx) {
      const done = await restoreArchive(folder(snap), snap, opts, dest, deps.runner, ctx);
      return { summary: `restored ${done.writes}` };
    },
    async describeRestore(snap, opts) {
      const { writes, notes, bytes } = await describeArchiveRestore(folder(snap), snap, opts, dest);
      return { writes, notes, bytes };
    },
    checkExport: rawOnly,
    export(snap, format, ctx) {
      rawOnly(snap);
      return exportArchive(folder(snap), `${snap.server}/${snap.name}`, format, local, ctx);
    },
    scanStorage: () => scanStorage(deps.storageDir),
    // The same guarded removal as delete: exactly <storage>/<server>/<snap>, holding only files snapbot writes.
    removeStored: (found) =>
      removeSnapshotFolder(deps.storageDir, { server: found.server, name: found.name, location: null, createdAt: 0 }),
  };
}

/** A disk image comes from a raw snapshot (dd of a device); a tar archive of folders has no disk to write. */
function rawOnly(snap: SnapshotHandle): void {
  if (snap.details?.mode === "tar")
    throw new UserError("not_raw", `export needs a raw snapshot (mode: raw); ${snap.server}/${snap.name} is a tar archive`);
}
