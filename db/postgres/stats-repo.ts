import type { RepoContext } from "./context.ts";
import type { AlertKind, FinishedOperation, NewestGood, ServerHealth, SnapshotCounts, SnapshotState, StatsRepo } from "../ledger.ts";
import { snapshotMachine } from "../states.ts";

// Read-only aggregates for the metrics scrape, the same queries as SQLite's stats-repo.ts (each an index seek per
// server). Servers come in id order, as SQLite's scan of servers gives them.

const STATES = Object.keys(snapshotMachine) as SnapshotState[];
const NEWEST = "(SELECT max(coalesce(s.finished_at, s.created_at)) FROM snapshots s WHERE s.server_id = v.id AND s.state = 'done')";

export function statsRepo({ s }: RepoContext): StatsRepo {
  return {
    async snapshotCounts(): Promise<SnapshotCounts[]> {
      const cols = STATES.map((st) => `(SELECT count(*) FROM snapshots s WHERE s.server_id = v.id AND s.state = '${st}') AS "${st}"`);
      const rows = await s.rows<{ server: string } & Record<SnapshotState, number>>(
        `SELECT v.name AS server, ${cols.join(", ")} FROM servers v WHERE v.removed_at IS NULL ORDER BY v.id`,
      );
      return rows.map(({ server, ...counts }) => ({ server, counts }));
    },
    async newestGood(): Promise<NewestGood[]> {
      const rows = await s.rows<{ server: string; at: number | null }>(`SELECT v.name AS server, ${NEWEST} AS at FROM servers v WHERE v.removed_at IS NULL ORDER BY v.id`);
      return rows.filter((r): r is NewestGood => r.at !== null);
    },
    serverHealth: () =>
      s.rows<ServerHealth>(`SELECT v.name AS server, ${NEWEST} AS "newestGood",
          (SELECT count(*) FROM alerts a WHERE a.server_id = v.id AND a.state = 'open') AS "openAlerts",
          EXISTS (SELECT 1 FROM host_keys k WHERE k.server_id = v.id AND k.state = 'pending_accept') AS blocked,
          (SELECT CASE WHEN o.state = 'failed' THEN o.kind END FROM operations o
            WHERE o.server_id = v.id AND o.finished_at IS NOT NULL ORDER BY o.id DESC LIMIT 1) AS "lastFailed"
        FROM servers v WHERE v.removed_at IS NULL ORDER BY v.name`),
    openAlerts: () => s.rows<{ kind: AlertKind; n: number }>("SELECT kind, count(*) AS n FROM alerts WHERE state = 'open' GROUP BY kind ORDER BY kind COLLATE \"C\""),
    finishedSince: (since) =>
      s.rows<FinishedOperation>(
        `SELECT o.id, o.kind, v.name AS server, o.state, o.started_at, o.finished_at
         FROM operations o LEFT JOIN servers v ON v.id = o.server_id WHERE o.finished_at >= $1 ORDER BY o.finished_at, o.id`,
        [since],
      ),
  };
}
