import { describe, expect, it } from "vitest";
import { join } from "node:path";
import { openDb } from "../../db/sqlite/open-db.ts";
import { STATS_SQL } from "../../db/sqlite/stats-repo.ts";
import { tempDir } from "../helpers/temp-dir.ts";

// What /metrics reads on every scrape (db/sqlite/stats-repo.ts), on a migrated SQLite ledger: SQLite's own plans.

describe("the stats queries", () => {
  it("read indexes, never scan the snapshots, operations or alerts tables", () => {
    const db = openDb(join(tempDir("snapbot-stats-plans-"), "ledger.db"));
    try {
      expect(Object.keys(STATS_SQL).length).toBeGreaterThanOrEqual(5);
      for (const [name, sql] of Object.entries(STATS_SQL)) {
        const plan = (db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(...(name === "finishedSince" ? [0] : [])) as Array<{ detail: string }>).map((r) => r.detail);
        const tableScans = plan.filter((d) => /^SCAN (s|o|snapshots|operations|alerts)\b/.test(d) && !/USING (COVERING )?INDEX/.test(d));
        expect({ name, tableScans }).toEqual({ name, tableScans: [] });
        expect({ name, indexed: plan.some((d) => /USING (COVERING )?INDEX (snapshots_by_server_state|alerts_open_kind|operations_by_finish)/.test(d)) }).toEqual({ name, indexed: true });
        expect(plan.some((d) => /TEMP B-TREE/.test(d))).toBe(false);
      }
    } finally {
      db.close();
    }
  });
});
