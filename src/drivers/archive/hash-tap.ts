import { createHash, type Hash } from "node:crypto";
import { Transform } from "node:stream";

// Hashes the stream as it passes, once per part and once in total, at the same byte boundaries the part
// writer cuts at. Hashing here (on arrival) rather than in the writer lets it overlap the disk writes.

export interface StreamDigest {
  parts: Array<{ size: number; sha256: string }>;
  total: { size: number; sha256: string; md5: string };
}

export interface HashTap {
  stream: Transform;
  /** Valid once the stream has ended. */
  digest(): StreamDigest;
  bytes(): number;
}

export function createHashTap(partSize: number, highWaterMark: number): HashTap {
  const total = createHash("sha256");
  const md5 = createHash("md5"); // for README.txt: what people checking by hand (and the seed) expect
  const parts: StreamDigest["parts"] = [];
  let part: Hash | null = null;
  let inPart = 0;
  let bytes = 0;
  const closePart = () => {
    if (part) parts.push({ size: inPart, sha256: part.digest("hex") });
    part = null;
    inPart = 0;
  };
  const stream = new Transform({
    highWaterMark,
    transform(chunk: Buffer, _enc, cb) {
      total.update(chunk);
      md5.update(chunk);
      bytes += chunk.length;
      for (let at = 0; at < chunk.length; ) {
        part ??= createHash("sha256");
        const take = Math.min(partSize - inPart, chunk.length - at);
        part.update(take === chunk.length ? chunk : chunk.subarray(at, at + take));
        inPart += take;
        at += take;
        if (inPart === partSize) closePart();
      }
      cb(null, chunk);
    },
    flush(cb) {
      closePart();
      cb();
    },
  });
  let sums: { sha256: string; md5: string } | null = null;
  return {
    stream,
    bytes: () => bytes,
    digest: () => ({ parts, total: { size: bytes, ...(sums ??= { sha256: total.digest("hex"), md5: md5.digest("hex") }) } }),
  };
}
