import { PassThrough, type Readable } from "node:stream";
import type { StoredManifest } from "./manifest.ts";
import type { PartStore, SnapshotKey } from "./part-store.ts";

// The stored parts read back as the one stream they were cut from (restore and export).

const CHUNK = 4 * 1024 * 1024;

/** The parts, one after the other, as one stream, with a byte count for progress. */
export function partsInOrder(
  store: PartStore,
  key: SnapshotKey,
  m: StoredManifest,
  onBytes: (n: number) => void,
  onError: (e: unknown) => void,
): Readable {
  const out = new PassThrough({ highWaterMark: CHUNK });
  let current: Readable | null = null;
  out.once("close", () => current?.destroy()); // the reader gave up: close the part being read
  void (async () => {
    for (const p of m.parts) {
      if (out.destroyed) return;
      const part = (current = store.read(key, p.file));
      part.on("data", (c) => onBytes((c as Buffer).length));
      await new Promise<void>((res, rej) => {
        part.once("error", rej);
        part.once("end", res);
        part.once("close", res);
        part.pipe(out, { end: false });
      });
    }
    if (!out.destroyed) out.end();
  })().catch((e: unknown) => {
    onError(e);
    out.destroy(e as Error);
  });
  return out;
}
