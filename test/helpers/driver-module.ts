import { z } from "zod";
import { pino } from "pino";
import type { DriverModule, SnapshotDriver } from "../../src/drivers/driver.ts";
import { createDriverRegistry, type DriverRegistry } from "../../src/drivers/registry.ts";
import { createLocalRunner } from "../../src/transport/local-runner.ts";

/** A DriverModule whose every server is `driver` (a test's own backend), with any settings accepted. */
export function moduleFor(driver: SnapshotDriver): DriverModule {
  return {
    kind: driver.kind,
    summary: `${driver.kind} (a test driver)`,
    settings: z.object({ driver: z.literal(driver.kind) }).passthrough(),
    features: driver.features ?? {},
    create: () => driver,
  };
}

/** The real registry over one test driver. */
export function registryFor(driver: SnapshotDriver, storageDir = "/nonexistent"): DriverRegistry {
  const log = pino({ level: "silent" });
  return createDriverRegistry([moduleFor(driver)], { runner: createLocalRunner(log), storageDir, fsync: false, log });
}
