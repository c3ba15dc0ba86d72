import { createHash } from "node:crypto";
import { basename } from "node:path";
import type { DriverContext } from "../drivers/driver.ts";
import { BackendError, SnapbotError } from "../errors.ts";
import { MANIFEST_FILE, storedManifestSchema, type StoredManifest } from "./manifest.ts";
import type { PartSink, PartStore, SnapshotKey } from "./part-store.ts";
import { startProgressTicker } from "./progress-ticker.ts";

// A stored snapshot from one store to another (a copy to a storage target): every part streamed in order and
// hashed on the way, each part closed with the manifest's size and SHA-256 (a store that checks, S3, refuses a
// mismatch itself), then the side files, then the manifest's own bytes, last. Memory is the source's two read
// buffers, whatever the size. The destination must be created already (store.create); on any failure what was
// written stays for the caller to remove (it knows whether the place was its own to remove).

export interface StoredPlace {
  store: PartStore;
  key: SnapshotKey;
}

export interface CopiedSnapshot {
  manifest: StoredManifest;
  bytes: number;
}

export async function copyStored(from: StoredPlace, to: StoredPlace, sideFiles: readonly string[], ctx: DriverContext): Promise<CopiedSnapshot> {
  const { text, manifest } = await sourceManifest(from);
  let copied = 0;
  const ticker = startProgressTicker(ctx, "copying", () => copied, manifest.total.size);
  try {
    for (const p of manifest.parts) await copyPart(from, to, p, ctx.signal, (n) => (copied += n));
    for (const name of sideFiles) {
      const side = await sourceStep(from, () => from.store.getFile(from.key, name));
      if (side !== null) await targetStep(to, () => to.store.putFile(to.key, name, side));
    }
    aborted(ctx.signal, from); // cancelled after the last byte: still cancelled, so no manifest
    await targetStep(to, () => to.store.writeManifest(to.key, text));
  } finally {
    ticker.stop();
  }
  return { manifest, bytes: copied };
}

async function sourceManifest(from: StoredPlace): Promise<{ text: string; manifest: StoredManifest }> {
  const ref = refOf(from.key);
  const text = await sourceStep(from, () => from.store.readManifest(from.key));
  if (text === null) throw new BackendError("source_broken", `${ref} has no ${MANIFEST_FILE} where it is stored (${from.store.where(from.key)}): nothing to copy; run verify ${ref}`);
  let parsed: ReturnType<typeof storedManifestSchema.safeParse>;
  try {
    parsed = storedManifestSchema.safeParse(JSON.parse(text));
  } catch {
    throw new BackendError("source_broken", `${ref}'s ${MANIFEST_FILE} is not valid JSON: it cannot be copied; run verify ${ref}`);
  }
  const m = parsed.success ? parsed.data : null;
  if (!m || m.server !== from.key.server || m.snapshot !== from.key.name)
    throw new BackendError("source_broken", `${ref}'s ${MANIFEST_FILE} is malformed or names another snapshot: it cannot be copied; run verify ${ref}`);
  return { text, manifest: m };
}

async function copyPart(from: StoredPlace, to: StoredPlace, p: StoredManifest["parts"][number], signal: AbortSignal, onBytes: (n: number) => void): Promise<void> {
  const sink: PartSink = await targetStep(to, () => to.store.openPart(to.key, p.file, { signal }));
  const hash = createHash("sha256");
  let size = 0;
  try {
    const chunks = from.store.readChunks(from.key, p.file, { signal })[Symbol.asyncIterator]();
    try {
      for (;;) {
        const next = await sourceStep(from, () => chunks.next());
        if (next.done) break;
        aborted(signal, from);
        // The write runs in libuv's pool while this thread hashes the same (unchanged) bytes; the chunk's buffer
        // is reused once the next chunk is asked for, so both finish first.
        const written = targetStep(to, () => sink.write([next.value]));
        hash.update(next.value);
        size += next.value.length;
        await written;
        onBytes(next.value.length);
      }
    } finally {
      await chunks.return?.(); // closes the source file however the loop ended
    }
    const sha256 = hash.digest("hex");
    if (size !== p.size || sha256 !== p.sha256) {
      const ref = refOf(from.key);
      throw new BackendError(
        "source_corrupt",
        `${ref}'s ${basename(p.file)} does not match its manifest where it is stored (${size} bytes, sha256 ${sha256.slice(0, 12)}…): the copy was stopped; run verify ${ref}`,
      );
    }
    await targetStep(to, () => sink.close({ size: p.size, sha256: p.sha256 }));
  } catch (e) {
    await sink.abort().catch(() => undefined); // the error that matters is the one above
    throw e;
  }
}

function aborted(signal: AbortSignal, from: StoredPlace): void {
  if (signal.aborted) throw new BackendError("aborted", `the copy of ${refOf(from.key)} was cancelled`, { cause: signal.reason });
}

/** Reading the source failed: the snapshot where it is stored is the problem, not the target. */
async function sourceStep<T>(from: StoredPlace, step: () => Promise<T>): Promise<T> {
  try {
    return await step();
  } catch (e) {
    if (e instanceof SnapbotError) throw e;
    const ref = refOf(from.key);
    throw new BackendError("source_unreadable", `cannot read ${ref} where it is stored (${from.store.where(from.key)}): ${(e as Error).message}; run verify ${ref}`, { cause: e });
  }
}

/** Writing the target failed: a full or refusing target says so in its own words. */
async function targetStep<T>(to: StoredPlace, step: () => Promise<T>): Promise<T> {
  try {
    return await step();
  } catch (e) {
    throw targetError(e, to.store.where(to.key));
  }
}

/** A target's failure as one line: full (free space, or a keep), or its own words (read-only, permission, refused). */
export function targetError(e: unknown, where: string): unknown {
  if (e instanceof SnapbotError) return e;
  const code = (e as NodeJS.ErrnoException).code;
  if (code === "ENOSPC" || code === "EDQUOT")
    return new BackendError("target_full", `the target is full (${where}): free space there, or give the target a keep: that removes old copies`, { cause: e });
  return new BackendError("target_failed", `cannot write the copy to ${where}: ${(e as Error).message}`, { cause: e });
}

const refOf = (key: SnapshotKey) => `${key.server}/${key.name}`;
