import { describe, expect, it, onTestFinished } from "vitest";
import { randomBytes } from "node:crypto";
import { mkdtempSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { tempDir } from "../../helpers/temp-dir.ts";
import { startFakeSlack, type FakeCall } from "../../helpers/fake-slack.ts";
import { buttonsIn, pick, shown, slackTestFile, startTestBot, waitPosted, waitResponse, waitUpdated } from "../../helpers/slack-bot.ts";

// A copy to a storage target in Slack: one channel message updated in place while every part goes to the target
// and is read back, then the result; `copies` answers with the table as Block Kit, its buttons runnable.
const root = tempDir("snapbot-slack-copies-");
const updatesOf = (calls: FakeCall[], ts: string) => calls.filter((c) => c.method === "chat.update" && c.body.ts === ts);

async function bot() {
  const dir = mkdtempSync(join(root, "t-"));
  const fake = await startFakeSlack();
  const file = slackTestFile(dir, { storage: { path: join(dir, "snapshots"), targets: { offsite: { path: join(dir, "offsite") } } } });
  const t = await startTestBot(dir, fake, { file, updateIntervalMs: 50 });
  onTestFinished(async () => {
    await t.stop();
    await fake.close();
  });
  return { dir, fake, t };
}

describe("Slack: copies to a storage target", () => {
  it("copy reports its progress in one message, updated in place, until it is copied and read back", async () => {
    const { dir, fake, t } = await bot();
    writeFileSync(join(dir, "demo/big.bin"), randomBytes(40 * 1024 * 1024));
    await t.slash("create demo s1");
    await fake.waitFor((c) => c.find((x) => x.method === "chat.update" && /demo\/s1 done/.test(String(x.body.text))), 30_000, "s1 done");
    await t.slash("copy demo/s1 offsite");
    const post = await waitPosted(fake, "C0OPS", /copy demo\/s1 to offsite \(operation #2, asked by <@U0OPER>\)/);
    const ts = String(post.answer?.ts);
    const final = await waitUpdated(fake, ts, /demo\/s1 copied to offsite \(operation #2, asked by <@U0OPER>\)/, 30_000);
    expect(shown(final.body)).toMatch(/copied to offsite and read back: [\d.]+ MiB in 41 part\(s\), every part's SHA-256 matches/);
    const steps = updatesOf(fake.calls, ts).slice(0, -1).map((u) => shown(u.body).split("\n")[1]);
    expect(steps.some((s) => /^(copying|verifying)… \d+% /.test(s ?? ""))).toBe(true);
    expect(updatesOf(fake.calls, ts).at(-1)).toBe(final);
    expect(buttonsIn(final.body).map((b) => b.value)).toEqual(["copies demo/s1"]);
    const [s1] = await t.snapshots();
    expect(pick(await t.ledger().copies.ofSnapshot(s1!.id), "target", "state", "created_by")).toEqual([{ target: "offsite", state: "done", created_by: "U0OPER" }]);

    const listed = await waitResponse(fake, (await t.slash("copies demo/s1")).responseUrl);
    expect(listed.body.response_type).toBe("ephemeral");
    expect(shown(listed.body)).toMatch(/\*demo\/s1: 1 copy\(ies\) on storage targets\*/);
    expect(shown(listed.body)).toMatch(/target +state +size +copied +last verified +where\n[- ]+\noffsite +done +[\d.]+ MiB /);
    expect(buttonsIn(listed.body).map((b) => b.value)).toEqual(["verify demo/s1 --from offsite"]);
  });
});
