import type { DriverDeps, SnapshotDriver } from "../driver.ts";
import { createAtRest } from "../../storage/encryption/at-rest.ts";
import { durationMs, parseDuration } from "../../duration.ts";
import { parsePartSize } from "../archive/part-size.ts";
import { storeFor, storedMethods } from "../shared/stored-methods.ts";
import type { CommandContextDeps } from "./command-context.ts";
import { manifestSchema } from "./command-manifest.ts";
import type { CommandSettings } from "./command-settings.ts";
import { commandDetails, createCommand } from "./create-command.ts";
import { describeCommandRestore, restoreCommand } from "./restore-command.ts";

// driver: command — an application's own CLI makes and restores the snapshot; snapbot stores it like every
// stored snapshot (parts, manifest last, age for sensitive servers: the kit) and adds a clean check before a restore.

export type CommandServer = CommandSettings & { name: string };

export function createCommandDriver(settings: CommandServer, deps: DriverDeps): SnapshotDriver {
  const store = storeFor(settings.store, deps);
  const atRest = createAtRest(deps.encryption);
  const c: CommandContextDeps = {
    settings,
    runner: deps.runner,
    store,
    atRest,
    partSize: parsePartSize(settings.part_size),
    sensitive: deps.sensitive ?? true,
    timeoutMs: timeoutOf(settings.timeout),
  };
  return {
    kind: "command",
    features: { restoreForce: true, sensitive: true, verifyFull: true },
    ...storedMethods({ store, schema: manifestSchema, details: (m) => commandDetails(m), atRest, rebuild: (other) => createCommandDriver(settings, { ...deps, store: other }) }),
    create: (req, ctx) => createCommand(c, req, ctx),
    ...(settings.restore
      ? {
          restore: async (snap, opts, ctx) => ({ summary: await restoreCommand(c, snap, opts, ctx) }),
          describeRestore: (snap, opts) => describeCommandRestore(c, snap, opts),
        }
      : {}),
  };
}

/** The server's timeout kills each step (its process group) with a "timed out" line, not only the operation. */
function timeoutOf(t: string | number | undefined): number | undefined {
  if (t === undefined) return undefined;
  return typeof t === "number" ? t * 1000 : durationMs(parseDuration(t));
}
