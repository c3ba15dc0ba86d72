import { createReadStream, type ReadStream } from "node:fs";
import { join } from "node:path";
import { PassThrough, type Readable } from "node:stream";
import type { Manifest } from "./manifest.ts";
import type { Runner, Stage } from "../../transport/runner.ts";
import type { DriverContext } from "../driver.ts";
import { BackendError } from "../../errors.ts";
import { startProgressTicker } from "./progress-ticker.ts";

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

/** The stage that undoes the snapshot's compression. */
export function decompressor(m: Manifest): Stage {
  return m.compression === "zstd" ? { cmd: "zstd", args: ["-d", "-c", "-q"] } : { cmd: "gzip", args: ["-d", "-c"] };
}

export interface Unpack {
  stage: string; // progress stage: "restoring", "exporting"
  code: string; // error code when reading the parts fails
  verb: string; // "restoring", "exporting": for the error message
}

/**
 * Streams the parts through the decompressor into `sink` (tar -x, dd…) via the runner, with progress;
 * a failure to read the parts is reported as such, not as the pipeline's echo of it. Returns bytes read.
 */
export async function unpackParts(folder: string, ref: string, m: Manifest, sink: Stage, runner: Runner, ctx: DriverContext, u: Unpack): Promise<number> {
  let streamed = 0;
  let inputError: unknown = null;
  const input = partsInOrder(folder, m, (n) => (streamed += n), (e) => (inputError = e));
  const pipe = runner.pipeline([decompressor(m), sink], { input, signal: ctx.signal });
  pipe.stdout.resume(); // tar -x and dd print nothing, but an unread stdout must not stall them
  const ticker = startProgressTicker(ctx, u.stage, () => streamed, m.total.size);
  try {
    await pipe.done;
  } catch (e) {
    throw inputError ? new BackendError(u.code, `reading ${ref} failed while ${u.verb}: ${String(inputError)}`, { cause: inputError }) : e;
  } finally {
    ticker.stop();
    input.destroy();
  }
  return streamed;
}
