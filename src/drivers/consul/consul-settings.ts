import { z } from "zod";
import { commonSettingsFields, durationSetting } from "../shared/common-settings.ts";
import { NAME_PATTERN } from "../../names.ts";

// The settings of `driver: consul` (DESIGN.md §3), owned by the driver's folder. stale defaults to never:
// a stale snapshot can miss the last writes (a follower's Raft log lags the leader's), so taking one is the
// operator's choice (auto: only when there is no leader; always), never a silent fallback.

export const STALE_MODES = ["never", "auto", "always"] as const;
export type StaleMode = (typeof STALE_MODES)[number];

export const consulSettingsSchema = z
  .object({
    driver: z.literal("consul"),
    address: z
      .string()
      .url("an http(s) URL of a Consul agent, like http://127.0.0.1:8500")
      .refine((u) => /^https?:\/\/[^/?#]+\/?$/.test(u), "an http(s) URL of a Consul agent without a path, like http://127.0.0.1:8500"),
    // The environment variable holding the ACL token (a management token: snapshots hold every secret).
    token_env: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, "an environment variable's name, like CONSUL_HTTP_TOKEN").optional(),
    datacenter: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, "a datacenter's name, like dc1").optional(),
    stale: z.enum(STALE_MODES, "never, auto (a stale snapshot only when there is no leader) or always").default("never"),
    // How long a small request (agent/self, status/leader) may take; the snapshot itself is bounded by timeout:.
    request_timeout: durationSetting.default("1M"),
    store: z.string().regex(NAME_PATTERN, "the name of a storage target under storage.targets (e.g. offsite)").optional(),
    ...commonSettingsFields,
  })
  .strict();

export type ConsulSettings = z.infer<typeof consulSettingsSchema>;
