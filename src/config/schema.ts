import { z } from "zod";
import { NAME_PATTERN } from "../names.ts";
import { durationMs, parseDuration } from "../duration.ts";

// The configuration contract of DESIGN.md §3. Every driver of the contract is known here, so a config
// written for a later capability already validates; the engine says when a driver is not available yet.

const name = z.string().regex(NAME_PATTERN, "a name of letters, digits, '.', '_' or '-' (e.g. web-1)");
const userList = z.array(z.string().min(1)).default([]);
// Its bounds are the archive driver's (setting-rules.ts partSizeProblem), so the message names them.
const sizeText = z.union([
  z.number(),
  z.string().regex(/^\d+(\.\d+)?\s*([KMGT]i?B?|B)?$/i, "a size like 1GiB, 512MiB or a number of bytes"),
]);

// Durations are checked at load with the parser the commands use, so "ttl: forever" stops the bot with the
// key named instead of failing at the first approval. Fixed-length only: M, H, d, w (no months or years).
const FIXED_DURATION = "a duration like 30M, 2H, 3d or 4w (M minutes, H hours, d days, w weeks)";
function fixedDuration(value: string, ctx: z.RefinementCtx): void {
  try {
    durationMs(parseDuration(value));
  } catch {
    ctx.addIssue({ code: "custom", message: `expected ${FIXED_DURATION}, got ${JSON.stringify(value)}` });
  }
}
const duration = z.string().superRefine(fixedDuration);

// A timeout is a duration ("6H", "30M") or a number of seconds.
const TIMEOUT = `${FIXED_DURATION}, or a number of seconds`;
const timeout = z.union([z.number(), z.string()], `expected ${TIMEOUT}`).superRefine((v, ctx) => {
  if (typeof v === "string") fixedDuration(v, ctx);
  else if (!(v > 0)) ctx.addIssue({ code: "custom", message: `expected ${TIMEOUT}, got ${v}` });
});

const base = {
  channel: z.string().min(1).optional(),
  limit: z.number().int().positive().default(50),
  timeout: timeout.optional(),
};

export const archiveServerSchema = z
  .object({
    driver: z.literal("archive"),
    mode: z.enum(["tar", "raw"]).default("tar"),
    paths: z.array(z.string().min(1)).default([]),
    exclude: z.array(z.string().min(1)).default([]),
    device: z.string().min(1).optional(),
    host: z.string().default("local"),
    ssh_key: z.string().optional(),
    /** Where the server's /etc/ssh lives for hostkeys regen (ssh-keygen -A -f <root>): "/" on a real server. */
    hostkey_root: z.string().startsWith("/").optional(),
    part_size: sizeText.optional(),
    compression: z.enum(["auto", "zstd", "gzip"]).default("auto"),
    ...base,
  })
  .strict()
  .superRefine((s, ctx) => {
    if (s.mode === "tar" && s.paths.length === 0)
      ctx.addIssue({ code: "custom", path: ["paths"], message: "a list of folders to archive (mode tar needs paths)" });
    if (s.mode === "raw" && !s.device)
      ctx.addIssue({ code: "custom", path: ["device"], message: "a block device or image file (mode raw needs device)" });
  });

export const lxdServerSchema = z
  .object({
    driver: z.literal("lxd"),
    instance: name.optional(),
    remote: z.string().optional(),
    snapshot_server: z.string().optional(),
    lxd_conf: z.string().optional(),
    lxd_dir: z.string().optional(),
    ...base,
  })
  .strict();

export const qemuServerSchema = z
  .object({ driver: z.literal("qemu"), image: z.string().min(1), host: z.string().default("local"), ssh_key: z.string().optional(), ...base })
  .strict();

export const consulServerSchema = z
  .object({ driver: z.literal("consul"), address: z.string().url(), token_env: z.string().optional(), ...base })
  .strict();

export const commandServerSchema = z
  .object({
    driver: z.literal("command"),
    create: z.array(z.string()).min(1),
    delete: z.array(z.string()).optional(),
    restore: z.array(z.string()).optional(),
    host: z.string().default("local"),
    ...base,
  })
  .strict();

export const serverSchema = z.discriminatedUnion("driver", [
  archiveServerSchema,
  lxdServerSchema,
  qemuServerSchema,
  consulServerSchema,
  commandServerSchema,
]);

export const DRIVER_KINDS = ["archive", "lxd", "qemu", "consul", "command"] as const;
export type DriverKind = (typeof DRIVER_KINDS)[number];

// heartbeat: a dead man's switch pinged while snapbot works (src/heartbeat/heartbeat.ts).
const atLeastAMinute = (text: string) => {
  try {
    return durationMs(parseDuration(text)) >= 60_000;
  } catch {
    return false;
  }
};
const heartbeatSchema = z
  .object({
    url: z.string().regex(/^https?:\/\/[^\s/]+/, "an http(s) URL to ping, e.g. https://hc-ping.com/<uuid>"),
    every: z.string().refine(atLeastAMinute, "a duration of at least a minute, like 5M or 1H").default("5M"),
  })
  .strict();

export const fileSchema = z
  .object({
    alerts: z.object({ channel: z.string().min(1).optional() }).strict().default({}),
    roles: z
      .object({ admins: userList, approvers: userList, operators: z.array(z.string().min(1)).default(["*"]) })
      .strict()
      .default({ admins: [], approvers: [], operators: ["*"] }),
    approval: z.object({ ttl: duration.default("30M") }).strict().default({ ttl: "30M" }),
    storage: z.object({ path: z.string().min(1).default("./data/snapshots") }).strict().default({ path: "./data/snapshots" }),
    engine: z
      .object({
        concurrency: z.number().int().positive().max(64).default(2),
        timeout: timeout.default("6H"),
        fsync: z.boolean().default(true),
      })
      .strict()
      .default({ concurrency: 2, timeout: "6H", fsync: true }),
    servers: z.record(name, serverSchema).default({}),
    heartbeat: heartbeatSchema.optional(),
  })
  .strict();

export type FileConfig = z.infer<typeof fileSchema>;
export type ServerSettings = z.infer<typeof serverSchema>;
export type ArchiveSettings = z.infer<typeof archiveServerSchema>;
