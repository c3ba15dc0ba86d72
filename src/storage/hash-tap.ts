import { Transform } from "node:stream";
import { startHashThread, type HashThread, type HashThreadEvents, type SpawnHashWorker } from "./hash-thread.ts";
import type { PartDigest } from "./part-store.ts";
import { createSlotRing } from "./slot-ring.ts";

// Hashes the stream as it passes, all of it off the main thread: SHA-256 once per part, at the same byte
// boundaries the part writer cuts at, SHA-256 of the whole stream and, when asked, its MD5, on worker threads
// that read one shared copy of the bytes (slot-ring.ts). On the main thread the per-part hash held up the reads
// from tar/ssh and the writes; here the main thread only copies each chunk once. The split is by cost: MD5
// alone (~700 MB/s) costs about what the two SHA-256 (~2 GB/s each with SHA-NI) cost together, so it has a
// thread of its own, and only a driver whose README.txt shows it (archive: Memset's) pays for it.

const SLOT_SIZE = 1024 * 1024;
const SLOTS = 8; // with the stream buffers, what a create holds in memory: 8 MiB whatever the snapshot size

export interface StreamDigest {
  parts: PartDigest[];
  total: { size: number; sha256: string; md5?: string };
}

export interface HashTap {
  stream: Transform;
  /** Valid once the stream has ended. */
  digest(): StreamDigest;
  /**
   * Part i's digest, once its last byte has been hashed (the part writer waits for it to close the part, as S3
   * stores send it); rejects when the stream cannot be hashed. Asked once per part.
   */
  part(index: number): Promise<PartDigest>;
  bytes(): number;
  /** Resolves once the hashing threads have exited: the stream ended or failed. */
  stopped: Promise<void>;
}

export interface HashTapOptions {
  /** How the hashing threads start; tests pass one that breaks them. */
  spawn?: SpawnHashWorker;
  /** Also the whole stream's MD5 (README.txt's "cat .parts/part-* | md5sum"), on a thread of its own. */
  md5?: boolean;
}

type Waiter = { resolve: (d: PartDigest) => void; reject: (e: Error) => void };

export function createHashTap(partSize: number, highWaterMark: number, opts: HashTapOptions = {}): HashTap {
  const parts: PartDigest[] = [];
  const waiting = new Map<number, Waiter>();
  const threads: HashThread[] = [];
  let failure: Error | null = null;
  let sums: { sha256: string; md5?: string } | null = null;
  let bytes = 0;
  let inPart = 0;

  const md5 = opts.md5 === true;
  const ring = createSlotRing({ slots: SLOTS, slotSize: SLOT_SIZE, readers: md5 ? 2 : 1, send: (slot, n) => threads.forEach((t) => t.hash(slot, n)) });
  const fail = (e: Error) => {
    if (failure) return;
    failure = e;
    ring.fail(e);
    for (const w of waiting.values()) w.reject(e);
    waiting.clear();
    for (const t of threads) t.abort();
  };
  const events: HashThreadEvents = {
    released: ring.release,
    part(index, digest) {
      parts[index] = digest;
      waiting.get(index)?.resolve(digest);
      waiting.delete(index);
    },
    failed(e) {
      fail(e);
      stream.destroy(e); // at once, even while the input is quiet: the pipeline rejects and the parts are removed
    },
  };
  threads.push(startHashThread(ring, { whole: ["sha256"], partSize }, events, opts.spawn));
  // The MD5 is for README.txt: what people checking by hand expect (Memset's README has it).
  if (md5) threads.push(startHashThread(ring, { whole: ["md5"], partSize: null }, events, opts.spawn));
  const unhashed = (index: number) => new Error(`part ${index} was written but not hashed`);
  /** Whether a part ends within the next n bytes: then its digest must not wait for a full slot. */
  const endsPart = (n: number): boolean => {
    inPart += n;
    if (inPart < partSize) return false;
    inPart %= partSize;
    return true;
  };

  const stream = new Transform({
    highWaterMark,
    transform(chunk: Buffer, _enc, cb) {
      bytes += chunk.length;
      const ended = endsPart(chunk.length);
      let copying;
      try {
        copying = ring.write(chunk);
      } catch (e) {
        return cb(e as Error);
      }
      const pass = () => {
        if (ended) ring.flush();
        cb(null, chunk);
      };
      if (!copying) return pass();
      copying.then(pass, cb);
    },
    flush(cb) {
      ring.flush();
      Promise.all(threads.map((t) => t.finish())).then(([perPart, whole]) => {
        sums = { sha256: perPart!.sha256!, ...(whole ? { md5: whole.md5! } : {}) };
        for (const [index, w] of waiting) w.reject(unhashed(index));
        waiting.clear();
        cb();
      }, cb);
    },
    destroy(err, cb) {
      if (!sums) fail(err ?? new Error("hashing stopped: the stream was destroyed"));
      cb(err);
    },
  });

  return {
    stream,
    bytes: () => bytes,
    part(index) {
      const known = parts[index];
      if (known) return Promise.resolve(known);
      if (failure) return Promise.reject(failure);
      if (sums) return Promise.reject(unhashed(index));
      return new Promise((resolve, reject) => waiting.set(index, { resolve, reject }));
    },
    stopped: Promise.all(threads.map((t) => t.exited)).then(() => undefined),
    digest: () => {
      if (!sums) throw new Error("the stream has not ended: no digest yet");
      return { parts, total: { size: bytes, ...sums } };
    },
  };
}
