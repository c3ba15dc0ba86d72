import type { Readable } from "node:stream";
import type { Logger } from "pino";
import { BackendError } from "../../errors.ts";
import type { Pipeline, RunOptions } from "../../transport/runner.ts";
import { openFifoParts, type FifoParts } from "../fifo-parts.ts";
import { writeManifest, type StoredManifest } from "../manifest.ts";
import type { PartStore, SnapshotKey } from "../part-store.ts";
import { readThrough, type Sealing } from "../encryption/at-rest.ts";
import { streamToParts, type PartsWrite } from "../stream-to-parts.ts";

// The write side of a stored snapshot, the same for every driver that stores one (archive, consul, command):
// claim the place, stream the bytes (age-sealed for a sensitive server) into hashed parts, write the side
// files and then the manifest, last. Whatever fails on the way, nothing is left behind that could look complete.

/** Per stream stage: bounds memory, and batches disk writes into ~1 MiB writev calls. */
export const STREAM_BUFFER = 1024 * 1024;

export interface StoreStreamOptions {
  partSize: number;
  /** Encrypts the stream before it is cut (a sensitive server): every store holds ciphertext, and the hashes are of it. */
  sealing: Sealing | null;
  signal?: AbortSignal;
  /** Called at once when writing fails, before the parts are removed: stop the producer (tar, a step, an HTTP body). */
  onFailure?: (e: unknown) => void;
  highWaterMark?: number;
  /** Also the whole stream's MD5 (a README.txt that shows it, as the archive driver's does); costs a thread. */
  md5?: boolean;
}

/** The input (sealed when asked) into parts of a snapshot the store has created; on failure its parts are removed. */
export function storeStream(store: PartStore, key: SnapshotKey, input: Readable, opts: StoreStreamOptions): PartsWrite {
  const source = opts.sealing ? readThrough(input, opts.sealing.stream) : input;
  const highWaterMark = opts.highWaterMark ?? STREAM_BUFFER;
  return streamToParts(store, key, source, { partSize: opts.partSize, highWaterMark, onFailure: opts.onFailure, signal: opts.signal, md5: opts.md5 });
}

/** Starts the producer; `stdoutFd`, when given, is where its last stage must write its stdout. */
export type StartPipeline = (opts: Pick<RunOptions, "stdoutFd">) => Pipeline;

export interface StoredPipeline {
  pipe: Pipeline;
  write: PartsWrite;
}

/**
 * A pipeline's output into parts of a snapshot the store has created; a failure of either side stops the
 * other, and a failed write leaves no parts. Into a store of plain files, unsealed, the last stage writes into
 * a FIFO that a storage thread reads, hashes and writes out (fifo-parts.ts): the bytes never reach the main
 * thread, sealed there too for a sensitive server. Otherwise (S3, no FIFO to be had) its stdout is streamed as
 * storeStream does.
 */
export async function storePipeline(store: PartStore, key: SnapshotKey, start: StartPipeline, opts: StoreStreamOptions & { log: Logger }): Promise<StoredPipeline> {
  const target = store.fileParts?.(key);
  const seal = target && opts.sealing ? opts.sealing.forThread() : undefined;
  const fifo = target && (await openFifoParts(target, { partSize: opts.partSize, md5: opts.md5, seal }).catch((e: unknown) => {
    // Its payload key went to the thread: a second try must be a new age file (a new create).
    if (seal) throw new BackendError("storage_failed", `could not start the storage thread (${(e as Error).message}): nothing was stored; try again`, { cause: e });
    opts.log.warn({ err: e }, "no FIFO for the storage thread: the stream goes through the main thread");
    return null;
  }));
  if (!fifo) {
    const pipe = start({});
    return { pipe, write: storeStream(store, key, pipe.stdout, { ...opts, onFailure: (e) => (pipe.kill(), opts.onFailure?.(e)) }) };
  }
  let pipe: Pipeline;
  try {
    pipe = start({ stdoutFd: fifo.fd });
  } catch (e) {
    fifo.detach();
    await fifo.abort();
    throw e;
  }
  fifo.detach();
  // Stopped or failed: the thread stops too, even if something the producer started still holds the FIFO open.
  pipe.done.catch(() => fifo.abort());
  return { pipe, write: { bytes: fifo.bytes, done: fifoDone(store, key, fifo, pipe, opts) } };
}

async function fifoDone(store: PartStore, key: SnapshotKey, fifo: FifoParts, pipe: Pipeline, opts: StoreStreamOptions) {
  try {
    return await fifo.done;
  } catch (e) {
    pipe.kill();
    opts.onFailure?.(e);
    await fifo.exited; // no part is opened after the snapshot is removed
    await store.remove(key).catch(() => undefined); // the caller sees the stream's error, the one that matters
    throw e;
  }
}

/** Side files (README.txt, metadata.json) first, the manifest last: only a manifest makes the snapshot count. */
export async function writeLast(store: PartStore, key: SnapshotKey, files: ReadonlyArray<[string, string]>, manifest: StoredManifest): Promise<void> {
  for (const [name, text] of files) await store.putFile(key, name, text);
  await writeManifest(store, key, manifest);
}

/**
 * Claims the snapshot's place (refused, and nothing removed, when something is there already), then runs
 * `write`; if it throws, the snapshot is removed before the error goes on, so a failure leaves nothing half-written.
 */
export async function withNewSnapshot<T>(store: PartStore, key: SnapshotKey, log: Logger, write: () => Promise<T>): Promise<T> {
  await store.create(key);
  try {
    return await write();
  } catch (e) {
    await store.remove(key).catch((rmError: unknown) => log.warn({ err: rmError, where: store.where(key) }, "could not remove a failed snapshot"));
    throw e;
  }
}
