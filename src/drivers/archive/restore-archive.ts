import { isAbsolute } from "node:path";
import { BackendError, UserError } from "../../errors.ts";
import type { Runner, Stage } from "../../transport/runner.ts";
import type { DriverContext } from "../driver.ts";
import { readManifest, type Manifest } from "./manifest.ts";
import { unpackParts } from "./parts-stream.ts";
import { verifyParts } from "./verify-parts.ts";

// Restore = re-image: verify every part first (a broken snapshot is never used), then stream the parts
// in order through the decompressor into tar -x (over the original paths, or under --target), or into
// dd for a raw image. Files created after the snapshot are left alone: tar only writes what it holds.
// The parts are read here and fed as the first stage's stdin; decompressor and writer run where the
// runner runs, so over ssh the compressed bytes cross the network and --target is a path on the server.

export interface RestoreOptions {
  target?: string; // tar: extract under this folder instead of over the original paths; raw: write this file
  device?: string; // raw without target: write this device instead of the one the snapshot was read from (restore --to)
}

export interface RestoreDone {
  bytes: number; // compressed bytes streamed
  into: string;
}

export async function restoreArchive(folder: string, ref: string, opts: RestoreOptions, runner: Runner, ctx: DriverContext): Promise<RestoreDone> {
  if (opts.target !== undefined && !isAbsolute(opts.target))
    throw new UserError("bad_target", `--target must be an absolute folder, e.g. --target /srv/restore (got "${opts.target}")`);
  const check = await verifyParts(folder, ctx);
  if (!check.ok) throw new BackendError("snapshot_broken", `${ref} is broken and will not be restored: ${check.problems.join("; ")}`);
  const read = await readManifest(folder);
  if (read.state !== "ok") throw new BackendError("snapshot_broken", `${ref} lost its manifest after verifying: it will not be restored`);
  const m = read.manifest;
  const into = opts.target ?? (m.mode === "raw" ? (opts.device ?? m.source.paths[0]!) : "/");
  // On the source host, through the runner: for an ssh server, --target is a folder on that server.
  if (m.mode === "tar" && opts.target) await runner.run("mkdir", ["-p", "-m", "700", "--", opts.target], { signal: ctx.signal });
  const bytes = await unpackParts(folder, ref, m, writer(m, into), runner, ctx, { stage: "restoring", code: "restore_failed", verb: "restoring" });
  return { bytes, into };
}

function writer(m: Manifest, into: string): Stage {
  // Members were stored relative to "/" (tar -C /), so -C picks where they land.
  if (m.mode === "tar") return { cmd: "tar", args: ["-x", "-f", "-", "-C", into] };
  return { cmd: "dd", args: [`of=${into}`, "bs=4M", "conv=fsync", "status=none"] };
}
