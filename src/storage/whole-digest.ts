import { Worker } from "node:worker_threads";

// SHA-256 and MD5 of the whole stream, on a worker thread: the two hashes cost as much CPU as everything
// else snapbot does while archiving (MD5 alone runs at ~700 MB/s), and on the main thread they held up the
// reads from tar/ssh. Bytes travel in BUFFERS fixed 1 MiB buffers that go to the worker and come back
// (transferred both ways, never cloned), so there is no garbage to collect and memory stays at BUFFERS MiB.
// When all of them are with the worker, `update` makes the caller wait (backpressure).

const BUFFER_SIZE = 1024 * 1024;
const BUFFERS = 6;

// Plain JavaScript evaluated in the worker: no loader (tsx, vitest, compiled) has to resolve a module file.
const WORKER_SOURCE = `
const { parentPort } = require("node:worker_threads");
const { createHash } = require("node:crypto");
const sha256 = createHash("sha256");
const md5 = createHash("md5");
parentPort.on("message", (m) => {
  if (m === null) return parentPort.postMessage({ sha256: sha256.digest("hex"), md5: md5.digest("hex") });
  const bytes = m.buffer.subarray(0, m.length);
  sha256.update(bytes);
  md5.update(bytes);
  parentPort.postMessage(m.buffer, [m.buffer.buffer]);
});`;

type Sums = { sha256: string; md5: string };

export interface WholeDigest {
  /** Resolves at once, or once the worker has handed a buffer back. */
  update(chunk: Buffer): Promise<void> | void;
  /** After the last update: the digests of everything passed in. */
  finish(): Promise<Sums>;
  /** Stops the worker (the stream failed); finish() rejects afterwards. */
  abort(): void;
  /** Resolves once the worker thread has exited (after finish() or abort()). */
  exited: Promise<void>;
}

export function createWholeDigest(): WholeDigest {
  const worker = new Worker(WORKER_SOURCE, { eval: true });
  const free: Uint8Array[] = [];
  let allocated = 0;
  let current: Uint8Array | null = null;
  let filled = 0;
  let failure: Error | null = null;
  let returned: (() => void) | null = null;
  let finished: { resolve: (s: Sums) => void; reject: (e: Error) => void } | null = null;

  const wake = () => {
    const w = returned;
    returned = null;
    w?.();
  };
  const fail = (e: Error) => {
    failure ??= e;
    finished?.reject(failure);
    wake();
  };
  worker.on("message", (m: Uint8Array | Sums) => {
    if (m instanceof Uint8Array) {
      free.push(m);
      wake();
    } else {
      finished?.resolve(m);
      void worker.terminate();
    }
  });
  worker.on("error", (e) => fail(new Error(`the hashing thread failed: ${e.message}`, { cause: e })));
  const exited = new Promise<void>((resolve) =>
    worker.on("exit", () => {
      fail(new Error("the hashing thread stopped before the stream ended"));
      resolve();
    }),
  );

  const send = () => {
    worker.postMessage({ buffer: current!, length: filled }, [current!.buffer as ArrayBuffer]);
    current = null;
    filled = 0;
  };
  const take = (): boolean => {
    current = free.pop() ?? (allocated < BUFFERS ? (allocated++, new Uint8Array(BUFFER_SIZE)) : null);
    return current !== null;
  };
  const waitForBuffer = () =>
    new Promise<void>((resolve) => (returned = resolve)).then(() => {
      if (failure) throw failure;
    });

  async function copyRest(chunk: Buffer, from: number): Promise<void> {
    for (let at = from; at < chunk.length; ) {
      while (!current && !take()) await waitForBuffer();
      const n = Math.min(BUFFER_SIZE - filled, chunk.length - at);
      current!.set(chunk.subarray(at, at + n), filled);
      filled += n;
      at += n;
      if (filled === BUFFER_SIZE) send();
    }
  }

  return {
    update(chunk) {
      if (failure) throw failure;
      // The common case, synchronously: the chunk fits in the buffer at hand (or in a free one).
      if (!current && !take()) return copyRest(chunk, 0);
      const n = Math.min(BUFFER_SIZE - filled, chunk.length);
      current!.set(n === chunk.length ? chunk : chunk.subarray(0, n), filled);
      filled += n;
      if (filled === BUFFER_SIZE) send();
      if (n < chunk.length) return copyRest(chunk, n);
    },
    finish() {
      if (failure) return Promise.reject(failure);
      if (current && filled > 0) send();
      return new Promise((resolve, reject) => {
        finished = { resolve, reject };
        worker.postMessage(null);
      });
    },
    abort() {
      fail(new Error("hashing stopped: the stream failed"));
      void worker.terminate();
    },
    exited,
  };
}
