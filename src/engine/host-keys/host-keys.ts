import type { ServerRow } from "../../../db/types.ts";
import type { EngineDeps } from "../deps.ts";
import type { DriverContext, HostKey } from "../../drivers/driver.ts";
import type { Ledger, LedgerRepos } from "../../../db/ledger.ts";
import type { Logger } from "pino";
import type { DriverRegistry } from "../../drivers/registry.ts";
import type { AlertSink } from "../../alerts/alert-sink.ts";
import { errorMessage, SnapbotError, UserError } from "../../errors.ts";
import { alertSubject } from "../../../db/alert-keys.ts";
import { andList } from "../../replies/host-key-replies.ts";
import { clonedKeys, keyGroups, sameMachines, type KeyGroup } from "./shared-keys.ts";

// Servers made from one snapshot present the same SSH host keys: clients cannot tell them apart, and one
// can impersonate the other. snapbot records every server's fingerprints and raises hostkey_regen_needed
// for each clone (keyGroups decides which server that is), resolved once the keys differ. Servers reached at
// one endpoint are one machine: their keys are the same by nature, and an alert between them is resolved.

export type { ScanReport } from "./scan-report.ts";
import type { ScanReport } from "./scan-report.ts";

/** Reads and records a server's current host keys (when its driver can read them). */
export async function recordHostKeys(deps: EngineDeps, server: ServerRow, ctx: DriverContext): Promise<HostKey[] | null> {
  const driver = deps.drivers.get(server);
  if (!driver.hostKeys) return null;
  const keys = await driver.hostKeys(ctx);
  await deps.ledger.hostKeys.record(server.id, keys);
  return keys;
}

/** Raises hostkey_regen_needed for each clone, naming the others, and resolves the ones that are no clone; returns the groups. */
export async function alertSharedKeys(deps: EngineDeps, origin?: string): Promise<KeyGroup[]> {
  const groups = await keyGroups(deps);
  for (const group of clonedKeys(groups)) {
    for (const name of group.regenerate) {
      const s = (await deps.ledger.servers.get(name))!;
      const machine = group.machines.find((m) => m.includes(name))!;
      const others = group.servers.filter((n) => !machine.includes(n)).join(", ");
      await deps.alerts.raise({
        kind: "hostkey_regen_needed",
        server: s,
        title: `${s.name} presents the same SSH host key as ${others} (${group.type} ${group.fingerprint})`,
        lines: [origin ?? `servers made from one snapshot share host keys: regenerate ${s.name}'s so SSH clients can tell them apart`],
        buttons: [{ label: "Regenerate host keys", command: `hostkeys regen ${s.name}`, style: "primary" }],
      });
    }
  }
  await settleRegenAlerts(deps, groups);
  return groups;
}

/** Open hostkey_regen_needed alerts on a server that is not a clone to regenerate (any more) are resolved. */
export async function settleRegenAlerts(deps: EngineDeps, groups: KeyGroup[]): Promise<void> {
  const due = new Set(clonedKeys(groups).flatMap((g) => g.regenerate));
  for (const alert of await deps.ledger.alerts.listOpen()) {
    const server = alert.kind === "hostkey_regen_needed" ? await deps.ledger.servers.get(alertSubject(alert.key)) : undefined;
    if (!server || due.has(server.name)) continue;
    const mates = sameMachines(groups).find((m) => m.includes(server.name));
    const why = mates
      ? `${andList(mates)} are one machine (the same SSH endpoint): their host keys are the same by nature, nothing to regenerate`
      : clonedKeys(groups).some((g) => g.servers.includes(server.name))
        ? `${server.name} is not the clone to regenerate: hostkeys scan names the one`
        : `${server.name} now has host keys of its own`;
    await deps.alerts.resolve("hostkey_regen_needed", server, why);
  }
}

/** Start-up: a false alert left open (servers since recognised as one machine) is resolved, from the ledger alone. */
export async function settleAtStartup(deps: EngineDeps): Promise<void> {
  if (!(await deps.ledger.alerts.listOpen()).some((a) => a.kind === "hostkey_regen_needed")) return;
  await settleRegenAlerts(deps, await keyGroups(deps));
}

/** hostkeys scan: every server whose driver can read host keys, then the shared ones alerted. */
export async function scanHostKeys(deps: EngineDeps, ctx: DriverContext): Promise<ScanReport> {
  const report: ScanReport = { scanned: [], skipped: [], shared: [], sameMachine: [] };
  for (const server of await deps.ledger.servers.list()) {
    try {
      const keys = await recordHostKeys(deps, server, ctx);
      if (keys) report.scanned.push(server.name);
      else report.skipped.push({ server: server.name, why: `${server.driver} servers have no host keys to read` });
    } catch (e) {
      if (isHostKeyChanged(e)) await hostKeyChanged(deps, server, ctx);
      report.skipped.push({ server: server.name, why: errorMessage(e) });
    }
  }
  const groups = await alertSharedKeys(deps);
  return { ...report, shared: clonedKeys(groups), sameMachine: sameMachines(groups) };
}

/** After a regeneration: resolved only when none of the server's keys is on another machine any more. */
export async function resolveIfUnique(deps: EngineDeps, server: ServerRow): Promise<boolean> {
  const stillShared = clonedKeys(await keyGroups(deps)).some((g) => g.servers.includes(server.name));
  if (stillShared) return false;
  await deps.alerts.resolve("hostkey_regen_needed", server, `${server.name} now has host keys of its own`);
  return true;
}

// A server whose SSH host key changed without snapbot doing it may be impersonated: snapbot records the key it
// was shown as pending_accept, raises hostkey_changed, and refuses every operation on the server until an
// admin has checked it and run `hostkeys accept <server>`.

type GuardDeps = { ledger: Ledger; drivers: DriverRegistry; alerts: AlertSink; log: Logger };

export function isHostKeyChanged(e: unknown): boolean {
  return e instanceof SnapbotError && e.code === "ssh_hostkey_changed";
}

/** Throws the refusal when the server's host key changed and nobody accepted it yet. */
export async function refuseIfHostKeyChanged(ledger: Pick<LedgerRepos, "hostKeys">, server: ServerRow): Promise<void> {
  if ((await ledger.hostKeys.pending(server.id)).length === 0) return;
  throw hostKeyChangedRefusal(server);
}

/** What an operation on a server blocked by a changed host key is refused with. */
export function hostKeyChangedRefusal(server: ServerRow): UserError {
  return new UserError("hostkey_changed", `${server.name}'s SSH host key changed: an admin must run hostkeys accept ${server.name} after checking it`);
}

/** An operation met a changed host key: record what the server presents now (pending), block it, alert. */
export async function hostKeyChanged(deps: GuardDeps, server: ServerRow, ctx: DriverContext): Promise<void> {
  const driver = deps.drivers.get(server);
  const presented = await (driver.presentedHostKeys?.(ctx) ?? Promise.resolve([])).catch((e: unknown) => {
    deps.log.warn({ server: server.name, err: errorMessage(e) }, "could not read the changed host key");
    return [];
  });
  await deps.ledger.hostKeys.block(server.id, presented);
  const prints = presented.map((k) => `${k.type} ${k.fingerprint}`).join(", ") || "unreadable";
  await deps.alerts.raise({
    kind: "hostkey_changed",
    server,
    title: `${server.name}'s SSH host key changed (now ${prints}): possible man-in-the-middle`,
    lines: [
      `snapbot recorded another key for ${server.name}; someone may be impersonating it, or it was re-imaged outside snapbot`,
      `every operation on ${server.name} is refused until an admin checks the server and runs hostkeys accept ${server.name}`,
    ],
  });
}

/** Registration and after a restore: the server's keys recorded, and shared ones alerted. */
export async function recordAndAlert(deps: EngineDeps, server: ServerRow, ctx: DriverContext): Promise<HostKey[] | null> {
  try {
    const keys = await recordHostKeys(deps, server, ctx);
    if (keys) await alertSharedKeys(deps);
    return keys;
  } catch (e) {
    if (isHostKeyChanged(e)) await hostKeyChanged(deps, server, ctx);
    throw e;
  }
}

/**
 * After restore --to: the target may now present the source's host keys because snapbot itself wrote them
 * there. That is expected, not an impersonation: when every key the target presents is one recorded for the
 * source, snapbot trusts it for the target, records it, and raises hostkey_regen_needed for the pair.
 * Any other change is handled as usual (hostkey_changed).
 */
export async function recordAfterRestoreTo(deps: EngineDeps, source: ServerRow, target: ServerRow, ctx: DriverContext): Promise<HostKey[] | null> {
  const driver = deps.drivers.get(target);
  if (driver.presentedHostKeys && driver.acceptHostKeys) {
    const presented = await driver.presentedHostKeys(ctx);
    const own = new Set((await deps.ledger.hostKeys.current(target.id)).map((k) => k.fingerprint));
    const fromSource = new Set((await deps.ledger.hostKeys.current(source.id)).map((k) => k.fingerprint));
    const cloned = presented.length > 0 && !presented.some((k) => own.has(k.fingerprint)) && presented.every((k) => fromSource.has(k.fingerprint));
    if (cloned) {
      await driver.acceptHostKeys(presented);
      await deps.ledger.hostKeys.record(target.id, presented);
      await alertSharedKeys(deps);
      return presented;
    }
  }
  return recordAndAlert(deps, target, ctx);
}

/** hostkeys accept: the presented key replaces the recorded one, the server is unblocked, the alert resolved. */
export async function acceptHostKeys(deps: EngineDeps, server: ServerRow, ctx: DriverContext, user: string, channel: string | null): Promise<HostKey[]> {
  const driver = deps.drivers.get(server);
  if (!driver.acceptHostKeys) throw new UserError("not_ssh", `${server.name} (${server.driver}) is not reached over SSH: there is no host key to accept`);
  const waiting = await deps.ledger.hostKeys.pending(server.id);
  const pending = waiting.filter((k) => k.publicKey);
  if (waiting.length === 0)
    throw new UserError("nothing_to_accept", `${server.name}'s SSH host key has not changed: nothing to accept`);
  const keys = pending.length ? pending : await driver.presentedHostKeys!(ctx);
  await driver.acceptHostKeys(keys);
  await deps.ledger.tx(async (t) => {
    await t.hostKeys.accept(server.id, keys);
    await t.operations.insert({ kind: "hostkeys_accept", server_id: server.id, requested_by: user, channel, args: { fingerprints: keys.map((k) => k.fingerprint) }, state: "succeeded", result: "host key accepted" });
  });
  await deps.alerts.resolve("hostkey_changed", server, `an admin (${user}) accepted ${server.name}'s new host key`);
  await alertSharedKeys(deps);
  return keys;
}
