import { z } from "zod";
import { durationMs, parseDuration } from "../../duration.ts";
import { parseKeep } from "../../retention/keep-policy.ts";
import { NAME_PATTERN } from "../../names.ts";
import { unknownPlaceholder } from "./placeholders.ts";

// The keys every server has whatever its driver (channel, limit, timeout), and the value shapes several
// drivers and the config file share, so each driver's schema (in its own folder) says them in the same words.

// Durations are checked at load with the parser the commands use, so "ttl: forever" stops the bot with the
// key named instead of failing at the first approval. Fixed-length only: M, H, d, w (no months or years).
export const FIXED_DURATION = "a duration like 30M, 2H, 3d or 4w (M minutes, H hours, d days, w weeks)";
export function fixedDuration(value: string, ctx: z.RefinementCtx): void {
  try {
    durationMs(parseDuration(value));
  } catch {
    ctx.addIssue({ code: "custom", message: `expected ${FIXED_DURATION}, got ${JSON.stringify(value)}` });
  }
}
export const durationSetting = z.string().superRefine(fixedDuration);

// A keep policy in schedule --keep's words (restic's forget --keep-* counts), checked at load by the same parser.
export const KEEP_SETTING = "a keep policy like daily=30,monthly=12 (last, hourly, daily, weekly, monthly, yearly=N)";
export const keepSetting = z.string().superRefine((value, ctx) => {
  try {
    parseKeep(value);
  } catch {
    ctx.addIssue({ code: "custom", message: `expected ${KEEP_SETTING}, got ${JSON.stringify(value)}` });
  }
});

// A timeout is a duration ("6H", "30M") or a number of seconds.
const TIMEOUT = `${FIXED_DURATION}, or a number of seconds`;
export const timeoutSetting = z.union([z.number(), z.string()], `expected ${TIMEOUT}`).superRefine((v, ctx) => {
  if (typeof v === "string") fixedDuration(v, ctx);
  else if (!(v > 0)) ctx.addIssue({ code: "custom", message: `expected ${TIMEOUT}, got ${v}` });
});

// Its bounds are the archive driver's (part-size.ts), so the message names them.
export const sizeSetting = z.union([
  z.number(),
  z.string().regex(/^\d+(\.\d+)?\s*([KMGT]i?B?|B)?$/i, "a size like 1GiB, 512MiB or a number of bytes"),
]);

// hooks (DESIGN.md §3): argv steps run before and after every create, at the top level and per server.
// {server} and {name} (the snapshot's) are the placeholders; any other {word} stops start-up naming the key.
export const HOOK_PLACEHOLDERS = ["server", "name"] as const;
const hookArg = z.string().superRefine((arg, ctx) => {
  const bad = unknownPlaceholder(arg, HOOK_PLACEHOLDERS);
  if (bad !== null) ctx.addIssue({ code: "custom", message: `unknown placeholder {${bad}}: hooks know {server} and {name}` });
});
const hookStep = z
  .array(hookArg)
  .min(1, "a hook is an argv list, like [fsfreeze, -f, /srv]")
  .refine((a) => a[0] !== "", "the program (first element) is empty");
export const hooksSetting = z
  .object({
    pre: z.array(hookStep).default([]),
    post: z.array(hookStep).default([]),
    timeout: timeoutSetting.default("5M"), // each hook's; a hung one is killed with what it started
  })
  .strict();
export type HooksSetting = z.infer<typeof hooksSetting>;

/** `...commonSettingsFields` in every driver's schema. */
export const commonSettingsFields = {
  channel: z.string().min(1).optional(),
  limit: z.number().int().positive().default(50),
  timeout: timeoutSetting.optional(),
  // Storage targets every new snapshot is copied to once it is done (storage.targets names; checked at start-up).
  copies: z.array(z.string().regex(NAME_PATTERN, "a storage target's name, like offsite")).optional(),
  // Encrypted at rest (storage.encryption); unset: the driver's own default (features.sensitive).
  sensitive: z.boolean().optional(),
  // Run around every create of this server, inside the global hooks (src/engine/operations/create-hooks.ts).
  hooks: hooksSetting.optional(),
};

/** A server's `copies:` (common to every driver; only drivers with stored snapshots can have them): [] when not set. */
export function copiesSettingOf(settings: Record<string, unknown>): string[] {
  const c = settings.copies;
  return Array.isArray(c) ? c.filter((t): t is string => typeof t === "string") : [];
}

/** A server's timeout setting (common to every driver), for the engine: undefined when not set. */
export function timeoutSettingOf(settings: Record<string, unknown>): string | number | undefined {
  const t = settings.timeout;
  return typeof t === "string" || typeof t === "number" ? t : undefined;
}

/** A server's snapshot limit (common to every driver; only drivers with features.limit use it). */
export function limitSettingOf(settings: Record<string, unknown>): number {
  return typeof settings.limit === "number" ? settings.limit : 50;
}

/** Whether a server's new snapshots are encrypted at rest: its `sensitive:` setting, else its driver's default. */
export function sensitiveSettingOf(settings: Record<string, unknown>, features: { sensitive?: boolean } | undefined): boolean {
  return typeof settings.sensitive === "boolean" ? settings.sensitive : features?.sensitive === true;
}

/** A server's own hooks (common to every driver), as its validated settings hold them; undefined when it has none. */
export function hooksSettingOf(settings: Record<string, unknown>): HooksSetting | undefined {
  const parsed = hooksSetting.safeParse(settings.hooks);
  return settings.hooks === undefined || !parsed.success ? undefined : parsed.data;
}
