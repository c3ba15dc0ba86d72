import type { ServerRow, SnapshotRow } from "../../../db/types.ts";
import type { VerifyResult } from "../../drivers/driver.ts";
import type { EngineDeps } from "../deps.ts";
import type { Button } from "../../reply.ts";
import { errorMessage } from "../../errors.ts";

// copy_failed (DESIGN.md §4): a copy to a storage target failed, or a copy no longer verifies. One alert per
// snapshot and target, keyed `copy_failed:<server>:<snap>@<target>` (names never hold "@"), so `alerts` shows
// "files-1/s1@offsite"; a later good copy of that server to that target resolves them all.

// Each one settles once its alert is recorded and never rejects: it runs after an outcome committed (an operation's
// afterFail/afterSuccess, which the job waits for), and news that cannot be recorded is logged, not a failed copy.

type AlertDeps = Pick<EngineDeps, "alerts" | "ledger" | "log">;

export const copySubject = (name: string, target: string) => `${name}@${target}`;

export function raiseCopyFailed(deps: AlertDeps, server: ServerRow, snap: { id: number; name: string }, target: string, title: string, lines: string[], buttons?: Button[]): Promise<void> {
  return deps.alerts
    .raise({ kind: "copy_failed", server, snapshotId: snap.id, snapshotName: copySubject(snap.name, target), title, lines, buttons })
    .catch((e: unknown) => deps.log.warn({ snapshot: snap.id, target, err: errorMessage(e) }, "could not raise copy_failed"));
}

/** A good copy (or a copy that verifies again) of the server on the target: its open copy_failed alerts there are over. */
export async function resolveCopyFailed(deps: AlertDeps, server: ServerRow, target: string, why: string): Promise<void> {
  const suffix = `@${target}`;
  try {
    for (const key of await deps.ledger.alerts.openKeys("copy_failed", server.name)) {
      const subject = key.split(":")[2] ?? "";
      if (subject.endsWith(suffix)) await deps.alerts.resolve("copy_failed", server, why, subject);
    }
  } catch (e) {
    deps.log.warn({ server: server.name, target, err: errorMessage(e) }, "could not resolve copy_failed");
  }
}

/**
 * After a copy's verify is committed (verify --from, verify --target): a failure raises copy_failed (with "Copy
 * again" while the local snapshot can be copied), a pass resolves the copy's open one.
 */
export async function announceCopyVerify(deps: AlertDeps, server: ServerRow, snap: Pick<SnapshotRow, "id" | "name" | "state">, target: string, res: VerifyResult): Promise<void> {
  const ref = `${server.name}/${snap.name}`;
  if (res.ok) {
    await deps.alerts
      .resolve("copy_failed", server, `the copy verified again: ${ref} on ${target}`, copySubject(snap.name, target))
      .catch((e: unknown) => deps.log.warn({ snapshot: snap.id, target, err: errorMessage(e) }, "could not resolve copy_failed"));
    return;
  }
  const again = snap.state === "done" ? [{ label: "Copy again", command: `copy ${ref} ${target}` }] : undefined;
  await raiseCopyFailed(deps, server, snap, target, `the copy of ${ref} on ${target} is broken: it will not be used to restore`, res.problems.slice(0, 10), again);
}
