import { Writable } from "node:stream";
import { partFile, type PartDigest, type PartSink, type PartStore, type SnapshotKey } from "./part-store.ts";

// Cuts the stream into parts of exactly `partSize` bytes (the last one shorter), each written to the store.
// Node's Writable buffering hands us everything that arrived during the previous write, so each write is one
// writev of many chunks (no copies); once its buffer is full, pipeline() pauses the source, which backs up
// into the producer (zstd, tar) — memory stays bounded whatever the snapshot size.

const MAX_CLOSING = 2; // parts being made durable in the background while the next one is written

export interface PartWriterOptions {
  store: PartStore;
  key: SnapshotKey; // created already (store.create)
  partSize: number;
  highWaterMark: number;
  /** The operation's: stops the store's requests in flight (S3) on a cancel or timeout. */
  signal?: AbortSignal;
  /** Part i's size and SHA-256 as the hash tap measured it, known by the time its last byte reaches here. */
  digestOf(index: number): PartDigest | undefined;
}

export interface PartWriter {
  stream: Writable;
  /** The parts' names (`.parts/part-000000`…), in order, once the stream has finished. */
  files(): string[];
}

export function createPartWriter(opts: PartWriterOptions): PartWriter {
  const files: string[] = [];
  const closing: Array<Promise<void>> = [];
  let sink: PartSink | null = null;
  let inPart = 0;

  const openPart = async () => {
    const file = partFile(files.length);
    const s = await opts.store.openPart(opts.key, file, { signal: opts.signal });
    files.push(file);
    return s;
  };
  const finishPart = async () => {
    const s = sink!;
    const index = files.length - 1;
    sink = null;
    inPart = 0;
    const digest = opts.digestOf(index);
    const closed = digest ? s.close(digest) : s.abort().then(() => Promise.reject(new Error(`part ${index} was written but not hashed`)));
    closed.catch(() => {}); // awaited below or in finishAll; this only stops an "unhandled rejection" crash meanwhile
    closing.push(closed);
    while (closing.length > MAX_CLOSING) await closing.shift();
  };
  const writeChunks = async (chunks: Buffer[]) => {
    let batch: Buffer[] = [];
    for (let chunk of chunks) {
      while (chunk.length > 0) {
        sink ??= await openPart();
        const take = Math.min(opts.partSize - inPart, chunk.length);
        batch.push(take === chunk.length ? chunk : chunk.subarray(0, take));
        chunk = chunk.subarray(take);
        inPart += take;
        if (inPart < opts.partSize) continue;
        await sink.write(batch);
        batch = [];
        await finishPart();
      }
    }
    if (batch.length > 0) await sink!.write(batch);
  };

  const stream = new Writable({
    highWaterMark: opts.highWaterMark,
    write: (chunk: Buffer, _enc, cb) => void writeChunks([chunk]).then(() => cb(), cb),
    writev: (items, cb) => void writeChunks(items.map((i) => i.chunk as Buffer)).then(() => cb(), cb),
    final: (cb) => void finishAll().then(() => cb(), cb),
    destroy: (err, cb) => void abandon().then(() => cb(err), () => cb(err)),
  });

  async function finishAll() {
    if (sink) await finishPart();
    await Promise.all(closing.splice(0));
  }
  async function abandon() {
    const s = sink;
    sink = null;
    await Promise.allSettled([s?.abort(), ...closing.splice(0)]);
  }
  return { stream, files: () => files };
}
