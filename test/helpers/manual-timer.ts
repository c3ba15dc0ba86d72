import { setImmediate as tick } from "node:timers/promises";
import type { Timer } from "../../src/alerts/alert-outbox.ts";

/** A Timer that moves only when told: advance(ms) fires what falls due, in order, letting promises settle between. */
export function manualTimer(start = 1_000_000) {
  let t = start;
  let seq = 0;
  const due = new Map<number, { at: number; fn: () => void }>();
  const settle = async () => {
    for (let i = 0; i < 5; i++) await tick();
  };
  const timer: Timer & { advance(ms: number): Promise<void>; pending(): number } = {
    now: () => t,
    after(ms, fn) {
      const id = ++seq;
      due.set(id, { at: t + Math.max(0, ms), fn });
      return () => void due.delete(id);
    },
    async advance(ms) {
      const end = t + ms;
      await settle();
      for (;;) {
        const next = [...due.entries()].filter(([, d]) => d.at <= end).sort((a, b) => a[1].at - b[1].at || a[0] - b[0])[0];
        if (!next) break;
        due.delete(next[0]);
        t = Math.max(t, next[1].at);
        next[1].fn();
        await settle();
      }
      t = end;
      await settle();
    },
    pending: () => due.size,
  };
  return timer;
}
