import type { Readable } from "node:stream";
import { BackendError, UserError } from "../../errors.ts";
import type { DriverContext, SnapshotHandle } from "../../drivers/driver.ts";
import { readManifest, type ManifestSchema, type StoredManifest } from "../manifest.ts";
import type { PartStore, SnapshotKey } from "../part-store.ts";
import { startProgressTicker } from "../progress-ticker.ts";
import { verifyParts } from "../verify-parts.ts";
import type { AtRest } from "../encryption/at-rest.ts";
import { checkIdentity, decryptsToTheEnd, plainParts } from "../encryption/sealed-parts.ts";

// The read side of a stored snapshot (restore, recover, export, a driver's own check): every part re-hashed,
// an encrypted stream decrypted to its end (age's MAC on every chunk) before anyone gets a byte of it, then
// the plaintext stream. A snapshot that does not verify is refused, never half-used.

/** The manifest of a snapshot about to be restored (dry run, approval): a UserError when there is none; the identity checked. */
export async function describeStored<M extends StoredManifest>(store: PartStore, snap: SnapshotKey, schema: ManifestSchema<M>, atRest: AtRest): Promise<M> {
  const read = await readManifest(store, snap, schema);
  const ref = `${snap.server}/${snap.name}`;
  if (read.state !== "ok") {
    const why = read.state === "missing" ? "manifest.json is missing" : read.problem;
    throw new UserError("snapshot_broken", `${ref} has no readable manifest (${why}): it cannot be restored; run verify ${ref}`);
  }
  await checkIdentity(store, snap, read.manifest, atRest); // a wrong or missing key is said before anyone approves
  return read.manifest;
}

/** One line for the approval request of an encrypted snapshot. */
export const DECRYPTED_FIRST = "it is encrypted (age): it is decrypted to its end, every chunk's MAC checked, before anything is written";

/** Every part re-hashed and (encrypted) decrypted to its end; the manifest, or a BackendError snapshot_broken. */
export async function verifiedManifest<M extends StoredManifest>(
  store: PartStore,
  snap: SnapshotHandle,
  schema: ManifestSchema<M>,
  atRest: AtRest,
  ctx: DriverContext,
): Promise<M> {
  const ref = `${snap.server}/${snap.name}`;
  const check = await verifyParts(store, snap, schema, ctx);
  if (!check.ok) throw new BackendError("snapshot_broken", `${ref} is broken and will not be restored: ${check.problems.join("; ")}`);
  const read = await readManifest(store, snap, schema);
  if (read.state !== "ok") throw new BackendError("snapshot_broken", `${ref} lost its manifest after verifying: it will not be restored`);
  await refuseUndecryptable(store, snap, read.manifest, atRest, ctx);
  return read.manifest;
}

async function refuseUndecryptable(store: PartStore, snap: SnapshotKey, m: StoredManifest, atRest: AtRest, ctx: DriverContext): Promise<void> {
  if (!m.encryption) return;
  let read = 0;
  const ticker = startProgressTicker(ctx, "decrypting", () => read, m.total.size);
  try {
    const problem = await decryptsToTheEnd(store, snap, m, atRest, ctx.signal, (n) => (read += n));
    if (problem) throw new BackendError("snapshot_broken", `${snap.server}/${snap.name} is broken and will not be restored: ${problem}`);
  } finally {
    ticker.stop();
  }
}

export interface PlainStream {
  /** The stream as it was before encryption; feed it to a process (runner input) or a request body. */
  stream: Readable;
  /** Bytes of stored (possibly encrypted) parts read so far, for progress. */
  read(): number;
  /** The first read or decrypt failure, once the stream has ended or failed (null: none). */
  failure(): unknown;
}

/** The stored parts as one plaintext stream (after verifiedManifest): throws at once when no identity can open it. */
export function plainStream(store: PartStore, key: SnapshotKey, m: StoredManifest, atRest: AtRest): PlainStream {
  let read = 0;
  let failure: unknown = null;
  const stream = plainParts(store, key, m, atRest, (n) => (read += n), (e) => (failure ??= e));
  return { stream, read: () => read, failure: () => failure };
}
