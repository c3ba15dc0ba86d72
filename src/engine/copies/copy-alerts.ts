import type { ServerRow } from "../../../db/types.ts";
import type { EngineDeps } from "../deps.ts";
import type { Button } from "../../reply.ts";

// copy_failed (DESIGN.md §4): a copy to a storage target failed, or a copy no longer verifies. One alert per
// snapshot and target, keyed `copy_failed:<server>:<snap>@<target>` (names never hold "@"), so `alerts` shows
// "files-1/s1@offsite"; a later good copy of that server to that target resolves them all.

type AlertDeps = Pick<EngineDeps, "alerts" | "ledger">;

export const copySubject = (name: string, target: string) => `${name}@${target}`;

export function raiseCopyFailed(deps: AlertDeps, server: ServerRow, snap: { id: number; name: string }, target: string, title: string, lines: string[], buttons?: Button[]): void {
  void deps.alerts.raise({ kind: "copy_failed", server, snapshotId: snap.id, snapshotName: copySubject(snap.name, target), title, lines, buttons });
}

/** A good copy (or a copy that verifies again) of the server on the target: its open copy_failed alerts there are over. */
export function resolveCopyFailed(deps: AlertDeps, server: ServerRow, target: string, why: string): void {
  const suffix = `@${target}`;
  for (const key of deps.ledger.alerts.openKeys("copy_failed", server.name)) {
    const subject = key.split(":")[2] ?? "";
    if (subject.endsWith(suffix)) void deps.alerts.resolve("copy_failed", server, why, subject);
  }
}
