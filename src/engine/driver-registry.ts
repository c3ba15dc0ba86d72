import type { Logger } from "pino";
import type { ServerRow } from "../../db/types.ts";
import type { DriverDeps, SnapshotDriver } from "../drivers/driver.ts";
import { serverSchema } from "../config/schema.ts";
import { createArchiveDriver } from "../drivers/archive/archive-driver.ts";
import { lxdDriverFactory } from "../drivers/lxd/lxd-driver.ts";
import { UserError } from "../errors.ts";

type Factory = (server: ServerRow, deps: DriverDeps) => SnapshotDriver;

// Drivers available in this build; the others of the contract answer clearly until they arrive.
const FACTORIES: Record<string, Factory> = {
  archive: (s, deps) => {
    const settings = serverSchema.parse({ driver: "archive", ...s.settings });
    if (settings.driver !== "archive") throw new Error("unreachable");
    if (settings.host !== "local")
      throw new UserError("not_available", `${s.name} is reached over SSH (${settings.host}): remote archives are not available yet`);
    return createArchiveDriver({ ...settings, name: s.name }, deps);
  },
  lxd: lxdDriverFactory,
};

/** One driver instance per server (and per settings version), made on first use. */
export function createDriverRegistry(deps: Omit<DriverDeps, "log"> & { log: Logger }) {
  const cache = new Map<string, { key: string; driver: SnapshotDriver }>();
  return {
    get(server: ServerRow): SnapshotDriver {
      const key = `${server.driver}:${JSON.stringify(server.settings)}`;
      const hit = cache.get(server.name);
      if (hit?.key === key) return hit.driver;
      const factory = FACTORIES[server.driver];
      if (!factory)
        throw new UserError("not_available", `${server.name} uses the ${server.driver} driver, which is not available yet`);
      const driver = factory(server, { ...deps, log: deps.log.child({ server: server.name, driver: server.driver }) });
      cache.set(server.name, { key, driver });
      return driver;
    },
    available(kind: string): boolean {
      return kind in FACTORIES;
    },
  };
}
export type DriverRegistry = ReturnType<typeof createDriverRegistry>;
