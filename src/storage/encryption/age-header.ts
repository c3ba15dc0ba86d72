import { hkdfSync, randomBytes } from "node:crypto";
import { BackendError, UserError } from "../../errors.ts";

// The header of an age file is age-encryption's (the reference TypeScript implementation): it makes the file
// key, wraps it for each X25519 recipient and MACs the header; with an identity it unwraps the key and checks
// that MAC. The payload key is then derived from the file key and a 16-byte nonce, as age-encryption.org/v1
// says (HKDF-SHA256, info "payload"), for age-payload.ts. The library (and its post-quantum and curve code) is
// imported the first time a header is made or opened, not when snapbot starts.

export const NONCE_BYTES = 16;
/** A header is ~120 bytes a recipient: one that has not ended by then is not an age header. */
export const MAX_HEADER_BYTES = 64 * 1024;
const VERSION_LINE = "age-encryption.org/v1\n";
const MAC_LINE = Buffer.from("\n--- ");

export interface SealedStart {
  /** header ‖ nonce: the first bytes of the encrypted stream. */
  bytes: Buffer;
  payloadKey: Buffer;
}

/** A new file key wrapped for these recipients (age1…, already checked), and the payload key it gives. */
export async function newHeader(recipients: readonly string[]): Promise<SealedStart> {
  const { Encrypter } = await import("age-encryption");
  const enc = new Encrypter();
  for (const r of recipients) enc.addRecipient(r);
  let fileKey: Uint8Array | null = null;
  // age's Recipient interface hands every recipient the file key to wrap: this one keeps a copy to key the
  // payload with and adds no stanza, so the header is exactly the configured recipients' one.
  enc.addRecipient({
    wrapFileKey: (k) => {
      fileKey = Uint8Array.from(k);
      return [];
    },
  });
  // An empty file is header ‖ nonce ‖ the tag of its empty last chunk: the header is what is kept of it.
  const empty = await enc.encrypt(new Uint8Array(0));
  if (fileKey === null) throw new Error("age-encryption did not ask for the file key");
  const header = Buffer.from(empty.subarray(0, empty.length - NONCE_BYTES - 16));
  // A fresh nonce (not the discarded file's), so no payload key is ever used for two payloads.
  const nonce = randomBytes(NONCE_BYTES);
  const payloadKey = payloadKeyOf(fileKey, nonce);
  (fileKey as Uint8Array).fill(0);
  return { bytes: Buffer.concat([header, nonce]), payloadKey };
}

/** Where the header ends (after the MAC line's newline) in the first bytes of a stream; null: not yet seen. */
export function headerLength(start: Buffer): number | null {
  if (start.length >= VERSION_LINE.length && start.subarray(0, VERSION_LINE.length).toString("latin1") !== VERSION_LINE)
    throw notAge("it does not start with age-encryption.org/v1");
  const mac = start.indexOf(MAC_LINE);
  const end = mac < 0 ? -1 : start.indexOf(0x0a, mac + MAC_LINE.length);
  if (end >= 0) return end + 1;
  if (start.length > MAX_HEADER_BYTES) throw notAge(`no header end in its first ${MAX_HEADER_BYTES} bytes`);
  return null;
}

/**
 * The payload key of a stream whose header and nonce are `header` and `nonce`, unwrapped with one of the
 * identities. Throws identity_mismatch (a UserError: the key file is wrong, the snapshot is fine) when none
 * matches, age_header_corrupt when the header fails its MAC or does not parse.
 */
export async function openHeader(header: Buffer, nonce: Buffer, identities: readonly string[]): Promise<Buffer> {
  const { Decrypter } = await import("age-encryption");
  const dec = new Decrypter();
  try {
    for (const id of identities) dec.addIdentity(id); // checked when the identity file was read
  } catch {
    // Never the library's message (nor the error as a cause): it may quote the key.
    throw new UserError("bad_identity_file", "the identity file holds a key age-encryption cannot use: write it again with age-keygen");
  }
  let fileKey: Uint8Array;
  try {
    fileKey = await dec.decryptHeader(new Uint8Array(header));
  } catch (e) {
    const message = (e as Error).message ?? "";
    if (/no identity matched/.test(message)) throw new UserError("identity_mismatch", "no identity matches this snapshot's recipients", { cause: e });
    throw new BackendError("age_header_corrupt", `its age header does not check (${/HMAC/.test(message) ? "MAC mismatch" : "malformed"}): it was altered`, { cause: e });
  }
  const key = payloadKeyOf(fileKey, nonce);
  fileKey.fill(0);
  return key;
}

function payloadKeyOf(fileKey: Uint8Array, nonce: Buffer): Buffer {
  return Buffer.from(hkdfSync("sha256", fileKey, nonce, "payload", 32));
}

function notAge(why: string): BackendError {
  return new BackendError("age_header_corrupt", `it is not an age-encrypted stream: ${why}`);
}
