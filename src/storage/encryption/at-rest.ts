import type { Readable } from "node:stream";
import { z } from "zod";
import { UserError } from "../../errors.ts";
import { readIdentityFile } from "./age-keys.ts";
import { ageDecrypter, ageEncrypter, type AgeSealer, type AgeStream } from "./age-stream.ts";

// Encryption at rest (storage.encryption): a sensitive server's stream is encrypted with age before it is cut
// into parts, so every store holds only ciphertext and the parts' SHA-256 (plain verify) needs no key. The
// manifest says how it was encrypted and to whom (never with what identity); reading it back (restore, export,
// verify --full) decrypts with the identity file, read when needed and never kept, logged or shown.

export const AGE_FORMAT = "age-encryption.org/v1";

/** storage.encryption as configured (identity_file resolved against the config file's folder). */
export interface StorageEncryption {
  recipients: string[];
  identity_file?: string;
}

/** The manifest's `encryption`: present exactly when the stored stream is age-encrypted. */
export const encryptionField = z.object({ format: z.literal(AGE_FORMAT), recipients: z.array(z.string().min(1)).min(1) }).strict();
export type EncryptionInfo = z.infer<typeof encryptionField>;

export interface Sealing extends AgeSealer {
  info: EncryptionInfo;
}

export interface AtRest {
  /** The encrypting stream for a sensitive server's new snapshot; refuses when no recipients are configured. */
  seal(server: string, highWaterMark: number): Promise<Sealing>;
  /** A decrypting stream for snapshot `ref`; refuses (UserError) when no usable identity file is configured. */
  open(ref: string, info: EncryptionInfo, highWaterMark: number): AgeStream;
}

export function createAtRest(config: StorageEncryption | undefined): AtRest {
  const recipients = config?.recipients ?? [];
  return {
    async seal(server, highWaterMark) {
      if (recipients.length === 0) throw noRecipients(server);
      const sealing = await ageEncrypter(recipients, highWaterMark);
      return { ...sealing, info: { format: AGE_FORMAT, recipients: [...recipients] } };
    },
    open(ref, info, highWaterMark) {
      const file = config?.identity_file;
      if (!file)
        throw new UserError(
          "no_identity",
          `${ref} is encrypted (age, to ${recipientList(info)}): set storage.encryption.identity_file to the identity of one of them to read it`,
        );
      const identities = readIdentityFile(file); // now, not at start-up: a rotated key file is used as it is
      const mismatch = () =>
        new UserError("identity_mismatch", `no identity in ${file} matches this snapshot's recipients (${ref}: ${recipientList(info)}): put one of their identities in it`);
      return ageDecrypter(identities, highWaterMark, mismatch);
    },
  };
}

/** The one line a sensitive server without recipients gets, at start-up, register and create alike. */
export function noRecipients(server: string): UserError {
  return new UserError("no_recipients", `servers.${server} is sensitive: set storage.encryption.recipients (age1…)`);
}

/** `input` read through `t`: an error on either side destroys both, so no reader waits on a dead stream. */
export function readThrough(input: Readable, t: AgeStream["stream"]): Readable {
  input.once("error", (e) => t.destroy(e));
  // A producer stopped (a step killed at its timeout) destroys its stdout without an error: pipe() would then
  // never end `t`, and its reader would wait for ever.
  input.once("close", () => {
    if (!input.readableEnded && !t.destroyed) t.destroy(new Error("the input stream closed before its end"));
  });
  t.once("close", () => input.destroy());
  return input.pipe(t);
}

function recipientList(info: EncryptionInfo): string {
  return info.recipients.map((r) => `${r.slice(0, 12)}…`).join(", ");
}
