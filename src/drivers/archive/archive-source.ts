import { realpath } from "node:fs/promises";
import { isAbsolute, relative, resolve } from "node:path";
import type { ArchiveSettings } from "./archive-settings.ts";
import { BackendError, UserError } from "../../errors.ts";
import { absolutePathProblem, problemError } from "../../config/setting-rules.ts";
import type { Runner, Stage } from "../../transport/runner.ts";

// The first stage of the pipeline: tar of the configured folders, or dd of a device/image (mode raw).
// Paths are checked (and symlinks resolved) through the runner, so the same code serves an ssh host.

export interface ArchiveSource {
  stage: Stage;
  /** The paths as the source host resolved them (symlinks followed), in config order. */
  resolved: string[];
}

export async function archiveSource(
  settings: ArchiveSettings & { name: string },
  runner: Runner,
  storageDir: string,
  signal: AbortSignal,
): Promise<ArchiveSource> {
  if (settings.mode === "raw") {
    const [device] = await resolveAll(settings.name, [settings.device ?? ""], runner, signal, "device");
    // No status=none: dd's closing line on stderr is the image size (stream-size.ts).
    return { stage: { cmd: "dd", args: [`if=${device}`, "bs=4M"] }, resolved: [device!] };
  }
  const resolved = await resolveAll(settings.name, settings.paths, runner, signal, "paths");
  const ownStorage = settings.host === "local" ? await storageInside(resolved, storageDir) : [];
  return { stage: { cmd: "tar", args: tarArgs(resolved, settings.exclude, ownStorage) }, resolved };
}

/**
 * Members are stored relative to / (`-C /`), so `tar -xf -` restores under any folder without warnings.
 * Everything user-supplied comes after `--`, so a path named "-rf" is a file name, never an option.
 * --totals: the archive's size on stderr, recorded as the snapshot's logical size (stream-size.ts).
 */
export function tarArgs(paths: string[], exclude: string[], alsoExclude: string[] = []): string[] {
  const args = ["-cf", "-", "--totals", "-C", "/"];
  // An absolute exclude means that exact place; a relative one is a pattern anywhere (tar's default).
  const anchored = [...exclude.filter(isAbsolute), ...alsoExclude].map((p) => `--exclude=${p.replace(/^\/+/, "")}`);
  if (anchored.length) args.push("--anchored", ...anchored, "--no-anchored");
  for (const p of exclude.filter((e) => !isAbsolute(e))) args.push(`--exclude=${p}`);
  return [...args, "--", ...paths.map((p) => relative("/", p) || ".")];
}

// One realpath for every path (one process, one listener on the signal however many paths there are); when
// it fails, each path again on its own, in turn, so the line names the one that is missing and why.
async function resolveAll(server: string, paths: string[], runner: Runner, signal: AbortSignal, key: string): Promise<string[]> {
  for (const p of paths) {
    const relative = absolutePathProblem(key, p);
    if (relative) throw problemError(server, relative);
  }
  try {
    const { stdout } = await runner.run("realpath", ["-e", "-z", "--", ...paths], { signal });
    const resolved = stdout.split("\0").slice(0, -1);
    if (resolved.length === paths.length) return resolved;
  } catch (e) {
    if (!(e instanceof BackendError) || e.code !== "command_failed") throw e;
  }
  const resolved: string[] = [];
  for (const p of paths) resolved.push(await resolveOne(server, p, runner, signal, key));
  return resolved;
}

/** One path (resolveAll has checked it is absolute): what it resolves to, or which way it fails. */
async function resolveOne(server: string, path: string, runner: Runner, signal: AbortSignal, key: string): Promise<string> {
  try {
    // -z: NUL-terminated output, so a path containing a newline survives.
    const { stdout } = await runner.run("realpath", ["-e", "-z", "--", path], { signal });
    return stdout.replace(/\0$/, "");
  } catch (e) {
    if (!(e instanceof BackendError) || e.code !== "command_failed") throw e;
    if (/No such file|Not a directory/.test(e.stderrTail))
      throw new UserError("path_missing", `"${path}" does not exist on ${server}: fix ${key} in the config for ${server}`, { cause: e });
    throw new BackendError("path_unreadable", `cannot read "${path}" on ${server}: ${e.stderrTail || e.message}`, { cause: e, stderrTail: e.stderrTail });
  }
}

// Archiving "/" must not swallow the snapshots being written into it (tar would also fail on them).
async function storageInside(sources: string[], storageDir: string): Promise<string[]> {
  const store = await realpath(storageDir).catch(() => resolve(storageDir));
  const inside = sources.some((s) => {
    const rel = relative(s, store);
    return rel === "" || (rel !== ".." && !rel.startsWith("../") && !isAbsolute(rel));
  });
  return inside ? [store] : [];
}
