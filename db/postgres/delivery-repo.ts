import type { RepoContext } from "./context.ts";
import type { DeliveryRepo } from "../ledger.ts";

const KEEP_MS = 24 * 3_600_000; // Slack retries within minutes; a day is plenty

export function deliveryRepo({ s, now, shared }: RepoContext): DeliveryRepo {
  return {
    async firstSeen(key) {
      const t = now();
      if (t - shared.lastPrune > 3_600_000) {
        shared.lastPrune = t;
        await s.run("DELETE FROM deliveries WHERE seen_at < $1", [t - KEEP_MS]);
      }
      // Two replicas handed the same retry: the primary key lets exactly one INSERT add a row.
      return (await s.run("INSERT INTO deliveries (key, seen_at) VALUES ($1, $2) ON CONFLICT DO NOTHING", [key, t])) === 1;
    },
    async count() {
      return Number((await s.one<{ n: string }>("SELECT count(*) AS n FROM deliveries"))!.n);
    },
  };
}
