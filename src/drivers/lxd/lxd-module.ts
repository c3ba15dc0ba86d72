import type { DriverModule } from "../driver.ts";
import { createLxdDriver } from "./lxd-driver.ts";
import { LXD_FEATURES } from "./lxd-features.ts";
import { lxdSettingsSchema, type LxdSettings } from "./lxd-settings.ts";

// driver: lxd as the platform knows it (DESIGN.md §1a): containers and VMs of an LXD daemon, local or a remote.
export const lxdDriver: DriverModule<LxdSettings> = {
  kind: "lxd",
  summary: "LXD instances: lxc snapshot, copies to a snapshot server, clones",
  settings: lxdSettingsSchema,
  features: LXD_FEATURES,
  describe: (s) => [s.instance, s.remote ? `on ${s.remote}` : ""].filter(Boolean).join(" "),
  create: (server, deps) => createLxdDriver({ ...server.settings, name: server.name }, deps),
};
