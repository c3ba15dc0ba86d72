import { Worker } from "node:worker_threads";
import type { PartDigest } from "./part-store.ts";
import { createSlotRing, type SlotRing } from "./slot-ring.ts";

// One hashing thread reading the slot ring in place: hashes of the whole stream, and optionally SHA-256 per
// part, cut at the same byte boundaries the part writer cuts at (it counts the same bytes in the same order).
// It hands each slot back as soon as it has hashed it and each part's digest as soon as the part's last
// byte is hashed, so the part writer, waiting for that digest to close the part, waits for one slot at most.

export type HashAlgorithm = "sha256" | "md5";

export interface HashJob {
  /** Hashes of the whole stream, in this thread. */
  whole: HashAlgorithm[];
  /** SHA-256 per part of this many bytes (the last one shorter), in this thread; null: not here. */
  partSize: number | null;
}

export interface HashThreadEvents {
  released(slot: number): void;
  part(index: number, digest: PartDigest): void;
  /** The thread died or threw before its digests were in: the stream cannot be hashed. */
  failed(e: Error): void;
}

export interface HashThread {
  hash(slot: number, length: number): void;
  /** After the last slot: the whole-stream digests (hex), once every part before them has been reported. */
  finish(): Promise<Partial<Record<HashAlgorithm, string>>>;
  /** Stops the thread (the stream failed or was cancelled); finish() rejects afterwards. */
  abort(): void;
  /** Resolves once the thread has exited, whichever way. */
  exited: Promise<void>;
}

/** How a thread is started: tests pass one that adds a fault to the real source. */
export type SpawnHashWorker = (source: string, workerData: unknown) => Worker;

// Plain JavaScript evaluated in the worker: no loader (tsx, vitest, compiled) has to resolve a module file.
export const HASH_WORKER_SOURCE = `
const { parentPort, workerData } = require("node:worker_threads");
const { createHash } = require("node:crypto");
const { buffer, slotSize, whole, partSize } = workerData;
// Until the first part ends, the whole stream's SHA-256 and the first part's are the same hash: with parts
// cut here, the whole stream's is the first part's hasher copied as that part closes (Hash.copy), so the first
// part (all of a one-part snapshot) is read once for both.
const carry = partSize !== null && whole.includes("sha256");
const hashes = new Map(whole.filter((a) => !(carry && a === "sha256")).map((a) => [a, createHash(a)]));
let wholeSha = null; // carry: the whole stream's SHA-256, from the first part's end on
let part = null;
let inPart = 0;
let index = 0;
const closePart = () => {
  if (carry && wholeSha === null) wholeSha = part.copy();
  parentPort.postMessage({ part: { index: index++, size: inPart, sha256: part.digest("hex") } });
  part = null;
  inPart = 0;
};
const cutParts = (bytes) => {
  for (let at = 0; at < bytes.length; ) {
    part ??= createHash("sha256");
    const take = Math.min(partSize - inPart, bytes.length - at);
    const piece = take === bytes.length ? bytes : bytes.subarray(at, at + take);
    part.update(piece);
    if (wholeSha) wholeSha.update(piece);
    inPart += take;
    at += take;
    if (inPart === partSize) closePart();
  }
};
parentPort.on("message", (m) => {
  if (m === null) {
    if (part) closePart();
    if (carry) hashes.set("sha256", wholeSha ?? createHash("sha256")); // no part at all: the empty stream's
    return parentPort.postMessage({ sums: Object.fromEntries(whole.map((a) => [a, hashes.get(a).digest("hex")])) });
  }
  const bytes = new Uint8Array(buffer, m.slot * slotSize, m.length);
  for (const h of hashes.values()) h.update(bytes);
  if (partSize) cutParts(bytes);
  parentPort.postMessage({ done: m.slot });
});`;

// execArgv []: the worker is plain JavaScript and needs none of the process's flags; inherited, some break it
// (node --input-type=module -e … would make the source a module, where require is not defined).
export const spawnHashWorker: SpawnHashWorker = (source, workerData) => new Worker(source, { eval: true, workerData, execArgv: [] });

type Reply = { done: number } | { part: PartDigest & { index: number } } | { sums: Partial<Record<HashAlgorithm, string>> };

export function startHashThread(
  ring: Pick<SlotRing, "buffer" | "slotSize">,
  job: HashJob,
  events: HashThreadEvents,
  spawn: SpawnHashWorker = spawnHashWorker,
): HashThread {
  const worker = spawn(HASH_WORKER_SOURCE, { buffer: ring.buffer, slotSize: ring.slotSize, ...job });
  let finished: { resolve: (s: Partial<Record<HashAlgorithm, string>>) => void; reject: (e: Error) => void } | null = null;
  let settled: Error | "done" | null = null;

  const fail = (e: Error) => {
    if (settled) return;
    settled = e;
    finished?.reject(e);
    events.failed(e);
  };
  worker.on("message", (m: Reply) => {
    if ("done" in m) events.released(m.done);
    else if ("part" in m) events.part(m.part.index, { size: m.part.size, sha256: m.part.sha256 });
    else if (!settled) {
      settled = "done";
      finished?.resolve(m.sums);
      void worker.terminate();
    }
  });
  worker.on("error", (e) => fail(new Error(`a hashing thread failed: ${e.message}`, { cause: e })));
  const exited = new Promise<void>((resolve) =>
    worker.on("exit", (code) => {
      fail(new Error(`a hashing thread stopped (exit code ${code}) before the stream was hashed`));
      resolve();
    }),
  );

  return {
    hash: (slot, length) => worker.postMessage({ slot, length }),
    finish() {
      if (settled instanceof Error) return Promise.reject(settled);
      return new Promise((resolve, reject) => {
        finished = { resolve, reject };
        worker.postMessage(null);
      });
    },
    abort() {
      if (!settled) {
        settled = new Error("hashing stopped: the stream failed");
        finished?.reject(settled);
      }
      void worker.terminate();
    },
    exited,
  };
}

/** One digest of a stream, computed on a thread of its own: what a caller hashing on the side of a stream needs. */
export interface OffThreadHash {
  /** Copies the bytes in: returns at once, or a promise once they are in (the thread was behind): wait before the next. */
  write(chunk: Uint8Array): Promise<void> | void;
  /** After the last write: the hex digest; rejects when the thread failed. */
  digest(): Promise<string>;
  /** Stops the thread (the stream failed); digest() rejects afterwards. */
  abort(): void;
}

const SIDE_SLOTS = 8;
const SIDE_SLOT_SIZE = 1024 * 1024;

/** A SHA-256 (or MD5) of bytes that pass on the main thread, hashed on another: 8 MiB held at most. */
export function offThreadHash(algorithm: HashAlgorithm, spawn?: SpawnHashWorker): OffThreadHash {
  let thread: HashThread | null = null;
  const ring = createSlotRing({ slots: SIDE_SLOTS, slotSize: SIDE_SLOT_SIZE, readers: 1, send: (slot, n) => thread!.hash(slot, n) });
  thread = startHashThread(ring, { whole: [algorithm], partSize: null }, { released: ring.release, part: () => {}, failed: ring.fail }, spawn);
  return {
    write: (chunk) => ring.write(chunk),
    async digest() {
      ring.flush();
      return (await thread.finish())[algorithm]!;
    },
    abort: () => thread.abort(),
  };
}
