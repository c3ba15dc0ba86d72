import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { startBot, type Bot } from "./bot-process.ts";
import { freePort } from "./postgres.ts";
import type { FakeSlack } from "./fake-slack.ts";
import { BOT_TOKEN } from "./slack-bot.ts";
import { postToBot, SIGNING_SECRET, slashBody } from "./slack-signer.ts";

// snapbot as N real processes (src/main.ts in Slack HTTP mode) on one PostgreSQL ledger, as the README's HA setup
// runs them: each its own port and /healthz, all the same config, storage folder and database.

export interface ReplicaProcess {
  name: string;
  bot: Bot;
  port: number;
  metricsPort: number;
  url: string;
  /** /healthz: its status code and body ({ status, role, checks }), or null when it does not answer. */
  health(): Promise<{ code: number; role?: string; status?: string; checks?: Record<string, string> } | null>;
  slash(text: string, o?: { user?: string; responseUrl?: string }): Promise<{ status: number; responseUrl: string }>;
}

/** The shared config: a tiny folder per server, archives in one storage folder, alerts in C0ALERTS. */
export function haConfig(dir: string, servers: string[]): string {
  const lines = ["alerts: { channel: C0ALERTS }", `storage: { path: ${join(dir, "snapshots")} }`, "roles: { admins: [U0ADMIN], approvers: [U0ALICE, U0BOB], operators: ['*'] }", "servers:"];
  for (const name of servers) {
    const site = join(dir, "sites", name);
    mkdirSync(site, { recursive: true });
    writeFileSync(join(site, "index.html"), `<h1>${name}</h1>\n`);
    lines.push(`  ${name}: { driver: archive, paths: [${site}] }`);
  }
  const file = join(dir, "snapbot.yml");
  writeFileSync(file, `${lines.join("\n")}\n`);
  return file;
}

/** `entry`: how the bot starts (from source through tsx by default; the bench runs the compiled one). */
export async function startReplica(name: string, cwd: string, o: { db: string; config: string; fake: FakeSlack; env?: Record<string, string>; entry?: string[] }): Promise<ReplicaProcess> {
  const port = await freePort();
  const metricsPort = await freePort();
  mkdirSync(cwd, { recursive: true });
  const bot = startBot(cwd, {
    SNAPBOT_DB: o.db,
    SNAPBOT_CONFIG: o.config,
    SLACK_BOT_TOKEN: BOT_TOKEN,
    SLACK_SIGNING_SECRET: SIGNING_SECRET,
    SLACK_API_URL: o.fake.apiUrl,
    PORT: String(port),
    METRICS_PORT: String(metricsPort),
    ...o.env,
  }, o.entry);
  await bot.waitFor(/"msg":"snapbot is listening to Slack"/, 60_000);
  const url = `http://127.0.0.1:${port}/slack/events`;
  return {
    name,
    bot,
    port,
    metricsPort,
    url,
    async health() {
      try {
        const res = await fetch(`http://127.0.0.1:${metricsPort}/healthz`, { signal: AbortSignal.timeout(3000) });
        return { code: res.status, ...((await res.json()) as object) };
      } catch {
        return null;
      }
    },
    async slash(text, s = {}) {
      const responseUrl = s.responseUrl ?? o.fake.responseUrl();
      const res = await postToBot(url, slashBody({ text, user: s.user, responseUrl }));
      return { status: res.status, responseUrl };
    },
  };
}

/** The one replica whose /healthz says leader, once exactly one does (within ms). */
export async function leaderOf(replicas: ReplicaProcess[], ms = 20_000): Promise<ReplicaProcess> {
  const deadline = Date.now() + ms;
  for (;;) {
    const roles = await Promise.all(replicas.map(async (r) => ((await r.health())?.role === "leader" ? r : null)));
    const leaders = roles.filter((r): r is ReplicaProcess => r !== null);
    if (leaders.length === 1) return leaders[0]!;
    if (Date.now() > deadline) throw new Error(`no single leader after ${ms} ms: ${leaders.length} say leader`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
