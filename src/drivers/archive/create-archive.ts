import { mkdir, rm } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { pipeline } from "node:stream/promises";
import type { ArchiveSettings } from "./archive-settings.ts";
import { BackendError, SnapbotError, UserError } from "../../errors.ts";
import type { Stage } from "../../transport/runner.ts";
import type { CreateRequest, CreateResult, DriverContext, DriverDeps, PartInfo } from "../driver.ts";
import { archiveSource } from "./archive-source.ts";
import { chooseCompression, type Compression } from "./compression.ts";
import { fsyncDir, writeNewFile } from "./durable.ts";
import { createHashTap } from "./hash-tap.ts";
import { MANIFEST_FORMAT, writeManifest, type Manifest } from "./manifest.ts";
import { createPartWriter, PARTS_DIR } from "./part-writer.ts";
import { startProgressTicker } from "./progress-ticker.ts";
import { README_FILE, renderReadme } from "./readme.ts";
import { snapshotFolder } from "./snapshot-folder.ts";
import { streamSizeFrom } from "./stream-size.ts";

// create: check the source, then tar → zstd (kernel pipes) → Node (hash + cut into parts) → manifest last.
// Any failure kills the pipeline and removes the folder, so a manifest always means a whole snapshot.

const STREAM_BUFFER = 1024 * 1024; // per stream stage: bounds memory, and batches disk writes into ~1 MiB writev calls

export type ArchiveServer = ArchiveSettings & { name: string };

export async function createArchive(
  settings: ArchiveServer,
  deps: DriverDeps,
  partSize: number,
  req: CreateRequest,
  ctx: DriverContext,
): Promise<CreateResult> {
  if (ctx.signal.aborted) throw new BackendError("command_aborted", `create of ${req.server}/${req.name} was cancelled before it started`);
  // Everything that can be refused is refused before the first byte is written.
  const source = await archiveSource(settings, deps.runner, deps.storageDir, ctx.signal);
  const compression = await chooseCompression(settings.compression, deps.runner, settings.name);
  const folder = snapshotFolder(deps.storageDir, req.server, req.name);
  await makeSnapshotFolder(folder, req, deps.storageDir);
  try {
    await mkdir(join(folder, PARTS_DIR), { mode: 0o700 });
    const stream = await streamParts([source.stage, compression.stage], folder, partSize, deps, ctx);
    const logical = streamSizeFrom(settings.mode, stream.stderr);
    if (logical === null) ctx.log.warn({ snapshot: `${req.server}/${req.name}` }, "tar --totals / dd did not report the uncompressed size");
    // Cancelled after the last byte but before the manifest: still cancelled, so nothing may look complete.
    if (ctx.signal.aborted) throw new BackendError("command_aborted", `create of ${req.server}/${req.name} was cancelled`);
    const manifest = buildManifest(settings, req, compression, partSize, stream, { logical, resolved: source.resolved });
    await writeLast(folder, manifest, deps.fsync);
    ctx.log.info({ snapshot: `${req.server}/${req.name}`, parts: stream.parts.length, bytes: stream.total.size, compression: compression.name }, "archive written");
    return {
      location: folder,
      size: stream.total.size,
      checksum: `sha256:${stream.total.sha256}`,
      parts: stream.parts,
      details: {
        format: MANIFEST_FORMAT,
        mode: manifest.mode,
        compression: compression.name,
        part_size: partSize,
        source: manifest.source,
        uncompressed_size: logical,
      },
    };
  } catch (e) {
    await rm(folder, { recursive: true, force: true }).catch((rmError) => ctx.log.warn({ err: rmError, folder }, "could not remove a failed snapshot"));
    throw describeFailure(e, req, deps.storageDir);
  }
}

async function makeSnapshotFolder(folder: string, req: CreateRequest, storageDir: string): Promise<void> {
  const code = (e: unknown) => (e as NodeJS.ErrnoException).code;
  try {
    await mkdir(dirname(folder), { recursive: true, mode: 0o700 });
  } catch (e) {
    // A file where the server's folder (or a folder above it) should be: saying "already exists" would mislead.
    if (code(e) === "EEXIST" || code(e) === "ENOTDIR")
      throw new UserError("storage_blocked", `${dirname(folder)} cannot be a folder for ${req.server}'s snapshots: a file is in the way there: move it`);
    throw describeFailure(e, req, storageDir);
  }
  try {
    await mkdir(folder, { mode: 0o700 });
  } catch (e) {
    if (code(e) === "EEXIST")
      throw new UserError("snapshot_exists", `${req.server}/${req.name} already exists in storage (${folder}): delete it or pick another name`);
    throw describeFailure(e, req, storageDir);
  }
}

/** README first, the manifest last: only a manifest makes the folder count as a complete snapshot. */
async function writeLast(folder: string, manifest: Manifest, fsync: boolean): Promise<void> {
  await writeNewFile(join(folder, README_FILE), renderReadme(manifest), fsync);
  await writeManifest(folder, manifest, fsync);
  if (fsync) await fsyncDir(dirname(folder)); // the snapshot folder's own entry in <storage>/<server>/
}

interface StreamedParts {
  parts: PartInfo[];
  total: { size: number; sha256: string };
  stderr: string; // what the stages said on success: tar --totals, dd's count
}

async function streamParts(stages: Stage[], folder: string, partSize: number, deps: DriverDeps, ctx: DriverContext): Promise<StreamedParts> {
  // The C locale: tar's and dd's byte counts are read from their stderr.
  const pipe = deps.runner.pipeline(stages, { signal: ctx.signal, env: { LC_ALL: "C" } });
  const tap = createHashTap(partSize, STREAM_BUFFER);
  const writer = createPartWriter({ dir: join(folder, PARTS_DIR), partSize, fsync: deps.fsync, highWaterMark: STREAM_BUFFER });
  const ticker = startProgressTicker(ctx, "archiving", tap.bytes);
  const writing = pipeline(pipe.stdout, tap.stream, writer.stream);
  writing.catch(() => pipe.kill()); // the disk failed: stop tar and zstd too
  const [wrote, ran] = await Promise.allSettled([writing, pipe.done]);
  ticker.stop();
  if (wrote.status === "rejected" || ran.status === "rejected") throw firstCause(wrote, ran, ctx.signal);
  const { stderr } = ran.value;
  const digest = tap.digest();
  const files = writer.files();
  if (files.length !== digest.parts.length) throw new Error(`wrote ${files.length} parts but hashed ${digest.parts.length}`);
  return { parts: digest.parts.map((p, i) => ({ file: files[i]!, ...p })), total: digest.total, stderr };
}

// A writer error caused the kill (so the pipeline's "stopped" is only its echo); a pipeline error
// (tar failed, cancelled) explains an early end of stream better than anything the writer saw.
function firstCause(wrote: PromiseSettledResult<void>, ran: PromiseSettledResult<unknown>, signal: AbortSignal): unknown {
  const writeError = wrote.status === "rejected" ? wrote.reason : null;
  const runError = ran.status === "rejected" ? ran.reason : null;
  if (signal.aborted && runError) return runError;
  if (isFsError(writeError)) return writeError;
  return runError ?? writeError;
}

function isFsError(e: unknown): e is NodeJS.ErrnoException {
  return e instanceof Error && typeof (e as NodeJS.ErrnoException).syscall === "string";
}

function describeFailure(e: unknown, req: CreateRequest, storageDir: string): unknown {
  if (e instanceof SnapbotError) return e;
  const what = `${req.server}/${req.name}`;
  const where = resolve(storageDir);
  const code = (e as NodeJS.ErrnoException)?.code;
  if (code === "ENOSPC" || code === "EDQUOT")
    return new BackendError("disk_full", `storage full while writing ${what} (${where}): free space or change storage.path`, { cause: e });
  if (isFsError(e)) return new BackendError("storage_failed", `cannot write ${what} to ${where}: ${e.message}`, { cause: e });
  return e;
}

interface Measured {
  logical: number | null; // the uncompressed stream's bytes
  resolved: string[]; // the source paths as the host resolved them
}

function buildManifest(s: ArchiveServer, req: CreateRequest, c: Compression, partBytes: number, stream: StreamedParts, at: Measured): Manifest {
  const raw = s.mode === "raw";
  return {
    format: MANIFEST_FORMAT,
    server: req.server,
    snapshot: req.name,
    mode: s.mode,
    source: { host: s.host, paths: raw ? [s.device ?? ""] : s.paths, exclude: raw ? [] : s.exclude, resolved: at.resolved },
    compression: c.name,
    created_at: new Date(req.createdAt).toISOString(),
    finished_at: new Date().toISOString(),
    part_size: partBytes,
    parts: stream.parts,
    total: stream.total,
    ...(at.logical === null ? {} : { uncompressed_size: at.logical }),
  };
}
