import { describe, expect, it } from "vitest";
import { randomBytes } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { tempDir } from "../../helpers/temp-dir.ts";
import { buttonsIn, pick, setupSlack, until, shown, sleep, waitPosted, waitResponse, waitUpdated } from "../../helpers/slack-bot.ts";
import type { FakeCall } from "../../helpers/fake-slack.ts";

// Long work in Slack: one channel message through the Web API, updated in place until the result.
const root = tempDir("snapbot-slack-progress-");
const DONE = /:white_check_mark: \*demo\/\S+ done: [\d.]+ (B|KiB|MiB) in \d+(ms|s) \(operation #\d+, asked by <@U0OPER>\)\*/;
const tsOf = (c: FakeCall) => String(c.answer?.ts);
const updatesOf = (calls: FakeCall[], ts: string) => calls.filter((c) => c.method === "chat.update" && c.body.ts === ts);

describe("Slack: long work reports in place", () => {
  it("acks create at once, posts one message in the channel, and updates it until done", async () => {
    const { fake, t, dir } = await setupSlack(root, { updateIntervalMs: 50 });
    writeFileSync(join(dir, "demo/big.bin"), randomBytes(48 * 1024 * 1024)); // long enough to report progress
    const res = await t.slash("create demo s1");
    expect(res.status).toBe(200);
    expect(res.ms).toBeLessThan(500);
    expect(JSON.parse(res.text)).toEqual({ response_type: "ephemeral", text: ":hourglass_flowing_sand: /snapshot create demo s1" });
    const post = await waitPosted(fake, "C0OPS", /create demo\/s1 \(operation #1, asked by <@U0OPER>\)/);
    expect(shown(post.body)).toBe(":hourglass_flowing_sand: *create demo/s1 (operation #1, asked by <@U0OPER>)*\nqueued");
    const ts = tsOf(post);
    const final = await waitUpdated(fake, ts, DONE, 30_000);
    expect(shown(final.body)).toMatch(/checksum sha256:[0-9a-f]{12}…, 49 part\(s\)/);
    const updates = updatesOf(fake.calls, ts);
    expect(updates.at(-1)).toBe(final);
    expect(updates.length).toBeGreaterThanOrEqual(2);
    for (const u of updates.slice(0, -1)) expect(shown(u.body)).toMatch(/^:hourglass_flowing_sand: \*create demo\/s1 .*\*\n(started|archiving… [\d.]+ (B|KiB|MiB))/);
    for (const u of updates) expect(u.body.channel).toBe("C0OPS");
    expect(fake.callsTo("chat.postMessage")).toHaveLength(1);
    expect(fake.callsTo("response_url")).toHaveLength(0); // the long-lived message never used response_url
    expect(pick(await t.operations(), "kind", "state", "requested_by", "channel")).toEqual([{ kind: "create", state: "succeeded", requested_by: "U0OPER", channel: "C0OPS" }]);
    expect(pick(await t.snapshots(), "name", "state")).toEqual([{ name: "s1", state: "done" }]);
  });

  it("updates a message at most once a second, and always sends the final version", async () => {
    const { fake, t, dir } = await setupSlack(root);
    writeFileSync(join(dir, "demo/big.bin"), randomBytes(64 * 1024 * 1024));
    await t.slash("create demo s1");
    const post = await waitPosted(fake, "C0OPS", /create demo\/s1/);
    const final = await waitUpdated(fake, tsOf(post), DONE, 30_000);
    const times = [post.at, ...updatesOf(fake.calls, tsOf(post)).map((u) => u.at)];
    for (let i = 1; i < times.length; i++) expect(times[i]! - times[i - 1]!).toBeGreaterThanOrEqual(950);
    await sleep(1200);
    expect(updatesOf(fake.calls, tsOf(post)).at(-1)).toBe(final);
  });

  it("says why a create failed in its message, and posts a snapshot_failed alert whose Retry button works", async () => {
    const { fake, t } = await setupSlack(root);
    await t.slash("create gone g1");
    const post = await waitPosted(fake, "C0OPS", /create gone\/g1/);
    const failed = await waitUpdated(fake, tsOf(post), /:x: \*create gone\/g1 failed \(operation #1, asked by <@U0OPER>\)\*/);
    expect(shown(failed.body)).toMatch(/no-such-folder/);
    expect(buttonsIn(failed.body)).toEqual([{ type: "button", text: { type: "plain_text", text: "Retry", emoji: true }, value: "create gone g1", action_id: "snapbot:0" }]);
    const alert = await waitPosted(fake, "C0ALERTS", /snapshot_failed/);
    expect(shown(alert.body)).toMatch(/snapshot gone\/g1 failed \(asked by <@U0OPER>\)[^]*no-such-folder[^]*\[Retry\]/);
    expect(pick(await t.operations(), "state", "error")).toEqual([{ state: "failed", error: expect.stringMatching(/no-such-folder/) }]);

    const retry = buttonsIn(alert.body).find((b) => b.text.text === "Retry")!;
    await t.click({ button: retry, user: "U0OPER", channel: "C0ALERTS", messageTs: tsOf(alert) });
    await waitPosted(fake, "C0ALERTS", /create gone\/g1 \(operation #2/); // the retry reports where it was asked
    await until(async () => (await t.operations()).filter((o) => o.state === "failed").length === 2, 15_000, "the retry failing too");
    await waitUpdated(fake, tsOf(alert), /seen 2 times/); // the open alert is updated, not posted again
    expect(fake.callsTo("chat.postMessage").filter((c) => c.body.channel === "C0ALERTS" && /snapshot_failed/.test(String(c.body.text)))).toHaveLength(1);
  });
});

describe("Slack: a Web API that pushes back or is gone", () => {
  it("posts the message anyway after a 429, waiting for Retry-After", async () => {
    const { fake, t } = await setupSlack(root);
    fake.rateLimit(1);
    await t.slash("create demo s1");
    await fake.waitFor((c) => c.find((x) => x.method === "chat.update" && DONE.test(shown(x.body))), 15_000, "done");
    const posts = fake.callsTo("chat.postMessage");
    expect(posts).toHaveLength(2); // the 429, then the retry
    expect(posts[1]!.at - posts[0]!.at).toBeGreaterThanOrEqual(990);
    expect(posts[1]!.body.text).toBe(posts[0]!.body.text);
  });

  for (const mode of ["refused", "500"] as const) {
    it(`finishes the work and logs the failure when the Web API is down (${mode})`, async () => {
      const { fake, t } = await setupSlack(root);
      await fake.setDown(mode);
      const t0 = Date.now();
      const res = await t.slash("create demo s1");
      expect(res.status).toBe(200); // the ack never waits for the Web API
      await until(async () => (await t.operations()).filter((o) => o.state === "succeeded").length === 1, 15_000, "the create to succeed");
      const warned = await fake.waitFor(() => t.log.entries().find((e) => e.msg === "could not post to Slack"), 10_000, "the warning");
      expect(warned).toMatchObject({ level: 40, method: "chat.postMessage", channel: "C0OPS", title: expect.stringMatching(/^create demo\/s1/) });
      expect(Number(warned.time) - t0).toBeLessThan(5000); // fails within seconds, not the WebClient's 30 minutes
      expect(pick(await t.snapshots(), "state")).toEqual([{ state: "done" }]);
      await fake.setDown(false);
      const help = await t.slash("help"); // still alive and answering
      expect((await waitResponse(fake, help.responseUrl)).body.text).toMatch(/^\/snapshot commands/);
    });
  }

  it("tells the asker privately when it cannot post in the channel, then gives them the result", async () => {
    const { fake, t } = await setupSlack(root);
    fake.failMethod("chat.postMessage", "not_in_channel");
    const res = await t.slash("create demo s1", { channel: "G0PRIVATE" });
    const first = await waitResponse(fake, res.responseUrl);
    expect(shown(first.body)).toMatch(/create demo\/s1[^]*not posted in the channel: not_in_channel\. Invite the bot with \/invite/);
    const last = await waitResponse(fake, res.responseUrl, 15_000, 2);
    expect(shown(last.body)).toMatch(/demo\/s1 done/);
    expect(last.body).toMatchObject({ response_type: "ephemeral", replace_original: true });
  });
});
