import { existsSync } from "node:fs";
import type { Command } from "./types.ts";
import { expectPositionals } from "./parse.ts";
import { checkName } from "../src/names.ts";
import { DRIVER_KINDS, serverSchema } from "../src/config/schema.ts";
import { errorMessage, UserError } from "../src/errors.ts";
import { mention } from "../src/replies/mention.ts";

const usage = "register <server> <driver> [key=value…]";
const LIST_KEYS = new Set(["paths", "exclude", "create", "delete", "restore"]);
const NUMBER_KEYS = new Set(["limit"]);

/** key=value pairs as the config file would have them: lists comma-separated, numbers as numbers. */
export function settingsFromPairs(pairs: Record<string, string>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(pairs)) {
    if (LIST_KEYS.has(k)) out[k] = v.split(",").filter(Boolean);
    else if (NUMBER_KEYS.has(k) && /^\d+$/.test(v)) out[k] = Number(v);
    else out[k] = v;
  }
  return out;
}

export const register: Command = {
  name: "register",
  usage,
  summary: "add a server, e.g. register files-2 archive paths=/etc,/srv (admins)",
  role: "admin",
  pairs: true,
  async run(ctx, args) {
    const [name, driver] = expectPositionals(args, 2, 2, usage);
    checkName("server", name!);
    if (!(DRIVER_KINDS as readonly string[]).includes(driver!))
      throw new UserError("unknown_driver", `unknown driver "${driver}": use one of ${DRIVER_KINDS.join(", ")}; usage: ${usage}`);
    const parsed = serverSchema.safeParse({ driver, ...settingsFromPairs(args.pairs) });
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      const key = issue.path.join(".") || "settings";
      const text = issue.code === "unrecognized_keys" ? `unknown key ${issue.keys.join(", ")}` : issue.message.replace(/^Invalid input: /, "expected ");
      throw new UserError("bad_setting", `${key}: ${text}; usage: ${usage}`);
    }
    const { driver: _d, channel, ...settings } = parsed.data;
    if (parsed.data.driver === "archive" && parsed.data.host === "local")
      for (const p of parsed.data.paths)
        if (!existsSync(p)) throw new UserError("path_missing", `"${p}" does not exist on this machine: check paths=`);
    const row = ctx.ledger.tx(() => {
      const r = ctx.ledger.servers.register({ name: name!, driver: driver!, settings, channel }, ctx.user);
      ctx.ledger.operations.insert({ kind: "register", server_id: r.id, requested_by: ctx.user, channel: ctx.channel, args: { driver, ...settings }, state: "succeeded", result: "registered" });
      return r;
    });
    const note = ctx.drivers.available(row.driver) ? "" : ` (the ${row.driver} driver is not available yet: commands on it will say so)`;
    const lines: string[] = [];
    // SSH servers: the host key is trusted now (first use) and its fingerprints recorded; a key another
    // registered server presents too raises hostkey_regen_needed.
    if (ctx.drivers.available(row.driver) && "host" in settings && settings.host !== "local") {
      try {
        const keys = await ctx.engine.recordHostKeys(row);
        if (keys) lines.push(`host keys recorded: ${keys.map((k) => `${k.type} ${k.fingerprint}`).join(", ")}`);
      } catch (e) {
        lines.push(`host keys not read yet (${errorMessage(e)}): they are recorded at the first snapshot, or with hostkeys scan`);
      }
    }
    return { visibility: "channel", tone: "success", title: `${row.name} registered (${row.driver}) by ${mention(ctx.user)}${note}`, ...(lines.length ? { lines } : {}) };
  },
};
