import { open, type FileHandle } from "node:fs/promises";
import { join } from "node:path";
import { Writable } from "node:stream";
import { fsyncDir } from "./durable.ts";

// Cuts the compressed stream into part files of exactly `partSize` bytes (the last one shorter). Node's
// Writable buffering hands us everything that arrived during the previous write, so each write is one
// writev of many chunks (no copies); once its buffer is full, pipeline() pauses the source, which
// backs up into zstd and tar — memory stays bounded whatever the snapshot size.

export const PARTS_DIR = ".parts";
const MAX_CLOSING = 2; // parts being fsynced in the background while the next one is written

export function partFileName(index: number): string {
  return `part-${String(index).padStart(6, "0")}`;
}

export interface PartWriterOptions {
  dir: string; // the .parts folder, already created
  partSize: number;
  fsync: boolean;
  highWaterMark: number;
}

export interface PartWriter {
  stream: Writable;
  /** Names relative to the snapshot folder, in order, once the stream has finished. */
  files(): string[];
}

export function createPartWriter(opts: PartWriterOptions): PartWriter {
  const files: string[] = [];
  const closing: Array<Promise<void>> = [];
  let handle: FileHandle | null = null;
  let inPart = 0;

  const openPart = async () => {
    const name = partFileName(files.length);
    // 0600 at creation: the snapshot is never readable by others, not even for a moment.
    const h = await open(join(opts.dir, name), "wx", 0o600);
    files.push(`${PARTS_DIR}/${name}`);
    return h;
  };
  const finishPart = async () => {
    const h = handle!;
    handle = null;
    inPart = 0;
    const closed = closeDurably(h, opts.fsync);
    closed.catch(() => {}); // awaited below or in finishAll; this only stops an "unhandled rejection" crash meanwhile
    closing.push(closed);
    while (closing.length > MAX_CLOSING) await closing.shift();
  };
  const writeChunks = async (chunks: Buffer[]) => {
    let batch: Buffer[] = [];
    for (let chunk of chunks) {
      while (chunk.length > 0) {
        handle ??= await openPart();
        const take = Math.min(opts.partSize - inPart, chunk.length);
        batch.push(take === chunk.length ? chunk : chunk.subarray(0, take));
        chunk = chunk.subarray(take);
        inPart += take;
        if (inPart < opts.partSize) continue;
        await writeFully(handle, batch);
        batch = [];
        await finishPart();
      }
    }
    if (batch.length > 0) await writeFully(handle!, batch);
  };

  const stream = new Writable({
    highWaterMark: opts.highWaterMark,
    write: (chunk: Buffer, _enc, cb) => void writeChunks([chunk]).then(() => cb(), cb),
    writev: (items, cb) => void writeChunks(items.map((i) => i.chunk as Buffer)).then(() => cb(), cb),
    final: (cb) => void finishAll().then(() => cb(), cb),
    destroy: (err, cb) => void abandon().then(() => cb(err), () => cb(err)),
  });

  async function finishAll() {
    if (handle) await finishPart();
    await Promise.all(closing.splice(0));
    if (opts.fsync) await fsyncDir(opts.dir);
  }
  async function abandon() {
    const h = handle;
    handle = null;
    await Promise.allSettled([h?.close(), ...closing.splice(0)]);
  }
  return { stream, files: () => files };
}

// libuv already retries short writes; a short count here means the disk refused the rest, and the retry
// surfaces the real error (ENOSPC, EDQUOT, EIO).
async function writeFully(handle: FileHandle, buffers: Buffer[]): Promise<void> {
  let rest = buffers;
  while (rest.length > 0) {
    const { bytesWritten } = await handle.writev(rest);
    rest = dropBytes(rest, bytesWritten);
  }
}

function dropBytes(buffers: Buffer[], n: number): Buffer[] {
  let skip = n;
  const out: Buffer[] = [];
  for (const b of buffers) {
    if (skip >= b.length) skip -= b.length;
    else {
      out.push(skip > 0 ? b.subarray(skip) : b);
      skip = 0;
    }
  }
  return out;
}

async function closeDurably(h: FileHandle, fsync: boolean): Promise<void> {
  try {
    if (fsync) await h.sync();
  } finally {
    await h.close();
  }
}
