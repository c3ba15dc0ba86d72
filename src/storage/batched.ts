import { Transform } from "node:stream";

// A stream's small reads gathered into larger chunks, for the stages after it.

/**
 * A socket's or a pipe's 16–64 KiB reads gathered into ~1 MiB chunks (one copy): every stage after it
 * (gunzip, age, the hash tap's slot copy, the part writer) then pays its per-chunk cost 16–64 times less.
 */
export function batched(size = 1024 * 1024): Transform {
  let held: Buffer[] = [];
  let n = 0;
  const out = () => {
    const b = held.length === 1 ? held[0]! : Buffer.concat(held, n);
    held = [];
    n = 0;
    return b;
  };
  return new Transform({
    readableHighWaterMark: size,
    writableHighWaterMark: size,
    transform(chunk: Buffer, _enc, cb) {
      held.push(chunk);
      n += chunk.length;
      cb(null, n >= size ? out() : undefined);
    },
    flush(cb) {
      cb(null, n > 0 ? out() : undefined);
    },
  });
}
