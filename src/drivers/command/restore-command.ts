import { formatBytes } from "../../duration.ts";
import { BackendError, UserError } from "../../errors.ts";
import type { DriverContext, RestoreDescription, RestoreOptions, SnapshotHandle } from "../driver.ts";
import { DECRYPTED_FIRST, describeStored, plainStream, verifiedManifest } from "../../storage/kit/read-stored.ts";
import { undecryptable } from "../../storage/encryption/sealed-parts.ts";
import type { CommandContextDeps } from "./command-context.ts";
import { manifestSchema, type Manifest } from "./command-manifest.ts";
import { checkClean, cleanLine, type Cleanness } from "./clean-check.ts";
import { names, shownStep, substituteStep, type Values } from "./placeholders.ts";
import { runStep, type StepRun } from "./run-step.ts";
import { openWorkspace, writeArtefact } from "./workspace.ts";

// restore (after approval): the clean check again (the target may have changed since it was asked), every part
// re-verified and an encrypted stream decrypted to its end, then the restore steps with the snapshot at {file}
// ({dir}: the folder extracted) or on the first step's stdin. restore --to: another command server's steps
// receive this snapshot (recover = a new server + a restore).

const VERIFIED_FIRST = "every part is verified again before any restore step runs: a broken snapshot is never restored";
const DESCRIBE_TIMEOUT_MS = 60_000;

export async function describeCommandRestore(c: CommandContextDeps, snap: SnapshotHandle, opts: RestoreOptions): Promise<RestoreDescription> {
  refuseTarget(opts);
  const m = await describeStored(c.store, snap, manifestSchema, c.atRest);
  const clean = await checkClean(c, valuesFor(c, snap, null), AbortSignal.timeout(c.timeoutMs ?? DESCRIBE_TIMEOUT_MS));
  refuseUnlessForced(c, snap, clean, opts);
  const forced = opts.force && (clean.state === "dirty" || clean.state === "failed") ? " — FORCED over a target that is not clean" : "";
  const writes = `${c.settings.name} through its ${c.settings.restore!.length} restore step(s), fed ${feedOf(c)}: ${formatBytes(m.plain_size)}${forced}`;
  return { writes, notes: [cleanLine(c.settings.name, clean), VERIFIED_FIRST, ...(m.encryption ? [DECRYPTED_FIRST] : [])], bytes: m.plain_size };
}

export async function restoreCommand(c: CommandContextDeps, snap: SnapshotHandle, opts: RestoreOptions, ctx: DriverContext): Promise<string> {
  refuseTarget(opts);
  const clean = await checkClean(c, valuesFor(c, snap, null), ctx.signal);
  refuseUnlessForced(c, snap, clean, opts);
  const m = await verifiedManifest(c.store, snap, manifestSchema, c.atRest, ctx);
  const w = await openWorkspace(c.runner, ctx.signal);
  try {
    const values = valuesFor(c, snap, w);
    const place = placeOf(c, m);
    const plain = place === "stdin" ? null : plainStream(c.store, snap, m, c.atRest);
    if (plain) await fed(plain, () => writeArtefact(c.runner, place as "file" | "dir", w, plain.stream, ctx.signal), snap);
    for (const [i, template] of c.settings.restore!.entries()) {
      const step: StepRun = { phase: "restore", index: i, template, argv: substituteStep(template, values) };
      const input = place === "stdin" && i === 0 ? plainStream(c.store, snap, m, c.atRest) : null;
      await fed(input, () => runStep(step, { runner: c.runner, signal: ctx.signal, timeoutMs: c.timeoutMs, input: input?.stream }), snap);
    }
  } finally {
    await w.remove().catch((e: unknown) => ctx.log.warn({ err: e }, "could not remove the command workspace"));
  }
  const how = opts.force && clean.state !== "clean" ? ` (forced: ${cleanLine(c.settings.name, clean)})` : "";
  return `${snap.server}/${snap.name} onto ${c.settings.name}: ${c.settings.restore!.length} restore step(s) ran, ${formatBytes(m.plain_size)} fed ${feedOf(c)}${how}`;
}

/** A reader failure (a part unreadable, age refusing) explains a step's early end better than the step does. */
async function fed<T>(input: ReturnType<typeof plainStream> | null, work: () => Promise<T>, snap: SnapshotHandle): Promise<T> {
  try {
    return await work();
  } catch (e) {
    const failure = input?.failure();
    if (!failure) throw e;
    throw new BackendError("restore_failed", `reading ${snap.server}/${snap.name} failed while restoring: ${undecryptable(failure)}`, { cause: failure });
  }
}

function refuseTarget(opts: RestoreOptions): void {
  if (opts.target !== undefined)
    throw new UserError("bad_target", "--target is for archive restores; a command server's restore steps decide where the data goes: drop --target");
}

function refuseUnlessForced(c: CommandContextDeps, snap: SnapshotHandle, clean: Cleanness, opts: RestoreOptions): void {
  if (opts.force || (clean.state !== "dirty" && clean.state !== "failed")) return;
  const to = snap.server === c.settings.name ? "" : ` --to ${c.settings.name}`;
  throw new UserError("not_clean", `${cleanLine(c.settings.name, clean)}; to restore over it anyway: restore ${snap.server}/${snap.name}${to} --force`);
}

/** Where the restore steps take the snapshot: at {file}, extracted at {dir}, or on the first step's stdin. */
function placeOf(c: CommandContextDeps, m: Manifest): "file" | "dir" | "stdin" {
  const steps = c.settings.restore!;
  if (names(steps, "dir") || (m.artefact === "dir" && !names(steps, "file"))) return names(steps, "dir") ? "dir" : "stdin";
  return names(steps, "file") ? "file" : "stdin";
}

function feedOf(c: CommandContextDeps): string {
  const steps = c.settings.restore!;
  if (names(steps, "dir")) return "extracted at {dir}";
  if (names(steps, "file")) return "at {file}";
  return `on the stdin of ${shownStep(steps[0]!)[0]}`;
}

function valuesFor(c: CommandContextDeps, snap: SnapshotHandle, w: { file: string; dir: string } | null): Values {
  return { ...c.settings.vars, name: snap.name, server: c.settings.name, file: w?.file ?? "", dir: w?.dir ?? "" };
}
