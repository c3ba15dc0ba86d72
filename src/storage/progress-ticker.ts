import type { DriverContext } from "../drivers/driver.ts";

// Progress goes to chat, which allows about one update per second: report on a timer, not per chunk.
export const PROGRESS_INTERVAL_MS = 500;

export interface ProgressTicker {
  stop(): void;
}

export function startProgressTicker(ctx: DriverContext, stage: string, bytes: () => number, totalBytes?: number): ProgressTicker {
  let last = -1;
  const tick = () => {
    const now = bytes();
    if (now === last) return;
    last = now;
    ctx.progress({ stage, bytes: now, ...(totalBytes === undefined ? {} : { totalBytes }) });
  };
  const timer = setInterval(tick, PROGRESS_INTERVAL_MS);
  timer.unref();
  return {
    stop() {
      clearInterval(timer);
      tick();
    },
  };
}
