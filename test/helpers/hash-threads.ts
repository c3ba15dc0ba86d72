import { readdirSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import { Worker } from "node:worker_threads";
import type { SpawnHashWorker } from "../../src/storage/hash-thread.ts";

// The hashing threads as the operating system sees them, and real ones made to fail: the real worker source
// with a fault appended, which runs after the real handler on the `after`-th slot it is sent.

/** The process's OS threads (Linux): a hashing thread never stopped shows up here, whatever JavaScript holds. */
export const threadCount = (): number => readdirSync("/proc/self/task").length;

/** The process's open file descriptors: a part file left open (closed only by the garbage collector) shows up here. */
export const openFiles = (): number => readdirSync("/proc/self/fd").length;

/** Waits (up to 5 s) for the thread count to come down to `n`; returns the count then. */
export async function threadsBackTo(n: number): Promise<number> {
  for (let waited = 0; threadCount() > n && waited < 5000; waited += 20) await sleep(20);
  return threadCount();
}

export type HashFault =
  | { kind: "exit" } // the thread ends as if it had crashed (process.exit in a worker ends only the worker)
  | { kind: "throw" } // an uncaught exception in the thread
  | { kind: "stall"; ms: number }; // the thread blocks, as under a CPU starved by others

const FAULT_CODE: Record<HashFault["kind"], (f: HashFault) => string> = {
  exit: () => "process.exit(3)",
  throw: () => 'throw new Error("hashing fault injected")',
  stall: (f) => `Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ${(f as { ms: number }).ms})`,
};

/** Spawns the hashing threads; the one hashing parts (or the whole-stream one) gets the fault. */
export function faultyHashWorker(fault: HashFault, after: number, target: "parts" | "whole" = "parts"): SpawnHashWorker {
  const extra = `\nlet seen = 0;\nparentPort.on("message", (m) => { if (m !== null && ++seen === ${after}) ${FAULT_CODE[fault.kind](fault)}; });`;
  return (source, data) => {
    const hashesParts = (data as { partSize: number | null }).partSize !== null;
    const faulty = hashesParts === (target === "parts");
    return new Worker(faulty ? source + extra : source, { eval: true, workerData: data });
  };
}
