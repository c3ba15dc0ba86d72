import type { Manifest } from "./archive-manifest.ts";
import type { Runner, Stage } from "../../transport/runner.ts";
import type { DriverContext } from "../driver.ts";
import { BackendError } from "../../errors.ts";
import type { PartStore, SnapshotKey } from "../../storage/part-store.ts";
import { startProgressTicker } from "../../storage/progress-ticker.ts";
import type { AtRest } from "../../storage/encryption/at-rest.ts";
import { checkIdentity, plainParts, undecryptable } from "../../storage/encryption/sealed-parts.ts";

// The stored parts, read back in order from the store (decrypted, when encrypted), decompressed into a writer
// (restore and export).

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
 * a failure to read (or decrypt) the parts is reported as such, not as the pipeline's echo of it. An
 * identity that cannot open the snapshot is refused before the sink starts. Returns bytes read.
 */
export async function unpackParts(
  store: PartStore,
  key: SnapshotKey,
  m: Manifest,
  sink: Stage,
  runner: Runner,
  ctx: DriverContext,
  u: Unpack,
  atRest: AtRest,
): Promise<number> {
  const ref = `${key.server}/${key.name}`;
  let streamed = 0;
  let inputError: unknown = null;
  await checkIdentity(store, key, m, atRest);
  const input = plainParts(store, key, m, atRest, (n) => (streamed += n), (e) => (inputError ??= e));
  const pipe = runner.pipeline([decompressor(m), sink], { input, signal: ctx.signal });
  pipe.stdout.resume(); // tar -x and dd print nothing, but an unread stdout must not stall them
  const ticker = startProgressTicker(ctx, u.stage, () => streamed, m.total.size);
  try {
    await pipe.done;
  } catch (e) {
    if (!inputError) throw e;
    throw new BackendError(u.code, `reading ${ref} failed while ${u.verb}: ${m.encryption ? undecryptable(inputError) : String(inputError)}`, { cause: inputError });
  } finally {
    ticker.stop();
    input.destroy();
  }
  return streamed;
}
