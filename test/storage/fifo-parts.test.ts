import { execFileSync, spawn, spawnSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { readdir, readFile, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { Readable, Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { generateX25519Identity, identityToRecipient } from "age-encryption";
import { Worker } from "node:worker_threads";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ageDecrypter } from "../../src/storage/encryption/age-stream.ts";
import { createAtRest } from "../../src/storage/encryption/at-rest.ts";
import { openFifoParts, sweepStaleFifos } from "../../src/storage/fifo-parts.ts";
import { storePipeline } from "../../src/storage/kit/store-stream.ts";
import { createLocalPartStore } from "../../src/storage/local-part-store.ts";
import type { PartStore, SnapshotKey } from "../../src/storage/part-store.ts";
import { streamToParts } from "../../src/storage/stream-to-parts.ts";
import { createLocalRunner } from "../../src/transport/local-runner.ts";
import type { Stage } from "../../src/transport/runner.ts";
import { trackedTempDir } from "../helpers/cleanup.ts";
import { threadCount, threadsBackTo } from "../helpers/hash-threads.ts";
import { rejection } from "../helpers/outcomes.ts";

// A pipeline's output stored by the FIFO thread (fifo-parts.ts): the parts and totals are exactly the ones
// the stream path computes from the same bytes, whatever the part boundaries; the bytes never reach Node's
// stdout; and every way it can end badly (the thread dies, the producer dies, the producer hangs holding
// the FIFO, nobody reads any more) ends with no parts, no thread, no FIFO and no process left behind.

const KiB = 1024;
const PART = 64 * KiB;
const log = pino({ level: "silent" });
const runner = createLocalRunner(log);
const sha256 = (b: Buffer) => createHash("sha256").update(b).digest("hex");
let root: string;
let removeRoot = () => {};
let counter = 0;

beforeAll(() => void ({ dir: root, remove: removeRoot } = trackedTempDir("snapbot-fifo-parts-")));
afterAll(() => removeRoot());

async function fresh(): Promise<{ store: PartStore; key: SnapshotKey; folder: string }> {
  const store = createLocalPartStore(join(root, `storage-${++counter}`), { fsync: true });
  const key = { server: "web-1", name: `s${counter}` };
  await store.create(key);
  return { store, key, folder: store.localFolder!(key) };
}

async function sourceFile(bytes: number): Promise<{ file: string; data: Buffer }> {
  const data = randomBytes(bytes);
  const file = join(root, `src-${++counter}.bin`);
  await writeFile(file, data);
  return { file, data };
}

/** What the stream path (hash threads + part writer) stores from the same bytes. */
async function streamPath(data: Buffer, md5: boolean) {
  const { store, key } = await fresh();
  return streamToParts(store, key, Readable.from([data]), { partSize: PART, highWaterMark: 16 * KiB, md5 }).done;
}

describe("the FIFO thread", () => {
  for (const [what, bytes] of [
    ["several parts and a short last one", 5 * PART + 1234],
    ["parts ending exactly at the end", 4 * PART],
    ["one part shorter than part_size", 1000],
    ["the empty stream (no part at all)", 0],
  ] as const) {
    it(`stores ${what} exactly as the stream path does, 0600, and nothing reaches Node's stdout`, async () => {
      const { file, data } = await sourceFile(bytes);
      const { store, key, folder } = await fresh();
      const { pipe, write } = await storePipeline(store, key, (o) => runner.pipeline([{ cmd: "cat", args: [file] }], o), {
        partSize: PART,
        sealing: null,
        md5: true,
        log,
      });
      let toNode = 0;
      pipe.stdout.on("data", (b: Buffer) => (toNode += b.length));
      const [stored] = await Promise.all([write.done, pipe.done]);
      expect(toNode).toBe(0);
      expect(stored).toEqual(await streamPath(data, true));
      expect(stored.total).toEqual({ size: bytes, sha256: sha256(data), md5: createHash("md5").update(data).digest("hex") });
      expect(write.bytes()).toBe(bytes);
      const files = await readdir(join(folder, ".parts"));
      expect(files.length).toBe(Math.ceil(bytes / PART));
      const back = Buffer.concat(await Promise.all(stored.parts.map((p) => readFile(join(folder, p.file)))));
      expect(back.equals(data)).toBe(true);
      for (const p of stored.parts) expect(statSync(join(folder, p.file)).mode & 0o777).toBe(0o600);
    });
  }

  for (const bytes of [0, 64 * KiB, 3 * 64 * KiB + 5, 7 * PART + 99]) {
    it(`seals ${bytes} bytes as one age file across the parts, which age opens back to the same bytes`, async () => {
      const identity = await generateX25519Identity();
      const sealing = await createAtRest({ recipients: [await identityToRecipient(identity)] }).seal("web-1", 16 * KiB);
      const { file, data } = await sourceFile(bytes);
      const { store, key, folder } = await fresh();
      const { pipe, write } = await storePipeline(store, key, (o) => runner.pipeline([{ cmd: "cat", args: [file] }], o), { partSize: PART, sealing, log });
      const [stored] = await Promise.all([write.done, pipe.done]);
      const sealed = Buffer.concat(await Promise.all(stored.parts.map((p) => readFile(join(folder, p.file)))));
      expect(stored.total).toEqual({ size: sealed.length, sha256: sha256(sealed) });
      if (bytes > 0) expect(sealed.includes(data.subarray(0, 64))).toBe(false); // no plaintext in the parts
      const opened = ageDecrypter([identity], 16 * KiB);
      const plain: Buffer[] = [];
      await pipeline(Readable.from([sealed]), opened.stream, new Writable({ write: (c: Buffer, _e, cb) => (plain.push(c), cb()) }));
      expect(Buffer.concat(plain).equals(data)).toBe(true);
      // The payload key went to the thread: the stream must refuse to seal with it a second time.
      await expect(pipeline(Readable.from([Buffer.from("x")]), sealing.stream, new Writable({ write: (_c, _e, cb) => cb() }))).rejects.toThrow(/written elsewhere/);
    });
  }

  it("without md5 asked gives none", async () => {
    const { file } = await sourceFile(3 * PART);
    const { store, key } = await fresh();
    const { pipe, write } = await storePipeline(store, key, (o) => runner.pipeline([{ cmd: "cat", args: [file] }], o), { partSize: PART, sealing: null, log });
    const [stored] = await Promise.all([write.done, pipe.done]);
    expect(Object.keys(stored.total).sort()).toEqual(["sha256", "size"]);
  });

  it("leaves no thread, no FIFO and no open file after a hundred creates", async () => {
    const before = threadCount();
    const { file } = await sourceFile(2 * PART + 5);
    let last = "";
    for (let i = 0; i < 100; i++) {
      const { store, key } = await fresh();
      const fifo = await openFifoParts(store.fileParts!(key), { partSize: PART });
      last = fifo.path;
      const child = spawn("cat", [file], { stdio: ["ignore", fifo.fd, "ignore"] });
      fifo.detach();
      await Promise.all([fifo.done, new Promise((r) => child.once("exit", r))]);
      await fifo.exited;
    }
    expect(existsSync(dirname(last))).toBe(false);
    expect(await threadsBackTo(before)).toBeLessThanOrEqual(before);
  });
});

describe("FIFOs left by a process killed mid-create", () => {
  it("are removed by the next process's first create; a live process's stays", async () => {
    const dead = spawnSync("true").pid!; // exited: its pid names no process now
    const gone = mkdtempSync(join(tmpdir(), `snapbot-fifo-${dead}-`));
    execFileSync("mkfifo", [join(gone, "stream")]);
    const live = mkdtempSync(join(tmpdir(), `snapbot-fifo-${process.ppid}-`)); // vitest's own process: alive
    try {
      await sweepStaleFifos();
      expect(existsSync(gone)).toBe(false);
      expect(existsSync(live)).toBe(true);
    } finally {
      rmSync(gone, { recursive: true, force: true });
      rmSync(live, { recursive: true, force: true });
    }
  });
});

describe("when it ends badly", () => {
  /** The real thread, made to exit once it has stored more than `after` bytes (as if it had crashed). */
  const dyingThread = (after: number) => (source: string, data: unknown) => {
    const faulty = source.replace("const bytes = n === BLOCK", `if (total > ${after}) process.exit(3);\n    const bytes = n === BLOCK`);
    if (faulty === source) throw new Error("the fault could not be placed: the thread's source changed");
    return new Worker(faulty, { eval: true, workerData: data, execArgv: [] });
  };

  it("a thread that dies mid-stream: the producer gets EPIPE instead of blocking, and done rejects", async () => {
    const { store, key } = await fresh();
    const before = threadCount();
    const fifo = await openFifoParts(store.fileParts!(key), { partSize: PART, spawn: dyingThread(3 * PART) });
    const producer = spawn("cat", ["/dev/zero"], { stdio: ["ignore", fifo.fd, "ignore"] });
    fifo.detach();
    const exit = new Promise<NodeJS.Signals | null>((r) => producer.once("exit", (_code, signal) => r(signal)));
    const e = await rejection(fifo.done);
    expect(e.message).toBe("the storage thread stopped (exit code 3) before the stream was stored");
    // Nobody is killing cat: only the FIFO with no reader left stops it.
    expect(await exit).toBe("SIGPIPE");
    await fifo.exited;
    expect(existsSync(fifo.path)).toBe(false);
    expect(await threadsBackTo(before)).toBeLessThanOrEqual(before);
  });

  it("through storePipeline: the pipeline is stopped and the snapshot's parts are removed", async () => {
    const { store, key, folder } = await fresh();
    const stages: Stage[] = [{ cmd: "cat", args: ["/dev/zero"] }];
    const start = (o: { stdoutFd?: number }) => runner.pipeline(stages, o);
    // storePipeline has no spawn option: the thread is broken by its disk instead, a part file in its way.
    await writeFile(join(folder, ".parts", "part-000002"), "in the way");
    const { pipe, write } = await storePipeline(store, key, start, { partSize: PART, sealing: null, log });
    const [wrote, ran] = await Promise.allSettled([write.done, pipe.done]);
    expect(wrote.status).toBe("rejected");
    expect((wrote as PromiseRejectedResult).reason).toMatchObject({ code: "EEXIST", syscall: "open" });
    expect(ran.status).toBe("rejected"); // killed
    expect(existsSync(folder)).toBe(false);
  });

  it("a producer that fails part-way: what it wrote is stored, and its failure is the pipeline's to report", async () => {
    const { store, key } = await fresh();
    const start = (o: { stdoutFd?: number }) => runner.pipeline([{ cmd: "sh", args: ["-c", "head -c 100000 /dev/zero; echo broken >&2; exit 4"] }], o);
    const { pipe, write } = await storePipeline(store, key, start, { partSize: PART, sealing: null, log });
    const [wrote, ran] = await Promise.allSettled([write.done, pipe.done]);
    expect(ran).toMatchObject({ status: "rejected", reason: { code: "command_failed" } });
    // The thread saw an end of stream; it stops reading at once rather than wait for more.
    expect(wrote.status === "fulfilled" ? wrote.value.total.size : (wrote.reason as Error).message).toSatisfy(
      (v: unknown) => v === 100000 || v === "storing stopped: the stream failed",
    );
  });

  it("a producer that leaves something holding the FIFO open: the thread still stops once the pipeline has failed", async () => {
    const { store, key, folder } = await fresh();
    const tag = `${30 + Math.random()}`; // a unique sleep, to find it afterwards
    // setsid: a process of another session, which stopping the pipeline's process group does not reach.
    const script = `setsid sleep ${tag} 2>/dev/null & exit 5`; // stderr elsewhere: the pipeline must see sh end
    const { pipe, write } = await storePipeline(store, key, (o) => runner.pipeline([{ cmd: "sh", args: ["-c", script] }], o), {
      partSize: PART,
      sealing: null,
      log,
    });
    const t = Date.now();
    try {
      const [wrote, ran] = await Promise.allSettled([write.done, pipe.done]);
      expect(ran).toMatchObject({ status: "rejected", reason: { code: "command_failed" } });
      expect(wrote).toMatchObject({ status: "rejected", reason: { message: "storing stopped: the stream failed" } });
      expect(Date.now() - t).toBeLessThan(10_000);
      expect(existsSync(folder)).toBe(false);
    } finally {
      const orphans = spawnSync("pgrep", ["-f", `sleep ${tag}`]).stdout.toString().trim().split("\n").filter(Boolean).map(Number);
      expect(orphans.length).toBe(1); // it really held the FIFO, so the test did test something
      for (const pid of orphans) process.kill(pid, "SIGKILL");
    }
  });

  it("a sealed stream or a store of objects takes the stream path: the bytes come through Node's stdout", async () => {
    const { file, data } = await sourceFile(3 * PART);
    const { store, key } = await fresh();
    const { fileParts: _none, ...objects } = store; // a store that does not keep parts as files here
    const { pipe, write } = await storePipeline(objects, key, (o) => runner.pipeline([{ cmd: "cat", args: [file] }], o), { partSize: PART, sealing: null, log });
    let toNode = 0;
    pipe.stdout.on("data", (b: Buffer) => (toNode += b.length));
    const [stored] = await Promise.all([write.done, pipe.done]);
    expect(toNode).toBe(data.length);
    expect(stored.total.sha256).toBe(sha256(data));
  });
});
