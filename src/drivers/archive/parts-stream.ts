import { createReadStream, type ReadStream } from "node:fs";
import { join } from "node:path";
import { PassThrough, type Readable } from "node:stream";
import type { Manifest } from "./manifest.ts";

// The stored parts read back as the one compressed stream they were cut from (restore and export).

const CHUNK = 4 * 1024 * 1024;

/** The parts, one after the other, as one stream, with a byte count for progress. */
export function partsInOrder(folder: string, m: Manifest, onBytes: (n: number) => void, onError: (e: unknown) => void): Readable {
  const out = new PassThrough({ highWaterMark: CHUNK });
  let current: ReadStream | null = null;
  out.once("close", () => current?.destroy()); // the reader gave up: close the part being read
  void (async () => {
    for (const p of m.parts) {
      if (out.destroyed) return;
      const file = (current = createReadStream(join(folder, p.file), { highWaterMark: CHUNK }));
      file.on("data", (c) => onBytes((c as Buffer).length));
      await new Promise<void>((res, rej) => {
        file.once("error", rej);
        file.once("end", res);
        file.once("close", res);
        file.pipe(out, { end: false });
      });
    }
    if (!out.destroyed) out.end();
  })().catch((e: unknown) => {
    onError(e);
    out.destroy(e as Error);
  });
  return out;
}
