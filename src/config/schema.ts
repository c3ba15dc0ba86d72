import { z } from "zod";
import { NAME_PATTERN } from "../names.ts";
import { durationMs, parseDuration } from "../duration.ts";
import type { DriverModule } from "../drivers/driver.ts";
import { BUILTIN_DRIVERS } from "../drivers/index.ts";
import { durationSetting, hooksSetting, timeoutSetting } from "../drivers/shared/common-settings.ts";
import { storageSchema } from "./storage-schema.ts";

// The configuration contract of DESIGN.md §3. A server's keys are its driver's: each DriverModule brings its
// schema and they are composed here (every driver of the contract is built: lxd, archive, qemu, consul, command).

const name = z.string().regex(NAME_PATTERN, "a name of letters, digits, '.', '_' or '-' (e.g. web-1)");
const userList = z.array(z.string().min(1)).default([]);
const duration = durationSetting;
const timeout = timeoutSetting;

type ServerSchema = z.ZodType<{ driver: string } & Record<string, unknown>>;

/** One server's settings: the union of the drivers' schemas, told apart by `driver`. */
export function serverSchemaFor(modules: readonly DriverModule[] = BUILTIN_DRIVERS): ServerSchema {
  const schemas = modules.map((m) => m.settings);
  // discriminatedUnion takes object schemas; every driver schema is a strict z.object.
  return z.discriminatedUnion("driver", schemas as unknown as [z.ZodObject, ...z.ZodObject[]]) as unknown as ServerSchema;
}

/** Every driver kind a config may name. */
export function driverKindsOf(modules: readonly DriverModule[] = BUILTIN_DRIVERS): string[] {
  return [...new Set(modules.map((m) => m.kind))];
}

export const serverSchema = serverSchemaFor();
export const DRIVER_KINDS: readonly string[] = driverKindsOf();

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

/** The whole snapbot.yml, with the servers of these drivers. */
export function fileSchemaFor(modules: readonly DriverModule[] = BUILTIN_DRIVERS) {
  return z
  .object({
    alerts: z.object({ channel: z.string().min(1).optional() }).strict().default({}),
    roles: z
      .object({ admins: userList, approvers: userList, operators: z.array(z.string().min(1)).default(["*"]) })
      .strict()
      .default({ admins: [], approvers: [], operators: ["*"] }),
    approval: z.object({ ttl: duration.default("30M") }).strict().default({ ttl: "30M" }),
    storage: storageSchema,
    engine: z
      .object({
        concurrency: z.number().int().positive().max(64).default(2),
        timeout: timeout.default("6H"),
        fsync: z.boolean().default(true),
      })
      .strict()
      .default({ concurrency: 2, timeout: "6H", fsync: true }),
    servers: z.record(name, serverSchemaFor(modules)).default({}),
    heartbeat: heartbeatSchema.optional(),
    // Around every create of every server; a server's own hooks run inside these.
    hooks: hooksSetting.optional(),
  })
  .strict();
}

export const fileSchema = fileSchemaFor();
export type FileConfig = z.infer<typeof fileSchema>;
export type { ServerSettings } from "./setting-problem.ts";
