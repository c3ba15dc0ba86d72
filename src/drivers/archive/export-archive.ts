import { createHash, randomBytes } from "node:crypto";
import { createReadStream } from "node:fs";
import { chmod, rename, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { BackendError, UserError } from "../../errors.ts";
import type { Runner } from "../../transport/runner.ts";
import type { DriverContext } from "../driver.ts";
import { readManifest } from "../../storage/manifest.ts";
import type { PartStore, SnapshotKey } from "../../storage/part-store.ts";
import { verifyParts } from "../../storage/verify-parts.ts";
import { manifestSchema, type Manifest } from "./archive-manifest.ts";
import { unpackParts } from "./parts-stream.ts";
import type { AtRest } from "../../storage/encryption/at-rest.ts";

// Export = a raw snapshot as a disk image another hypervisor opens: verify every part first (a broken
// snapshot is never used), decompress the parts into a temporary raw image beside them, let
// `qemu-img convert` write export.<format> there, and hash it. Everything runs on this machine: the
// parts are here, whichever host the snapshot came from. Only complete files ever carry the final name.

/** The formats of DESIGN.md §2 and qemu-img's name for each (a VHD is qemu's "vpc"). */
export const QEMU_FORMATS = { vmdk: "vmdk", vhd: "vpc", qcow2: "qcow2" } as const;
export type ExportFormat = keyof typeof QEMU_FORMATS;

/** The files export writes into a snapshot folder (delete must recognise them as its own). */
export const EXPORT_FILES = Object.keys(QEMU_FORMATS).map((f) => `export.${f}`);
export const EXPORT_TEMP_PREFIX = ".export-";

export interface ExportDone {
  file: string;
  sha256: string;
}

export async function exportArchive(
  store: PartStore,
  key: SnapshotKey,
  format: string,
  runner: Runner,
  ctx: DriverContext,
  atRest: AtRest,
): Promise<ExportDone> {
  const ref = `${key.server}/${key.name}`;
  if (!Object.hasOwn(QEMU_FORMATS, format)) throw new UserError("bad_format", `cannot export to "${format}": pick vmdk, vhd or qcow2`);
  const qemuFormat = QEMU_FORMATS[format as ExportFormat];
  // The image is written beside the parts: a store without a local folder (S3) needs a scratch place first.
  if (!store.localFolder) throw new BackendError("export_unsupported", `${ref} is kept in ${store.kind} storage: export needs it in a local folder`);
  const folder = store.localFolder(key);
  const first = await readManifest(store, key, manifestSchema);
  if (first.state === "ok") refuseTar(first.manifest, ref); // cheap, before re-hashing every byte
  const check = await verifyParts(store, key, manifestSchema, ctx);
  if (!check.ok) throw new BackendError("snapshot_broken", `${ref} is broken and will not be exported: ${check.problems.join("; ")}`);
  const read = await readManifest(store, key, manifestSchema);
  if (read.state !== "ok") throw new BackendError("snapshot_broken", `${ref} lost its manifest after verifying: it will not be exported`);
  const m = read.manifest;
  refuseTar(m, ref);
  if (!(await runner.has("qemu-img")))
    throw new BackendError("qemu_img_missing", `qemu-img is not installed on the snapbot host: install qemu-utils to export ${ref}`);

  const tag = `${EXPORT_TEMP_PREFIX}${randomBytes(6).toString("hex")}`;
  const raw = join(folder, `${tag}.raw`);
  const converted = join(folder, `${tag}.${format}`);
  const file = join(folder, `export.${format}`);
  try {
    await writeFile(raw, "", { mode: 0o600, flag: "wx" }); // dd keeps the mode of a file that exists
    await decompressInto(store, key, m, raw, runner, ctx, atRest);
    ctx.progress({ stage: "converting", message: `qemu-img convert to ${format}` });
    await runner.run("qemu-img", ["convert", "-f", "raw", "-O", qemuFormat, raw, converted], { signal: ctx.signal });
    await rm(raw, { force: true });
    await chmod(converted, 0o600);
    ctx.progress({ stage: "hashing" });
    const sha256 = await sha256Of(converted, ctx.signal);
    await rename(converted, file);
    return { file, sha256 };
  } finally {
    await rm(raw, { force: true });
    await rm(converted, { force: true });
  }
}

function refuseTar(m: Manifest, ref: string): void {
  if (m.mode !== "raw") throw new UserError("not_raw", `export needs a raw snapshot (mode: raw); ${ref} is a tar archive`);
}

// An encrypted snapshot is decrypted on the way: a stream that fails age's MAC fails the export, and the
// temporary image is removed (only a complete, converted image ever carries the final name).
async function decompressInto(store: PartStore, key: SnapshotKey, m: Manifest, raw: string, runner: Runner, ctx: DriverContext, atRest: AtRest) {
  const sink = { cmd: "dd", args: [`of=${raw}`, "bs=4M", "conv=sparse", "status=none"] };
  await unpackParts(store, key, m, sink, runner, ctx, { stage: "exporting", code: "export_failed", verb: "exporting" }, atRest);
}

async function sha256Of(path: string, signal: AbortSignal): Promise<string> {
  const hash = createHash("sha256");
  try {
    for await (const chunk of createReadStream(path, { highWaterMark: 4 * 1024 * 1024, signal })) hash.update(chunk as Buffer);
  } catch (e) {
    if (signal.aborted) throw new BackendError("aborted", `hashing ${path} was cancelled`, { cause: signal.reason });
    throw e;
  }
  return hash.digest("hex");
}
