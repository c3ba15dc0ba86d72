import type { Writable } from "node:stream";

// stdout and stderr may lead to a reader that is gone (`npm start | head -3`: EPIPE) or that no longer reads
// (a hung log shipper: the pipe fills). Neither may block the main thread, where signals are handled, nor
// crash the bot: on Linux Node writes to a pipe asynchronously, so a write here only queues, up to a bound,
// past which lines are dropped; a broken pipe silences the stream.

/** Bytes waiting for a slow reader before further lines are dropped. */
export const MAX_BUFFERED = 1024 * 1024;

export interface SafeOutput {
  write(text: string): void;
  /** Lines dropped because the reader was gone or too slow. */
  dropped(): number;
  /** Resolves once what was queued reached the reader, or after `ms` (a reader that never reads). */
  flush(ms: number): Promise<void>;
}

const outputs = new WeakMap<Writable, SafeOutput>();

/** One SafeOutput per stream, so every writer to stdout shares its bound. */
export function safeOutput(stream: Writable, maxBuffered = MAX_BUFFERED): SafeOutput {
  const known = outputs.get(stream);
  if (known) return known;
  let broken = false;
  let dropped = 0;
  stream.on("error", () => void (broken = true)); // EPIPE and the like: the reader is gone for good
  const out: SafeOutput = {
    write(text) {
      if (broken || stream.destroyed || stream.writableLength > maxBuffered) dropped++;
      else stream.write(text);
    },
    dropped: () => dropped,
    flush(ms) {
      if (broken || stream.destroyed || stream.writableLength === 0) return Promise.resolve();
      return new Promise((res) => {
        const done = () => {
          clearTimeout(timer);
          stream.off("drain", done).off("error", done);
          res();
        };
        const timer = setTimeout(done, ms);
        stream.once("drain", done).once("error", done);
      });
    },
  };
  outputs.set(stream, out);
  return out;
}
