// Slack may deliver a request twice: a retry when an ack was late, a replayed button payload. The ack
// path tells them apart by this in-memory window (a Map lookup: no disk write before the ack, no
// SQLite checkpoint stall in it); the ledger's deliveries table (firstSeen) is checked again when the
// work starts, which also catches a duplicate that arrives after a restart.

/** Signatures older than 5 minutes are rejected, so any replay that gets this far is within the window. */
export const RECENT_MS = 10 * 60_000;

export interface RecentDeliveries {
  /** True the first time this process sees the key within the window. */
  fresh(key: string): boolean;
  size(): number;
}

export function createRecentDeliveries(windowMs = RECENT_MS, now: () => number = () => performance.now()): RecentDeliveries {
  const seen = new Map<string, number>(); // insertion order is time order: the oldest come first
  return {
    fresh(key) {
      const t = now();
      for (const [k, at] of seen) {
        if (t - at < windowMs) break;
        seen.delete(k);
      }
      if (seen.has(key)) return false;
      seen.set(key, t);
      return true;
    },
    size: () => seen.size,
  };
}
