import type { DriverModule } from "../driver.ts";
import type { SettingProblem } from "../../config/setting-problem.ts";
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
  settingProblems(s): SettingProblem[] {
    // A policy for copies that have nowhere to go would silently do nothing.
    if (s.snapshot_server_keep !== undefined && !s.snapshot_server)
      return [{ code: "keep_without_server", key: "snapshot_server_keep", why: "there is no snapshot_server to keep copies on: set snapshot_server (an lxc remote), or remove snapshot_server_keep" }];
    return [];
  },
};
