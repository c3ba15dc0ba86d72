import type { DriverModule } from "../driver.ts";
import { createConsulDriver } from "./consul-driver.ts";
import { consulSettingsSchema, type ConsulSettings } from "./consul-settings.ts";

// driver: consul as the platform knows it (DESIGN.md §1a): Consul's HTTP API, no consul binary. Sensitive by
// default (a snapshot holds every ACL token); restore --force overrides the Consul-version check.
export const consulDriver: DriverModule<ConsulSettings> = {
  kind: "consul",
  summary: "a Consul cluster's Raft snapshot over its HTTP API (/v1/snapshot), checked as Consul does, as verified parts",
  settings: consulSettingsSchema,
  features: { sensitive: true, restoreForce: true, verifyFull: true },
  create: (server, deps) => createConsulDriver({ ...server.settings, name: server.name }, deps),
  describe: (s) => [s.address, s.datacenter ? `dc ${s.datacenter}` : "", s.stale !== "never" ? `stale: ${s.stale}` : "", s.store ? `→ ${s.store}` : ""].filter(Boolean).join(" "),
};
