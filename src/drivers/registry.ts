import type { Logger } from "pino";
import type { ServerRow } from "../../db/types.ts";
import type { DriverDeps, DriverFeatures, DriverModule, SnapshotDriver } from "./driver.ts";
import { UserError } from "../errors.ts";
import { sensitiveSettingOf } from "./shared/common-settings.ts";

// Server rows → driver instances, from the modules it is given (BUILTIN_DRIVERS in the bot; tests add their
// own): one instance per server and settings version, made on first use with the settings the module's own
// schema validated (defaults applied).

export interface DriverRegistry {
  /** The server's driver; a kind this build lacks (a ledger from a newer snapbot) is one line saying what to do. */
  get(server: ServerRow): SnapshotDriver;
  /** A driver for settings not registered yet (register checks them with it); not cached; null for a kind this build lacks. */
  draft(name: string, kind: string, settings: Record<string, unknown>): SnapshotDriver | null;
  available(kind: string): boolean;
  /** The modules it was given (their schemas make the config's and register's). */
  modules(): readonly DriverModule[];
  /** The module of a kind, for its schema and rules; undefined for a kind this build lacks. */
  module(kind: string): DriverModule | undefined;
  /** The server in a few words, as its driver's module says it ("" when it says nothing or is not available). */
  describe(server: ServerRow): string;
  /** What the server's driver can do: the instance's own features (narrowed from its settings), else its module's. */
  features(server: ServerRow): DriverFeatures;
}

export type RegistryDeps = Omit<DriverDeps, "log"> & { log: Logger };

export function createDriverRegistry(modules: readonly DriverModule[], deps: RegistryDeps): DriverRegistry {
  const byKind = new Map(modules.map((m) => [m.kind, m]));
  const cache = new Map<string, { key: string; driver: SnapshotDriver }>();
  const make = (m: DriverModule, name: string, settings: Record<string, unknown>): SnapshotDriver => {
    const valid = m.settings.parse({ ...settings, driver: m.kind });
    const sensitive = sensitiveSettingOf(valid, m.features);
    const driver = m.create({ name, settings: valid }, { ...deps, sensitive, log: deps.log.child({ server: name, driver: m.kind }) });
    return driver.features ? driver : { ...driver, features: m.features };
  };
  return {
    get(server) {
      const key = `${server.driver}:${JSON.stringify(server.settings)}`;
      const hit = cache.get(server.name);
      if (hit?.key === key) return hit.driver;
      const m = byKind.get(server.driver);
      if (!m)
        throw new UserError("not_available", `${server.name} uses the ${server.driver} driver, which this snapbot does not have: run the snapbot that registered it, or remove ${server.name} from snapbot.yml`);
      const driver = make(m, server.name, server.settings);
      cache.set(server.name, { key, driver });
      return driver;
    },
    draft(name, kind, settings) {
      const m = byKind.get(kind);
      return m ? make(m, name, settings) : null;
    },
    available: (kind) => byKind.has(kind),
    modules: () => modules,
    module: (kind) => byKind.get(kind),
    describe(server) {
      const m = byKind.get(server.driver);
      if (!m?.describe) return "";
      const parsed = m.settings.safeParse({ ...server.settings, driver: m.kind });
      return parsed.success ? m.describe(parsed.data) : "";
    },
    features(server) {
      return this.get(server).features ?? {}; // make() gives every instance its module's features at least
    },
  };
}
