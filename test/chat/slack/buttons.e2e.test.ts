import { describe, expect, it } from "vitest";
import { tempDir } from "../../helpers/temp-dir.ts";
import { buttonsIn, pick, setupSlack, shown, sleep, waitPosted, waitResponse } from "../../helpers/slack-bot.ts";

// Buttons: the value is a command run as the clicker; where the answer goes depends on the message clicked.
const root = tempDir("snapbot-slack-buttons-");

async function withSnapshots(n: number) {
  const s = await setupSlack(root);
  const { ledger } = s.t.bot.app;
  const server = (await ledger.servers.get("demo"))!;
  for (let i = 1; i <= n; i++) await ledger.snapshots.insert({ server_id: server.id, name: `s${String(i).padStart(3, "0")}`, created_by: "U0OPER", state: "done", origin: "external" });
  return s;
}

describe("Slack buttons", () => {
  it("pages an ephemeral list in place with Next and Previous", async () => {
    const { fake, t } = await withSnapshots(120);
    const list = await waitResponse(fake, (await t.slash("list demo")).responseUrl);
    expect(shown(list.body)).toMatch(/^\*demo: snapshots 1–50 of 120 \(page 1 of 3\)\*/);
    const next = buttonsIn(list.body).find((b) => b.text.text === "Next")!;
    expect(next.value).toBe("list demo --page 2");
    // A click on an ephemeral message: no `message` in the payload; only its response_url can change it.
    const click = await t.click({ button: next, messageTs: "1700000000.000077", ephemeral: true });
    expect(click.status).toBe(200);
    const page2 = await waitResponse(fake, click.responseUrl);
    expect(page2.body).toMatchObject({ response_type: "ephemeral", replace_original: true });
    expect(shown(page2.body)).toMatch(/^\*demo: snapshots 51–100 of 120 \(page 2 of 3\)\*[^]*\[Previous\]\n\[Next\]$/);
    const previous = buttonsIn(page2.body).find((b) => b.text.text === "Previous")!;
    const page1 = await waitResponse(fake, (await t.click({ button: previous, messageTs: "1700000000.000077", ephemeral: true })).responseUrl);
    expect(shown(page1.body)).toMatch(/^\*demo: snapshots 1–50 of 120/);
    expect(fake.callsTo("chat.postMessage")).toHaveLength(0);
  });

  it("answers a refused click privately, without replacing the message it was on", async () => {
    const { fake, t } = await withSnapshots(3);
    const stale = await t.click({ button: { action_id: "snapbot:1", value: "list demo --page 9" }, messageTs: "1700000000.000077", ephemeral: true });
    const answer = await waitResponse(fake, stale.responseUrl);
    expect(answer.body).toMatchObject({ response_type: "ephemeral", replace_original: false, text: "there are only 1 page(s): try list demo" });
    const onChannel = await t.click({ button: { action_id: "snapbot:0", value: "register x archive paths=/x" }, messageTs: "1700000000.000001" });
    const refused = await waitResponse(fake, onChannel.responseUrl);
    expect(refused.body).toMatchObject({ response_type: "ephemeral", replace_original: false, text: expect.stringMatching(/^register is for admins only/) });
    await sleep(200);
    expect(fake.callsTo("chat.update")).toHaveLength(0);
    expect(fake.callsTo("chat.postMessage")).toHaveLength(0);
  });

  it("runs Verify from a show message as the clicker, posting its progress in the channel", async () => {
    const { fake, t } = await setupSlack(root);
    await t.slash("create demo s1");
    await fake.waitFor((c) => c.find((x) => x.method === "chat.update" && /s1 done/.test(String(x.body.text))), 15_000, "s1 done");
    const show = await waitResponse(fake, (await t.slash("show demo/s1")).responseUrl);
    const verify = buttonsIn(show.body).find((b) => b.text.text === "Verify")!;
    await t.click({ button: verify, user: "U0SECOND", messageTs: "1700000000.000055", ephemeral: true });
    const post = await waitPosted(fake, "C0OPS", /verify demo\/s1 \(operation #2, asked by <@U0SECOND>\)/);
    await fake.waitFor((c) => c.find((x) => x.method === "chat.update" && x.body.ts === post.answer!.ts && /verified/.test(shown(x.body))), 15_000, "verified");
    expect(pick((await t.operations()).filter((o) => o.kind === "verify"), "kind", "requested_by", "channel", "state")).toEqual([{ kind: "verify", requested_by: "U0SECOND", channel: "C0OPS", state: "succeeded" }]);
  });
});
