import { describe, expect, it } from "vitest";
import { existsSync, mkdirSync, truncateSync, writeFileSync } from "node:fs";
import Database from "better-sqlite3";
import { createServer } from "node:net";
import { join } from "node:path";
import { tempDir } from "./helpers/temp-dir.ts";
import { startBot, type Bot } from "./helpers/bot-process.ts";
import { startFakeSlack, type FakeSlack } from "./helpers/fake-slack.ts";
import { BOT_TOKEN, waitPosted, waitUpdated } from "./helpers/slack-bot.ts";
import { postToBot, SIGNING_SECRET, slashBody } from "./helpers/slack-signer.ts";

// The bot's stdout/stderr reader goes away (`npm start 2>&1 | head -3`, a log shipper that died or hangs):
// logging must never block the main thread, so SIGTERM still stops the bot, and a second signal at once.
const root = tempDir("snapbot-dead-reader-");
let n = 0;
const freshCwd = () => {
  const d = join(root, `d${++n}`);
  mkdirSync(d);
  return d;
};

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, "127.0.0.1", () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

type Reader = "paused" | "destroyed";

/** Stops reading the bot's stdout and stderr: paused (the pipe fills) or destroyed (writes get EPIPE). */
function dropReader(bot: Bot, how: Reader): void {
  for (const s of [bot.child.stdout, bot.child.stderr]) {
    s.removeAllListeners("data");
    if (how === "paused") s.pause();
    else s.destroy();
  }
}

/** Resolves with how the bot ended, or "still running" after `ms` (then it is killed). */
async function exitWithin(bot: Bot, ms: number) {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<"still running">((res) => (timer = setTimeout(() => res("still running"), ms)));
  const r = await Promise.race([bot.exit, late]);
  clearTimeout(timer);
  if (r === "still running") bot.child.kill("SIGKILL");
  return r;
}

/** An archive server over 300 folders: at debug level one create logs every path (far more than a pipe's 64 KiB). */
function manyPaths(cwd: string, sparseGiB = 0): string {
  const paths = Array.from({ length: 300 }, (_, i) => join(cwd, "site", `folder-${String(i).padStart(3, "0")}-${"x".repeat(100)}`));
  for (const p of paths) mkdirSync(p, { recursive: true });
  writeFileSync(join(paths[0]!, "index.html"), "<h1>hello</h1>\n");
  // Long work that writes almost nothing: tar reads every zero of a sparse file, zstd squeezes it to KiB.
  if (sparseGiB) writeFileSync(join(paths[1]!, "sparse.img"), ""), truncateSync(join(paths[1]!, "sparse.img"), sparseGiB * 1024 ** 3);
  return `servers:\n  many: { driver: archive, paths: [${paths.join(", ")}] }\n`;
}

async function slackBot(cwd: string, sparseGiB = 0) {
  const fake = await startFakeSlack();
  const port = await freePort();
  writeFileSync(join(cwd, "snapbot.yml"), manyPaths(cwd, sparseGiB));
  const bot = startBot(cwd, { SLACK_BOT_TOKEN: BOT_TOKEN, SLACK_SIGNING_SECRET: SIGNING_SECRET, SLACK_API_URL: fake.apiUrl, PORT: String(port), LOG_LEVEL: "debug" });
  await bot.waitFor(/"msg":"snapbot is listening to Slack"/);
  return { fake, bot, url: `http://127.0.0.1:${port}/slack/events` };
}

/** Two creates on the server with many paths, each logging far more than a pipe holds; both must finish. */
async function flood(fake: FakeSlack, url: string): Promise<void> {
  for (const name of ["s1", "s2"]) {
    expect((await postToBot(url, slashBody({ text: `create many ${name}`, responseUrl: fake.responseUrl() }))).status).toBe(200);
    const post = await waitPosted(fake, "C0OPS", new RegExp(`create many/${name}`));
    await waitUpdated(fake, String(post.answer!.ts), new RegExp(`many/${name} done: `));
  }
}

/** Polls the ledger (read-only) until `sql` returns a row, the bot's output being unreadable. */
async function ledgerHas(cwd: string, sql: string, ms = 30_000): Promise<void> {
  const end = Date.now() + ms;
  for (;;) {
    if (existsSync(join(cwd, "data/snapbot.db"))) {
      const db = new Database(join(cwd, "data/snapbot.db"), { readonly: true, timeout: 2000 });
      try {
        if (db.prepare(sql).get()) return;
      } catch (e) {
        // The file exists before the bot's migrations have made the tables: ask again.
        if (!/no such table/.test(String(e))) throw e;
      } finally {
        db.close();
      }
    }
    if (Date.now() > end) throw new Error(`the ledger never answered ${sql}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe("a bot whose log reader has gone still stops on SIGTERM", () => {
  for (const how of ["paused", "destroyed"] as const) {
    it(`Slack mode, reader ${how}: it keeps working, SIGTERM stops it`, async () => {
      const { fake, bot, url } = await slackBot(freshCwd());
      dropReader(bot, how);
      await flood(fake, url);
      bot.child.kill("SIGTERM");
      expect(await exitWithin(bot, 15_000)).toEqual({ code: 0, signal: null });
      await fake.close();
    });

    it(`console mode, reader ${how}: it keeps working, SIGTERM stops it`, async () => {
      const cwd = freshCwd();
      writeFileSync(join(cwd, "snapbot.yml"), manyPaths(cwd));
      const bot = startBot(cwd, { LOG_LEVEL: "debug" });
      dropReader(bot, how);
      // Replies and log lines far beyond what the pipes hold.
      for (const name of ["s1", "s2", "s3"]) bot.send(`/snapshot create many ${name}`);
      for (let i = 0; i < 300; i++) bot.send("/snapshot help");
      await ledgerHas(cwd, "SELECT 1 FROM operations WHERE id = 3 AND state = 'succeeded'");
      bot.child.kill("SIGTERM");
      expect(await exitWithin(bot, 30_000)).toEqual({ code: 0, signal: null });
    });
  }

  it("Slack mode, reader paused: a second SIGTERM cancels the running create, leaving no partial folder", async () => {
    const cwd = freshCwd();
    const { fake, bot, url } = await slackBot(cwd, 8);
    dropReader(bot, "paused");
    expect((await postToBot(url, slashBody({ text: "create many big", responseUrl: fake.responseUrl() }))).status).toBe(200);
    await ledgerHas(cwd, "SELECT 1 FROM operations WHERE state = 'running'");
    bot.child.kill("SIGTERM");
    await new Promise((r) => setTimeout(r, 300)); // two signals at once may reach the process as one
    bot.child.kill("SIGTERM");
    expect(await exitWithin(bot, 15_000)).toEqual({ code: 130, signal: null });
    expect(existsSync(join(cwd, "data/snapshots/many/big"))).toBe(false);
    const db = new Database(join(cwd, "data/snapbot.db"), { readonly: true });
    expect(db.prepare("SELECT state, error FROM operations").all()).toEqual([{ state: "failed", error: "cancelled: snapbot was stopped while it ran" }]);
    db.close();
    await fake.close();
  });
});
