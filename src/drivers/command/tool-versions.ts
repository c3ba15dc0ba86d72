import { basename } from "node:path";
import type { CommandContextDeps } from "./command-context.ts";
import { substituteStep, type Values } from "./placeholders.ts";
import { runStep } from "./run-step.ts";

// metadata.json records which tools made the snapshot: the first line each prints for `versions:` (default:
// `<program> --version` of every create step). A tool that cannot say is left out, never a reason to fail.

const VERSION_TIMEOUT_MS = 10_000;

export async function toolVersions(c: CommandContextDeps, values: Values, signal: AbortSignal): Promise<Record<string, string>> {
  const asks = c.settings.versions ?? unique(c.settings.create.map((s) => s[0]!)).map((p) => [p, "--version"]);
  const found: Record<string, string> = {};
  for (const [i, ask] of asks.entries()) {
    try {
      const argv = substituteStep(ask, values);
      const done = await runStep({ phase: "version", index: i, template: ask, argv }, { runner: c.runner, signal, timeoutMs: VERSION_TIMEOUT_MS });
      const line = done.stdout.split("\n").find((l) => l.trim() !== "");
      if (line) found[basename(ask[0]!)] = line.trim().slice(0, 200);
    } catch {
      if (signal.aborted) throw signal.reason;
    }
  }
  return found;
}

const unique = (xs: string[]) => [...new Set(xs)];
