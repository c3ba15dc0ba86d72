import { describe, expect, it } from "vitest";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { tempDir } from "../../helpers/temp-dir.ts";
import { buttonsIn, pick, setupSlack, until, shown, sleep, waitPosted, waitResponse, waitUpdated } from "../../helpers/slack-bot.ts";
import type { FakeCall, FakeSlack } from "../../helpers/fake-slack.ts";
import { fakeClock } from "../../../src/clock.ts";
import type { OperationRow } from "../../../db/ledger.ts";

// restore <server>/<snap> in Slack: an approval request in the channel, Approve / Deny clicked by others.
const root = tempDir("snapbot-slack-approvals-");
const CONF = "etc/app.conf";
const restores = async (t: { operations(): Promise<OperationRow[]> }) => (await t.operations()).filter((o) => o.kind === "restore");

/** A done snapshot s1 of demo, a changed file, and a restore request by `requester` posted in #C0OPS. */
async function requested(requester = "U0OPER", o: Parameters<typeof setupSlack>[1] = {}) {
  const s = await setupSlack(root, o);
  const { fake, t, dir } = s;
  await t.slash("create demo s1", { user: requester });
  await fake.waitFor((c) => c.find((x) => x.method === "chat.update" && /s1 done/.test(String(x.body.text))), 15_000, "s1 done");
  writeFileSync(join(dir, "demo", CONF), "listen = 0.0.0.0:9999 # a bad change\n");
  await t.slash("restore demo/s1", { user: requester });
  const request = await waitPosted(fake, "C0OPS", /Approval needed: restore demo\/s1/);
  const [approve, deny] = buttonsIn(request.body);
  const ts = String(request.answer!.ts);
  // onPosted runs once the bot has Slack's answer, a moment after the fake saw the post.
  await until(async () => (await t.approvals()).find((a) => a.message_ref !== null), 5000, "the request's message_ref");
  const click = (button: typeof approve, user: string) => t.click({ button: button!, user, messageTs: ts, message: { type: "message", ts, text: request.body.text } });
  return { ...s, request, ts, approve: approve!, deny: deny!, click, file: () => readFileSync(join(dir, "demo", CONF), "utf8") };
}
const updatesOf = (fake: FakeSlack, ts: string) => fake.calls.filter((c: FakeCall) => c.method === "chat.update" && c.body.ts === ts);

describe("Slack approvals: restore", () => {
  it("posts the request with what will change and Approve / Deny, and remembers where", async () => {
    const { t, request, approve, deny, ts } = await requested();
    expect(shown(request.body)).toMatch(/^\*Approval needed: restore demo\/s1 \(asked by <@U0OPER>, approval #1\)\*/);
    expect(shown(request.body)).toMatch(/\*will change\*\n.*demo on demo[^]*\*asked by\*\n<@U0OPER>/);
    expect([approve, deny]).toEqual([
      { type: "button", text: { type: "plain_text", text: "Approve", emoji: true }, value: "approve 1", action_id: "snapbot:0", style: "primary" },
      { type: "button", text: { type: "plain_text", text: "Deny", emoji: true }, value: "deny 1", action_id: "snapbot:1", style: "danger" },
    ]);
    expect((await t.approvals())[0]!.message_ref).toEqual({ channel: "C0OPS", ts });
  });

  it("mentions people (<@U0ALICE>) in the create's progress message and the approval request; the ledger keeps the id", async () => {
    const { fake, t, request } = await requested("U0ALICE");
    const progress = fake.calls.find((c) => c.method === "chat.postMessage" && /create demo\/s1/.test(String(c.body.text)))!;
    expect(shown(progress.body)).toBe(":hourglass_flowing_sand: *create demo/s1 (operation #1, asked by <@U0ALICE>)*\nqueued");
    expect(progress.body.text).toBe("create demo/s1 (operation #1, asked by <@U0ALICE>)\nqueued"); // notifications show the name too
    expect(shown(request.body)).toMatch(/^\*Approval needed: restore demo\/s1 \(asked by <@U0ALICE>, approval #1\)\*[^]*\*asked by\*\n<@U0ALICE>/);
    const audit = await waitResponse(fake, (await t.slash("audit")).responseUrl);
    expect(shown(audit.body)).toMatch(/\n2 +\S+ \S+ +<@U0ALICE> +restore demo\/s1 +awaiting_approval/);
    const pending = await waitResponse(fake, (await t.slash("approvals")).responseUrl);
    expect(shown(pending.body)).toMatch(/\n1 +restore demo\/s1 +<@U0ALICE> /);
    expect(JSON.stringify(fake.calls.map((c) => c.body))).not.toMatch(/\\ue00[01]|[\uE000\uE001]/i);
    expect(pick(await t.operations(), "requested_by")).toEqual([{ requested_by: "U0ALICE" }, { requested_by: "U0ALICE" }]);
  });

  it("restores after an approver clicks Approve, showing progress and the result on the same message", async () => {
    const { fake, t, ts, approve, click, file } = await requested();
    expect(file()).toContain("bad change");
    await click(approve, "U0ALICE");
    const final = await waitUpdated(fake, ts, /:white_check_mark: \*restore demo\/s1 done in .* approved by <@U0ALICE>\)\*/, 20_000);
    expect(updatesOf(fake, ts)[0]!.body.text).toMatch(/^restore demo\/s1, approved by <@U0ALICE> \(operation #2, asked by <@U0OPER>\)/);
    expect(updatesOf(fake, ts).at(-1)).toBe(final);
    expect(file()).toBe("listen = 127.0.0.1:8080\n");
    expect(pick(await restores(t), "kind", "state", "requested_by", "approved_by")).toEqual([{ kind: "restore", state: "succeeded", requested_by: "U0OPER", approved_by: "U0ALICE" }]);
  });

  it("changes nothing when an approver clicks Deny, and says so on the message", async () => {
    const { fake, t, ts, deny, click, file } = await requested();
    await click(deny, "U0BOB");
    await waitUpdated(fake, ts, /:x: \*restore demo\/s1 denied by <@U0BOB> \(asked by <@U0OPER>, approval #1\)\*\nNothing was changed\./);
    await sleep(300);
    expect(file()).toContain("bad change");
    expect(pick(await restores(t), "state", "approved_by")).toEqual([{ state: "denied", approved_by: "U0BOB" }]);
  });

  it("refuses the requester and non-approvers privately, and the request stays open", async () => {
    const { fake, t, ts, approve, click } = await requested("U0ALICE");
    const own = await waitResponse(fake, (await click(approve, "U0ALICE")).responseUrl);
    expect(own.body).toMatchObject({ response_type: "ephemeral", replace_original: false, text: "you asked for this, so you cannot approve it: another approver must (roles.approvers)" });
    const stranger = await waitResponse(fake, (await click(approve, "U0OPER")).responseUrl);
    expect(stranger.body).toMatchObject({ response_type: "ephemeral", replace_original: false, text: expect.stringMatching(/^approve is for approvers only, and U0OPER is not one/) });
    await sleep(300);
    expect(updatesOf(fake, ts)).toEqual([]);
    expect(pick(await t.approvals(), "state")).toEqual([{ state: "pending" }]);
  });

  it("makes exactly one decision and one restore when two approvers click at once and one clicks twice", async () => {
    const { fake, t, ts, approve, deny, click } = await requested();
    const clicks = await Promise.all([click(approve, "U0ALICE"), click(approve, "U0ALICE"), click(deny, "U0BOB"), click(approve, "U0BOB")]);
    for (const c of clicks) expect(c.status).toBe(200);
    const decision = await until(async () => (await t.approvals()).find((a) => a.state !== "pending"), 5000, "the decision");
    const winner = decision.decided_by;
    await waitUpdated(fake, ts, decision.state === "approved" ? /restore demo\/s1 done/ : /denied by/, 20_000);
    const answered = () => fake.calls.filter((x) => x.method === "response_url" && clicks.some((c) => c.responseUrl.endsWith(x.path)));
    await fake.waitFor(() => answered().length >= 3, 5000, "three refusals");
    await sleep(300);
    expect(answered()).toHaveLength(3); // the winner's click is answered on the message itself
    for (const r of answered()) expect(r.body).toMatchObject({ replace_original: false, text: expect.stringMatching(new RegExp(`^approval #1 was already ${decision.state} by <@${winner}> at `)) });
    expect((await restores(t)).filter((o) => o.state === "succeeded" || o.state === "denied")).toHaveLength(1);
    for (const u of updatesOf(fake, ts)) expect(shown(u.body)).toContain(winner);
  });

  it("expires a request nobody decided (fake clock), updates its message, and refuses a late click", async () => {
    const clock = fakeClock(Date.now());
    const { fake, t, ts, approve, click, file } = await requested("U0OPER", { clock });
    clock.advance(31 * 60_000);
    expect(await t.bot.app.engine.approvals.expire()).toBe(1);
    await waitUpdated(fake, ts, /:x: \*Approval request expired: restore demo\/s1 \(asked by <@U0OPER>, approval #1\)\*\nNobody decided within 30M/);
    const late = await waitResponse(fake, (await click(approve, "U0ALICE")).responseUrl);
    expect(late.body).toMatchObject({ response_type: "ephemeral", replace_original: false, text: expect.stringMatching(/^approval #1 expired at /) });
    expect(file()).toContain("bad change");
    expect(pick(await restores(t), "state")).toEqual([{ state: "expired" }]);
  });

  it("says what a dry run would do, privately, and asks nobody", async () => {
    const { fake, t } = await setupSlack(root);
    await t.slash("create demo s1");
    await fake.waitFor((c) => c.find((x) => x.method === "chat.update" && /s1 done/.test(String(x.body.text))), 15_000, "s1 done");
    const dry = await waitResponse(fake, (await t.slash("restore demo/s1 --dry-run")).responseUrl);
    expect(shown(dry.body)).toMatch(/^\*Dry run: restore demo\/s1[^]*Nothing was changed\./);
    expect(await t.approvals()).toEqual([]);
  });
});
