import type { ServerRow, SnapshotRow } from "../../../db/types.ts";
import type { EngineDeps } from "../deps.ts";
import type { LedgerRepos } from "../../../db/ledger.ts";
import type { DriverContext } from "../../drivers/driver.ts";
import { afterRemoved, hasTree } from "./tree.ts";
import { reconcileTree } from "./tree-sync.ts";

export interface SyncReport {
  imported: string[]; // made outside snapbot (by hand, or the backend's own schedule)
  vanished: string[]; // deleted outside snapbot
}

const LIVE: SnapshotRow["state"][] = ["done", "broken"];

/**
 * Makes the ledger agree with a backend that keeps its own snapshots (LXD): snapshots found there that
 * snapbot did not make are imported as done with origin external; done or broken ones that are gone
 * are marked deleted (their children handed to their parent). Snapshots being written or deleted right now
 * are left to their operation. On a tree server, the backend's parents and current snapshot are reconciled too.
 */
export async function syncBackend(deps: EngineDeps, server: ServerRow, ctx: DriverContext): Promise<SyncReport> {
  const driver = deps.drivers.get(server);
  if (!driver.listBackend) return { imported: [], vanished: [] };
  const found = await driver.listBackend(ctx);
  const { ledger, clock } = deps;
  return ledger.tx(async (t) => {
    const report: SyncReport = { imported: [], vanished: [] };
    const onBackend = new Set(found.map((b) => b.name));
    for (const b of found) {
      const known = await t.snapshots.find(server.id, b.name);
      if (known && isLive(known)) continue;
      const row = await t.snapshots.insert({
        server_id: server.id, name: b.name, created_by: null, origin: "external", state: "done",
        created_at: b.createdAt, finished_at: b.createdAt, expires_at: b.expiresAt, stateful: b.stateful, size: b.size,
      });
      if (b.details) await t.snapshots.annotate(row.id, { details: b.details }); // vm_state_size…, as a create records them
      report.imported.push(b.name);
    }
    for (const s of await liveRows(t, server)) {
      if (onBackend.has(s.name) || !LIVE.includes(s.state)) continue;
      await t.snapshots.transition(s.id, "deleting");
      const gone = { deleted_at: clock.now(), deleted_by: "outside snapbot", error: "deleted outside snapbot" };
      await afterRemoved(t, await t.snapshots.transition(s.id, "deleted", gone)); // its children go to its parent
      report.vanished.push(s.name);
    }
    if (hasTree(deps, server)) await reconcileTree({ ...deps, ledger: t }, server, found, await liveRows(t, server), new Set(report.imported));
    return report;
  });
}

const isLive = (s: SnapshotRow) => !["deleted", "failed", "expired"].includes(s.state);

async function liveRows(ledger: LedgerRepos, server: ServerRow): Promise<SnapshotRow[]> {
  const rows: SnapshotRow[] = [];
  for (let offset = 0; ; offset += 500) {
    const page = (await ledger.snapshots.list(server.id, { limit: 500, offset })).rows;
    rows.push(...page);
    if (page.length < 500) return rows;
  }
}
