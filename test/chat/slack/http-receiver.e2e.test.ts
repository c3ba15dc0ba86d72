import { describe, expect, it } from "vitest";
import { tempDir } from "../../helpers/temp-dir.ts";
import { mkdtempSync } from "node:fs";
import { join } from "node:path";
import { BOT_TOKEN, setupSlack, shown, sleep, startTestBot, waitPosted, waitResponse } from "../../helpers/slack-bot.ts";
import { startFakeSlack } from "../../helpers/fake-slack.ts";
import { actionBody, clickPayload, postToBot, signatureHeaders, slashBody } from "../../helpers/slack-signer.ts";

// The bot in HTTP mode on 127.0.0.1, SLACK_API_URL at a fake Web API; requests signed as Slack signs them.
const root = tempDir("snapbot-slack-http-");

const counts = async (t: Awaited<ReturnType<typeof setupSlack>>["t"]) => ({
  deliveries: await t.ledger().deliveries.count(),
  operations: (await t.operations()).length,
  snapshots: (await t.snapshots()).length,
});

describe("Slack over HTTP: signatures", () => {
  it("acks a correctly signed /snapshot help at once and answers it ephemerally through response_url", async () => {
    const { fake, t } = await setupSlack(root);
    const t0 = Date.now();
    const res = await t.slash("help");
    expect(res.status).toBe(200);
    expect(res.ms).toBeLessThan(1000);
    expect(JSON.parse(res.text)).toEqual({ response_type: "ephemeral", text: ":hourglass_flowing_sand: /snapshot help" });
    const answer = await waitResponse(fake, res.responseUrl);
    expect(answer.at - t0).toBeLessThan(500); // the work waits for acks only while there are some to send
    expect(answer.body).toMatchObject({ response_type: "ephemeral", replace_original: true, text: expect.stringMatching(/^\/snapshot commands/) });
    expect(shown(answer.body)).toMatch(/create &lt;server&gt; \[&lt;name&gt;\]/);
    expect(fake.callsTo("chat.postMessage")).toHaveLength(0);
    expect(fake.callsTo("auth.test")[0]!.auth).toBe(`Bearer ${BOT_TOKEN}`); // the token was checked once, at start
    expect(t.log.text()).not.toContain(BOT_TOKEN.slice(5));
  });

  it("rejects forged, tampered, stale and unsigned requests with 401, and nothing happens", async () => {
    const { fake, t } = await setupSlack(root);
    const before = await counts(t);
    const callsBefore = fake.calls.length;
    const body = slashBody({ text: "create demo", responseUrl: fake.responseUrl("forged") });
    const now = Math.floor(Date.now() / 1000);
    const valid = signatureHeaders(body);
    const click = actionBody(clickPayload({ button: { action_id: "snapbot:0", value: "create demo" }, messageTs: "1.2", responseUrl: fake.responseUrl("forged") }));
    const attempts: Array<[string, string, Record<string, string>]> = [
      ["another secret", body, signatureHeaders(body, "not-the-secret")],
      ["a tampered body", body.replace("create+demo", "create+demo+evil"), valid],
      ["a timestamp 6 minutes old", body, signatureHeaders(body, undefined, now - 6 * 60)],
      ["no signature", body, { "x-slack-request-timestamp": String(now) }],
      ["no timestamp", body, { "x-slack-signature": valid["x-slack-signature"]! }],
      ["no headers", body, {}],
      ["a forged button click", click, signatureHeaders(click, "not-the-secret")],
    ];
    for (const [what, b, headers] of attempts) expect((await postToBot(t.url, b, headers)).status, what).toBe(401);
    await sleep(300);
    expect(await counts(t)).toEqual(before);
    expect(fake.calls.slice(callsBefore)).toEqual([]);
    expect(t.log.entries().filter((e) => /Failed to parse and verify/.test(String(e.msg)))).toHaveLength(attempts.length);
  });
});

describe("Slack over HTTP: quick answers and mistakes", () => {
  it("answers list, show and servers ephemerally through response_url, posting nothing in the channel", async () => {
    const { fake, t } = await setupSlack(root);
    await t.slash("create demo s1");
    await waitPosted(fake, "C0OPS", /create demo\/s1/);
    await fake.waitFor((c) => c.find((x) => x.method === "chat.update" && /demo\/s1 done/.test(String(x.body.text))), 15_000, "s1 done");
    const posts = fake.callsTo("chat.postMessage").length;
    const list = await waitResponse(fake, (await t.slash("list demo")).responseUrl);
    expect(list.body).toMatchObject({ response_type: "ephemeral", replace_original: true });
    expect(shown(list.body)).toMatch(/\*demo: snapshots 1–1 of 1\*\n```name +state +size[^]*\ns1 +done /);
    const show = await waitResponse(fake, (await t.slash("show demo/s1")).responseUrl);
    expect(shown(show.body)).toMatch(/\*state\*\ndone[^]*\[Verify\]\n\[Delete\]/);
    const servers = await waitResponse(fake, (await t.slash("servers")).responseUrl);
    expect(servers.body.response_type).toBe("ephemeral");
    expect(shown(servers.body)).toMatch(/demo/);
    expect(fake.callsTo("chat.postMessage")).toHaveLength(posts);
  });

  it("answers a mistake with one ephemeral line and the usage, and records nothing", async () => {
    const { fake, t } = await setupSlack(root);
    const before = await counts(t);
    const missing = await waitResponse(fake, (await t.slash("create")).responseUrl);
    expect(missing.body.blocks).toEqual([{ type: "section", text: { type: "mrkdwn", text: ":x: *missing argument; usage: create &lt;server&gt; [&lt;name&gt;] [--expiry &lt;dur&gt;] [--stateful] [--note &lt;text&gt;]*" } }]);
    expect(missing.body).toMatchObject({ response_type: "ephemeral", replace_original: true });
    const unknown = await waitResponse(fake, (await t.slash("frobnicate <@U1>")).responseUrl);
    expect(unknown.body.text).toBe('unknown command "frobnicate": type help for the list');
    const bad = await waitResponse(fake, (await t.slash("create demo --expiry soon")).responseUrl);
    expect(bad.body.text).toMatch(/^"soon" is not a duration: expected a duration like 30M/);
    expect(await counts(t)).toEqual({ ...before, deliveries: before.deliveries + 3 });
    expect(fake.callsTo("chat.postMessage")).toHaveLength(0);
  });
});

describe("Slack over HTTP: duplicate deliveries", () => {
  it("runs a slash command once however often it is delivered (same trigger_id, a retry header, all at once)", async () => {
    const { fake, t } = await setupSlack(root);
    const first = await t.slash("create demo once");
    expect(first.status).toBe(200);
    const again = await t.slash("create demo once", { triggerId: first.triggerId });
    const retried = await t.slash("create demo once", { triggerId: first.triggerId, headers: { "x-slack-retry-num": "1", "x-slack-retry-reason": "http_timeout" } });
    await fake.waitFor((c) => c.find((x) => x.method === "chat.update" && /once done/.test(String(x.body.text))), 15_000, "the first create done");
    const burst = await Promise.all(Array.from({ length: 5 }, () => t.slash("create demo burst", { triggerId: "burst.1.x" })));
    for (const r of [again, retried, ...burst]) expect(r.status).toBe(200);
    await fake.waitFor((c) => c.find((x) => x.method === "chat.update" && /burst done/.test(String(x.body.text))), 15_000, "the burst create done");
    await sleep(300);
    expect((await t.operations()).map((o) => o.args?.name)).toEqual(["once", "burst"]);
    expect(fake.callsTo("chat.postMessage").map((c) => c.body.text)).toEqual([expect.stringMatching(/^create demo\/once/), expect.stringMatching(/^create demo\/burst/)]);
    expect(again.text).toBe(""); // a duplicate is acked with nothing to show
    expect(t.log.entries().filter((e) => e.msg === "duplicate /snapshot delivery ignored")).toHaveLength(6);
  });

  it("runs a replayed button payload once", async () => {
    const { fake, t } = await setupSlack(root);
    await t.slash("create demo s1");
    await fake.waitFor((c) => c.find((x) => x.method === "chat.update" && /done/.test(String(x.body.text))), 15_000, "create done");
    const click = await t.click({ button: { action_id: "snapbot:0", value: "verify demo/s1" }, messageTs: "1700000000.000099", ephemeral: true });
    expect(click.status).toBe(200);
    const headers = signatureHeaders(click.body);
    const replays = await Promise.all([1, 2, 3].map(() => postToBot(t.url, click.body, headers)));
    for (const r of replays) expect(r.status).toBe(200);
    await waitPosted(fake, "C0OPS", /verify demo\/s1/);
    await sleep(500);
    expect((await t.operations()).filter((o) => o.kind === "verify")).toHaveLength(1);
    expect(fake.callsTo("chat.postMessage").filter((c) => /verify/.test(String(c.body.text)))).toHaveLength(1);
    expect(t.log.entries().filter((e) => e.msg === "duplicate button delivery ignored")).toHaveLength(3);
  });

  it("remembers deliveries across a restart: the ledger drops a retry that reaches the next process", async () => {
    const dir = mkdtempSync(join(root, "restart-"));
    const fake = await startFakeSlack();
    const first = await startTestBot(dir, fake);
    const sent = await first.slash("create demo s1");
    await fake.waitFor((c) => c.find((x) => x.method === "chat.update" && /s1 done/.test(String(x.body.text))), 15_000, "s1 done");
    await first.stop();
    const second = await startTestBot(dir, fake);
    const retry = await second.slash("create demo s1", { triggerId: sent.triggerId, headers: { "x-slack-retry-num": "2", "x-slack-retry-reason": "http_timeout" } });
    expect(retry.status).toBe(200);
    await fake.waitFor(() => second.log.entries().find((e) => e.msg === "duplicate delivery ignored: the ledger has seen it"), 5000, "the ledger's refusal");
    expect(await second.operations()).toHaveLength(1);
    expect(fake.callsTo("chat.postMessage")).toHaveLength(1);
    await second.stop();
    await fake.close();
  });
});
