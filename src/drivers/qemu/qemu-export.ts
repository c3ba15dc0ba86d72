import { createHash, randomBytes } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import { chmod, mkdir, rename, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import { pipeline } from "node:stream/promises";
import { BackendError, UserError } from "../../errors.ts";
import type { Runner } from "../../transport/runner.ts";
import type { DriverContext, ExportFormat, ExportResult, SnapshotHandle } from "../driver.ts";
import type { QemuBackend } from "./qemu-backend.ts";

// export vm/s1 --format qcow2|vmdk|vhd: a standalone image of one internal snapshot, written with
// `qemu-img convert -l snapshot.name=s1`. Internal snapshots live inside the VM's own file and die with it;
// this is how one leaves the host. The image is written under a temporary name, hashed while read back,
// and renamed: only a complete file carries <storage>/<server>/exports/<snap>.<ext>.

const QEMU_FORMAT: Record<ExportFormat, string> = { qcow2: "qcow2", vmdk: "vmdk", vhd: "vpc" };

export interface ExportPlace {
  storageDir: string;
  runner: Runner;
  /** The VM's host is another machine (host: ssh://): convert there, then stream the image here. */
  remote: boolean;
  /** The image may be held by a running VM: the convert reads it with -U (a read; nothing is written to it). */
  shared: boolean;
}

export async function exportSnapshot(backend: QemuBackend, snap: SnapshotHandle, format: ExportFormat, at: ExportPlace, ctx: DriverContext): Promise<ExportResult> {
  if (!Object.hasOwn(QEMU_FORMAT, format)) throw new UserError("bad_format", `cannot export to "${format}": pick qcow2, vmdk or vhd`);
  const ref = `${snap.server}/${snap.name}`;
  if (!(await backend.list(ctx)).some((s) => s.name === snap.name))
    throw new UserError("snapshot_missing", `${ref} is no longer in the image's snapshot table: it cannot be exported; list ${snap.server} shows what is there`);
  const source = await backend.imageFile(ctx);
  const dir = join(at.storageDir, snap.server, "exports");
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const file = join(dir, `${snap.name}.${format}`);
  const temp = join(dir, `.${snap.name}.${format}.${randomBytes(6).toString("hex")}.tmp`);
  try {
    ctx.progress({ stage: "converting", message: `qemu-img convert ${ref} to ${format}` });
    if (at.remote) await convertRemote(source, snap.name, format, temp, at, ctx);
    else await convert(at.runner, source, snap.name, format, temp, at.shared, ctx);
    await chmod(temp, 0o600);
    ctx.progress({ stage: "hashing" });
    const sha256 = await sha256Of(temp, ctx.signal);
    const size = (await stat(temp)).size;
    await rename(temp, file);
    return { file, sha256, size };
  } finally {
    await rm(temp, { force: true });
  }
}

function convertArgs(source: string, name: string, format: ExportFormat, out: string, shared: boolean): string[] {
  return ["convert", ...(shared ? ["-U"] : []), "-l", `snapshot.name=${name}`, "-O", QEMU_FORMAT[format], source, out];
}

function convert(runner: Runner, source: string, name: string, format: ExportFormat, out: string, shared: boolean, ctx: DriverContext) {
  return runner.run("qemu-img", convertArgs(source, name, format, out, shared), { signal: ctx.signal });
}

// On the VM's host: a private temp folder, the convert into it, then its bytes over the runner into `local`.
async function convertRemote(source: string, name: string, format: ExportFormat, local: string, at: ExportPlace, ctx: DriverContext): Promise<void> {
  const tmp = (await at.runner.run("mktemp", ["-d"], { signal: ctx.signal })).stdout.trim();
  if (!tmp.startsWith("/")) throw new BackendError("export_failed", `mktemp on the VM's host printed no folder`);
  const out = `${tmp}/export.${format}`;
  try {
    await at.runner.run("qemu-img", convertArgs(source, name, format, out, at.shared), { signal: ctx.signal });
    const cat = at.runner.pipeline([{ cmd: "cat", args: [out] }], { signal: ctx.signal });
    await Promise.all([pipeline(cat.stdout, createWriteStream(local, { mode: 0o600 })), cat.done]);
  } finally {
    await at.runner.run("rm", ["-rf", "--", tmp]).catch(() => undefined);
  }
}

async function sha256Of(path: string, signal: AbortSignal): Promise<string> {
  const hash = createHash("sha256");
  try {
    for await (const chunk of createReadStream(path, { highWaterMark: 4 * 1024 * 1024, signal })) hash.update(chunk as Buffer);
  } catch (e) {
    if (signal.aborted) throw new BackendError("aborted", "hashing the export was cancelled", { cause: e });
    throw e;
  }
  return hash.digest("hex");
}
