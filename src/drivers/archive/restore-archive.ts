import type { Runner, Stage } from "../../transport/runner.ts";
import type { DriverContext, RestoreOptions, SnapshotHandle } from "../driver.ts";
import type { PartStore } from "../../storage/part-store.ts";
import { manifestSchema, type Manifest } from "./archive-manifest.ts";
import { unpackParts } from "./parts-stream.ts";
import { planRestore, type RestoreDestination, type RestorePlan } from "./restore-plan.ts";
import type { AtRest } from "../../storage/encryption/at-rest.ts";
import { DECRYPTED_FIRST, describeStored, verifiedManifest } from "../../storage/kit/read-stored.ts";

// Restore = re-image: verify every part first (a broken snapshot is never used), then stream the parts
// in order through the decompressor into tar -x (over the original paths, or under --target), or into
// dd for a raw image (the device, or <target>/<snapshot>.img). Files created after the snapshot are left
// alone: tar only writes what it holds. The parts are read here and fed as the first stage's stdin;
// decompressor and writer run where the runner runs, so over ssh the compressed bytes cross the network
// and --target is a path on the server. Where it writes is planned in restore-plan.ts, which also says it.
// An encrypted snapshot is decrypted here, before the decompressor; it must open with the identity file
// (checked before the approval is asked for, and again before writing) and decrypt to its end (age's MAC
// over every chunk) before a byte is written, so a stream altered behind snapbot's back restores nothing.

/** What restore would write, from the manifest alone (the dry run and the approval request). */
export async function describeArchiveRestore(store: PartStore, snap: SnapshotHandle, opts: RestoreOptions, dest: RestoreDestination, atRest: AtRest) {
  const manifest = await describeStored(store, snap, manifestSchema, atRest);
  const plan = planRestore(manifest, snap, opts, dest);
  return manifest.encryption ? { ...plan, notes: [...plan.notes, DECRYPTED_FIRST] } : plan;
}

export async function restoreArchive(
  store: PartStore,
  snap: SnapshotHandle,
  opts: RestoreOptions,
  dest: RestoreDestination,
  runner: Runner,
  ctx: DriverContext,
  atRest: AtRest,
): Promise<RestorePlan> {
  const m = await verifiedManifest(store, snap, manifestSchema, atRest, ctx);
  const plan = planRestore(m, snap, opts, dest);
  // On the source host, through the runner: for an ssh server, --target is a folder on that server.
  if (opts.target) await runner.run("mkdir", ["-p", "-m", "700", "--", opts.target], { signal: ctx.signal });
  await unpackParts(store, snap, m, writer(m, plan.into), runner, ctx, { stage: "restoring", code: "restore_failed", verb: "restoring" }, atRest);
  return plan;
}

function writer(m: Manifest, into: string): Stage {
  // Members were stored relative to "/" (tar -C /), so -C picks where they land.
  if (m.mode === "tar") return { cmd: "tar", args: ["-x", "-f", "-", "-C", into] };
  return { cmd: "dd", args: [`of=${into}`, "bs=4M", "conv=fsync", "status=none"] };
}
