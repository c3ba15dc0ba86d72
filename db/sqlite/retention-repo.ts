import type { Db } from "./open-db.ts";

// What retention reads: a server's done and broken snapshots of the given origins, lean (index-only, raw
// rows), which of them have live children, and which are referred to by unfinished work.

/** Shaped as the planner's input (src/retention/apply-policy.ts); hasChildren and inUse are filled by the caller. */
export interface RetentionRow {
  id: number;
  name: string; // "" unless asked for: the pass over every server reads no names (a third faster)
  createdAt: number;
  state: "done" | "broken";
  hasChildren: boolean;
  inUse: string | null;
}

export type Origin = "snapbot" | "external" | "schedule";

export function retentionRepo(db: Db) {
  // One statement per origin and shape, read from the covering index in its own order (created_at; no
  // sort step: the planner orders ties itself).
  const ORIGINS = ["snapbot", "external", "schedule"] as const;
  const select = (cols: string, origin: string) =>
    db
      .prepare(`SELECT ${cols} FROM snapshots INDEXED BY snapshots_for_retention
        WHERE server_id = ? AND origin = '${origin}' AND state IN ('done','broken') ORDER BY created_at`)
      .raw();
  const lean = new Map(ORIGINS.map((o) => [o, select("id, created_at, state = 'broken'", o)]));
  const named = new Map(ORIGINS.map((o) => [o, select("id, created_at, state = 'broken', name", o)]));
  const parents = db
    .prepare(`SELECT DISTINCT parent_id FROM snapshots INDEXED BY snapshots_children
      WHERE server_id = ? AND parent_id IS NOT NULL AND state NOT IN ('deleted','failed','expired')`)
    .pluck();
  const newest = db
    .prepare("SELECT created_at FROM snapshots INDEXED BY snapshots_by_server WHERE server_id = ? AND state = 'done' ORDER BY created_at DESC, id DESC LIMIT 1")
    .pluck();
  const busy = db.prepare(`SELECT o.snapshot_id, o.id, o.kind, o.state FROM operations o
    WHERE o.state IN ('awaiting_approval','queued','running') AND o.snapshot_id IS NOT NULL`);

  return {
    candidates(serverId: number, origins: Origin[], names = true): RetentionRow[] {
      const out: RetentionRow[] = [];
      for (const origin of origins)
        for (const [id, createdAt, broken, name] of (names ? named : lean).get(origin)!.all(serverId) as Array<[number, number, number, string?]>)
          out.push({ id, name: name ?? "", createdAt, state: broken ? "broken" : "done", hasChildren: false, inUse: null });
      return out;
    },
    /** When the server's newest good (done) snapshot was taken, any origin; null if it has none. */
    newestGood(serverId: number): number | null {
      return (newest.get(serverId) as number | undefined) ?? null;
    },
    /** Ids of the server's snapshots that live snapshots name as their parent. */
    parents(serverId: number): Set<number> {
      return new Set(parents.all(serverId) as number[]);
    },
    /** Snapshot id → what unfinished operation refers to it ("restore awaiting approval (operation #4)"). */
    inUse(): Map<number, string> {
      const out = new Map<number, string>();
      for (const r of busy.all() as Array<{ snapshot_id: number; id: number; kind: string; state: string }>)
        out.set(r.snapshot_id, `${r.kind} ${r.state.replace("_", " ")} (operation #${r.id})`);
      return out;
    },
  };
}
export type RetentionRepo = ReturnType<typeof retentionRepo>;
