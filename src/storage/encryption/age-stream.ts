import { Transform, type TransformCallback } from "node:stream";
import { BackendError } from "../../errors.ts";
import { headerLength, newHeader, NONCE_BYTES, openHeader } from "./age-header.ts";
import { payloadOpener, payloadSealer, type PayloadCipher } from "./age-payload.ts";

// An age file as a Node stream, in either direction, with memory bounded by the stream buffers (a 64 KiB
// chunk is the most either side holds besides them): header ‖ nonce ‖ payload, header from age-header.ts,
// payload from age-payload.ts.

export interface AgeStream {
  stream: Transform;
  /** Bytes taken in so far (plaintext when sealing, the whole age file when opening). */
  bytesIn(): number;
}

/** An age file's start (header ‖ nonce) and payload key: what a storage thread needs to write the rest. */
export interface ThreadSealing {
  start: Buffer;
  key: Buffer;
}

export interface AgeSealer extends AgeStream {
  /**
   * The same age file written elsewhere (a storage thread, fifo-parts.ts). Either this or `stream`, once: the
   * payload key must never seal two payloads.
   */
  forThread(): ThreadSealing;
}

/** Encrypts to these recipients (age1…, checked): the header first, then the payload as it arrives. */
export async function ageEncrypter(recipients: readonly string[], highWaterMark: number): Promise<AgeSealer> {
  const start = await newHeader(recipients);
  const sealer = payloadSealer(start.payloadKey);
  const elsewhere = () => new Error("this age file is being written elsewhere already");
  let handedOver = false;
  let first: Buffer | null = start.bytes; // null once the stream has begun the file
  const stream = new Transform({
    highWaterMark,
    transform(chunk: Buffer, _enc, cb) {
      if (handedOver) return cb(elsewhere());
      if (first) this.push(first);
      first = null;
      pushAll(this, () => sealer.update(chunk), cb);
    },
    flush(cb) {
      if (handedOver) return cb(elsewhere());
      if (first) this.push(first);
      first = null;
      pushAll(this, () => sealer.end(), cb);
    },
  });
  return {
    stream,
    bytesIn: () => sealer.bytesIn,
    forThread() {
      if (handedOver || first === null) throw elsewhere();
      handedOver = true;
      return { start: start.bytes, key: start.payloadKey };
    },
  };
}

/**
 * Decrypts with one of these identities (AGE-SECRET-KEY-1…, checked). The header is read and checked before
 * any plaintext is passed on; its errors are age-header.ts's (`mismatch` words the wrong-key one for the
 * caller, who knows which key file and which snapshot), the payload's age-payload.ts's.
 */
export function ageDecrypter(identities: readonly string[], highWaterMark: number, mismatch?: () => Error): AgeStream {
  let start: Buffer | null = Buffer.alloc(0); // the bytes before the payload, until the header is open
  let opener: PayloadCipher | null = null;
  let taken = 0;
  const stream = new Transform({
    highWaterMark,
    transform(chunk: Buffer, _enc, cb) {
      taken += chunk.length;
      if (opener) return pushAll(this, () => opener!.update(chunk), cb);
      start = Buffer.concat([start!, chunk]);
      let header: number | null;
      try {
        header = headerLength(start);
      } catch (e) {
        return cb(e as Error);
      }
      if (header === null || start.length < header + NONCE_BYTES) return cb();
      const [h, nonce, rest] = [start.subarray(0, header), start.subarray(header, header + NONCE_BYTES), start.subarray(header + NONCE_BYTES)];
      openHeader(h, nonce, identities).then((key) => {
        start = null;
        opener = payloadOpener(key);
        pushAll(this, () => opener!.update(rest), cb);
      }, (e: unknown) => cb(mismatch && (e as { code?: string }).code === "identity_mismatch" ? mismatch() : (e as Error)));
    },
    flush(cb) {
      if (!opener) return cb(new BackendError("age_truncated", "the encrypted stream ends inside its age header: it was cut short"));
      pushAll(this, () => opener!.end(), cb);
    },
  });
  return { stream, bytesIn: () => taken };
}

function pushAll(t: Transform, produce: () => Buffer[], cb: TransformCallback): void {
  let out: Buffer[];
  try {
    out = produce();
  } catch (e) {
    return cb(e as Error);
  }
  for (const b of out) t.push(b);
  cb();
}
