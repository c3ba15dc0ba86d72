import { createHash, randomBytes } from "node:crypto";
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createLocalPartStore } from "../../src/storage/local-part-store.ts";
import { createPartWriter } from "../../src/storage/part-writer.ts";
import type { PartSink, PartStore, SnapshotKey } from "../../src/storage/part-store.ts";
import { streamToParts } from "../../src/storage/stream-to-parts.ts";
import { trackedTempDir } from "../helpers/cleanup.ts";
import { faultyHashWorker, openFiles, threadCount, threadsBackTo } from "../helpers/hash-threads.ts";

// stream → parts with the hashing off the main thread: every part is closed with its own digest (what an S3
// store sends and the store checks, imitated here by a store that re-hashes what it was given), the parts
// and totals of a snapshot stored before are reproduced exactly, a hashing thread that dies or throws leaves
// no parts (so never a manifest), and a hundred creates, good and failed, leave no thread behind.

const KiB = 1024;
const MiB = KiB * KiB;
const PART = 64 * KiB;
const key: SnapshotKey = { server: "web-1", name: "s1" };
const sha256 = (b: Buffer | string) => createHash("sha256").update(b).digest("hex");
let root: string;
let removeRoot = () => {};
let counter = 0;

beforeAll(() => void ({ dir: root, remove: removeRoot } = trackedTempDir("snapbot-stream-parts-")));
afterAll(() => removeRoot());

/** The local store, whose sinks refuse a close whose digest is not that of the bytes written (as S3 does). */
function checkingStore(): { store: PartStore; dir: string; closed: string[] } {
  const dir = join(root, `storage-${++counter}`);
  const local = createLocalPartStore(dir, { fsync: false });
  const closed: string[] = [];
  const store: PartStore = {
    ...local,
    async openPart(k, file) {
      const inner = await local.openPart(k, file);
      const hash = createHash("sha256");
      let size = 0;
      const sink: PartSink = {
        write: async (buffers) => {
          for (const b of buffers) (hash.update(b), (size += b.length));
          await inner.write(buffers);
        },
        async close(digest) {
          const sum = hash.digest("hex");
          if (digest.size !== size || digest.sha256 !== sum) throw new Error(`${file}: digest ${JSON.stringify(digest)} for ${size} bytes, ${sum}`);
          closed.push(file);
          await inner.close(digest);
        },
        abort: () => inner.abort(),
      };
      return sink;
    },
  };
  return { store, dir, closed };
}

function chunks(data: Buffer, size = 65_536): Readable {
  const out: Buffer[] = [];
  for (let at = 0; at < data.length; at += size) out.push(data.subarray(at, at + size));
  return Readable.from(out);
}

describe("stream to parts, hashed off the main thread", () => {
  it("closes every part with the digest of exactly the bytes it was written", async () => {
    const { store, closed } = checkingStore();
    await store.create(key);
    const data = randomBytes(40 * PART + 999); // 41 parts, several per slot: their digests come out of order with the writes
    const stored = await streamToParts(store, key, chunks(data, 10_007), { partSize: PART, highWaterMark: 16 * KiB }).done;
    expect(closed).toHaveLength(41);
    expect(stored.parts.map((p) => p.sha256)).toEqual(closed.map((_, i) => sha256(data.subarray(i * PART, (i + 1) * PART))));
    expect(stored.total).toMatchObject({ size: data.length, sha256: sha256(data) });
  });

  it("reproduces the parts and totals of a snapshot stored before, byte for byte", async () => {
    const fixture = join(import.meta.dirname, "../fixtures/stored/files-1/before-11");
    const manifest = JSON.parse(await readFile(join(fixture, "manifest.json"), "utf8")) as { part_size: number; parts: unknown; total: unknown };
    const stream = Buffer.concat(await Promise.all((await readdir(join(fixture, ".parts"))).sort().map((f) => readFile(join(fixture, ".parts", f)))));
    const { store, dir } = checkingStore();
    await store.create(key);
    const stored = await streamToParts(store, key, chunks(stream, 777), { partSize: manifest.part_size, highWaterMark: 16 * KiB, md5: true }).done;
    expect(JSON.stringify(stored.parts, null, 2)).toBe(JSON.stringify(manifest.parts, null, 2)); // same keys, same order
    expect(JSON.stringify(stored.total)).toBe(JSON.stringify(manifest.total));
    for (const p of stored.parts) expect((await readFile(join(dir, "web-1", "s1", p.file))).equals(await readFile(join(fixture, p.file)))).toBe(true);
  });

  for (const fault of [{ kind: "exit" }, { kind: "throw" }] as const)
    it(`a hashing thread that ${fault.kind === "exit" ? "dies" : "throws"} mid-stream leaves no parts and no snapshot`, async () => {
      const { store, dir } = checkingStore();
      await store.create(key);
      const failures: unknown[] = [];
      const before = threadCount();
      const write = streamToParts(store, key, chunks(randomBytes(4 * MiB)), {
        partSize: PART,
        highWaterMark: 16 * KiB,
        onFailure: (e) => failures.push(e),
        spawnHashWorker: faultyHashWorker(fault, 10),
      });
      await expect(write.done).rejects.toThrow(/a hashing thread (stopped|failed)/);
      expect(failures).toHaveLength(1); // the producer (tar, zstd) is told to stop
      expect(write.bytes()).toBeGreaterThan(PART); // parts were under way when the thread went
      expect(await store.leftover(key)).toBe("nothing");
      expect(await readdir(join(dir, "web-1"))).toEqual([]);
      expect(await threadsBackTo(before)).toBeLessThanOrEqual(before);
    });

  it("leaves no thread and no open file behind after a hundred creates, finished, failed and cut", async () => {
    const before = threadCount();
    const files = openFiles();
    for (let i = 0; i < 100; i++) {
      const { store } = checkingStore();
      const k = { server: "web-1", name: `s${i}` };
      await store.create(k);
      const data = randomBytes(3 * PART + i);
      const input = i % 3 === 2 ? cutAfter(data, 2 * PART) : chunks(data);
      const spawnHashWorker = i % 3 === 1 ? faultyHashWorker({ kind: "exit" }, 2) : undefined;
      const done = streamToParts(store, k, input, { partSize: PART, highWaterMark: 16 * KiB, spawnHashWorker }).done;
      if (i % 3 === 0) await done;
      else await expect(done).rejects.toThrow();
    }
    expect(await threadsBackTo(before)).toBeLessThanOrEqual(before);
    // Then (a thread holds descriptors of its own until it exits): a part opened while the stream was failing
    // is closed, not left to the garbage collector.
    expect(openFiles()).toBeLessThanOrEqual(files);
  });

  it("the part writer refuses a digest of another size than the part it wrote, and lets the part go", async () => {
    const { store } = checkingStore();
    await store.create(key);
    let aborted = 0;
    const counting: PartStore = {
      ...store,
      openPart: async (k, f) => {
        const s = await store.openPart(k, f);
        return { ...s, abort: () => (aborted++, s.abort()) };
      },
    };
    const writer = createPartWriter({ store: counting, key, partSize: PART, highWaterMark: 16 * KiB, digestOf: async () => ({ size: PART - 1, sha256: "0".repeat(64) }) });
    await expect(pipeline(chunks(randomBytes(2 * PART)), writer.stream)).rejects.toThrow(`part 0 has ${PART} bytes but ${PART - 1} were hashed`);
    expect(aborted).toBeGreaterThanOrEqual(1);
  });
});

describe("a stream that fails while a part is being opened", () => {
  it("lets go of that part before the snapshot is removed", async () => {
    const { store } = checkingStore();
    await store.create(key);
    let open!: () => void;
    const gate = new Promise<void>((resolve) => (open = resolve));
    const events: string[] = [];
    const slow: PartStore = {
      ...store,
      async openPart(k, f) {
        await gate; // a slow disk, or an S3 store starting its upload
        const s = await store.openPart(k, f);
        events.push(`opened ${f}`);
        const done = async (p: Promise<void>, what: string) => (await p, events.push(`${what} ${f}`), undefined);
        return { write: (b) => s.write(b), close: (d) => done(s.close(d), "closed"), abort: () => done(s.abort(), "let go of") };
      },
      remove: async (k) => (events.push("removed"), store.remove(k)),
    };
    const input = new Readable({ read() {} });
    const done = streamToParts(slow, key, input, { partSize: PART, highWaterMark: 16 * KiB }).done;
    input.push(randomBytes(1000));
    await sleep(50); // the writer waits in openPart
    input.destroy(new Error("ssh: connection reset"));
    open();
    await expect(done).rejects.toThrow("ssh: connection reset");
    expect(events).toEqual(["opened .parts/part-000000", "let go of .parts/part-000000", "removed"]);
    expect(await store.leftover(key)).toBe("nothing");
  });
});

/** A stream that dies after `n` bytes, as ssh does when the connection drops. */
function cutAfter(data: Buffer, n: number): Readable {
  let at = 0;
  return new Readable({
    read() {
      if (at >= n) return this.destroy(new Error("ssh: connection reset"));
      this.push(data.subarray(at, at + 8 * KiB));
      at += 8 * KiB;
    },
  });
}
