import { describe, expect, it } from "vitest";
import { createHash, randomBytes } from "node:crypto";
import { Readable, Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { setTimeout as sleep } from "node:timers/promises";
import { createHashTap, type HashTap } from "../../src/storage/hash-tap.ts";
import { faultyHashWorker, threadCount, threadsBackTo } from "../helpers/hash-threads.ts";

// The tap hashes parts (SHA-256) and the whole stream (SHA-256, and MD5 when asked: on a second thread) on
// worker threads reading one shared copy of the bytes; every digest must equal node:crypto over the same bytes
// in one piece, whatever the chunking and wherever parts end relative to chunks and to the 1 MiB slots (the
// whole stream's SHA-256 is carried on from the first part's hasher); memory stays bounded while a thread is
// slow; a thread that dies or throws fails the stream at once, and nothing keeps running after.

const MiB = 2 ** 20;
const SLOT = MiB; // hash-tap.ts's slot size: part boundaries on either side of it are the interesting ones
const sha256 = (b: Buffer) => createHash("sha256").update(b).digest("hex");
const md5 = (b: Buffer) => createHash("md5").update(b).digest("hex");
const sink = () => new Writable({ highWaterMark: MiB, write: (_c, _e, cb) => cb() });

/** Cuts `data` into chunks of awkward sizes: single bytes, odd sizes, and chunks bigger than the slots. */
function chunked(data: Buffer, sizes = [1, 7, 65_536, 3 * MiB + 5, 1, MiB - 1, 2 * MiB, 12_345]): Buffer[] {
  const out: Buffer[] = [];
  for (let at = 0, i = 0; at < data.length; i++) {
    const n = Math.min(sizes[i % sizes.length]!, data.length - at);
    out.push(data.subarray(at, at + n));
    at += n;
  }
  return out;
}

/** Runs `data` through a tap and checks every digest, as the part writer asks for them, against node:crypto. */
async function expectDigests(data: Buffer, partSize: number, sizes?: number[], o: { md5?: boolean } = { md5: true }): Promise<HashTap> {
  const tap = createHashTap(partSize, MiB, o);
  const passed: Buffer[] = [];
  await pipeline(Readable.from(chunked(data, sizes)), tap.stream, new Writable({ write: (c, _e, cb) => (passed.push(c), cb()) }));
  expect(Buffer.concat(passed).equals(data)).toBe(true); // the bytes go through unchanged
  const count = Math.ceil(data.length / partSize);
  const expected = Array.from({ length: count }, (_, i) => data.subarray(i * partSize, (i + 1) * partSize));
  const asked = await Promise.all(expected.map((_, i) => tap.part(i)));
  expect(asked).toEqual(expected.map((b) => ({ size: b.length, sha256: sha256(b) })));
  expect(tap.digest()).toEqual({ parts: asked, total: { size: data.length, sha256: sha256(data), ...(o.md5 ? { md5: md5(data) } : {}) } });
  await expect(tap.part(count)).rejects.toThrow(`part ${count} was written but not hashed`);
  await tap.stopped;
  return tap;
}

describe("hash tap", () => {
  it("gives the same per-part and whole-stream digests as hashing the bytes in one piece", async () => {
    await expectDigests(randomBytes(21 * MiB + 333), 4 * MiB); // more than the slots hold: backpressure is exercised
  });

  it("without MD5: one thread, the whole stream's SHA-256 carried on from the first part's, one part or many", async () => {
    const before = threadCount();
    const data = randomBytes(9 * MiB + 5);
    const running = expectDigests(data, 4 * MiB, [65_536], {});
    await sleep(20);
    expect(threadCount()).toBe(before + 1); // no MD5 thread
    await running;
    await expectDigests(data, 16 * MiB, undefined, {}); // one part: the whole stream's hash is the part's
    await expectDigests(data, MiB, [MiB], {}); // parts ending exactly on the chunks
    await expectDigests(data.subarray(0, 4 * MiB), 4 * MiB, undefined, {}); // exactly one full part
    const empty = createHashTap(MiB, MiB);
    await pipeline(Readable.from([]), empty.stream, sink());
    expect(empty.digest()).toEqual({ parts: [], total: { size: 0, sha256: sha256(Buffer.alloc(0)) } });
  });

  describe("parts ending on either side of a slot and of a pipe-sized chunk", () => {
    const data = randomBytes(3 * SLOT + 17);
    for (const partSize of [SLOT - 1, SLOT, SLOT + 1, 65_535, 65_536, 65_537, 4096, 4097])
      it(`part size ${partSize}, in 64 KiB chunks and in awkward ones`, async () => {
        await expectDigests(data, partSize, [65_536]);
        await expectDigests(data, partSize);
        await expectDigests(data.subarray(0, 3 * partSize), partSize, [65_536]); // ends exactly on a part boundary
      });
  });

  it("a part ending inside a slot gets its digest without waiting for the slot to fill", async () => {
    const tap = createHashTap(4096, MiB);
    const data = randomBytes(4096 + 100);
    const input = new Readable({ read() {} });
    const done = pipeline(input, tap.stream, sink());
    input.push(data); // then nothing more for now: the input is quiet, the slot a tenth full
    expect(await tap.part(0)).toEqual({ size: 4096, sha256: sha256(data.subarray(0, 4096)) });
    input.push(null);
    await done;
    expect(tap.digest().parts[1]).toEqual({ size: 100, sha256: sha256(data.subarray(4096)) });
  });

  it("digests an empty stream as the hashes of nothing, with no parts", async () => {
    const tap = createHashTap(MiB, MiB, { md5: true });
    await pipeline(Readable.from([]), tap.stream, sink());
    expect(tap.digest()).toEqual({ parts: [], total: { size: 0, sha256: sha256(Buffer.alloc(0)), md5: md5(Buffer.alloc(0)) } });
    await tap.stopped; // and the threads end with the stream
  });

  it("has no digest before the stream ends", async () => {
    const tap = createHashTap(MiB, MiB);
    expect(() => tap.digest()).toThrow(/not ended/);
    tap.stream.destroy();
    await tap.stopped;
  });

  it("holds at most its slots while a hashing thread is slow, then finishes with the right digests", async () => {
    const tap = createHashTap(64 * MiB, MiB, { spawn: faultyHashWorker({ kind: "stall", ms: 4000 }, 1, "whole"), md5: true });
    const data = randomBytes(24 * MiB);
    const done = pipeline(Readable.from(chunked(data, [65_536])), tap.stream, sink());
    // The thread hashes (and hands back) its first slot, then blocks: eight slots more fill, plus the chunk
    // being copied, and nothing else gets in however fast the input is.
    const held = 9 * MiB + 65_536;
    for (let waited = 0; tap.bytes() < 9 * MiB && waited < 3000; waited += 10) await sleep(10);
    await sleep(200);
    expect(tap.bytes()).toBeGreaterThanOrEqual(9 * MiB);
    expect(tap.bytes()).toBeLessThanOrEqual(held);
    await done;
    expect(tap.digest().total).toEqual({ size: data.length, sha256: sha256(data), md5: md5(data) });
  });

  it("stops its hashing threads when the stream fails, so nothing keeps the process alive", async () => {
    const before = threadCount();
    const tap = createHashTap(MiB, MiB, { md5: true });
    let stopped = false;
    void tap.stopped.then(() => (stopped = true));
    const failing = new Readable({
      read() {
        this.push(randomBytes(MiB));
        if (tap.bytes() > 3 * MiB) this.destroy(new Error("tar died"));
      },
    });
    await sleep(50);
    expect(stopped).toBe(false); // alive while the stream runs
    expect(threadCount()).toBeGreaterThanOrEqual(before + 2); // the two hashing threads
    await expect(pipeline(failing, tap.stream, sink())).rejects.toThrow("tar died");
    await tap.stopped; // hangs (test timeout) if the failure left a thread running
    expect(await threadsBackTo(before)).toBeLessThanOrEqual(before);
    expect(() => tap.digest()).toThrow(/not ended/);
  });

  describe("a hashing thread that fails fails the stream", () => {
    const cases = [
      { fault: { kind: "exit" } as const, target: "parts" as const, message: /a hashing thread stopped \(exit code 3\) before the stream was hashed/ },
      { fault: { kind: "throw" } as const, target: "parts" as const, message: /a hashing thread failed: hashing fault injected/ },
      { fault: { kind: "exit" } as const, target: "whole" as const, message: /a hashing thread stopped \(exit code 3\)/ },
    ];
    for (const c of cases)
      it(`${c.fault.kind} in the ${c.target} thread: the stream and the digests the writer waits for reject`, async () => {
        const before = threadCount();
        const tap = createHashTap(64 * 1024, MiB, { spawn: faultyHashWorker(c.fault, 3, c.target), md5: c.target === "whole" });
        const waiting = tap.part(40); // as the part writer would, long before part 40's bytes arrive
        const data = randomBytes(8 * MiB);
        await expect(pipeline(Readable.from(chunked(data, [65_536])), tap.stream, sink())).rejects.toThrow(c.message);
        await expect(waiting).rejects.toThrow(c.message);
        await expect(tap.part(100)).rejects.toThrow(c.message);
        await tap.stopped;
        expect(await threadsBackTo(before)).toBeLessThanOrEqual(before);
      });

    it("at once, even while the input is quiet", async () => {
      const tap = createHashTap(4096, MiB, { spawn: faultyHashWorker({ kind: "exit" }, 1) });
      const input = new Readable({ read() {} });
      input.push(randomBytes(5000)); // a part ends: its slot is sent, the thread dies on it; nothing more comes
      await expect(pipeline(input, tap.stream, sink())).rejects.toThrow(/a hashing thread stopped/);
      await tap.stopped;
    });
  });
});

describe("hashing threads and the process's own flags", () => {
  it("work in a process started with node --input-type=module -e (the flags are not passed on to them)", async () => {
    const { execFileSync } = await import("node:child_process");
    const { pathToFileURL } = await import("node:url");
    const { join } = await import("node:path");
    const mod = pathToFileURL(join(import.meta.dirname, "../../src/storage/hash-thread.ts")).href;
    const code = `import { offThreadHash } from ${JSON.stringify(mod)}; const h = offThreadHash("sha256"); await h.write(Buffer.from("abc")); console.log(await h.digest());`;
    const out = execFileSync(process.execPath, ["--import", "tsx", "--input-type=module", "-e", code], { encoding: "utf8", timeout: 30_000 });
    expect(out.trim()).toBe(sha256(Buffer.from("abc")));
  });
});
