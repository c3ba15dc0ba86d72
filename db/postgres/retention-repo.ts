import type { RepoContext } from "./context.ts";
import type { RetentionRepo, RetentionRow } from "../ledger.ts";

// What retention reads: a server's done and broken snapshots of the given origins, lean, which of them have live
// children, and which are referred to by unfinished work (as SQLite's retention-repo.ts).

export function retentionRepo({ s }: RepoContext): RetentionRepo {
  return {
    async candidates(serverId, origins, names = true) {
      if (origins.length === 0) return [];
      // Origin by origin, in the order asked, each in snapshots_for_retention's order: as SQLite reads them.
      const rows = await s.rows<{ id: number; name: string; created_at: number; broken: boolean; origin: string }>(
        `SELECT id, ${names ? "name" : "''"} AS name, created_at, state = 'broken' AS broken, origin FROM snapshots
         WHERE server_id = $1 AND origin = ANY($2::text[]) AND state IN ('done','broken')
         ORDER BY array_position($2::text[], origin), created_at, state, id`,
        [serverId, origins],
      );
      return rows.map((r): RetentionRow => ({ id: r.id, name: r.name, createdAt: r.created_at, state: r.broken ? "broken" : "done", hasChildren: false, inUse: null }));
    },
    async newestGood(serverId) {
      const r = await s.one<{ created_at: number }>(
        "SELECT created_at FROM snapshots WHERE server_id = $1 AND state = 'done' ORDER BY created_at DESC, id DESC LIMIT 1",
        [serverId],
      );
      return r?.created_at ?? null;
    },
    async parents(serverId) {
      const rows = await s.rows<{ parent_id: number }>(
        `SELECT DISTINCT parent_id FROM snapshots WHERE server_id = $1 AND parent_id IS NOT NULL AND state NOT IN ('deleted','failed','expired')`,
        [serverId],
      );
      return new Set(rows.map((r) => r.parent_id));
    },
    async inUse() {
      const out = new Map<number, string>();
      const rows = await s.rows<{ snapshot_id: number; id: number; kind: string; state: string }>(
        `SELECT snapshot_id, id, kind, state FROM operations
         WHERE state IN ('awaiting_approval','queued','running') AND snapshot_id IS NOT NULL ORDER BY state, id`,
      );
      for (const r of rows) out.set(r.snapshot_id, `${r.kind} ${r.state.replace("_", " ")} (operation #${r.id})`);
      return out;
    },
  };
}
