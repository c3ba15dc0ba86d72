import type { Logger } from "pino";
import type { ServerRow } from "../../db/types.ts";
import type { DriverDeps, SnapshotDriver } from "./driver.ts";
import { serverSchema } from "../config/schema.ts";
import { createArchiveDriver } from "./archive/archive-driver.ts";
import { lxdDriverFactory } from "./lxd/lxd-driver.ts";
import { UserError } from "../errors.ts";
import { withSsh } from "./shared/with-ssh.ts";

type Factory = (server: ServerRow, deps: DriverDeps) => SnapshotDriver;

// Drivers available in this build; the others of the contract answer clearly until they arrive.
const FACTORIES: Record<string, Factory> = {
  archive: (s, deps) => {
    const settings = serverSchema.parse({ driver: "archive", ...s.settings });
    if (settings.driver !== "archive") throw new Error("unreachable");
    // Same driver code, ssh runner: commands run on the server, the storage stays local.
    return withSsh(s.name, settings, deps, (d) => createArchiveDriver({ ...settings, name: s.name }, d));
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
    /** A driver for settings not registered yet (register checks them with it); not cached. */
    draft(name: string, kind: string, settings: Record<string, unknown>): SnapshotDriver | null {
      const factory = FACTORIES[kind];
      const row: ServerRow = { id: 0, name, driver: kind, settings, source: "registered", channel: null, cloned_from: null, registered_by: null, created_at: 0, removed_at: null };
      return factory ? factory(row, { ...deps, log: deps.log.child({ server: name, driver: kind }) }) : null;
    },
    available(kind: string): boolean {
      return kind in FACTORIES;
    },
  };
}
export type DriverRegistry = ReturnType<typeof createDriverRegistry>;
