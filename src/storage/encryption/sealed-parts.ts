import type { Readable } from "node:stream";
import { BackendError, UserError } from "../../errors.ts";
import type { StoredManifest } from "../manifest.ts";
import type { PartStore, SnapshotKey } from "../part-store.ts";
import { partsInOrder } from "../parts-in-order.ts";
import { readThrough, type AtRest } from "./at-rest.ts";

// Reading a stored snapshot back as the stream it was before encryption (restore, export, verify --full): the
// parts in order, through age when the manifest says they are encrypted, and a plain stream otherwise.

const HWM = 1024 * 1024;

/**
 * The parts as one stream, decrypted when encrypted. Throws at once (a UserError, nothing started) when the
 * snapshot is encrypted and no identity file is usable; a read or decrypt failure later goes to `onError`.
 */
export function plainParts(
  store: PartStore,
  key: SnapshotKey,
  m: StoredManifest,
  atRest: AtRest,
  onBytes: (n: number) => void,
  onError: (e: unknown) => void,
): Readable {
  const open = m.encryption ? atRest.open(`${key.server}/${key.name}`, m.encryption, HWM) : null;
  const parts = partsInOrder(store, key, m, onBytes, onError);
  if (!open) return parts;
  open.stream.once("error", onError);
  return readThrough(parts, open.stream);
}

/**
 * Before anything is written: the identity file opens this snapshot's age header (throws the UserError saying
 * why not). Anything else wrong with the stream is for the read itself to find and report.
 */
export async function checkIdentity(store: PartStore, key: SnapshotKey, m: StoredManifest, atRest: AtRest): Promise<void> {
  if (!m.encryption) return;
  let failure: unknown = null;
  const s = plainParts(store, key, m, atRest, () => {}, (e) => (failure ??= e));
  await new Promise<void>((settle) => {
    for (const ev of ["data", "end", "error", "close"]) s.once(ev, () => settle());
  });
  s.destroy();
  if (failure instanceof UserError) throw failure;
}

/**
 * The whole stream read through age and thrown away: every chunk's MAC checked, to the end. Returns the
 * problem (one line) when it does not decrypt; throws for a missing or wrong identity, or a cancel.
 */
export async function decryptsToTheEnd(
  store: PartStore,
  key: SnapshotKey,
  m: StoredManifest,
  atRest: AtRest,
  signal: AbortSignal,
  onBytes: (n: number) => void,
): Promise<string | null> {
  if (!m.encryption) return null;
  let failure: unknown = null;
  const s = plainParts(store, key, m, atRest, onBytes, (e) => (failure ??= e));
  const stop = () => s.destroy(new BackendError("aborted", `decrypting ${key.server}/${key.name} was cancelled`, { cause: signal.reason }));
  signal.addEventListener("abort", stop, { once: true });
  try {
    for await (const _chunk of s); // the plaintext is not kept
  } catch (e) {
    failure ??= e;
  } finally {
    signal.removeEventListener("abort", stop);
  }
  if (failure === null) return null;
  if (failure instanceof UserError || signal.aborted) throw failure;
  return undecryptable(failure);
}

/** One line for a stream that does not decrypt (it is broken), whichever reader found it. */
export function undecryptable(e: unknown): string {
  if (e instanceof BackendError && e.code.startsWith("age_")) return `the stored stream does not decrypt: ${e.message}`;
  return `the stored stream cannot be read to its end: ${(e as Error)?.message ?? String(e)}`;
}
