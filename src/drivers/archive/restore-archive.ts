import { BackendError, UserError } from "../../errors.ts";
import type { Runner, Stage } from "../../transport/runner.ts";
import type { DriverContext, RestoreOptions, SnapshotHandle } from "../driver.ts";
import { readManifest } from "../../storage/manifest.ts";
import type { PartStore } from "../../storage/part-store.ts";
import { verifyParts } from "../../storage/verify-parts.ts";
import { manifestSchema, type Manifest } from "./archive-manifest.ts";
import { unpackParts } from "./parts-stream.ts";
import { planRestore, type RestoreDestination, type RestorePlan } from "./restore-plan.ts";
import type { AtRest } from "../../storage/encryption/at-rest.ts";
import { checkIdentity, decryptsToTheEnd } from "../../storage/encryption/sealed-parts.ts";
import { startProgressTicker } from "../../storage/progress-ticker.ts";

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
  const read = await readManifest(store, snap, manifestSchema);
  const ref = `${snap.server}/${snap.name}`;
  if (read.state !== "ok") {
    const why = read.state === "missing" ? "manifest.json is missing" : read.problem;
    throw new UserError("snapshot_broken", `${ref} has no readable manifest (${why}): it cannot be restored; run verify ${ref}`);
  }
  const plan = planRestore(read.manifest, snap, opts, dest);
  if (!read.manifest.encryption) return plan;
  await checkIdentity(store, snap, read.manifest, atRest); // a wrong or missing key is said before anyone approves
  return { ...plan, notes: [...plan.notes, DECRYPTED_FIRST] };
}

const DECRYPTED_FIRST = "it is encrypted (age): it is decrypted to its end, every chunk's MAC checked, before anything is written";

export async function restoreArchive(
  store: PartStore,
  snap: SnapshotHandle,
  opts: RestoreOptions,
  dest: RestoreDestination,
  runner: Runner,
  ctx: DriverContext,
  atRest: AtRest,
): Promise<RestorePlan> {
  const ref = `${snap.server}/${snap.name}`;
  const check = await verifyParts(store, snap, manifestSchema, ctx);
  if (!check.ok) throw new BackendError("snapshot_broken", `${ref} is broken and will not be restored: ${check.problems.join("; ")}`);
  const read = await readManifest(store, snap, manifestSchema);
  if (read.state !== "ok") throw new BackendError("snapshot_broken", `${ref} lost its manifest after verifying: it will not be restored`);
  const m = read.manifest;
  const plan = planRestore(m, snap, opts, dest);
  await refuseUndecryptable(store, snap, m, atRest, ctx);
  // On the source host, through the runner: for an ssh server, --target is a folder on that server.
  if (opts.target) await runner.run("mkdir", ["-p", "-m", "700", "--", opts.target], { signal: ctx.signal });
  await unpackParts(store, snap, m, writer(m, plan.into), runner, ctx, { stage: "restoring", code: "restore_failed", verb: "restoring" }, atRest);
  return plan;
}

async function refuseUndecryptable(store: PartStore, snap: SnapshotHandle, m: Manifest, atRest: AtRest, ctx: DriverContext): Promise<void> {
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

function writer(m: Manifest, into: string): Stage {
  // Members were stored relative to "/" (tar -C /), so -C picks where they land.
  if (m.mode === "tar") return { cmd: "tar", args: ["-x", "-f", "-", "-C", into] };
  return { cmd: "dd", args: [`of=${into}`, "bs=4M", "conv=fsync", "status=none"] };
}
