import { describe, expect, it } from "vitest";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { webApi } from "@slack/bolt";
import { fakeClock } from "../../../src/clock.ts";
import { createSlackChat } from "../../../src/chat/slack/slack-chat.ts";
import { webClientOptions } from "../../../src/chat/slack/web-client-options.ts";
import { boltLogger } from "../../../src/chat/slack/bolt-logger.ts";
import { testApp } from "../../helpers/test-app.ts";
import { runCommand } from "../../../commands/index.ts";
import { tempDir } from "../../helpers/temp-dir.ts";
import { startFakeSlack, type FakeCall } from "../../helpers/fake-slack.ts";
import { BOT_TOKEN, captureLog, shown, sleep } from "../../helpers/slack-bot.ts";

// The storage outage, end to end: 200 servers scheduled for the same minute, the snapshot storage
// gone (a file where the folder should be), so every run fails for real in the archive driver. The channel
// gets summaries at Slack's pace (one message a second), not 200 messages: checked on the Web API calls.

const root = tempDir("snapbot-outage-");
const N = 200;

describe("Slack: 200 scheduled snapshots failing at once", () => {
  it("posts one summary per second at most, listing every failure, and nothing is lost", async () => {
    const src = join(root, "src");
    mkdirSync(src, { recursive: true });
    writeFileSync(join(src, "f"), "x");
    writeFileSync(join(root, "storage"), "not a folder"); // the outage
    const servers = Object.fromEntries(Array.from({ length: N }, (_, i) => [`web-${i}`, { driver: "archive", paths: [src] }]));
    const fake = await startFakeSlack();
    const log = captureLog();
    const chat = createSlackChat(new webApi.WebClient(BOT_TOKEN, webClientOptions({ apiUrl: fake.apiUrl, logger: boltLogger(log.log) })), log.log);
    const clock = fakeClock(Date.UTC(2026, 0, 1, 0, 0, 30));
    const { app } = await testApp(root, { storage: { path: join(root, "storage") }, alerts: { channel: "C0ALERTS" }, engine: { concurrency: 8 }, servers }, clock, chat);
    try {
      for (let i = 0; i < N; i++) expect((await runCommand(app, { user: "U1", channel: "C1", text: `schedule web-${i} "@hourly"` })).tone).toBe("success");
      clock.set(Date.UTC(2026, 0, 1, 1, 0));
      const started = Date.now();
      expect(await app.scheduler.tick()).toMatchObject({ fired: N });
      await app.scheduler.settle();
      await app.engine.idle();
      const failedIn = Date.now() - started;
      expect((await app.ledger.stats.snapshotCounts()).reduce((n, s) => n + s.counts.failed, 0)).toBe(N);
      await app.alerts.flush();
      await sleep(1100);
      const posts = fake.calls.filter((c: FakeCall) => c.method === "chat.postMessage" && c.body.channel === "C0ALERTS" && !c.body.thread_ts);
      // One summary for each second the failures kept arriving (here they all fail within about one).
      expect(posts.length).toBeGreaterThanOrEqual(1);
      expect(posts.length).toBeLessThanOrEqual(Math.ceil(failedIn / 1000) + 1);
      for (let i = 1; i < posts.length; i++) expect(posts[i]!.at - posts[i - 1]!.at).toBeGreaterThanOrEqual(950);
      const counted = posts.map((p) => Number(/^(\d+) alerts/.exec(String(p.body.text))?.[1] ?? 1)).reduce((a, b) => a + b, 0);
      expect(counted).toBe(N); // every failure is in a message
      expect(shown(posts[0]!.body)).toMatch(/snapshot_failed web-\d+\/\S+: snapshot web-\d+\/\S+ failed \(asked by scheduler\)/);
      expect((await app.ledger.alerts.listOpen()).filter((a) => a.kind === "snapshot_failed")).toHaveLength(N);
    } finally {
      await app.alerts.stop(5000);
      await app.close();
      await fake.close();
    }
  }, 60_000);
});
