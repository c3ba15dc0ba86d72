import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { onTestFinished } from "vitest";
import { join } from "node:path";
import { Writable } from "node:stream";
import { createSqliteLedger } from "../../db/sqlite/sqlite-ledger.ts";
import type { ApprovalRow, Ledger, OperationRow, SnapshotRow } from "../../db/ledger.ts";
import { fileSchema } from "../../src/config/schema.ts";
import type { Config } from "../../src/config/load-config.ts";
import { systemClock, type Clock } from "../../src/clock.ts";
import { createLogger } from "../../src/log/logger.ts";
import { createLocalRunner } from "../../src/transport/local-runner.ts";
import { startSlack, EVENTS_PATH, type SlackBot } from "../../src/chat/slack/start-slack.ts";
import { startFakeSlack, type FakeCall, type FakeSlack } from "./fake-slack.ts";
import { actionBody, clickPayload, newTrigger, postToBot, SIGNING_SECRET, signatureHeaders, slashBody, type ClickFields, type Sent } from "./slack-signer.ts";

export const BOT_TOKEN = "xoxb-1111-2222-f4k3b0tt0k3n";
export const APP_TOKEN = "xapp-1-A0TEST-3333-f4k3app";

/** Config as the YAML would have it: a demo folder to snapshot, a server whose folder is missing, roles for approvals. */
export function slackTestFile(dir: string, over: Record<string, unknown> = {}) {
  const demo = join(dir, "demo");
  mkdirSync(join(demo, "etc"), { recursive: true });
  writeFileSync(join(demo, "etc/app.conf"), "listen = 127.0.0.1:8080\n");
  writeFileSync(join(demo, "data.txt"), "x".repeat(200_000));
  return {
    alerts: { channel: "C0ALERTS" },
    roles: { admins: ["U0ADMIN"], approvers: ["U0ALICE", "U0BOB"], operators: ["*"] },
    approval: { ttl: "30M" },
    storage: { path: join(dir, "snapshots") },
    servers: {
      demo: { driver: "archive", mode: "tar", paths: [demo], part_size: "1MiB" },
      gone: { driver: "archive", mode: "tar", paths: [join(dir, "no-such-folder")] },
    },
    ...over,
  };
}

export function slackConfig(dir: string, fake: FakeSlack, file: unknown, chat: Partial<Config["chat"]> = {}): Config {
  return {
    ...fileSchema.parse(file),
    source: "test",
    demo: false,
    ledger: { backend: "sqlite", path: join(dir, "ledger.db") },
    logLevel: "info",
    chat: { mode: "http", botToken: BOT_TOKEN, signingSecret: SIGNING_SECRET, apiUrl: fake.apiUrl, port: 0, ...chat },
    metricsPort: null,
  };
}

/** pino's JSON lines, kept for assertions (and for checking that no token reaches them). */
export function captureLog(level = "info") {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk, _enc, cb) {
      lines.push(...String(chunk).split("\n").filter(Boolean));
      cb();
    },
  });
  const log = createLogger({ level, destination: destination as never });
  return { log, text: () => lines.join("\n"), entries: () => lines.map((l) => JSON.parse(l) as Record<string, unknown>) };
}

export interface TestBot {
  bot: SlackBot;
  url: string;
  log: ReturnType<typeof captureLog>;
  /** Sends `/snapshot <text>` signed; returns the HTTP answer and the response_url and trigger_id used. */
  slash(text: string, o?: { user?: string; channel?: string; triggerId?: string; headers?: Record<string, string> }): Promise<Sent & { responseUrl: string; triggerId: string }>;
  /** Sends a block_actions payload for a button (as rendered by the bot) signed. */
  click(fields: Omit<ClickFields, "responseUrl"> & { responseUrl?: string }, headers?: Record<string, string>): Promise<Sent & { responseUrl: string; body: string }>;
  /** The ledger file through a second connection, as another process would read it (opened on first use). */
  ledger(): Ledger;
  /** Every operation, oldest first (through the second connection). */
  operations(): Promise<OperationRow[]>;
  /** Every snapshot of every server, oldest first. */
  snapshots(): Promise<SnapshotRow[]>;
  /** Every approval request, oldest first. */
  approvals(): Promise<ApprovalRow[]>;
  stop(): Promise<void>;
}

export async function startTestBot(
  dir: string,
  fake: FakeSlack,
  o: { file?: unknown; clock?: Clock; chat?: Partial<Config["chat"]>; updateIntervalMs?: number; stopTimeoutMs?: number } = {},
): Promise<TestBot> {
  const log = captureLog();
  const config = slackConfig(dir, fake, o.file ?? slackTestFile(dir), o.chat);
  const bot = await startSlack({
    config,
    log: log.log,
    clock: o.clock ?? systemClock,
    runner: createLocalRunner(log.log),
    host: "127.0.0.1",
    updateIntervalMs: o.updateIntervalMs,
    stopTimeoutMs: o.stopTimeoutMs,
  });
  const url = `http://127.0.0.1:${bot.port}${EVENTS_PATH}`;
  let second: Ledger | undefined;
  const path = config.ledger.backend === "sqlite" ? config.ledger.path : "";
  const ledger = () => (second ??= createSqliteLedger(path, systemClock));
  return {
    bot,
    url,
    log,
    async slash(text, s = {}) {
      const responseUrl = fake.responseUrl();
      const triggerId = s.triggerId ?? newTrigger();
      const body = slashBody({ text, user: s.user, channel: s.channel, responseUrl, triggerId });
      return { ...(await postToBot(url, body, { ...signatureHeaders(body), ...s.headers })), responseUrl, triggerId };
    },
    async click(fields, headers) {
      const responseUrl = fields.responseUrl ?? fake.responseUrl();
      const body = actionBody(clickPayload({ ...fields, responseUrl }));
      return { ...(await postToBot(url, body, { ...signatureHeaders(body), ...headers })), responseUrl, body };
    },
    ledger,
    operations: async () => (await ledger().operations.list({ limit: 100_000 })).reverse(),
    async snapshots() {
      const all: SnapshotRow[] = [];
      for (const server of await ledger().servers.list()) all.push(...(await ledger().snapshots.list(server.id, { all: true, limit: 100_000, offset: 0 })).rows);
      return all.sort((a, b) => a.id - b.id);
    },
    async approvals() {
      // Request ids count up from 1; the ledger answers one at a time (no command lists decided requests).
      const all: ApprovalRow[] = [];
      for (let id = 1, a = await ledger().approvals.get(id); a; a = await ledger().approvals.get(++id)) all.push(a);
      return all;
    },
    async stop() {
      await bot.stop();
      await second?.close();
      second = undefined;
    },
  };
}

/** The named fields of each row, for comparing rows with toEqual. */
export function pick<R extends object, K extends keyof R>(rows: readonly R[], ...keys: K[]): Array<Pick<R, K>> {
  return rows.map((r) => Object.fromEntries(keys.map((k) => [k, r[k]])) as Pick<R, K>);
}

/** Polls an async check (the ledger, through a second connection) until it answers something truthy. */
export async function until<T>(check: () => Promise<T | undefined | false | null>, ms = 15_000, what = "a condition"): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await check();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(50);
  }
}

/** Everything a message shows (texts, fields, button labels), for matching. */
export function shown(body: Record<string, unknown>): string {
  const blocks = (body.blocks ?? []) as Array<{ text?: { text: string }; fields?: Array<{ text: string }>; elements?: Array<{ text: { text: string } }> }>;
  return blocks
    .flatMap((b) => [b.text?.text, ...(b.fields ?? []).map((f) => f.text), ...(b.elements ?? []).map((e) => `[${e.text.text}]`)])
    .filter(Boolean)
    .join("\n");
}

/** The buttons of a message, as Slack would send them back in a click. */
export function buttonsIn(body: Record<string, unknown>): Array<{ action_id: string; value: string; text: { text: string } }> {
  const blocks = (body.blocks ?? []) as Array<{ type: string; elements?: Array<{ action_id: string; value: string; text: { text: string } }> }>;
  return blocks.filter((b) => b.type === "actions").flatMap((b) => b.elements ?? []);
}

type BotOptions = Parameters<typeof startTestBot>[2];

/** A fresh fake Slack and bot in their own folder, both stopped when the test ends. */
export async function setupSlack(root: string, o: BotOptions = {}) {
  const dir = mkdtempSync(join(root, "t-"));
  const fake = await startFakeSlack();
  const t = await startTestBot(dir, fake, o);
  onTestFinished(async () => {
    await t.stop();
    await fake.close();
  });
  return { dir, fake, t };
}

/** Waits for a chat.postMessage to `channel` whose content matches. */
export const waitPosted = (fake: FakeSlack, channel: string, re: RegExp, ms?: number) =>
  fake.waitFor((calls) => calls.find((c) => c.method === "chat.postMessage" && c.body.channel === channel && re.test(shown(c.body))), ms, `a post to ${channel} matching ${re}`);

/** Waits for a chat.update of message `ts` whose content matches. */
export const waitUpdated = (fake: FakeSlack, ts: string, re: RegExp, ms?: number) =>
  fake.waitFor((calls) => calls.find((c) => c.method === "chat.update" && c.body.ts === ts && re.test(shown(c.body))), ms, `an update of ${ts} matching ${re}`);

/** Waits for a post to one response_url. */
export const waitResponse = (fake: FakeSlack, url: string, ms?: number, nth = 1): Promise<FakeCall> =>
  fake.waitFor((calls) => calls.filter((c) => c.method === "response_url" && url.endsWith(c.path))[nth - 1], ms, `post ${nth} to ${url}`);

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
