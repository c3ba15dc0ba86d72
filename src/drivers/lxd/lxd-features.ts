import type { DriverFeatures } from "../driver.ts";

// LXD keeps the snapshots itself (so a server has a limit of them) and can snapshot a running
// instance's memory too (lxc snapshot --stateful, where CRIU is installed).
export const LXD_FEATURES: DriverFeatures = { stateful: true, limit: true };
