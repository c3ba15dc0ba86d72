import { describe, expect, it } from "vitest";
import { createHash, randomBytes } from "node:crypto";
import { Readable, Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { setTimeout as sleep } from "node:timers/promises";
import { createHashTap } from "../../src/storage/hash-tap.ts";

// The tap hashes parts on the main thread and the whole stream (SHA-256, MD5) on a worker thread; both must
// equal hashing the bytes in one piece, whatever the chunking, and a failed stream must stop the worker.

const MiB = 2 ** 20;
const sha256 = (b: Buffer) => createHash("sha256").update(b).digest("hex");
const md5 = (b: Buffer) => createHash("md5").update(b).digest("hex");
const sink = () => new Writable({ write: (_c, _e, cb) => cb() });

/** Cuts `data` into chunks of awkward sizes: single bytes, odd sizes, and chunks bigger than the worker's buffers. */
function chunked(data: Buffer): Buffer[] {
  const sizes = [1, 7, 65_536, 3 * MiB + 5, 1, MiB - 1, 2 * MiB, 12_345];
  const out: Buffer[] = [];
  for (let at = 0, i = 0; at < data.length; i++) {
    const n = Math.min(sizes[i % sizes.length]!, data.length - at);
    out.push(data.subarray(at, at + n));
    at += n;
  }
  return out;
}

describe("hash tap", () => {
  it("gives the same per-part and whole-stream digests as hashing the bytes in one piece", async () => {
    const data = randomBytes(21 * MiB + 333); // more than the worker's buffers hold: backpressure is exercised
    const partSize = 4 * MiB;
    const tap = createHashTap(partSize, MiB);
    const passed: Buffer[] = [];
    await pipeline(Readable.from(chunked(data)), tap.stream, new Writable({ write: (c, _e, cb) => (passed.push(c), cb()) }));
    expect(Buffer.concat(passed).equals(data)).toBe(true); // the bytes go through unchanged
    const d = tap.digest();
    expect(d.total).toEqual({ size: data.length, sha256: sha256(data), md5: md5(data) });
    expect(d.parts).toHaveLength(6);
    d.parts.forEach((p, i) => {
      const bytes = data.subarray(i * partSize, (i + 1) * partSize);
      expect(p).toEqual({ size: bytes.length, sha256: sha256(bytes) });
    });
  });

  it("digests an empty stream as the hashes of nothing, with no parts", async () => {
    const tap = createHashTap(MiB, MiB);
    await pipeline(Readable.from([]), tap.stream, sink());
    expect(tap.digest()).toEqual({ parts: [], total: { size: 0, sha256: sha256(Buffer.alloc(0)), md5: md5(Buffer.alloc(0)) } });
    await tap.stopped; // and the thread ends with the stream
  });

  it("has no digest before the stream ends", () => {
    const tap = createHashTap(MiB, MiB);
    expect(() => tap.digest()).toThrow(/not ended/);
    tap.stream.destroy();
  });

  it("stops its hashing thread when the stream fails, so nothing keeps the process alive", async () => {
    const tap = createHashTap(MiB, MiB);
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
    await expect(pipeline(failing, tap.stream, sink())).rejects.toThrow("tar died");
    await tap.stopped; // hangs (test timeout) if the failure left the thread running
    expect(() => tap.digest()).toThrow(/not ended/);
  });
});
