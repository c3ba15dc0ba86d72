import type { ServerRow } from "../../db/types.ts";
import type { EngineDeps } from "./engine.ts";
import type { DriverContext, HostKey } from "../drivers/driver.ts";
import { errorMessage } from "../errors.ts";

// Servers made from one snapshot present the same SSH host keys: clients cannot tell them apart, and one
// can impersonate the other. snapbot records every server's fingerprints and raises hostkey_regen_needed
// for each pair, resolved once the keys differ.

export interface ScanReport {
  scanned: string[];
  skipped: Array<{ server: string; why: string }>;
  shared: Array<{ fingerprint: string; type: string; servers: string[] }>;
}

/** Reads and records a server's current host keys (when its driver can read them). */
export async function recordHostKeys(deps: EngineDeps, server: ServerRow, ctx: DriverContext): Promise<HostKey[] | null> {
  const driver = deps.drivers.get(server);
  if (!driver.hostKeys) return null;
  const keys = await driver.hostKeys(ctx);
  deps.ledger.hostKeys.record(server.id, keys);
  return keys;
}

/** Raises hostkey_regen_needed for every server that shares a key, naming the others; returns the groups. */
export async function alertSharedKeys(deps: EngineDeps, origin?: string): Promise<ScanReport["shared"]> {
  const shared = deps.ledger.hostKeys.shared();
  for (const group of shared) {
    const servers = group.servers.map((n) => deps.ledger.servers.get(n)!).filter(Boolean);
    // The newest of the group (a clone) is the one to regenerate; the original keeps its keys.
    const oldest = Math.min(...servers.map((s) => s.id));
    for (const s of servers.filter((x) => x.id !== oldest)) {
      const others = group.servers.filter((n) => n !== s.name).join(", ");
      await deps.alerts.raise({
        kind: "hostkey_regen_needed",
        server: s,
        title: `${s.name} presents the same SSH host key as ${others} (${group.type} ${group.fingerprint})`,
        lines: [origin ?? `servers made from one snapshot share host keys: regenerate ${s.name}'s so SSH clients can tell them apart`],
        buttons: [{ label: "Regenerate host keys", command: `hostkeys regen ${s.name}`, style: "primary" }],
      });
    }
  }
  return shared;
}

/** hostkeys scan: every server whose driver can read host keys, then the shared ones alerted. */
export async function scanHostKeys(deps: EngineDeps, ctx: DriverContext): Promise<ScanReport> {
  const report: ScanReport = { scanned: [], skipped: [], shared: [] };
  for (const server of deps.ledger.servers.list()) {
    try {
      const keys = await recordHostKeys(deps, server, ctx);
      if (keys) report.scanned.push(server.name);
      else report.skipped.push({ server: server.name, why: `${server.driver} servers have no host keys to read` });
    } catch (e) {
      report.skipped.push({ server: server.name, why: errorMessage(e) });
    }
  }
  report.shared = await alertSharedKeys(deps);
  return report;
}

/** After a regeneration: resolved only when none of the server's keys is shared any more. */
export async function resolveIfUnique(deps: EngineDeps, server: ServerRow): Promise<boolean> {
  const stillShared = deps.ledger.hostKeys.shared().some((g) => g.servers.includes(server.name));
  if (stillShared) return false;
  await deps.alerts.resolve("hostkey_regen_needed", server, `${server.name} now has host keys of its own`);
  return true;
}
