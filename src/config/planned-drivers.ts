import { z } from "zod";
import { commonSettingsFields } from "../drivers/shared/common-settings.ts";

// Drivers of the contract (DESIGN.md §3) that this build does not run yet (issue 13 brings them, each as a
// folder under src/drivers/ whose module then replaces the entry here). A config naming them validates, and
// every command on such a server says "… uses the consul driver, which is not available yet".

export const PLANNED_DRIVERS = [
  {
    kind: "consul",
    settings: z
      .object({ driver: z.literal("consul"), address: z.string().url(), token_env: z.string().optional(), ...commonSettingsFields })
      .strict(),
  },
] as const;
