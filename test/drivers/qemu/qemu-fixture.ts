import pino from "pino";
import type { DriverContext, Progress, SnapshotHandle } from "../../../src/drivers/driver.ts";
import { createLocalRunner } from "../../../src/transport/local-runner.ts";

// What the qemu driver tests share: a silent log, the local runner, a context whose signal the test holds.

export const log = pino({ level: "silent" });
export const runner = createLocalRunner(log);

export function context(signal = new AbortController().signal): DriverContext & { events: Progress[] } {
  const events: Progress[] = [];
  return { signal, log, events, progress: (p) => events.push(p) };
}

export function handle(name: string, over: Partial<SnapshotHandle> = {}): SnapshotHandle {
  return { server: "vm", name, location: null, createdAt: Date.now(), ...over };
}

export function request(name: string, stateful = false) {
  return { server: "vm", name, createdAt: Date.now(), stateful };
}
