import { createCipheriv, createDecipheriv } from "node:crypto";
import { BackendError } from "../../errors.ts";

// age's payload (age-encryption.org/v1, "STREAM"): the plaintext in 64 KiB chunks, each sealed with
// ChaCha20-Poly1305 under the payload key, nonce = an 11-byte big-endian chunk counter ‖ a last-chunk flag.
// Written here with node:crypto (OpenSSL, ~1 GiB/s on one core) rather than through age-encryption's stream,
// whose ChaCha20-Poly1305 is JavaScript (~50 MiB/s here): 20× slower than the disk. The bytes are the same
// (test/storage/age-stream.test.ts: the library and the age CLI decrypt ours, we decrypt theirs).

export const CHUNK = 64 * 1024;
export const TAG = 16;
const SEALED = CHUNK + TAG;

function nonce(counter: number, last: boolean): Buffer {
  const n = Buffer.alloc(12);
  n.writeUIntBE(counter, 5, 6); // the high 5 bytes stay 0: 2^48 chunks of 64 KiB is 16 EiB
  if (last) n[11] = 1;
  return n;
}

/** One direction of the payload: feed it bytes, take what is ready; `end()` seals or checks the last chunk. */
export interface PayloadCipher {
  update(chunk: Buffer): Buffer[];
  end(): Buffer[];
  /** Payload bytes taken in so far. */
  readonly bytesIn: number;
}

/**
 * Seals plaintext. A full chunk is held until more bytes arrive: the last chunk carries the flag, and it
 * is full when the plaintext is a multiple of 64 KiB (only an empty plaintext ends on an empty chunk).
 */
export function payloadSealer(key: Buffer): PayloadCipher {
  const chunks = chunker(CHUNK);
  let counter = 0;
  let bytesIn = 0;
  // Each update's sealed chunks go out as one buffer: one write downstream per write in, not two per chunk.
  const seal = (plain: Buffer, last: boolean, out: Buffer, at: number): number => {
    const c = createCipheriv("chacha20-poly1305", key, nonce(counter++, last), { authTagLength: TAG });
    at += c.update(plain).copy(out, at);
    c.final();
    return at + c.getAuthTag().copy(out, at);
  };
  return {
    get bytesIn() {
      return bytesIn;
    },
    update(chunk) {
      bytesIn += chunk.length;
      // Chunks sealed now: all the full ones except the last, which waits for more bytes (it may be the final one).
      const sealedNow = Math.max(0, Math.ceil((chunks.held().length + chunk.length) / CHUNK) - 1);
      const out = Buffer.allocUnsafe(sealedNow * SEALED);
      let pos = 0;
      chunks.push(chunk, (full) => (pos = seal(full, false, out, pos)));
      if (pos !== out.length) throw new Error(`sealed ${pos} bytes where ${out.length} were expected`); // never silently short
      return pos ? [out] : [];
    },
    end() {
      const rest = chunks.held();
      const out = Buffer.allocUnsafe(rest.length + TAG);
      seal(rest, true, out, 0);
      return [out];
    },
  };
}

/** Opens sealed chunks, checking each one's Poly1305 tag (age's MAC): a chunk that fails is an error, never output. */
export function payloadOpener(key: Buffer): PayloadCipher {
  const chunks = chunker(SEALED);
  let counter = 0;
  let bytesIn = 0;
  const open = (sealed: Buffer, last: boolean, out: Buffer[]) => {
    const d = createDecipheriv("chacha20-poly1305", key, nonce(counter, last), { authTagLength: TAG });
    d.setAuthTag(sealed.subarray(sealed.length - TAG));
    const plain = d.update(sealed.subarray(0, sealed.length - TAG));
    try {
      d.final();
    } catch (e) {
      throw macFailure(counter, last, e);
    }
    counter++;
    out.push(plain);
  };
  return {
    get bytesIn() {
      return bytesIn;
    },
    update(chunk) {
      const out: Buffer[] = [];
      bytesIn += chunk.length;
      chunks.push(chunk, (full) => open(full, false, out));
      return out;
    },
    end() {
      const rest = chunks.held();
      if (rest.length < TAG || (rest.length === TAG && counter > 0))
        throw new BackendError("age_truncated", `the encrypted stream ends inside chunk ${counter} (after ${bytesIn} payload bytes): it was cut short`);
      const out: Buffer[] = [];
      open(rest, true, out);
      return out;
    },
  };
}

/**
 * Cuts a stream into chunks of `size` for both directions: each full chunk goes to `full` (to be used before it
 * returns: the held buffer is reused), except the last one seen, which stays held until more bytes show it was not
 * the final chunk (the final one carries age's last-chunk flag). Whole chunks go straight from the input, uncopied.
 */
function chunker(size: number) {
  const held = Buffer.allocUnsafe(size);
  let used = 0;
  return {
    push(chunk: Buffer, full: (c: Buffer) => void): void {
      let at = 0;
      while (at < chunk.length) {
        if (used === size) {
          full(held);
          used = 0;
        }
        if (used === 0 && chunk.length - at > size) {
          full(chunk.subarray(at, at + size));
          at += size;
          continue;
        }
        const n = Math.min(size - used, chunk.length - at);
        chunk.copy(held, used, at, at + n);
        used += n;
        at += n;
      }
    },
    /** What is held: the chunk that may be the last. */
    held: () => held.subarray(0, used),
  };
}

function macFailure(counter: number, last: boolean, cause: unknown): BackendError {
  const where = `chunk ${counter} (payload bytes ${counter * SEALED}–${counter * SEALED + SEALED - 1})`;
  // A full chunk that only opens as "last" means the stream was cut at a chunk boundary; either way it fails.
  const why = last ? "it was altered, or cut short" : "it was altered";
  return new BackendError("age_mac_failed", `age's MAC does not match at ${where}: ${why}`, { cause });
}
