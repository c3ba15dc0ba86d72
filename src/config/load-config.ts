import type { LedgerLocation } from "../../db/open-ledger.ts";
import { existsSync, readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { LineCounter, parseDocument } from "yaml";
import type { z } from "zod";
import { driverKindsOf, fileSchemaFor, type FileConfig } from "./schema.ts";
import type { DriverModule } from "../drivers/driver.ts";
import { BUILTIN_DRIVERS } from "../drivers/index.ts";
import { demoConfig } from "./demo-config.ts";
import { isMissing, issueText, whatKeyHolds } from "./issue-text.ts";
import { settingProblems, targetProblems } from "./setting-rules.ts";
import { errorMessage, SnapbotError } from "../errors.ts";
import { sensitiveSettingOf } from "../drivers/shared/common-settings.ts";
import { noRecipients } from "../storage/encryption/at-rest.ts";
import { identityFileProblem } from "../storage/encryption/age-keys.ts";

export class ConfigError extends SnapbotError {
  constructor(message: string) {
    super("bad_config", message);
  }
}

export type ChatMode = "socket" | "http" | "console";

export interface Config extends FileConfig {
  source: string; // the file read, or "built-in demo config"
  demo: boolean;
  /** Only commands that change nothing run (the built-in demo config in Slack, where "*" is every member). */
  readOnly?: boolean;
  /** SNAPBOT_DB: the embedded SQLite file (the default), or a PostgreSQL database shared by several replicas. */
  ledger: LedgerLocation;
  logLevel: string;
  chat: { mode: ChatMode; botToken?: string; appToken?: string; signingSecret?: string; apiUrl?: string; port: number };
  metricsPort: number | null; // METRICS_PORT: /metrics and /healthz; null = off
}

type Env = Record<string, string | undefined>;

/** Reads the environment and the YAML file (DESIGN.md §3). Pure but for reading the file. */
/** `modules`: the drivers whose servers the file may name (the bot: BUILTIN_DRIVERS; tests add their own). */
export function loadConfig(env: Env, cwd = process.cwd(), modules: readonly DriverModule[] = BUILTIN_DRIVERS): Config {
  const explicit = env.SNAPBOT_CONFIG;
  const path = resolve(cwd, explicit ?? "snapbot.yml");
  let file: FileConfig;
  let source: string;
  let demo = false;
  if (existsSync(path)) {
    file = parseFile(path, readConfigFile(path, explicit !== undefined), modules);
    file.storage.path = resolve(dirname(path), file.storage.path);
    for (const t of Object.values(file.storage.targets)) if (t.path !== undefined) t.path = resolve(dirname(path), t.path);
    checkIdentityFile(path, file);
    source = path;
  } else if (explicit) {
    throw new ConfigError(`${path}: file not found (SNAPBOT_CONFIG names it): create it or unset SNAPBOT_CONFIG`);
  } else {
    file = demoConfig(cwd);
    source = "built-in demo config";
    demo = true;
  }
  const chat = chatMode(env);
  const ledger = ledgerLocation(env.SNAPBOT_DB, cwd);
  // The demo lets everyone do everything: fine for the person at the console, not for a whole workspace,
  // where anyone could register /etc and restore over the bot's host. In Slack the demo only reads.
  const readOnly = demo && chat.mode !== "console";
  return { ...file, source, demo, readOnly, ledger, logLevel: env.LOG_LEVEL ?? "info", chat, metricsPort: metricsPort(env, chat) };
}

/** The config file's text; a folder or an unreadable file is one line naming it, not a stack trace. */
function readConfigFile(path: string, explicit: boolean): string {
  const fix = explicit ? "point SNAPBOT_CONFIG at the YAML file" : "move it away, or set SNAPBOT_CONFIG to the YAML file";
  try {
    return readFileSync(path, "utf8");
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "EISDIR") throw new ConfigError(`${path}: is a folder, not a config file: ${fix}`);
    if (code === "EACCES") throw new ConfigError(`${path}: permission denied reading the config file: make it readable by the bot's user`);
    throw new ConfigError(`${path}: cannot read the config file (${errorMessage(e)}): ${fix}`);
  }
}

/**
 * SNAPBOT_DB: a file path (":memory:" for tests), or postgres://user:password@host:port/db for PostgreSQL. Any other
 * URL is refused here, before better-sqlite3 would create a folder named "mysql:"; what it names is checked when
 * it opens. A URL is checked for the parts a connection needs, and never echoed with its password.
 */
function ledgerLocation(raw: string | undefined, cwd: string): LedgerLocation {
  if (raw === undefined) return { backend: "sqlite", path: resolve(cwd, "data/snapbot.db") };
  if (raw.trim() === "") throw new ConfigError(`SNAPBOT_DB is empty: set it to the ledger file's path or a postgres:// URL, or unset it for ./data/snapbot.db`);
  if (raw === ":memory:") return { backend: "sqlite", path: raw };
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(raw)?.[1]?.toLowerCase();
  if (scheme === "postgres" || scheme === "postgresql") {
    let url: URL | null = null;
    try {
      url = new URL(raw);
    } catch {
      url = null;
    }
    if (!url || !url.hostname || url.pathname.replace(/^\//, "") === "")
      throw new ConfigError(`SNAPBOT_DB=${redactUrl(raw)}: not a PostgreSQL URL snapbot can use: write postgres://user:password@host:5432/database`);
    return { backend: "postgres", url: raw };
  }
  if (scheme) throw new ConfigError(`SNAPBOT_DB=${redactUrl(raw)}: ${scheme}:// is not a ledger snapbot supports: use a file path or a postgres:// URL`);
  return { backend: "sqlite", path: resolve(cwd, raw) };
}

/** A database URL may carry a password (postgres://user:secret@host): never echo it. */
function redactUrl(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^@/]*@/i, "$1…@");
}

export function parseFile(path: string, text: string, modules: readonly DriverModule[] = BUILTIN_DRIVERS): FileConfig {
  if (text.trim() === "") throw new ConfigError(`${path}: the file is empty: expected a YAML mapping with servers: (see README → Configuration)`);
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { prettyErrors: false, uniqueKeys: true, lineCounter });
  const yamlError = doc.errors[0];
  if (yamlError) {
    const { line, col } = lineCounter.linePos(yamlError.pos[0]);
    const firstLine = yamlError.message.split("\n")[0];
    throw new ConfigError(`${path}:${line}:${col}: malformed YAML: ${firstLine}`);
  }
  const data: unknown = doc.toJS();
  if (data === null || typeof data !== "object" || Array.isArray(data))
    throw new ConfigError(`${path}: expected a YAML mapping at the top (alerts:, roles:, servers:…)`);
  const parsed = fileSchemaFor(modules).safeParse(data);
  if (!parsed.success) throw new ConfigError(`${path}: ${describeIssue(parsed.error.issues[0]!, driverKindsOf(modules))}`);
  // Beyond the shape: the rules register and create apply too (paths exist, ssh:// has a key file…).
  for (const [name, server] of Object.entries(parsed.data.servers)) {
    const module = modules.find((m) => m.kind === server.driver);
    const targets = Object.keys(parsed.data.storage.targets).sort();
    const p = [...settingProblems(server, module), ...targetProblems(server, targets)][0];
    if (p) throw new ConfigError(`${path}: servers.${name}.${p.key}: ${p.why}`);
    if (sensitiveSettingOf(server, module?.features) && !parsed.data.storage.encryption?.recipients.length)
      throw new ConfigError(`${path}: ${noRecipients(name).message}`);
  }
  return parsed.data;
}

/** storage.encryption.identity_file, relative to the config file: present, 0600, an age identity (when set). */
function checkIdentityFile(path: string, file: FileConfig): void {
  const enc = file.storage.encryption;
  if (!enc?.identity_file) return;
  enc.identity_file = resolve(dirname(path), enc.identity_file);
  const problem = identityFileProblem(enc.identity_file);
  if (problem) throw new ConfigError(`${path}: ${problem}`);
}

function describeIssue(issue: z.core.$ZodIssue, kinds: readonly string[]): string {
  const key = issue.path.map(String).join(".") || "(top level)";
  if (issue.path.at(-1) === "driver") return `${key}: expected one of ${kinds.join(", ")}`;
  if (issue.code === "invalid_key" && issue.path[0] !== "servers" && issue.issues[0]) return `${key}: not a valid name: ${issue.issues[0].message}`;
  if (issue.code === "invalid_key") return `${key}: not a valid server name: use letters, digits, '.', '_' or '-', starting with a letter or digit (e.g. web-1)`;
  if (issue.code === "unrecognized_keys") return `${key}: unknown key ${issue.keys.join(", ")}: remove it or check its spelling`;
  if (isMissing(issue)) return `${key} is required (${whatKeyHolds(String(issue.path.at(-1)))})`;
  return `${key}: ${issueText(issue)}`;
}

/** METRICS_PORT: a port from 1 to 65535, or unset/empty for no metrics server. */
function metricsPort(env: Env, chat: Config["chat"]): number | null {
  const raw = env.METRICS_PORT?.trim() ?? "";
  if (raw === "") return null;
  const port = /^\d{1,5}$/.test(raw) ? Number(raw) : NaN;
  if (!(port >= 1 && port <= 65535))
    throw new ConfigError(`METRICS_PORT: expected a port number from 1 to 65535 (or unset for no metrics), got ${JSON.stringify(env.METRICS_PORT)}`);
  if (chat.mode === "http" && port === chat.port)
    throw new ConfigError(`METRICS_PORT: ${port} is also PORT, where Slack's HTTP requests arrive: choose another port for metrics`);
  return port;
}

function chatMode(env: Env): Config["chat"] {
  const { SLACK_BOT_TOKEN: botToken, SLACK_APP_TOKEN: appToken, SLACK_SIGNING_SECRET: signingSecret } = env;
  const port = Number(env.PORT ?? 3000);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new ConfigError(`PORT: expected a port number, got "${env.PORT}"`);
  const common = { apiUrl: env.SLACK_API_URL, port };
  if (!botToken && !appToken && !signingSecret) return { mode: "console", ...common };
  if (!botToken)
    throw new ConfigError("SLACK_BOT_TOKEN is missing: set it (xoxb-…) along with SLACK_APP_TOKEN (Socket Mode) or SLACK_SIGNING_SECRET (HTTP)");
  if (appToken) return { mode: "socket", botToken, appToken, ...common };
  if (signingSecret) return { mode: "http", botToken, signingSecret, ...common };
  throw new ConfigError("SLACK_BOT_TOKEN is set but SLACK_APP_TOKEN (Socket Mode) or SLACK_SIGNING_SECRET (HTTP mode) is missing");
}
