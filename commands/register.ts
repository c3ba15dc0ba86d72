import type { Command, CommandContext } from "./types.ts";
import { expectPositionals } from "./parse.ts";
import { checkName } from "../src/names.ts";
import { driverKindsOf, serverSchemaFor, type ServerSettings } from "../src/config/schema.ts";
import { isMissing, issueText, whatKeyHolds } from "../src/config/issue-text.ts";
import { copiesProblem, settingProblems, targetProblems } from "../src/config/setting-rules.ts";
import { copiesSettingOf } from "../src/drivers/shared/common-settings.ts";
import { errorMessage, isUserError, UserError } from "../src/errors.ts";
import { mention } from "../src/replies/mention.ts";
import { sensitiveSettingOf } from "../src/drivers/shared/common-settings.ts";
import { noRecipients } from "../src/storage/encryption/at-rest.ts";

const usage = "register <server> <driver> [key=value…]";
const LIST_KEYS = new Set(["paths", "exclude", "create", "delete", "restore", "copies"]);
const NUMBER_KEYS = new Set(["limit"]);
const BOOLEAN_KEYS = new Set(["sensitive"]);

/** key=value pairs as the config file would have them: lists comma-separated, numbers as numbers, true/false. */
export function settingsFromPairs(pairs: Record<string, string>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(pairs)) {
    if (LIST_KEYS.has(k)) out[k] = v.split(",").filter(Boolean);
    else if (NUMBER_KEYS.has(k) && /^\d+$/.test(v)) out[k] = Number(v);
    else if (BOOLEAN_KEYS.has(k) && (v === "true" || v === "false")) out[k] = v === "true";
    else out[k] = v;
  }
  return out;
}

/** The settings as the schema and the setting rules accept them, or the one line saying what to fix. */
function validSettings(ctx: CommandContext, name: string, driver: string, pairs: Record<string, string>): ServerSettings {
  const at = `register ${name} ${driver}`;
  const parsed = serverSchemaFor(ctx.drivers.modules()).safeParse({ driver, ...settingsFromPairs(pairs) });
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const key = String(issue.path[0] ?? "settings");
    if (issue.code === "unrecognized_keys")
      throw new UserError("bad_setting", `${at}: unknown key ${issue.keys.join(", ")}: check its spelling; usage: ${usage}`);
    if (isMissing(issue)) throw new UserError("bad_setting", `${at}: ${key}= is required (${whatKeyHolds(key)})`);
    throw new UserError("bad_setting", `${at}: ${key}: ${issueText(issue)}`);
  }
  const module = ctx.drivers.module(driver);
  const copies = copiesSettingOf(parsed.data);
  const stores = copies.length > 0 && typeof ctx.drivers.draft(name, driver, parsed.data)?.storedIn === "function";
  const targets = ctx.engine.targets.names();
  const problem =
    [...settingProblems(parsed.data, module), ...targetProblems(parsed.data, targets)][0] ?? copiesProblem(copies, targets, stores, name, driver);
  if (problem) throw new UserError(problem.code, `${at}: ${problem.key}: ${problem.why}`);
  // The same refusal as at start-up: a sensitive server's snapshots would have no one to be encrypted to.
  if (sensitiveSettingOf(parsed.data, module?.features) && !ctx.config.storage.encryption?.recipients.length)
    throw new UserError("no_recipients", `${at}: ${noRecipients(name).message}`);
  return parsed.data;
}

/** Asks the driver whether the settings name something real; a refusal stops the register, "cannot check" is a note. */
async function probe(ctx: CommandContext, name: string, driver: string, settings: Record<string, unknown>): Promise<string | null> {
  const draft = ctx.drivers.draft(name, driver, settings);
  if (!draft?.probe) return null;
  try {
    await draft.probe({ signal: AbortSignal.timeout(30_000), progress: () => {}, log: ctx.log });
    return null;
  } catch (e) {
    if (isUserError(e)) throw new UserError(e.code, `register ${name} ${driver}: ${e.message}`);
    return `not checked against the backend yet (${errorMessage(e)}): the first snapshot will tell`;
  }
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
    const kinds = driverKindsOf(ctx.drivers.modules());
    if (!kinds.includes(driver!)) throw new UserError("unknown_driver", `unknown driver "${driver}": use one of ${kinds.join(", ")}; usage: ${usage}`);
    const { driver: _d, channel, ...settings } = validSettings(ctx, name!, driver!, args.pairs);
    const unchecked = await probe(ctx, name!, driver!, settings);
    const row = await ctx.ledger.tx(async (t) => {
      const r = await t.servers.register({ name: name!, driver: driver!, settings, channel: typeof channel === "string" ? channel : null }, ctx.user);
      await t.operations.insert({ kind: "register", server_id: r.id, requested_by: ctx.user, channel: ctx.channel, args: { driver, ...settings }, state: "succeeded", result: "registered" });
      return r;
    });
    const note = ctx.drivers.available(row.driver) ? "" : ` (the ${row.driver} driver is not available yet: commands on it will say so)`;
    const lines: string[] = unchecked ? [unchecked] : [];
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
