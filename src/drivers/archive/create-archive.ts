import { resolve } from "node:path";
import type { ArchiveSettings } from "./archive-settings.ts";
import { BackendError, SnapbotError } from "../../errors.ts";
import type { Runner, Stage } from "../../transport/runner.ts";
import type { CreateRequest, CreateResult, DriverContext, DriverDeps } from "../driver.ts";
import { archiveSource } from "./archive-source.ts";
import { chooseCompression, type Compression } from "./compression.ts";
import type { PartStore, SnapshotKey } from "../../storage/part-store.ts";
import { startProgressTicker } from "../../storage/progress-ticker.ts";
import type { StoredStream } from "../../storage/stream-to-parts.ts";
import { STREAM_BUFFER, storePipeline, withNewSnapshot, writeLast, type StartPipeline } from "../../storage/kit/store-stream.ts";
import { MANIFEST_FORMAT, type Manifest } from "./archive-manifest.ts";
import { README_FILE, renderReadme } from "./readme.ts";
import { streamSizeFrom } from "./stream-size.ts";
import type { AtRest, Sealing } from "../../storage/encryption/at-rest.ts";

// create: check the source, then tar → zstd (kernel pipes) → Node (a storage thread reading a FIFO, for a local
// folder; else age for a sensitive server, then hash + cut into parts, src/storage/kit/) → the store, manifest last. Any failure kills the pipeline and removes the snapshot, so a
// manifest always means a whole snapshot.

export type ArchiveServer = ArchiveSettings & { name: string };

export async function createArchive(
  settings: ArchiveServer,
  deps: DriverDeps,
  store: PartStore,
  partSize: number,
  req: CreateRequest,
  ctx: DriverContext,
  atRest: AtRest,
): Promise<CreateResult> {
  if (ctx.signal.aborted) throw new BackendError("command_aborted", `create of ${req.server}/${req.name} was cancelled before it started`);
  // Everything that can be refused is refused before the first byte is written.
  const source = await archiveSource(settings, deps.runner, deps.storageDir, ctx.signal);
  const compression = await chooseCompression(settings.compression, deps.runner, settings.name);
  // Encrypted before the stream is cut: every store holds ciphertext, and the parts' hashes are of it.
  const sealing = deps.sensitive ? await atRest.seal(settings.name, STREAM_BUFFER) : null;
  const key: SnapshotKey = { server: req.server, name: req.name };
  // The claim is refused before anything is written; a snapshot already there (or a file in the way) is not removed.
  const write = () => writeArchive(settings, store, key, partSize, req, ctx, { compression, source, sealing, runner: deps.runner });
  return withNewSnapshot(store, key, ctx.log, write).catch((e: unknown) => Promise.reject(describeFailure(e, req, deps.storageDir)));
}

interface Chosen {
  compression: Compression;
  source: { stage: Stage; resolved: string[] };
  sealing: Sealing | null;
  runner: Runner;
}

async function writeArchive(
  settings: ArchiveServer,
  store: PartStore,
  key: SnapshotKey,
  partSize: number,
  req: CreateRequest,
  ctx: DriverContext,
  { compression, source, sealing, runner }: Chosen,
): Promise<CreateResult> {
  const stream = await streamParts(runner, [source.stage, compression.stage], store, key, partSize, ctx, { sealing, md5: settings.readme_md5 === true });
  const logical = streamSizeFrom(settings.mode, stream.stderr);
  if (logical === null) ctx.log.warn({ snapshot: `${req.server}/${req.name}` }, "tar --totals / dd did not report the uncompressed size");
  // Cancelled after the last byte but before the manifest: still cancelled, so nothing may look complete.
  if (ctx.signal.aborted) throw new BackendError("command_aborted", `create of ${req.server}/${req.name} was cancelled`);
  const manifest = buildManifest(settings, req, compression, partSize, stream, { logical, resolved: source.resolved, sealing });
  // README first, the manifest last: only a manifest makes the snapshot count as complete.
  await writeLast(store, key, [[README_FILE, renderReadme(manifest)]], manifest);
  ctx.log.info({ snapshot: `${req.server}/${req.name}`, parts: stream.parts.length, bytes: stream.total.size, compression: compression.name }, "archive written");
  return {
    location: store.where(key),
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
      ...(sealing ? { encryption: sealing.info } : {}),
    },
  };
}

interface StreamedParts extends StoredStream {
  stderr: string; // what the stages said on success: tar --totals, dd's count
}

async function streamParts(
  runner: Runner,
  stages: Stage[],
  store: PartStore,
  key: SnapshotKey,
  partSize: number,
  ctx: DriverContext,
  { sealing, md5 }: { sealing: Sealing | null; md5: boolean },
): Promise<StreamedParts> {
  // The C locale: tar's and dd's byte counts are read from their stderr.
  const start: StartPipeline = (o) => runner.pipeline(stages, { signal: ctx.signal, env: { LC_ALL: "C" }, ...o });
  // md5: only for a README.txt that gives it (readme_md5), as Memset's README does.
  const { pipe, write } = await storePipeline(store, key, start, { partSize, sealing, signal: ctx.signal, md5, log: ctx.log });
  const ticker = startProgressTicker(ctx, "archiving", write.bytes);
  const [wrote, ran] = await Promise.allSettled([write.done, pipe.done]);
  ticker.stop();
  if (wrote.status === "rejected" || ran.status === "rejected") throw firstCause(wrote, ran, ctx.signal);
  return { ...wrote.value, stderr: ran.value.stderr };
}

// A writer error caused the kill (so the pipeline's "stopped" is only its echo); a pipeline error
// (tar failed, cancelled) explains an early end of stream better than anything the writer saw.
function firstCause(wrote: PromiseSettledResult<unknown>, ran: PromiseSettledResult<unknown>, signal: AbortSignal): unknown {
  const writeError = wrote.status === "rejected" ? wrote.reason : null;
  const runError = ran.status === "rejected" ? ran.reason : null;
  if (signal.aborted && runError) return runError;
  // The store refused (a full disk, an S3 target's quota, a broken connection): the kill that followed is its echo.
  if (isFsError(writeError) || writeError instanceof SnapbotError) return writeError;
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
  sealing: Sealing | null; // how it was encrypted, for sensitive servers
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
    ...(at.sealing ? { encryption: at.sealing.info } : {}),
  };
}
