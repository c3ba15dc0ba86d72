import type { ServerRow } from "../../../db/types.ts";
import type { EngineDeps } from "../deps.ts";
import type { DriverContext, SnapshotDriver } from "../../drivers/driver.ts";
import type { Runner } from "../../transport/runner.ts";
import { hooksSettingOf, type HooksSetting } from "../../drivers/shared/common-settings.ts";
import { timeoutMs } from "../../duration.ts";
import { BackendError, errorMessage } from "../../errors.ts";
import { createLocalRunner } from "../../transport/local-runner.ts";
import { mention } from "../../replies/mention.ts";
import { hookLine, runHooks, shownArgv, type HookRun, type HookStep } from "../../hooks/run-hooks.ts";

// Hooks around every create, whatever the driver (DESIGN.md §3 `hooks:`). The global hooks wrap the server's
// own, as nested brackets do: global pre, then server pre; server post, then global post. What the global
// level sets up (a maintenance notice) is thus there for the whole of the server's own freeze and thaw.
// A failing pre-hook stops the create before the driver is called (nothing is taken) and raises hook_failed
// in place of snapshot_failed: the hook is the story. Post-hooks always run, after a pre-hook failed, the
// driver failed, or the create was cancelled or timed out (Velero #8858, #511); one that fails raises
// hook_failed but leaves a snapshot that verified done. A create whose hooks all ran fine resolves it.

export interface CreateHooks {
  /** Runs pre-hooks, the body, then post-hooks (always); a failed pre-hook throws hook_failed and skips the body. */
  around<T>(ctx: DriverContext, body: () => Promise<T>): Promise<T>;
  /** `hooks: pre "…" ok in 3ms; post "…" ok in 2ms`, or "" when no hook ran. */
  summary(): string;
  /** A pre-hook failed: the create's failure is the hook's (no snapshot_failed alert). */
  preFailed(): boolean;
  /** After the outcome is committed: hook_failed raised for what failed, or resolved when every hook ran fine. */
  settle(snapshotId: number | null): Promise<void>;
}

export function createHooks(deps: EngineDeps, server: ServerRow, driver: SnapshotDriver, name: string, asker: string): CreateHooks {
  const { pre, post } = hookSteps(deps.config.hooks, hooksSettingOf(server.settings));
  const values = { server: server.name, name };
  const runs: HookRun[] = [];
  const runner = (): Runner => driver.runner?.() ?? deps.runner ?? createLocalRunner(deps.log);
  const failed = () => runs.filter((r) => !r.ok && !r.aborted); // a hook stopped by a cancel did not fail
  const runPost = async (ctx: DriverContext) => {
    // Not the operation's signal: after a cancel or a timeout it is aborted, and the thaw must still run.
    if (post.length) runs.push(...(await runHooks("post", post, runner(), values))); // none: not even a turn of the loop
    const logged = runs.map((r) => ({ phase: r.phase, argv: r.argv, ms: Math.round(r.ms), ok: r.ok }));
    if (runs.length) ctx.log[runs.every((r) => r.ok) ? "info" : "warn"]({ hooks: logged }, "hooks ran");
  };
  return {
    async around(ctx, body) {
      try {
        if (pre.length) runs.push(...(await runHooks("pre", pre, runner(), values, ctx.signal)));
        const bad = runs.find((r) => !r.ok);
        if (bad) throw preHookError(server.name, name, bad);
        return await body();
      } finally {
        await runPost(ctx);
      }
    },
    summary: () => (runs.length ? `hooks: ${runs.map(hookLine).join("; ")}` : ""),
    preFailed: () => failed().some((r) => r.phase === "pre"),
    async settle(snapshotId) {
      const bad = failed();
      if (bad.length) return raiseHookFailed(deps, server, { name, snapshotId, asker }, bad);
      // Only a run whose every hook ended well proves them fixed (not one a cancel cut short).
      if (runs.length && runs.every((r) => r.ok))
        await deps.alerts
          .resolve("hook_failed", server, `${server.name}'s hooks ran fine for ${server.name}/${name}`)
          .catch((e: unknown) => deps.log.warn({ server: server.name, err: errorMessage(e) }, "could not resolve hook_failed"));
    },
  };
}

/** One hook_failed per server (repeats count on it): which hooks failed, their lines and stderr tails. */
type Of = { name: string; snapshotId: number | null; asker: string };
async function raiseHookFailed(deps: EngineDeps, server: ServerRow, of: Of, bad: HookRun[]): Promise<void> {
  const which = bad.map((r) => `${r.phase}-hook "${shownArgv(r.argv)}"`).join(", ");
  const taken = bad.some((r) => r.phase === "pre") ? "not taken" : "taken, a post-hook failed";
  await deps.alerts.raise({
    kind: "hook_failed",
    server,
    snapshotId: of.snapshotId,
    title: `${which} failed: snapshot ${server.name}/${of.name} ${taken} (asked by ${mention(of.asker)})`,
    lines: bad.map((r) => [hookLine(r), r.tail].filter(Boolean).join("\n")),
    buttons: [{ label: "Retry", command: `create ${server.name}` }],
  }).catch((e: unknown) => deps.log.warn({ server: server.name, err: errorMessage(e) }, "could not raise hook_failed"));
}

/** Global pre, server pre; server post, global post: each step with the timeout of the list it is in. */
export function hookSteps(global: HooksSetting | undefined, own: HooksSetting | undefined): Record<"pre" | "post", HookStep[]> {
  const steps = (h: HooksSetting | undefined, which: "pre" | "post") =>
    (h?.[which] ?? []).map((argv) => ({ argv, timeoutMs: timeoutMs(h!.timeout) }));
  return { pre: [...steps(global, "pre"), ...steps(own, "pre")], post: [...steps(own, "post"), ...steps(global, "post")] };
}

function preHookError(server: string, name: string, r: HookRun): BackendError {
  return new BackendError(
    "hook_failed",
    `pre-hook "${shownArgv(r.argv)}" failed, so ${server}/${name} was not taken: ${r.error ?? "?"}` +
      " (fix the hook, or remove it from hooks.pre)",
    { stderrTail: r.tail ?? "" },
  );
}
