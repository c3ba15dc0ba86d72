import { BackendError } from "../../errors.ts";
import type { CommandContextDeps } from "./command-context.ts";
import { substituteStep, type Values } from "./placeholders.ts";
import { runStep } from "./run-step.ts";

// Is the target clean? The `clean` steps run in order; the target is clean when the last prints 0 or nothing (or
// an empty JSON list, `[]`: what a CLI's `list --json` prints when there is none, e.g. cfy blueprints list).
// Anything else it prints is why not (shown in the refusal and the approval request). A step that fails is a
// failed check: never read as clean.

export type Cleanness = { state: "clean" } | { state: "unchecked" } | { state: "dirty"; printed: string } | { state: "failed"; why: string };

export async function checkClean(c: CommandContextDeps, values: Values, signal: AbortSignal): Promise<Cleanness> {
  const steps = c.settings.clean;
  if (steps.length === 0) return { state: "unchecked" };
  let last = "";
  try {
    for (const [i, template] of steps.entries())
      last = (await runStep({ phase: "clean", index: i, template, argv: substituteStep(template, values) }, { runner: c.runner, signal, timeoutMs: c.timeoutMs })).stdout;
  } catch (e) {
    if (signal.aborted || !(e instanceof BackendError)) throw e;
    const tail = e.stderrTail.trim().split("\n").at(-1);
    return { state: "failed", why: `${e.message}${tail && !e.message.includes(tail) ? ` (${tail})` : ""}` };
  }
  const printed = last.trim();
  return printed === "" || printed === "0" || /^\[\s*\]$/.test(printed) ? { state: "clean" } : { state: "dirty", printed: clip(printed) };
}

/** One line for replies: what the check found. */
export function cleanLine(server: string, c: Cleanness): string {
  switch (c.state) {
    case "clean":
      return `${server} is clean (its clean check printed 0 or nothing)`;
    case "unchecked":
      return `${server} has no clean steps: whether it is empty is not checked`;
    case "dirty":
      return `${server} is not clean: its clean check printed ${JSON.stringify(c.printed)}`;
    case "failed":
      return `${server}'s clean check failed, so it is not known to be clean: ${c.why}`;
  }
}

function clip(s: string): string {
  const one = s.replace(/\s+/g, " ");
  return one.length > 300 ? `${one.slice(0, 300)}…` : one;
}
