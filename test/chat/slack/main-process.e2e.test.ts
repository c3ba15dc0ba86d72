import { describe, expect, it } from "vitest";
import { mkdirSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { tempDir } from "../../helpers/temp-dir.ts";
import { startBot } from "../../helpers/bot-process.ts";
import { startFakeSlack } from "../../helpers/fake-slack.ts";
import { APP_TOKEN, BOT_TOKEN, shown, waitPosted, waitUpdated } from "../../helpers/slack-bot.ts";
import { postToBot, signatureHeaders, SIGNING_SECRET, slashBody } from "../../helpers/slack-signer.ts";

// The real src/main.ts as a child process, configured only through its environment (DESIGN.md §3).
const root = tempDir("snapbot-slack-main-");
let n = 0;

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, "127.0.0.1", () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

function workdir(): string {
  const cwd = join(root, `m${++n}`);
  mkdirSync(join(cwd, "site"), { recursive: true });
  writeFileSync(join(cwd, "site/index.html"), "<h1>hello</h1>\n");
  writeFileSync(join(cwd, "snapbot.yml"), ["alerts: { channel: C0ALERTS }", "servers:", `  web: { driver: archive, paths: [${join(cwd, "site")}] }`, ""].join("\n"));
  return cwd;
}

describe("src/main.ts in Slack mode", () => {
  it("serves HTTP mode from the environment, works end to end, and stops cleanly on SIGTERM", async () => {
    const fake = await startFakeSlack();
    const port = await freePort();
    const bot = startBot(workdir(), { SLACK_BOT_TOKEN: BOT_TOKEN, SLACK_SIGNING_SECRET: SIGNING_SECRET, SLACK_API_URL: fake.apiUrl, PORT: String(port) });
    await bot.waitFor(/"msg":"snapbot is listening to Slack"/);
    const url = `http://127.0.0.1:${port}/slack/events`;
    const body = slashBody({ text: "create web first", responseUrl: fake.responseUrl() });
    expect((await postToBot(url, body, signatureHeaders(body, "forged"))).status).toBe(401);
    const res = await postToBot(url, body);
    expect(res.status).toBe(200);
    const post = await waitPosted(fake, "C0OPS", /create web\/first/);
    await waitUpdated(fake, String(post.answer!.ts), /web\/first done: /);
    bot.child.kill("SIGTERM");
    expect(await bot.exit).toEqual({ code: 0, signal: null });
    expect(bot.out()).toMatch(/"msg":"snapbot stopped"/);
    for (const secret of [BOT_TOKEN, SIGNING_SECRET]) expect(bot.out() + bot.err()).not.toContain(secret);
    expect(shown(post.body)).toContain("create web/first");
    await fake.close();
  });

  it("waits for a running operation before stopping", async () => {
    const fake = await startFakeSlack();
    const port = await freePort();
    const cwd = workdir();
    writeFileSync(join(cwd, "site/big.bin"), Buffer.alloc(96 * 1024 * 1024, 7)); // enough work to be mid-way at SIGTERM
    const bot = startBot(cwd, { SLACK_BOT_TOKEN: BOT_TOKEN, SLACK_SIGNING_SECRET: SIGNING_SECRET, SLACK_API_URL: fake.apiUrl, PORT: String(port) });
    await bot.waitFor(/"msg":"snapbot is listening to Slack"/);
    expect((await postToBot(`http://127.0.0.1:${port}/slack/events`, slashBody({ text: "create web s1", responseUrl: fake.responseUrl() }))).status).toBe(200);
    const post = await waitPosted(fake, "C0OPS", /create web\/s1/);
    bot.child.kill("SIGTERM");
    expect(await bot.exit).toEqual({ code: 0, signal: null });
    expect(shown(fake.callsTo("chat.update").filter((c) => c.body.ts === post.answer!.ts).at(-1)!.body)).toMatch(/web\/s1 done/);
    const at = (msg: string) => bot.out().split("\n").filter(Boolean).map((l) => JSON.parse(l) as { msg: string; time: number }).find((l) => l.msg === msg)!.time;
    expect(at("stopping: waiting for running operations")).toBeLessThan(at("operation succeeded")); // it was mid-way
    await fake.close();
  });

  it("chooses Socket Mode when the app token is set, and reaches apps.connections.open at SLACK_API_URL", async () => {
    const fake = await startFakeSlack();
    const bot = startBot(workdir(), { SLACK_BOT_TOKEN: BOT_TOKEN, SLACK_APP_TOKEN: APP_TOKEN, SLACK_API_URL: fake.apiUrl });
    await bot.waitFor(/"msg":"snapbot is listening to Slack"/);
    expect(bot.out()).toMatch(/"mode":"socket"/);
    expect(fake.callsTo("apps.connections.open").map((c) => c.auth)).toEqual([`Bearer ${APP_TOKEN}`]);
    bot.child.kill("SIGINT");
    expect((await bot.exit).code).toBe(0);
    expect(bot.out() + bot.err()).not.toContain(APP_TOKEN.slice(5));
    await fake.close();
  });

  it("stops with one line when a variable is missing or the token is refused", async () => {
    const half = startBot(workdir(), { SLACK_BOT_TOKEN: BOT_TOKEN });
    expect((await half.exit).code).toBe(2);
    expect(half.err()).toBe("snapbot: SLACK_BOT_TOKEN is set but SLACK_APP_TOKEN (Socket Mode) or SLACK_SIGNING_SECRET (HTTP mode) is missing\n");
    const fake = await startFakeSlack();
    fake.failMethod("auth.test", "invalid_auth");
    const refused = startBot(workdir(), { SLACK_BOT_TOKEN: BOT_TOKEN, SLACK_SIGNING_SECRET: SIGNING_SECRET, SLACK_API_URL: fake.apiUrl, PORT: String(await freePort()) });
    expect((await refused.exit).code).toBe(1);
    expect(refused.err()).toMatch(/^snapbot: failed to start: SLACK_BOT_TOKEN was refused by Slack \(invalid_auth\)/);
    await fake.close();
  });
});
