import { createHash, type Hash } from "node:crypto";
import { Transform } from "node:stream";
import { createWholeDigest } from "./whole-digest.ts";

// Hashes the stream as it passes: SHA-256 once per part, at the same byte boundaries the part writer cuts
// at, here on the main thread; SHA-256 and MD5 of the whole stream on a worker thread (whole-digest.ts).
// Hashing on arrival rather than in the writer lets it overlap the disk writes.

export interface StreamDigest {
  parts: Array<{ size: number; sha256: string }>;
  total: { size: number; sha256: string; md5: string };
}

export interface HashTap {
  stream: Transform;
  /** Valid once the stream has ended. */
  digest(): StreamDigest;
  /** Part i's digest, once its last byte has passed (the part writer sends it with the part). */
  part(index: number): StreamDigest["parts"][number] | undefined;
  bytes(): number;
  /** Resolves once the hashing thread has exited: the stream ended or failed. */
  stopped: Promise<void>;
}

export function createHashTap(partSize: number, highWaterMark: number): HashTap {
  const whole = createWholeDigest(); // the MD5 is for README.txt: what people checking by hand (and the seed) expect
  const parts: StreamDigest["parts"] = [];
  let part: Hash | null = null;
  let inPart = 0;
  let bytes = 0;
  let sums: { sha256: string; md5: string } | null = null;
  const closePart = () => {
    if (part) parts.push({ size: inPart, sha256: part.digest("hex") });
    part = null;
    inPart = 0;
  };
  const stream = new Transform({
    highWaterMark,
    transform(chunk: Buffer, _enc, cb) {
      bytes += chunk.length;
      for (let at = 0; at < chunk.length; ) {
        part ??= createHash("sha256");
        const take = Math.min(partSize - inPart, chunk.length - at);
        part.update(take === chunk.length ? chunk : chunk.subarray(at, at + take));
        inPart += take;
        at += take;
        if (inPart === partSize) closePart();
      }
      let waiting;
      try {
        waiting = whole.update(chunk);
      } catch (e) {
        return cb(e as Error);
      }
      if (!waiting) return cb(null, chunk);
      waiting.then(() => cb(null, chunk), cb);
    },
    flush(cb) {
      closePart();
      whole.finish().then((s) => {
        sums = s;
        cb();
      }, cb);
    },
    destroy(err, cb) {
      if (!sums) whole.abort();
      cb(err);
    },
  });
  return {
    stream,
    bytes: () => bytes,
    part: (index) => parts[index],
    stopped: whole.exited,
    digest: () => {
      if (!sums) throw new Error("the stream has not ended: no digest yet");
      return { parts, total: { size: bytes, ...sums } };
    },
  };
}
