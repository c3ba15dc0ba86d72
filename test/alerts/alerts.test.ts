import { describe, expect, it, onTestFinished } from "vitest";
import { mkdtempSync } from "node:fs";
import { join } from "node:path";
import { createSqliteLedger } from "../../db/sqlite/sqlite-ledger.ts";
import { createAlertSink, type AlertSinkDeps } from "../../src/alerts/alert-sink.ts";
import type { ServerRow } from "../../db/types.ts";
import type { Pacing } from "../../src/chat/chat-port.ts";
import { blockKit, LIMITS } from "../../src/chat/slack/block-kit.ts";
import { renderText } from "../../src/chat/console/render-text.ts";
import { alerts } from "../../commands/alerts.ts";
import { parseArgs, tokenize } from "../../commands/parse.ts";
import { fakeClock } from "../../src/clock.ts";
import { tempDir } from "../helpers/temp-dir.ts";
import { recordingChat } from "../helpers/recording-chat.ts";
import { manualTimer } from "../helpers/manual-timer.ts";
import { captureLog } from "../helpers/slack-bot.ts";
import { testApp } from "../helpers/test-app.ts";

const root = tempDir("snapbot-alerts-");
const SLACK_LIKE: Pacing = { postIntervalMs: 1000, updateIntervalMs: 1000 };
const T0 = Date.UTC(2026, 2, 1, 12, 0, 0);
const utc = (ms: number) => new Date(ms).toISOString().replace("T", " ").slice(0, 19) + "Z";

/** A real ledger in a temp dir, a recording chat, and one Timer that the ledger and the sink share. */
function setup(o: { pacing?: Pacing } & Partial<Pick<AlertSinkDeps, "gatherMs" | "retryMs" | "maxAttempts" | "defaultChannel">> = {}) {
  const dir = mkdtempSync(join(root, "s-"));
  const timer = manualTimer(T0);
  const ledger = createSqliteLedger(join(dir, "ledger.db"), { now: timer.now });
  const chat = recordingChat({ pacing: o.pacing, now: timer.now });
  const log = captureLog("debug");
  const server = (name: string, channel: string | null = null): Promise<ServerRow> =>
    ledger.servers.register({ name, driver: "archive", settings: { paths: ["/srv"] }, channel }, "U0ADMIN");
  const sink = createAlertSink({ ledger, chat: chat.port, log: log.log, defaultChannel: "defaultChannel" in o ? o.defaultChannel! : "C0ALERTS", timer, ...o });
  onTestFinished(async () => {
    await sink.stop(0);
    await ledger.close();
  });
  const failed = async (name: string, snapshot: string) => ({
    kind: "snapshot_failed" as const,
    server: (await ledger.servers.get(name))!,
    snapshotName: snapshot,
    title: `snapshot ${name}/${snapshot} failed (asked by U0OP)`,
    lines: ["tar: /srv: Cannot open: No such file or directory\ntar: Exiting with failure status"],
    buttons: [{ label: "Retry", command: `create ${name} ${snapshot}` }],
  });
  const posts = () => chat.calls.filter((c) => c.kind === "post" && !c.threadTs);
  const updates = (ts: string) => chat.calls.filter((c) => c.kind === "update" && c.ts === ts);
  const replies = (ts: string) => chat.calls.filter((c) => c.kind === "post" && c.threadTs === ts);
  return { ledger, chat, sink, timer, log, server, failed, posts, updates, replies };
}

describe("alert sink: de-duplication and resolution (no pacing)", () => {
  it("posts a new alert once; a repeat counts in the ledger and updates the same message with its count and last sighting", async () => {
    const { ledger, sink, timer, server, failed, posts, updates } = setup();
    await server("web");
    await sink.raise(await failed("web", "s1"));
    await sink.flush();
    expect(posts()).toHaveLength(1);
    const [post] = posts();
    expect(post).toMatchObject({ channel: "C0ALERTS", reply: { tone: "error", title: "snapshot_failed: snapshot web/s1 failed (asked by U0OP)", buttons: [{ label: "Retry", command: "create web s1" }] } });
    expect(post!.reply.lines).toEqual(["tar: /srv: Cannot open: No such file or directory\ntar: Exiting with failure status"]); // the stderr tail stays one entry
    await timer.advance(5000);
    await sink.raise(await failed("web", "s1"));
    await sink.flush();
    expect(posts()).toHaveLength(1);
    expect(updates(post!.ts)).toHaveLength(1);
    expect(updates(post!.ts)[0]!.reply.lines).toEqual([post!.reply.lines![0], "seen 2 times", `last seen ${utc(T0 + 5000)}, first ${utc(T0)}`]);
    expect(await ledger.alerts.listOpen()).toMatchObject([{ key: "snapshot_failed:web:s1", count: 2, first_seen: T0, last_seen: T0 + 5000, message_ref: { channel: "C0ALERTS", ts: post!.ts } }]);
  });

  it("routes to the server's channel, else the default one; with neither it records and posts nothing", async () => {
    const { ledger, sink, server, failed, posts } = setup({ defaultChannel: null });
    await server("web", "C0WEB");
    await server("db");
    await sink.raise(await failed("web", "s1"));
    await sink.raise(await failed("db", "s1"));
    await sink.flush();
    expect(posts().map((p) => p.channel)).toEqual(["C0WEB"]);
    expect((await ledger.alerts.listOpen()).map((a) => [a.key, a.channel])).toEqual(
      expect.arrayContaining([["snapshot_failed:web:s1", "C0WEB"], ["snapshot_failed:db:s1", null]]),
    );
    const routed = setup();
    await routed.server("web", "C0WEB");
    await routed.server("db");
    await routed.sink.raise(await routed.failed("web", "s1"));
    await routed.sink.raise(await routed.failed("db", "s1"));
    await routed.sink.flush();
    expect(routed.posts().map((p) => p.channel).sort()).toEqual(["C0ALERTS", "C0WEB"]);
  });

  it("resolves: the message says resolved and for how long, a thread reply under it says why; nothing open → false", async () => {
    const { ledger, sink, timer, server, failed, posts, updates, replies, chat } = setup();
    const web = await server("web");
    expect(await sink.resolve("snapshot_failed", web, "nothing was open", "s1")).toBe(false);
    expect(chat.calls).toHaveLength(0);
    await sink.raise(await failed("web", "s1"));
    await sink.flush();
    const [post] = posts();
    await timer.advance(3 * 60_000);
    expect(await sink.resolve("snapshot_failed", web, "a later create web s1 succeeded", "s1")).toBe(true);
    await sink.flush();
    expect(chat.calls.slice(1).map((c) => (c.threadTs ? `reply to ${c.threadTs}` : `${c.kind} ${c.ts}`))).toEqual([`update ${post!.ts}`, `reply to ${post!.ts}`]);
    const resolved = updates(post!.ts).at(-1)!.reply;
    expect(resolved).toMatchObject({ tone: "success", title: "resolved snapshot_failed: snapshot web/s1 failed (asked by U0OP)" });
    expect(resolved.buttons).toBeUndefined(); // no Retry on a resolved alert
    expect(resolved.lines!.slice(0, 2)).toEqual(["a later create web s1 succeeded", "open for 3m"]);
    expect(replies(post!.ts)).toMatchObject([{ channel: "C0ALERTS", reply: { title: "✔ resolved: a later create web s1 succeeded", lines: ["snapshot_failed web/s1 was open for 3m"] } }]);
    expect(await ledger.alerts.listOpen()).toEqual([]);
    expect(await sink.resolve("snapshot_failed", web, "again", "s1")).toBe(false);
    // The condition comes back: a new alert, a new message.
    await sink.raise(await failed("web", "s1"));
    await sink.flush();
    expect(posts()).toHaveLength(2);
    expect(posts()[1]!.ts).not.toBe(post!.ts);
  });
});

describe("alert sink: pacing and coalescing (controlled clock)", () => {
  it("gathers the new alerts of one second into one summary message that they all point to", async () => {
    const { ledger, sink, timer, server, failed, posts } = setup({ pacing: SLACK_LIKE });
    await server("web");
    await server("db", "C0DB");
    await sink.raise(await failed("web", "a"));
    await sink.raise(await failed("db", "x")); // another channel: a message of its own
    await timer.advance(300);
    await sink.raise(await failed("web", "b"));
    await sink.raise({ kind: "limit_near", server: (await ledger.servers.get("web"))!, title: "web holds 45 of its 50 snapshots", lines: ["delete old ones"] });
    await timer.advance(699);
    expect(posts()).toHaveLength(0);
    await timer.advance(1);
    expect(posts().map((p) => p.channel).sort()).toEqual(["C0ALERTS", "C0DB"]);
    const summary = posts().find((p) => p.channel === "C0ALERTS")!;
    expect(summary.reply.title).toBe("3 alerts: 2 snapshot_failed, 1 limit_near");
    expect(summary.reply.lines).toEqual([
      "• snapshot_failed web/a: snapshot web/a failed (asked by U0OP)",
      "• snapshot_failed web/b: snapshot web/b failed (asked by U0OP)",
      "• limit_near web: web holds 45 of its 50 snapshots",
    ]);
    expect(summary.reply.buttons).toEqual([{ label: "Open alerts", command: "alerts" }]);
    expect(posts().find((p) => p.channel === "C0DB")!.reply.title).toBe("snapshot_failed: snapshot db/x failed (asked by U0OP)");
    const refs = (await ledger.alerts.listOpen()).filter((a) => a.channel === "C0ALERTS").map((a) => a.message_ref);
    expect(refs).toEqual([summary, summary, summary].map((s) => ({ channel: s.channel, ts: s.ts })));
    // A later alert waits for its own gathering window and for the channel's next second.
    await timer.advance(100);
    await sink.raise(await failed("web", "c"));
    await timer.advance(999);
    expect(posts()).toHaveLength(2);
    await timer.advance(1);
    expect(posts()).toHaveLength(3);
    expect(posts()[2]!.reply.title).toBe("snapshot_failed: snapshot web/c failed (asked by U0OP)");
  });

  it("merges a burst of repeats: at most one update of a message per second, showing the latest count", async () => {
    const { sink, timer, server, failed, posts, updates, ledger } = setup({ pacing: SLACK_LIKE });
    await server("web");
    await sink.raise(await failed("web", "a"));
    await timer.advance(1000);
    const [post] = posts();
    expect(post!.at).toBe(T0 + 1000);
    for (let i = 0; i < 30; i++) {
      await sink.raise(await failed("web", "a"));
      await timer.advance(100); // 30 repeats over 3 s
    }
    await timer.advance(2000);
    const ups = updates(post!.ts);
    expect(ups.length).toBeGreaterThanOrEqual(3);
    expect(ups.length).toBeLessThanOrEqual(4);
    ups.slice(1).forEach((u, i) => expect(u.at - ups[i]!.at).toBeGreaterThanOrEqual(1000));
    expect(ups[0]!.at - post!.at).toBeGreaterThanOrEqual(1000);
    expect(ups.at(-1)!.reply.lines).toContain("seen 31 times");
    expect((await ledger.alerts.listOpen())[0]!.count).toBe(31);
    expect(posts()).toHaveLength(1);
  });

  it("a resolved alert of a summary: its line is marked, and a thread reply on the summary says why", async () => {
    const { sink, timer, server, failed, posts, updates, replies } = setup({ pacing: SLACK_LIKE });
    const web = await server("web");
    for (const s of ["a", "b", "c"]) await sink.raise(await failed("web", s));
    await timer.advance(1000);
    const [summary] = posts();
    await timer.advance(60_000);
    await sink.resolve("snapshot_failed", web, "create web b succeeded", "b");
    await sink.resolve("snapshot_failed", web, "create web c succeeded", "c");
    await timer.advance(1000);
    expect(replies(summary!.ts)).toHaveLength(1); // both resolutions of that second: one reply
    expect(replies(summary!.ts)[0]!.reply).toMatchObject({
      title: "✔ resolved: 2 alerts",
      lines: ["snapshot_failed web/b: create web b succeeded (open for 61s)", "snapshot_failed web/c: create web c succeeded (open for 61s)"],
    });
    const latest = updates(summary!.ts).at(-1)!.reply;
    expect(latest.title).toBe("3 alerts (2 resolved, 1 open): 3 snapshot_failed");
    expect(latest.lines).toEqual([
      "• snapshot_failed web/a: snapshot web/a failed (asked by U0OP)",
      "✔ resolved after 61s: snapshot_failed web/b: snapshot web/b failed (asked by U0OP)",
      "✔ resolved after 61s: snapshot_failed web/c: snapshot web/c failed (asked by U0OP)",
    ]);
    await sink.resolve("snapshot_failed", web, "create web a succeeded", "a");
    await timer.advance(1000);
    expect(replies(summary!.ts).map((r) => r.reply.title)).toEqual(["✔ resolved: 2 alerts", "✔ resolved: create web a succeeded"]);
    expect(updates(summary!.ts).at(-1)!.reply).toMatchObject({ tone: "success", title: "3 alerts, all resolved: 3 snapshot_failed" });
    expect(updates(summary!.ts).at(-1)!.reply.buttons).toBeUndefined();
    expect(posts()).toHaveLength(1);
  });

  it("an alert resolved before its message went out is posted once, already resolved, with no thread reply", async () => {
    const { sink, timer, server, failed, posts, chat } = setup({ pacing: SLACK_LIKE });
    const web = await server("web");
    await sink.raise(await failed("web", "a"));
    await timer.advance(400);
    await sink.resolve("snapshot_failed", web, "the retry succeeded", "a");
    await timer.advance(600);
    expect(chat.calls).toHaveLength(1);
    expect(posts()[0]!.reply).toMatchObject({ tone: "success", title: "resolved snapshot_failed: snapshot web/a failed (asked by U0OP)" });
    expect(posts()[0]!.reply.lines!.slice(0, 2)).toEqual(["the retry succeeded", "open for 400ms"]);
  });

  it("retries a failed post with backoff and loses nothing; gives up after maxAttempts and logs it", async () => {
    const { sink, timer, server, failed, chat, ledger, log } = setup({ pacing: SLACK_LIKE, retryMs: 1000, maxAttempts: 3 });
    await server("web");
    chat.failNext(2);
    await sink.raise(await failed("web", "a"));
    await timer.advance(1000); // try 1 fails; retry after 1 s
    await sink.raise(await failed("web", "b")); // joins the retry
    await timer.advance(1000); // try 2 fails; retry after 2 s
    expect(chat.calls.map((c) => c.ok)).toEqual([false, false]);
    await timer.advance(1999);
    expect(chat.calls).toHaveLength(2);
    await timer.advance(1);
    expect(chat.calls.map((c) => [c.ok, c.at - T0])).toEqual([[false, 1000], [false, 2000], [true, 4000]]);
    expect(chat.calls[2]!.reply.title).toBe("2 alerts: 2 snapshot_failed");
    expect((await ledger.alerts.listOpen()).map((a) => a.message_ref?.ts)).toEqual([chat.calls[2]!.ts, chat.calls[2]!.ts]);

    chat.failNext(3);
    await sink.raise(await failed("web", "c"));
    const flushed = sink.flush(); // flush waits through the retries, then gives up
    await timer.advance(10_000);
    await flushed;
    expect(chat.calls.slice(3).map((c) => c.ok)).toEqual([false, false, false]);
    expect(sink.pending()).toBe(0);
    expect(log.text()).toContain("gave up sending an alert message");
    expect((await ledger.alerts.listOpen()).find((a) => a.key === "snapshot_failed:web:c")).toMatchObject({ message_ref: null });
    // A repeat of an alert whose message was given up posts it again.
    await sink.raise(await failed("web", "c"));
    await timer.advance(1000);
    expect(chat.calls.at(-1)).toMatchObject({ kind: "post", ok: true, reply: { title: "snapshot_failed: snapshot web/c failed (asked by U0OP)" } });
  });

  it("flush sends at once without waiting to gather; after stop nothing is sent but alerts are still recorded", async () => {
    const { sink, timer, server, failed, posts, ledger } = setup({ pacing: SLACK_LIKE });
    await server("web");
    await sink.raise(await failed("web", "a"));
    await sink.raise(await failed("web", "b"));
    expect(posts()).toHaveLength(0);
    await sink.flush();
    expect(posts().map((p) => [p.at, p.reply.title])).toEqual([[T0, "2 alerts: 2 snapshot_failed"]]); // not a second later
    await sink.raise(await failed("web", "c"));
    await sink.stop(0);
    await timer.advance(5000);
    expect(posts()).toHaveLength(1);
    await sink.raise(await failed("web", "d"));
    expect(await ledger.alerts.listOpen()).toHaveLength(4);
  });
});

describe("summary message", () => {
  it("lists 40 of 200 alerts and says how many more, inside Block Kit's limits", async () => {
    const { sink, timer, server, failed, posts } = setup({ pacing: SLACK_LIKE });
    await server("web");
    for (let i = 0; i < 200; i++) await sink.raise(await failed("web", `s${i}`));
    await timer.advance(1000);
    expect(posts()).toHaveLength(1);
    const reply = posts()[0]!.reply;
    expect(reply.title).toBe("200 alerts: 200 snapshot_failed");
    expect(reply.lines).toHaveLength(41);
    expect(reply.lines![39]).toBe("• snapshot_failed web/s39: snapshot web/s39 failed (asked by U0OP)");
    expect(reply.lines![40]).toBe("… and 160 more");
    const message = blockKit(reply);
    expect(message.blocks.length).toBeLessThanOrEqual(LIMITS.blocks);
    for (const b of message.blocks) if (b.type === "section" && b.text) expect(b.text.text.length).toBeLessThanOrEqual(LIMITS.text);
    expect(message.blocks.map((b) => (b.type === "section" ? b.text?.text : "")).join("\n")).toContain("… and 160 more");
  });
});

describe("alerts command", () => {
  async function commandApp() {
    const clock = fakeClock(T0);
    const t = await testApp(mkdtempSync(join(root, "c-")), { alerts: { channel: "C0ALERTS" }, servers: {} }, clock);
    onTestFinished(() => t.app.close());
    const web = await t.app.ledger.servers.register({ name: "web", driver: "archive", settings: { paths: ["/srv"] } }, "U0ADMIN");
    const run = (text = "") => alerts.run({ ...t.app, user: "U1", channel: "C1" }, parseArgs(tokenize(text), alerts.flags ?? {}, alerts.usage));
    const raise = (key: string, message: string) =>
      t.app.ledger.alerts.raise({ kind: key.split(":")[0] as "snapshot_failed", key, server_id: web.id, snapshot_id: null, message, channel: "C0ALERTS" });
    return { ...t, clock, web, run, raise };
  }

  it("says there are none when nothing is open", async () => {
    const { run, raise, app } = await commandApp();
    const none = await run();
    expect(none).toMatchObject({ visibility: "ephemeral", title: "No open alerts" });
    expect(none.table).toBeUndefined();
    await raise("snapshot_failed:web:s1", "snapshot web/s1 failed");
    await app.ledger.alerts.resolve("snapshot_failed:web:s1");
    expect((await run()).title).toBe("No open alerts");
    expect((await run("--all")).table!.rows).toHaveLength(1);
  });

  it("lists the open alerts, the most recently seen first, with ages, count and first line", async () => {
    const { run, raise, clock, app } = await commandApp();
    await raise("snapshot_failed:web:s1", "snapshot web/s1 failed (asked by U0OP)\ntar: exiting");
    clock.advance(10 * 60_000);
    await raise("limit_near:web:", "web holds 45 of its 50 snapshots\ndelete some");
    clock.advance(5 * 60_000);
    await raise("snapshot_failed:web:s1", "snapshot web/s1 failed (asked by U0OP)\ntar: exiting"); // seen again: now the latest
    await raise("snapshot_stale:web:", "web's newest good snapshot is 3d old");
    await app.ledger.alerts.resolve("snapshot_stale:web:");
    clock.advance(60_000);
    const reply = await run();
    expect(reply.title).toBe("Open alerts 1–2 of 2");
    expect(reply.table).toEqual({
      columns: ["id", "kind", "server/snapshot", "first seen", "last seen", "count", "state", "message"],
      rows: [
        ["1", "snapshot_failed", "web/s1", "16m ago", "60s ago", "2", "open", "snapshot web/s1 failed (asked by U0OP)"],
        ["2", "limit_near", "web", "6m ago", "6m ago", "1", "open", "web holds 45 of its 50 snapshots"],
      ],
    });
    expect(reply.buttons).toBeUndefined();
    expect(renderText(reply, 1)).toContain("web/s1");
  });

  it("pages like list, and says so for a page past the end or an argument it does not take", async () => {
    const { run, raise, clock } = await commandApp();
    for (let i = 0; i < 120; i++) {
      await raise(`snapshot_failed:web:s${i}`, `snapshot web/s${i} failed`);
      clock.advance(1000);
    }
    const first = await run();
    expect(first.title).toBe("Open alerts 1–50 of 120 (page 1 of 3)");
    expect(first.table!.rows[0]![2]).toBe("web/s119");
    expect(first.buttons).toEqual([{ label: "Next", command: "alerts --page 2" }]);
    const last = await run("--page 3");
    expect(last.title).toBe("Open alerts 101–120 of 120 (page 3 of 3)");
    expect(last.table!.rows).toHaveLength(20);
    expect(last.table!.rows.at(-1)![2]).toBe("web/s0");
    expect(last.buttons).toEqual([{ label: "Previous", command: "alerts --page 2" }]);
    expect((await run("--page 2")).buttons!.map((b) => b.command)).toEqual(["alerts --page 1", "alerts --page 3"]);
    await expect(async () => run("--page 4")).rejects.toThrow("there are only 3 page(s) of alerts: try alerts");
    await expect(async () => run("web")).rejects.toThrow(/alerts \[--all\] \[--page <n>\] \| alerts ack <id>/);
    expect(blockKit(first).blocks.length).toBeLessThanOrEqual(LIMITS.blocks);
  });

  it("alerts --all lists resolved ones too, with when and why they were resolved, open ones first", async () => {
    const { run, raise, clock, app } = await commandApp();
    await raise("snapshot_failed:web:s1", "snapshot web/s1 failed (asked by U0OP)");
    clock.advance(60_000);
    await raise("limit_near:web:", "web holds 45 of its 50 snapshots");
    clock.advance(60_000);
    await app.ledger.alerts.resolve("snapshot_failed:web:s1", "a later snapshot succeeded: web/s2");
    clock.advance(5 * 60_000);
    expect((await run()).table!.rows.map((r) => r[0])).toEqual(["2"]);
    const all = await run("--all");
    expect(all.title).toBe("Alerts, open and resolved, 1–2 of 2");
    expect(all.table!.rows.map((r) => [r[0], r[6]])).toEqual([
      ["2", "open"],
      ["1", "resolved 5m ago: a later snapshot succeeded: web/s2"],
    ]);
    await expect(async () => run("ack")).rejects.toThrow(/^missing argument; usage: alerts \[--all\]/);
    await expect(async () => run("ack 1 2")).rejects.toThrow(/^unexpected "2"/);
  });
});
