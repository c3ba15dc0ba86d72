import type { Readable } from "node:stream";
import { BackendError } from "../../errors.ts";
import type { Pipeline, Runner } from "../../transport/runner.ts";
import type { Artefact } from "./command-manifest.ts";

// {file} and {dir} live in a private folder made where the steps run (this machine, or the ssh host), through the
// Runner like the steps themselves, and removed afterwards whatever happened. The artefact crosses between that
// folder and the store as a stream: cat of the file, tar of the folder (and back: dd into the file, tar -x).

export interface Workspace {
  file: string;
  dir: string;
  remove(): Promise<void>;
}

export async function openWorkspace(runner: Runner, signal: AbortSignal): Promise<Workspace> {
  // mktemp -d: mode 0700, a fresh name; the snapshot may hold secrets until it is removed.
  const made = await runner.run("mktemp", ["-d", "-t", "snapbot-command.XXXXXXXX"], { signal });
  const root = made.stdout.trim();
  if (!root.startsWith("/")) throw new BackendError("workspace_failed", `mktemp -d printed no folder (got ${JSON.stringify(root.slice(0, 80))})`);
  return {
    file: `${root}/snapshot`,
    dir: `${root}/snapshot.d`,
    // Not the operation's signal: a cancelled create must still clean up after itself.
    remove: () => runner.run("rm", ["-rf", "--", root]).then(() => undefined),
  };
}

/** The artefact a step wrote, as a stream: the file's bytes, or the folder as a tar (members relative to it). */
export function readArtefact(runner: Runner, artefact: Exclude<Artefact, "stdout">, w: Workspace, signal: AbortSignal): Pipeline {
  if (artefact === "file") return runner.pipeline([{ cmd: "cat", args: ["--", w.file] }], { signal });
  return runner.pipeline([{ cmd: "tar", args: ["-cf", "-", "-C", w.dir, "."] }], { signal });
}

/** The stream written back where the steps read it: into {file}, or extracted into {dir}. */
export async function writeArtefact(runner: Runner, artefact: Exclude<Artefact, "stdout">, w: Workspace, input: Readable, signal: AbortSignal): Promise<void> {
  if (artefact === "dir") {
    await runner.run("mkdir", ["-m", "700", "--", w.dir], { signal });
    const p = runner.pipeline([{ cmd: "tar", args: ["-xf", "-", "-C", w.dir] }], { signal, input });
    p.stdout.resume();
    await p.done;
    return;
  }
  const p = runner.pipeline([{ cmd: "dd", args: [`of=${w.file}`, "bs=1M", "status=none"] }], { signal, input });
  p.stdout.resume();
  await p.done;
}
