import { describe, expect, it } from "vitest";
import { mkdirSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { tempDir } from "../../helpers/temp-dir.ts";
import { createSqliteLedger } from "../../../db/sqlite/sqlite-ledger.ts";
import { systemClock } from "../../../src/clock.ts";
import { startBot } from "../../helpers/bot-process.ts";
import { startFakeSlack } from "../../helpers/fake-slack.ts";
import { BOT_TOKEN, shown, waitResponse } from "../../helpers/slack-bot.ts";
import { postToBot, SIGNING_SECRET, slashBody } from "../../helpers/slack-signer.ts";

// The real src/main.ts in HTTP mode with no snapbot.yml: the built-in demo config, read-only in Slack.
const root = tempDir("snapbot-demo-slack-");

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, "127.0.0.1", () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

describe("src/main.ts in Slack with the built-in demo config", () => {
  it("refuses register and restore from any member, answers list, and registers nothing", async () => {
    const fake = await startFakeSlack();
    const port = await freePort();
    const cwd = join(root, "bot");
    mkdirSync(cwd);
    const bot = startBot(cwd, { SLACK_BOT_TOKEN: BOT_TOKEN, SLACK_SIGNING_SECRET: SIGNING_SECRET, SLACK_API_URL: fake.apiUrl, PORT: String(port) });
    try {
      await bot.waitFor(/"msg":"snapbot is listening to Slack"/);
      await bot.waitFor(/"msg":"read-only: only list/); // logged once start-up is done
      expect(bot.out()).toMatch(/"level":40,.*"msg":"read-only: only list, show, servers, help… run; this bot runs on the built-in demo config/);
      const url = `http://127.0.0.1:${port}/slack/events`;
      const ask = async (text: string) => {
        const responseUrl = fake.responseUrl();
        expect((await postToBot(url, slashBody({ text, user: "U0STRANGER", responseUrl }))).status).toBe(200);
        return shown((await waitResponse(fake, responseUrl)).body);
      };
      for (const text of ["register evil archive paths=/etc", "restore demo/anything", "create demo"]) {
        const answer = await ask(text);
        expect(answer).toContain(`${text.split(" ")[0]} is refused: this bot runs on the built-in demo config, read-only in Slack: write a snapbot.yml`);
        expect(answer).toContain("see README → Configuration");
      }
      expect(await ask("list demo")).toMatch(/demo/);
      expect(await ask("list demo")).not.toMatch(/refused/);
      expect(fake.callsTo("chat.postMessage")).toHaveLength(0); // nothing was posted in the channel: nothing ran
    } finally {
      bot.child.kill("SIGTERM");
      await bot.exit;
      await fake.close();
    }
    const ledger = createSqliteLedger(join(cwd, "data/snapbot.db"), systemClock); // the ledger the bot left
    try {
      expect((await ledger.servers.list()).map((s) => s.name)).toEqual(["demo"]);
      expect(await ledger.servers.find("evil")).toBeUndefined(); // not registered, not even unregistered since
      expect(await ledger.operations.list({ limit: 100_000 })).toHaveLength(0);
    } finally {
      await ledger.close();
    }
  });
});
