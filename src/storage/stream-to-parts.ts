import type { Readable, Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import type { PartInfo } from "../drivers/driver.ts";
import type { SpawnHashWorker } from "./hash-thread.ts";
import { createHashTap } from "./hash-tap.ts";
import { createPartWriter } from "./part-writer.ts";
import type { PartStore, SnapshotKey } from "./part-store.ts";

// stream → parts: the hash tap (per-part SHA-256, whole-stream SHA-256 and optionally MD5, on worker threads) in
// front of the part writer, into a snapshot the store has created. The manifest is the caller's to write,
// last, from what this returns. A stream that fails part-way leaves no parts: the snapshot is removed
// (store.remove) before `done` rejects, so the failure is never mistaken for a partial write to resume.

export interface StoredStream {
  parts: PartInfo[];
  total: { size: number; sha256: string; md5?: string };
}

export interface PartsWrite {
  /** Bytes taken in so far, for progress. */
  bytes(): number;
  /** The parts and the totals, once the input has ended and every part is durable; rejects (parts removed) on any failure. */
  done: Promise<StoredStream>;
}

export interface StreamToPartsOptions {
  partSize: number;
  /** Per stream stage: bounds memory, and batches writes into writev calls of about this size. */
  highWaterMark: number;
  /** Called at once when writing fails, before the parts are removed (stop the producer: tar, zstd). */
  onFailure?: (e: unknown) => void;
  /** The operation's signal, handed to the store's parts (S3 uploads stop at once on a cancel or timeout). */
  signal?: AbortSignal;
  /** How the hashing threads start (hash-thread.ts); tests pass one that breaks them. */
  spawnHashWorker?: SpawnHashWorker;
  /** Also the whole stream's MD5, for a README.txt that shows it. */
  md5?: boolean;
}

export function streamToParts(store: PartStore, key: SnapshotKey, input: Readable, opts: StreamToPartsOptions): PartsWrite {
  const tap = createHashTap(opts.partSize, opts.highWaterMark, { spawn: opts.spawnHashWorker, md5: opts.md5 });
  const writer = createPartWriter({ store, key, partSize: opts.partSize, highWaterMark: opts.highWaterMark, digestOf: tap.part, signal: opts.signal });
  const written = pipeline(input, tap.stream, writer.stream).then(() => {
    const digest = tap.digest();
    const files = writer.files();
    if (files.length !== digest.parts.length) throw new Error(`wrote ${files.length} parts but hashed ${digest.parts.length}`);
    return { parts: digest.parts.map((p, i) => ({ file: files[i]!, ...p })), total: digest.total };
  });
  const done = written.catch(async (e: unknown) => {
    opts.onFailure?.(e);
    // pipeline() rejects before the writer's destroy has finished: a part it was opening or closing then
    // could land after remove() (a folder that will not go, an orphan object) if it were not awaited.
    await closed(writer.stream);
    await store.remove(key).catch(() => undefined); // the caller sees the stream's error, the one that matters
    throw e;
  });
  return { bytes: tap.bytes, done };
}

/** Resolves once the stream has emitted "close", which it does after its destroy() has completed. */
function closed(stream: Writable): Promise<void> {
  return stream.closed ? Promise.resolve() : new Promise((resolve) => stream.once("close", () => resolve()));
}
