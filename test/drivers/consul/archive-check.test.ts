import { PassThrough, Readable, Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { gzipSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { createArchiveCheck } from "../../../src/drivers/consul/archive-check.ts";
import { raftMeta, tarHeader, writeArchive, type ArchiveFault } from "../../helpers/consul-archive.ts";
import { faultyHashWorker, threadCount, threadsBackTo } from "../../helpers/hash-threads.ts";
import type { SpawnHashWorker } from "../../../src/storage/hash-thread.ts";

// The checker against archives written as archive.go writes them (test/helpers/consul-archive.ts), and against
// each way one can be wrong: every failure is the stream's error, so nothing downstream would count it.

async function archive(state: Buffer, fault?: ArchiveFault, extraTail?: Buffer): Promise<Buffer> {
  const tar = new PassThrough();
  const parts: Buffer[] = [];
  tar.on("data", (c: Buffer) => parts.push(c));
  await writeArchive(tar, raftMeta(77, 5, state.length), (async function* () { yield state; })(), fault);
  if (extraTail) parts.push(extraTail);
  return gzipSync(Buffer.concat(parts));
}

async function check(gz: Buffer, chunk = 777, spawn?: SpawnHashWorker) {
  const c = createArchiveCheck({ spawn });
  const out: Buffer[] = [];
  const chunks = Array.from({ length: Math.ceil(gz.length / chunk) }, (_, i) => gz.subarray(i * chunk, (i + 1) * chunk));
  const sink = new Writable({ write: (b: Buffer, _e, cb) => (out.push(b), cb()) });
  await pipeline(Readable.from(chunks), c.stream, sink);
  return { info: c.info(), out: Buffer.concat(out) };
}

const state = Buffer.concat([Buffer.from("STATE-MARKER"), Buffer.alloc(200_000, 7)]);

describe("the Consul archive check", () => {
  it("passes a Consul archive through unchanged and reads meta.json's ID, Index, Term, Version and Size", async () => {
    const gz = await archive(state);
    for (const chunk of [1, 511, 4096, 1 << 20].slice(gz.length > 100_000 ? 1 : 0)) {
      const { info, out } = await check(gz, chunk);
      expect(out.equals(gz)).toBe(true);
      expect(info).toMatchObject({ index: 77, term: 5, version: 1, size: state.length });
      expect(info.id).toMatch(/^5-77-\d+$/);
    }
  });

  it("holds the stream while gunzip is behind (backpressure), and still passes every byte through", async () => {
    const { randomBytes } = await import("node:crypto");
    const big = randomBytes(6 * 2 ** 20); // incompressible: gunzip's buffer fills with 1 MiB writes
    const gz = await archive(big);
    const { info, out } = await check(gz, 2 ** 20);
    expect(out.equals(gz)).toBe(true);
    expect(info.size).toBe(big.length);
  });

  it("hashes a state.bin far bigger than its hashing thread's 8 MiB, also while that thread stalls", async () => {
    const { randomBytes } = await import("node:crypto");
    const big = randomBytes(20 * 2 ** 20);
    const gz = await archive(big);
    expect((await check(gz, 2 ** 20)).info.size).toBe(big.length);
    const stalled = await check(gz, 65_536, faultyHashWorker({ kind: "stall", ms: 500 }, 2, "whole"));
    expect(stalled.out.equals(gz)).toBe(true);
    await expect(check(await archive(big, "wrong-hash"), 2 ** 20)).rejects.toThrow(/hash check failed for "state\.bin"/); // the thread's digest is the one compared
  });

  it("fails the stream when state.bin's hashing thread dies, and leaves no thread behind", async () => {
    const { randomBytes } = await import("node:crypto");
    const before = threadCount();
    const gz = await archive(randomBytes(12 * 2 ** 20));
    await expect(check(gz, 2 ** 20, faultyHashWorker({ kind: "exit" }, 3, "whole"))).rejects.toMatchObject({
      code: "hash_failed", // snapbot's failure, not the archive's
      message: expect.stringMatching(/^state\.bin could not be hashed \(a hashing thread stopped \(exit code 3\).*\): nothing was kept; take the snapshot again$/),
    });
    expect(await threadsBackTo(before)).toBeLessThanOrEqual(before);
  });

  it.each([
    ["wrong-hash", /hash check failed for "state\.bin"/],
    ["extra-file", /unexpected file "extra\.txt" in snapshot/],
    ["no-sums", /no SHA256SUMS/],
  ] as const)("refuses an archive with %s", async (fault, why) => {
    await expect(check(await archive(state, fault))).rejects.toMatchObject({ code: "archive_invalid", message: expect.stringMatching(why) });
  });

  it("refuses a truncated gzip, bytes after the archive's end, and something that is not gzip at all", async () => {
    const gz = await archive(state);
    await expect(check(gz.subarray(0, gz.length - 30))).rejects.toThrow(/not a valid Consul archive: failed to decompress snapshot/);
    await expect(check(await archive(state, undefined, Buffer.from("tail")))).rejects.toThrow(/after the end of the archive|ends inside/);
    await expect(check(Buffer.from("<html>502 Bad Gateway</html>"))).rejects.toThrow(/failed to decompress/);
  });

  it("refuses an archive with only SHA256SUMS, and one with a member twice", async () => {
    const now = new Date();
    const sums = Buffer.from(`${"a".repeat(64)}  meta.json\n`);
    const pad = (n: number) => Buffer.alloc((512 - (n % 512)) % 512);
    const onlySums = gzipSync(Buffer.concat([tarHeader("SHA256SUMS", sums.length, now), sums, pad(sums.length), Buffer.alloc(1024)]));
    await expect(check(onlySums)).rejects.toThrow(/meta\.json is missing/);
    const meta = Buffer.from("{}\n");
    const twice = gzipSync(Buffer.concat([tarHeader("meta.json", 3, now), meta, pad(3), tarHeader("meta.json", 3, now), meta, pad(3), Buffer.alloc(1024)]));
    await expect(check(twice)).rejects.toThrow(/appears twice/);
  });
});
