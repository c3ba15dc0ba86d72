import type { Readable } from "node:stream";
import type { Logger } from "pino";
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
