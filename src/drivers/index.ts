import type { DriverModule } from "./driver.ts";
import { archiveDriver } from "./archive/archive-module.ts";
import { lxdDriver } from "./lxd/lxd-module.ts";
import { qemuDriver } from "./qemu/qemu-module.ts";
import { commandDriver } from "./command/command-module.ts";
import { consulDriver } from "./consul/consul-module.ts";

// The drivers this build runs. A new driver is a folder under src/drivers/ with a DriverModule, and one line here.
export const BUILTIN_DRIVERS: readonly DriverModule[] = [archiveDriver, lxdDriver, qemuDriver, consulDriver, commandDriver] as readonly DriverModule[];
