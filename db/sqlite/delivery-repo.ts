import type { Db } from "./open-db.ts";

const KEEP_MS = 24 * 3_600_000; // Slack retries within minutes; a day is plenty

export function deliveryRepo(db: Db, now: () => number) {
  const insert = db.prepare("INSERT OR IGNORE INTO deliveries (key, seen_at) VALUES (?, ?)");
  const prune = db.prepare("DELETE FROM deliveries WHERE seen_at < ?");
  const counted = db.prepare("SELECT count(*) FROM deliveries").pluck();
  let lastPrune = 0;
  return {
    /** True the first time a key is seen, false for every later delivery of it: one guarded INSERT. */
    firstSeen(key: string): boolean {
      const t = now();
      if (t - lastPrune > 3_600_000) {
        prune.run(t - KEEP_MS);
        lastPrune = t;
      }
      return insert.run(key, t).changes === 1;
    },
    count: (): number => counted.get() as number,
  };
}
export type DeliveryRepo = ReturnType<typeof deliveryRepo>;
