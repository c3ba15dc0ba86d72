import type { ServerRow, SnapshotRow } from "../../../db/types.ts";
import type { EngineDeps, Asker } from "../deps.ts";
import type { CopyResult, CopyTarget } from "../../drivers/driver.ts";
import { runOperation, type OperationHandle } from "./run-operation.ts";
import { capabilityOf, handleOf } from "./snapshot-handle.ts";
import { alertSharedKeys, recordHostKeys } from "../host-keys/host-keys.ts";
import { clonedKeys } from "../host-keys/shared-keys.ts";
import { UserError } from "../../errors.ts";
import { checkName } from "../../names.ts";

function mustBeDone(server: ServerRow, snap: SnapshotRow, what: string): void {
  if (snap.state !== "done") throw new UserError("not_done", `${server.name}/${snap.name} is ${snap.state}: only done snapshots can be ${what}`);
}

/**
 * Where `copy <snap> [<given>]` goes, as the server's driver says (LXD: its snapshot_server by default). A
 * driver that copies but names no default takes `<remote>[:<name>]` as typed, the name defaulting to the server's.
 */
export function copyTargetOf(deps: Pick<EngineDeps, "drivers">, server: ServerRow, given: string | undefined): CopyTarget {
  const driver = deps.drivers.get(server);
  capabilityOf(driver, "copy", server);
  if (driver.copyTarget) return driver.copyTarget(given);
  if (!given) throw new UserError("missing_argument", `${server.name}: name the target`);
  const [remote, name] = given.split(":", 2) as [string, string | undefined];
  return { remote: checkName("server", remote), name: checkName("server", name ?? server.name) };
}

/** copy <server>/<snap> <remote>[:<name>]: the ledger keeps where each snapshot was copied and when. */
export async function copySnapshot(deps: EngineDeps, server: ServerRow, snap: SnapshotRow, target: CopyTarget, asker: Asker): Promise<OperationHandle<CopyResult>> {
  const driver = deps.drivers.get(server);
  const copy = capabilityOf(driver, "copy", server);
  mustBeDone(server, snap, "copied");
  return runOperation<CopyResult>(deps, {
    server,
    kind: "copy",
    label: `copy ${server.name}/${snap.name} to ${target.remote}:${target.name}`,
    ...asker,
    args: { snapshot: snap.name, remote: target.remote, name: target.name },
    work: async (ctx) => {
      const res = await copy.call(driver, handleOf(snap), target, ctx);
      const result = [res.summary, ...res.warnings.map((w) => `warning: ${w}`)].join("; ");
      return {
        result,
        commit: async (t) => {
          const cur = (await t.snapshots.get(snap.id))!;
          const copies = [...((cur.details?.copies as unknown[]) ?? []), { remote: target.remote, name: target.name, at: deps.clock.now(), refreshed: res.refreshed }];
          await t.snapshots.annotate(snap.id, { details: { ...(cur.details ?? {}), copies } });
          return res;
        },
      };
    },
  });
}

export interface CloneDone {
  clone: ServerRow;
  sharedWith: string[]; // servers presenting the same host key as the clone
}

/** clone <server>/<snap> <new-server>: a new instance, registered with its lineage, host keys compared. */
export async function cloneSnapshot(deps: EngineDeps, server: ServerRow, snap: SnapshotRow, newName: string, asker: Asker): Promise<OperationHandle<CloneDone>> {
  const driver = deps.drivers.get(server);
  const clone = capabilityOf(driver, "clone", server);
  mustBeDone(server, snap, "cloned");
  if (await deps.ledger.servers.get(newName)) throw new UserError("server_exists", `${newName} is already a server: pick another name for the clone`);
  return runOperation<CloneDone>(deps, {
    server,
    kind: "clone",
    label: `clone ${server.name}/${snap.name} to ${newName}`,
    ...asker,
    args: { snapshot: snap.name, new_server: newName },
    work: async (ctx) => {
      const { settings } = await clone.call(driver, handleOf(snap), newName, ctx);
      // The instance exists from here on, whatever happens next: register it now so nothing is lost.
      const row = await deps.ledger.servers.register({ name: newName, driver: server.driver, settings, channel: server.channel }, asker.user, server.id);
      await recordHostKeys(deps, server, ctx);
      await recordHostKeys(deps, row, ctx);
      const origin = `${newName} was cloned from ${server.name}/${snap.name} and carries its SSH host keys: regenerate them`;
      const groups = await alertSharedKeys(deps, origin);
      // The servers on other machines with its keys (the same rule as the alert and hostkeys scan).
      const sharedWith = clonedKeys(groups).flatMap((g) => {
        const own = g.machines.find((m) => m.includes(newName)) ?? [];
        return g.servers.includes(newName) ? g.servers.filter((n) => !own.includes(n)) : [];
      });
      const result = `cloned into ${newName}${sharedWith.length ? `; shares host keys with ${[...new Set(sharedWith)].join(", ")}` : ""}`;
      return { result, commit: () => ({ clone: row, sharedWith: [...new Set(sharedWith)] }) };
    },
  });
}
