import { execFile } from "node:child_process";
import { closeSync, constants, openSync, writeSync } from "node:fs";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { Worker } from "node:worker_threads";
import { CHUNK, TAG } from "./encryption/age-payload.ts";
import type { ThreadSealing } from "./encryption/age-stream.ts";
import { PART_NAME, partFile, type FileParts } from "./part-store.ts";
import type { StoredStream } from "./stream-to-parts.ts";

// A producer's output into part files without passing through the main thread. The producer (a pipeline's
// last stage, zstd here or ssh from a remote host) writes into a FIFO; one storage thread reads it, hashes
// what each read returns (SHA-256 per part, of the whole stream, MD5 when asked) and writes it to the part
// file, then the next. On the main thread the same bytes cost a read per 64 KiB, a copy for the hashing
// threads, a writev through the thread pool and the stream machinery around them: about as much CPU as the
// hashing itself, on a machine whose cores tar and zstd already keep busy (bench/storage-local-bench.ts).
//
// The FIFO lives in a private folder (0700) of the temp dir until the thread has exited: the write end the
// producer gets is O_WRONLY, so if the thread stops reading the producer gets EPIPE instead of blocking.

export interface FifoPartsOptions {
  partSize: number;
  /** Also the whole stream's MD5 (a README.txt that shows it). */
  md5?: boolean;
  /** Seal the stream as age's payload (a sensitive server): the hashes and the parts are of the ciphertext. */
  seal?: ThreadSealing;
  /** How the thread starts: tests pass one that breaks it. */
  spawn?: (source: string, workerData: unknown) => Worker;
}

export interface FifoParts {
  /** Where the FIFO is, in a folder of its own that goes once the thread has exited. */
  path: string;
  /** The FIFO's write end, for the pipeline's `stdoutFd`; detach() once the pipeline has started. */
  fd: number;
  /** Closes this process's copy of the write end: from then on the producer's exit ends the stream. */
  detach(): void;
  /** Bytes stored so far, for progress. */
  bytes(): number;
  /**
   * The parts and totals once the producer's output has ended and every part is closed (and fsynced when the
   * store asks for it); rejects when a part cannot be written, with the file system's code and syscall kept
   * (ENOSPC…), or when the thread fails. Parts already written stay: removing the snapshot is the caller's.
   */
  done: Promise<StoredStream>;
  /** Stops reading (the producer failed or was stopped): done rejects. Resolves once the thread has exited. */
  abort(): Promise<void>;
  /** Resolves once the thread has exited and the FIFO is gone, whichever way. */
  exited: Promise<void>;
}

const run = promisify(execFile);
const FOLDER_PREFIX = "snapbot-fifo-";
const FOLDER_PID = new RegExp(`^${FOLDER_PREFIX}(\\d+)-`);
let swept: Promise<void> | null = null;

/**
 * A process killed mid-create leaves its FIFO's folder behind (empty but for the FIFO): the first create of a
 * process removes those of processes that are gone. Its own pid in the name keeps it off a live one's.
 */
export async function sweepStaleFifos(): Promise<void> {
  const names = await readdir(tmpdir()).catch(() => [] as string[]);
  for (const name of names) {
    const pid = Number(FOLDER_PID.exec(name)?.[1]);
    if (!pid || pid === process.pid || running(pid)) continue;
    await rm(join(tmpdir(), name), { recursive: true, force: true }).catch(() => undefined);
  }
}

function running(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM"; // someone else's: alive
  }
}

// Plain JavaScript evaluated in the worker, as hash-thread.ts's: no loader has to resolve a module file.
export const FIFO_WORKER_SOURCE = `
const { parentPort, workerData } = require("node:worker_threads");
const fs = require("node:fs");
const { createCipheriv, createHash } = require("node:crypto");
const { fifo, folder, fsync, partSize, md5, seal, state, prefix, digits } = workerData;
const counted = new BigInt64Array(state, 0, 1);
const stop = new Int32Array(state, 8, 1);
const BLOCK = 1024 * 1024;
const block = Buffer.allocUnsafe(BLOCK);
const parts = [];
const md5Hash = md5 ? createHash("md5") : null;
let input = -1;
let out = -1;
let part = null;
let whole = null; // the whole stream's SHA-256: the first part's hasher, copied as that part closes
let inPart = 0;
let total = 0;
const stopped = () => Atomics.load(stop, 0) === 1;
const closePart = () => {
  if (fsync) fs.fsyncSync(out);
  fs.closeSync(out);
  out = -1;
  if (whole === null) whole = part.copy();
  parts.push({ size: inPart, sha256: part.digest("hex") });
  part = null;
  inPart = 0;
};
const store = (bytes) => {
  for (let at = 0; at < bytes.length; ) {
    if (out === -1) {
      out = fs.openSync(folder + "/" + prefix + String(parts.length).padStart(digits, "0"), "wx", 0o600);
      part = createHash("sha256");
    }
    const take = Math.min(partSize - inPart, bytes.length - at);
    const piece = bytes.subarray(at, at + take);
    part.update(piece);
    if (whole) whole.update(piece);
    // A short write means the disk refused the rest: the next call throws the reason (ENOSPC, EDQUOT, EIO).
    for (let w = 0; w < take; ) w += fs.writeSync(out, piece, w, take - w);
    inPart += take;
    at += take;
    if (inPart === partSize) closePart();
  }
  if (md5Hash) md5Hash.update(bytes);
  total += bytes.length;
  Atomics.store(counted, 0, BigInt(total));
};
// A sensitive server's stream, sealed as age's payload (age-payload.ts, whose bytes these are): 64 KiB chunks
// of ChaCha20-Poly1305 under the payload key, nonce = 11-byte big-endian counter ‖ last-chunk flag. A full
// chunk waits for the next byte, since the last one (full only for a stream of whole chunks) carries the flag.
const sealer = seal && (() => {
  const { CHUNK, TAG } = seal;
  const held = Buffer.allocUnsafe(CHUNK);
  const sealed = Buffer.allocUnsafe(CHUNK + TAG);
  const nonce = Buffer.alloc(12);
  let inHeld = 0;
  let counter = 0;
  const sealHeld = (last) => {
    nonce.fill(0);
    nonce.writeUIntBE(counter++, 5, 6);
    if (last) nonce[11] = 1;
    const c = createCipheriv("chacha20-poly1305", seal.key, nonce, { authTagLength: TAG });
    let n = c.update(held.subarray(0, inHeld)).copy(sealed, 0);
    c.final();
    n += c.getAuthTag().copy(sealed, n);
    inHeld = 0;
    store(sealed.subarray(0, n));
  };
  return {
    update(bytes) {
      for (let at = 0; at < bytes.length; ) {
        if (inHeld === CHUNK) sealHeld(false);
        const take = Math.min(CHUNK - inHeld, bytes.length - at);
        bytes.copy(held, inHeld, at, at + take);
        inHeld += take;
        at += take;
      }
    },
    end: () => sealHeld(true),
  };
})();
try {
  if (sealer) store(Buffer.from(seal.start));
  input = fs.openSync(fifo, "r");
  parentPort.postMessage({ opened: true });
  // What one read returns is stored before the next read: waiting to fill the block instead would have the
  // thread and the producer wake each other for every few KiB the pipe holds, at twice the system time.
  for (;;) {
    const n = fs.readSync(input, block, 0, BLOCK, null);
    if (stopped()) throw Object.assign(new Error("the stream was stopped"), { stopped: true });
    if (n === 0) break;
    const bytes = n === BLOCK ? block : block.subarray(0, n);
    if (sealer) sealer.update(bytes);
    else store(bytes);
  }
  if (sealer) sealer.end();
  if (out !== -1) closePart();
  const sums = { size: total, sha256: (whole ?? createHash("sha256")).digest("hex") };
  if (md5Hash) sums.md5 = md5Hash.digest("hex");
  parentPort.postMessage({ done: { parts, total: sums } });
} catch (e) {
  parentPort.postMessage({ failed: { message: e.message, code: e.code, syscall: e.syscall, errno: e.errno, path: e.path, stopped: e.stopped === true } });
} finally {
  for (const fd of [out, input]) if (fd !== -1) try { fs.closeSync(fd); } catch {}
}`;

const spawnWorker = (source: string, workerData: unknown) => new Worker(source, { eval: true, workerData, execArgv: [] });

type Reply = { opened: true } | { done: { parts: Array<{ size: number; sha256: string }>; total: StoredStream["total"] } } | { failed: Failure };
interface Failure {
  message: string;
  code?: string;
  syscall?: string;
  errno?: number;
  path?: string;
  stopped: boolean;
}

/** A FIFO and the thread that stores what arrives in it as `target`'s part files; ready for the producer. */
export async function openFifoParts(target: FileParts, opts: FifoPartsOptions): Promise<FifoParts> {
  swept ??= sweepStaleFifos();
  await swept;
  const dir = await mkdtemp(join(tmpdir(), `${FOLDER_PREFIX}${process.pid}-`));
  const fifo = join(dir, "stream");
  const fds: number[] = [];
  try {
    await run("mkfifo", ["-m", "600", "--", fifo]);
    // Opening one end of a FIFO waits for the other: a non-blocking reader held for a moment lets the write
    // end open at once (O_WRONLY, so EPIPE reaches the producer if the thread stops), and that writer lets the
    // thread's blocking open return at once.
    fds.push(openSync(fifo, constants.O_RDONLY | constants.O_NONBLOCK));
    const writer = openSync(fifo, constants.O_WRONLY);
    fds.push(writer);
    const parts = await startThread(target, opts, { dir, fifo });
    closeSync(fds.shift()!); // the thread reads now
    let attached = true;
    return {
      ...parts,
      path: fifo,
      fd: writer,
      detach() {
        if (attached) closeSync(writer);
        attached = false;
      },
    };
  } catch (e) {
    for (const fd of fds) closeSync(fd);
    await rm(dir, { recursive: true, force: true });
    throw e;
  }
}

async function startThread(target: FileParts, opts: FifoPartsOptions, at: { dir: string; fifo: string }): Promise<Omit<FifoParts, "path" | "fd" | "detach">> {
  const state = new SharedArrayBuffer(16);
  const counted = new BigInt64Array(state, 0, 1);
  const stop = new Int32Array(state, 8, 1);
  const worker = (opts.spawn ?? spawnWorker)(FIFO_WORKER_SOURCE, {
    fifo: at.fifo,
    folder: target.folder,
    fsync: target.fsync,
    partSize: opts.partSize,
    md5: opts.md5 === true,
    seal: opts.seal ? { ...opts.seal, CHUNK, TAG } : null,
    state,
    ...PART_NAME,
  });
  const exited = new Promise<void>((resolve) => worker.once("exit", () => resolve())).then(() => rm(at.dir, { recursive: true, force: true }));
  let opened!: () => void;
  const ready = new Promise<void>((resolve) => (opened = resolve));
  const done = new Promise<StoredStream>((resolve, reject) => {
    worker.on("message", (m: Reply) => {
      if ("opened" in m) return opened();
      void worker.terminate();
      if ("done" in m) return resolve({ parts: m.done.parts.map((p, i) => ({ file: partFile(i), ...p })), total: m.done.total });
      reject(m.failed.stopped ? new Error("storing stopped: the stream failed") : fsError(m.failed));
    });
    worker.once("error", (e) => reject(new Error(`the storage thread failed: ${e.message}`, { cause: e })));
    worker.once("exit", (code) => reject(new Error(`the storage thread stopped (exit code ${code}) before the stream was stored`)));
  });
  done.catch(() => undefined); // awaited by the caller; this keeps a failure before that from crashing the process
  await Promise.race([ready, done.then(() => Promise.reject(new Error("the storage thread ended before it opened the stream")))]);
  return {
    bytes: () => Number(Atomics.load(counted, 0)),
    done,
    exited,
    async abort() {
      Atomics.store(stop, 0, 1);
      wake(at.fifo);
      await exited;
    },
  };
}

/**
 * A thread blocked reading an idle FIFO (a producer that hangs and holds it open) sees the stop flag only when
 * a byte arrives: one is written by path. No reader any more (ENXIO), or the FIFO full (EAGAIN: the thread is
 * not blocked reading): nothing to wake.
 */
function wake(fifo: string): void {
  try {
    const fd = openSync(fifo, constants.O_WRONLY | constants.O_NONBLOCK);
    try {
      writeSync(fd, Buffer.of(0));
    } finally {
      closeSync(fd);
    }
  } catch {
    // nothing was waiting
  }
}

/** The thread's error as the file system raised it: describeFailure turns ENOSPC into disk_full and so on. */
function fsError(f: Failure): Error {
  return Object.assign(new Error(f.message), { code: f.code, syscall: f.syscall, errno: f.errno, path: f.path });
}
