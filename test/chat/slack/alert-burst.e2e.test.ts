import { describe, expect, it, onTestFinished } from "vitest";
import { mkdtempSync } from "node:fs";
import { join } from "node:path";
import { webApi } from "@slack/bolt";
import { createSqliteLedger } from "../../../db/sqlite/sqlite-ledger.ts";
import { systemClock } from "../../../src/clock.ts";
import { createSlackChat } from "../../../src/chat/slack/slack-chat.ts";
import { webClientOptions } from "../../../src/chat/slack/web-client-options.ts";
import { boltLogger } from "../../../src/chat/slack/bolt-logger.ts";
import { LIMITS } from "../../../src/chat/slack/block-kit.ts";
import { createAlertSink } from "../../../src/alerts/alert-sink.ts";
import { tempDir } from "../../helpers/temp-dir.ts";
import { startFakeSlack, type FakeCall } from "../../helpers/fake-slack.ts";
import { BOT_TOKEN, captureLog, shown, sleep } from "../../helpers/slack-bot.ts";

// The alert sink against the Web API as Slack answers it (the local fake records every call): a burst is
// one message, resolutions are thread replies, updates and posts keep Slack's pace, a 429 loses nothing.
const root = tempDir("snapbot-alert-burst-");
const SLACK_SECOND = 950; // Slack's one second, less what HTTP timing may shave off between two recorded arrivals

async function setup() {
  const dir = mkdtempSync(join(root, "b-"));
  const fake = await startFakeSlack();
  const log = captureLog();
  const web = new webApi.WebClient(BOT_TOKEN, webClientOptions({ apiUrl: fake.apiUrl, logger: boltLogger(log.log) }));
  const ledger = createSqliteLedger(join(dir, "ledger.db"), systemClock);
  const sink = createAlertSink({ ledger, chat: createSlackChat(web, log.log), log: log.log, defaultChannel: "C0ALERTS", retryMs: 200 });
  onTestFinished(async () => {
    await sink.stop(5000);
    await ledger.close();
    await fake.close();
  });
  const server = (name: string, channel: string | null = null) => ledger.servers.register({ name, driver: "archive", settings: { paths: ["/srv"] }, channel }, "U0ADMIN");
  const web1 = await server("web-1");
  const failed = (snapshot: string, s = web1) => ({
    kind: "snapshot_failed" as const,
    server: s,
    snapshotName: snapshot,
    title: `snapshot ${s.name}/${snapshot} failed (asked by U0SCHED)`,
    lines: ["tar: /srv: Cannot open: No such file or directory"],
    buttons: [{ label: "Retry", command: `create ${s.name} ${snapshot}` }],
  });
  return { fake, log, ledger, sink, server, web1, failed };
}

const topLevel = (calls: FakeCall[], channel: string) => calls.filter((c) => c.method === "chat.postMessage" && c.body.channel === channel && !c.body.thread_ts);
const threadOf = (calls: FakeCall[], ts: string) => calls.filter((c) => c.method === "chat.postMessage" && c.body.thread_ts === ts);
const updatesOf = (calls: FakeCall[], ts: string) => calls.filter((c) => c.method === "chat.update" && c.body.ts === ts);
const gaps = (calls: FakeCall[]) => calls.slice(1).map((c, i) => c.at - calls[i]!.at);

describe("Slack: a burst of alerts", () => {
  it("200 snapshot_failed alerts within one second → one summary message; resolutions → thread replies, updates at most once a second", async () => {
    const { fake, ledger, sink, web1, failed } = await setup();
    const started = Date.now();
    const raised: Promise<void>[] = []; // raised at once, not one after another: waited for before flushing
    for (let i = 0; i < 100; i++) raised.push(sink.raise(failed(`nightly-${i}`)));
    await sleep(400);
    for (let i = 100; i < 200; i++) raised.push(sink.raise(failed(`nightly-${i}`)));
    expect(Date.now() - started).toBeLessThan(1000);
    const post = await fake.waitFor((calls) => topLevel(calls, "C0ALERTS")[0], 5000, "the summary");
    await Promise.all(raised);
    await sink.flush();
    await sleep(1100); // anything else the burst would post comes within the next second
    expect(topLevel(fake.calls, "C0ALERTS")).toEqual([post]);
    expect(fake.callsTo("chat.postMessage")).toHaveLength(1);
    expect(post.at - started).toBeGreaterThanOrEqual(SLACK_SECOND); // the sink gathered for a second
    const text = shown(post.body);
    expect(text).toMatch(/^:x: \*200 alerts: 200 snapshot_failed\*/);
    expect(String(post.body.text)).toMatch(/^200 alerts: 200 snapshot_failed\n/); // the notification's fallback
    const listed = text.split("\n").filter((l) => l.startsWith("• snapshot_failed web-1/nightly-"));
    expect(listed).toHaveLength(40);
    expect(listed[0]).toBe("• snapshot_failed web-1/nightly-0: snapshot web-1/nightly-0 failed (asked by U0SCHED)");
    expect(text).toContain("… and 160 more");
    expect(text).toContain("[Open alerts]");
    expect((post.body.blocks as unknown[]).length).toBeLessThanOrEqual(LIMITS.blocks);
    const ts = String(post.answer?.ts);
    expect(new Set((await ledger.alerts.listOpen()).map((a) => a.message_ref?.ts))).toEqual(new Set([ts]));
    expect(await ledger.alerts.listOpen()).toHaveLength(200);

    // Resolutions: a thread reply under the summary (those of one second together), the summary updated.
    for (const i of [0, 1, 2, 3, 4]) await sink.resolve("snapshot_failed", web1, `nightly-${i} succeeded on the next run`, `nightly-${i}`);
    const first = await fake.waitFor((calls) => threadOf(calls, ts)[0], 5000, "a thread reply");
    expect(shown(first.body)).toMatch(/^\*✔ resolved: 5 alerts\*\nsnapshot_failed web-1\/nightly-0: nightly-0 succeeded on the next run \(open for \d+(ms|s)\)/);
    expect(first.body.channel).toBe("C0ALERTS");
    // Meanwhile a burst of repeats: 50 alerts seen again, 10 times each, within a second.
    for (let round = 0; round < 10; round++) {
      for (let i = 100; i < 150; i++) raised.push(sink.raise(failed(`nightly-${i}`)));
      await sleep(80);
    }
    for (const i of [5, 6, 7]) await sink.resolve("snapshot_failed", web1, "succeeded on the next run", `nightly-${i}`);
    await Promise.all(raised);
    await sink.flush();
    await fake.waitFor((calls) => threadOf(calls, ts).length >= 2 && updatesOf(calls, ts).some((u) => shown(u.body).includes("(8 resolved, 192 open)")), 10_000, "all of it sent");

    const replies = threadOf(fake.calls, ts);
    expect(replies.map((r) => shown(r.body).split("\n")[0])).toEqual(["*✔ resolved: 5 alerts*", "*✔ resolved: 3 alerts*"]);
    const updates = updatesOf(fake.calls, ts);
    expect(updates.length).toBeGreaterThanOrEqual(2);
    expect(updates.length).toBeLessThanOrEqual(6); // 500 repeats and 8 resolutions, merged
    for (const gap of gaps(updates)) expect(gap).toBeGreaterThanOrEqual(SLACK_SECOND);
    expect(updates[0]!.at - post.at).toBeGreaterThanOrEqual(SLACK_SECOND);
    const latest = shown(updates.at(-1)!.body);
    expect(latest).toMatch(/^:x: \*200 alerts \(8 resolved, 192 open\): 200 snapshot_failed\*/);
    expect(latest).toMatch(/\n✔ resolved after \d+(ms|s): snapshot_failed web-1\/nightly-0: /);
    expect(latest).toContain("\n• snapshot_failed web-1/nightly-8: snapshot web-1/nightly-8 failed (asked by U0SCHED)\n");
    // Every message to the channel (the summary and its thread replies) a second apart.
    for (const gap of gaps(fake.calls.filter((c) => c.method === "chat.postMessage"))) expect(gap).toBeGreaterThanOrEqual(SLACK_SECOND);
    expect((await ledger.alerts.listOpen()).find((a) => a.key === "snapshot_failed:web-1:nightly-120")!.count).toBe(11);
    expect(topLevel(fake.calls, "C0ALERTS")).toHaveLength(1);
  });

  it("waits out a 429 and retries, losing nothing: the WebClient's own retries, then the sink's", async () => {
    const { fake, ledger, sink, server, failed, log } = await setup();
    const db1 = await server("db-1", "C0DB");
    fake.rateLimit(2);
    await Promise.all(["a", "b", "c"].map((s) => sink.raise(failed(s, db1)))); // raised at once
    await sink.flush();
    const tries = fake.callsTo("chat.postMessage");
    expect(tries.map((c) => c.answer?.error ?? "ok")).toEqual(["ratelimited", "ratelimited", "ok"]);
    for (const gap of gaps(tries)) expect(gap).toBeGreaterThanOrEqual(SLACK_SECOND); // Retry-After: 1
    expect(shown(tries[2]!.body)).toMatch(/^:x: \*3 alerts: 3 snapshot_failed\*/);
    const ts = String(tries[2]!.answer?.ts);
    expect((await ledger.alerts.listOpen()).map((a) => [a.key, a.message_ref?.ts])).toEqual(
      expect.arrayContaining([["snapshot_failed:db-1:a", ts], ["snapshot_failed:db-1:b", ts], ["snapshot_failed:db-1:c", ts]]),
    );

    // Four 429s in a row outlast the WebClient's retries: the sink tries again itself.
    fake.rateLimit(4);
    await sink.raise(failed("d", db1));
    await sink.flush();
    const more = fake.callsTo("chat.postMessage").slice(3);
    expect(more.map((c) => c.answer?.error ?? "ok")).toEqual(["ratelimited", "ratelimited", "ratelimited", "ratelimited", "ok"]);
    expect(log.text()).toContain("could not post to Slack");
    expect(shown(more[4]!.body)).toMatch(/^:x: \*snapshot_failed: snapshot db-1\/d failed \(asked by U0SCHED\)\*/);
    expect((await ledger.alerts.listOpen()).find((a) => a.key === "snapshot_failed:db-1:d")!.message_ref).toEqual({ channel: "C0DB", ts: String(more[4]!.answer?.ts) });
  });
});
