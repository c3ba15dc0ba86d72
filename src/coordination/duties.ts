import type { Logger } from "pino";
import { errorMessage } from "../errors.ts";

// The leader's work (the scheduler, the approval and reconciliation sweeps, the dead man's switch): started when
// this replica becomes the leader, stopped the moment it is not. Stopping never waits for work already running
// (a scheduled snapshot finishes under its own lease); it only stops starting more.

export interface Duty {
  name: string;
  start(): void | Promise<void>;
  stop(): void | Promise<void>;
}

export interface Duties {
  add(d: Duty): void;
  /** Starts every duty not yet running (in the order added). */
  start(): Promise<void>;
  /** Stops every running duty (in reverse order). */
  stop(): Promise<void>;
  running(): boolean;
}

export function createDuties(log: Logger): Duties {
  const list: Duty[] = [];
  const on = new Set<Duty>();
  let leading = false;
  return {
    add(d) {
      list.push(d);
    },
    async start() {
      leading = true;
      for (const d of list) {
        if (on.has(d) || !leading) continue;
        try {
          await d.start();
          on.add(d);
        } catch (e) {
          log.error({ duty: d.name, err: errorMessage(e) }, "a leader's duty did not start");
        }
      }
    },
    async stop() {
      leading = false;
      for (const d of [...list].reverse()) {
        if (!on.delete(d)) continue;
        try {
          await d.stop();
        } catch (e) {
          log.error({ duty: d.name, err: errorMessage(e) }, "a leader's duty did not stop cleanly");
        }
      }
    },
    running: () => leading,
  };
}

/** A duty that runs `fn` every `ms` while it is on; a run still going is not started twice. */
export function everyDuty(name: string, ms: number, fn: () => Promise<unknown>, log: Logger): Duty {
  let timer: NodeJS.Timeout | null = null;
  let busy = false;
  return {
    name,
    start() {
      timer ??= setInterval(() => {
        if (busy) return;
        busy = true;
        void fn()
          .catch((e: unknown) => log.error({ duty: name, err: errorMessage(e) }, `${name} failed`))
          .finally(() => (busy = false));
      }, ms);
      timer.unref(); // never what keeps the process alive
    },
    stop() {
      if (timer) clearInterval(timer);
      timer = null;
    },
  };
}
