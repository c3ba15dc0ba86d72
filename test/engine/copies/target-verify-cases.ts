import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { TargetFactory } from "../../helpers/copy-targets.ts";
import { tempDir } from "../../helpers/temp-dir.ts";
import { fakeClock } from "../../../src/clock.ts";
import { done, world, type WorldOptions } from "./copy-cases.ts";

// verify --target <t> [--slice n/m] (issue 12 item 5) as users type it, through the real commands, engine, ledger and
// archive driver, against whatever target the factory gives (a folder here; the S3 store on Ceph with the same
// cases). What a slice read is observed in the ledger: with a fake clock, the copies whose verified_at is the
// slice's own time are exactly the ones it read.

const T0 = Date.UTC(2026, 2, 1, 0, 0, 0);
const HOUR = 3_600_000;
export const SNAPS = ["s1", "s2", "s3", "s4", "s5", "s6"];

/** A world with six snapshots of `files`, each copied to offsite. */
export async function copiedWorld(f: TargetFactory, root: string, label: string, o: WorldOptions = {}) {
  const clock = fakeClock(T0);
  const w = await world(f, root, label, { clock, ...o });
  for (const s of SNAPS) {
    await w.created(s);
    await w.copied(s);
  }
  const copies = () => w.app.ledger.copies.onTarget("offsite");
  /** Runs the command at `at` and returns its final reply and which copies it read (verified_at = at). */
  const verifyAt = async (at: number, text: string) => {
    clock.set(at);
    const reply = await done(await w.run(text, "U0OP"));
    return { reply, read: (await copies()).filter((c) => c.verified_at === at).map((c) => c.name).sort() };
  };
  return { ...w, clock, copies, verifyAt };
}

export function targetVerifyCases(f: TargetFactory): void {
  describe(`verify --target on a ${f.name} target`, () => {
    const root = tempDir("snapbot-verify-target-");
    let n = 0;
    const fresh = (o: WorldOptions = {}) => copiedWorld(f, root, `v${++n}`, o);
    beforeAll(() => f.setup(join(root, "factory")));
    afterAll(() => f.teardown?.());

    it("slices 1..3 together read each copy exactly once, about a third of the bytes each; the whole target reads them all", async () => {
      const w = await fresh();
      const all = await w.copies();
      const total = all.reduce((s, c) => s + c.size!, 0);
      const seen: string[][] = [];
      for (let k = 1; k <= 3; k++) {
        const { reply, read } = await w.verifyAt(T0 + k * HOUR, `verify --target offsite --slice ${k}/3`);
        expect(reply.tone, reply.title).toBe("success");
        expect(reply.title).toMatch(new RegExp(`^offsite slice ${k}/3: ${read.length} cop(y|ies), [\\d.]+ MiB read, every part matches \\(operation #\\d+, `));
        const now = await w.copies();
        const bytes = now.filter((c) => read.includes(c.name)).reduce((s, c) => s + c.size!, 0);
        expect(Math.abs(bytes - total / 3)).toBeLessThanOrEqual(Math.max(...now.map((c) => c.size!))); // 1/3, give or take one copy
        seen.push(read);
      }
      expect(seen.flat().sort()).toEqual(SNAPS); // every copy once, none twice
      expect(seen.map((s) => s.length)).toEqual([2, 2, 2]); // six copies of about one size: two each
      // Stable: the same slice reads the same copies again.
      expect((await w.verifyAt(T0 + 4 * HOUR, "verify --target offsite --slice 2/3")).read).toEqual(seen[1]);
      const whole = await w.verifyAt(T0 + 5 * HOUR, "verify --target offsite");
      expect(whole.read).toEqual(SNAPS);
      expect(whole.reply.title).toMatch(/^offsite: 6 copies, [\d.]+ MiB read, every part matches \(operation #\d+, /);
      const progress: string[] = [];
      const again = await w.run("verify --target offsite", "U0OP");
      again.follow!.subscribe((r) => progress.push(r.lines?.[0] ?? ""));
      await done(again);
      expect(progress).toContainEqual(expect.stringMatching(/^verifying… \d+% \([\d.]+ MiB of [\d.]+ MiB\) \d\/6: files\/s\d$/));
      await w.app.close();
    });

    it("a part altered on the target: only the slice holding it finds it (broken, copy_failed); put right, that slice makes it done again", async () => {
      const w = await fresh();
      const slices: string[][] = [];
      for (let k = 1; k <= 3; k++) slices.push((await w.verifyAt(T0 + k * HOUR, `verify --target offsite --slice ${k}/3`)).read);
      const victim = slices[1]![0]!;
      await f.tamper(w.label, "files", victim, ".parts/part-000001");
      for (let k = 1; k <= 3; k++) {
        const { reply, read } = await w.verifyAt(T0 + (10 + k) * HOUR, `verify --target offsite --slice ${k}/3`);
        expect(read).toEqual(slices[k - 1]);
        if (k !== 2) {
          expect(reply.tone, `slice ${k}`).toBe("success");
          continue;
        }
        expect(reply.tone).toBe("error");
        expect(reply.title).toMatch(new RegExp(`^offsite slice 2/3: 2 copies, [\\d.]+ MiB read, 1 broken: files/${victim} \\(operation`));
        expect(reply.lines).toEqual([expect.stringMatching(new RegExp(`^files/${victim}: part-000001 is corrupt: sha256 `))]);
        expect(reply.buttons).toEqual([{ label: `Copy files/${victim} again`, command: `copy files/${victim} offsite` }]);
      }
      expect((await w.copies()).filter((c) => c.state === "broken").map((c) => [c.name, c.error])).toEqual([[victim, expect.stringMatching(/part-000001 is corrupt/)]]);
      await w.app.alerts.flush();
      expect(await w.openAlerts()).toEqual([["copy_failed", `copy_failed:files:${victim}@offsite`]]);
      expect(w.chat.calls.find((c) => c.channel === "C0ALERTS")?.reply.title).toMatch(new RegExp(`the copy of files/${victim} on offsite is broken`));

      await f.tamper(w.label, "files", victim, ".parts/part-000001"); // the same byte flipped back: the copy is whole again
      const fixed = await w.verifyAt(T0 + 20 * HOUR, "verify --target offsite --slice 2/3");
      expect(fixed.reply.tone).toBe("success");
      expect(await w.copyRow(victim)).toMatchObject({ state: "done", error: null, verified_at: T0 + 20 * HOUR });
      await w.app.alerts.flush();
      expect(await w.openAlerts()).toEqual([]);
      expect((await w.app.ledger.alerts.allPage(5, 0)).rows[0]).toMatchObject({ kind: "copy_failed", state: "resolved", resolved_why: `the copy verified again: files/${victim} on offsite` });
      await w.app.close();
    });

    it("the target emptied behind snapbot's back: every copy broken, one line saying the target holds none of them", async () => {
      const w = await fresh();
      for (const s of SNAPS) for (const o of await f.objects(w.label, "files", s)) await f.drop(w.label, "files", s, o);
      const { reply, read } = await w.verifyAt(T0 + HOUR, "verify --target offsite");
      expect(read).toEqual(SNAPS);
      expect(reply.title).toMatch(
        /^offsite: 6 copies, 0 B read, 6 broken: offsite holds none of them \(every manifest\.json is missing\): was it emptied, or does it point somewhere else\? \(operation #\d+, /,
      );
      expect(reply.lines).toEqual(SNAPS.map((s) => `files/${s}: manifest.json is missing`));
      expect((await w.copies()).map((c) => c.state)).toEqual(SNAPS.map(() => "broken"));
      await w.app.alerts.flush();
      expect((await w.openAlerts()).map(([, key]) => key).sort()).toEqual(SNAPS.map((s) => `copy_failed:files:${s}@offsite`));
      await w.app.close();
    });

    it("audit shows each run's result, on no one server; a busy copy is skipped, said, and read by the next run", async () => {
      const w = await fresh();
      const lease = await w.app.engine.lease("files/s3@offsite", "copy files/s3 to offsite");
      const busy = await w.verifyAt(T0 + HOUR, "verify --target offsite");
      expect(busy.read).toEqual(SNAPS.filter((s) => s !== "s3"));
      expect(busy.reply.tone).toBe("info");
      expect(busy.reply.title).toMatch(/^offsite: 5 copies, [\d.]+ MiB read, every part matches, 1 skipped, busy: files\/s3 \(operation/);
      expect(busy.reply.lines).toEqual([expect.stringMatching(/^files\/s3 skipped: files\/s3@offsite is busy: copy files\/s3 to offsite/)]);
      w.app.engine.release(lease);
      expect((await w.verifyAt(T0 + 2 * HOUR, "verify --target offsite --slice 1/1")).read).toEqual(SNAPS);

      const audit = await w.run("audit --limit 2");
      expect(audit.table!.rows.map((r) => [r[2], r[3], r[4], r[5]])).toEqual([
        ["U0OP", "verify_target offsite 1/1", "succeeded", expect.stringMatching(/^offsite slice 1\/1: 6 copies, [\d.]+ MiB read, every part matches$/)],
        ["U0OP", "verify_target offsite", "succeeded", expect.stringMatching(/^offsite: 5 copies, .*1 skipped, busy: files\/s3$/)],
      ]);
      expect((await w.app.ledger.operations.list({ limit: 1 }))[0]).toMatchObject({ kind: "verify_target", server_id: null, args: { target: "offsite", slice: "1/1" } });
      await w.app.close();
    });

    it("each mistake is one line with the usage, and nothing runs", async () => {
      const w = await fresh();
      const usage = "usage: verify <server>/<snap> [--full] [--from <target>] | verify --target <target> [--slice n/m]";
      const cases: Array<[string, string]> = [
        ["verify --target nowhere", `no storage target "nowhere" (targets: offsite): add it under storage.targets in snapbot.yml; local is storage.path; ${usage}`],
        ["verify --target offsite --slice 0/7", `--slice 0/7: slices count from 1: give n/m, the n-th of m slices, 1 ≤ n ≤ m ≤ 1000 (e.g. --slice 2/7); ${usage}`],
        ["verify --target offsite --slice 8/7", `--slice 8/7: there are only 7 slices: give n/m, the n-th of m slices, 1 ≤ n ≤ m ≤ 1000 (e.g. --slice 2/7); ${usage}`],
        ["verify --target offsite --slice 1/0", `--slice 1/0: there cannot be 0 slices: give n/m, the n-th of m slices, 1 ≤ n ≤ m ≤ 1000 (e.g. --slice 2/7); ${usage}`],
        ["verify --target offsite --slice a/b", `--slice a/b: that is not n/m: give n/m, the n-th of m slices, 1 ≤ n ≤ m ≤ 1000 (e.g. --slice 2/7); ${usage}`],
        ["verify --target offsite --slice 1/1001", `--slice 1/1001: at most 1000 slices: give n/m, the n-th of m slices, 1 ≤ n ≤ m ≤ 1000 (e.g. --slice 2/7); ${usage}`],
        ["verify files/s1 --slice 1/7", `--slice needs --target: verify --target <target> --slice n/m reads one slice of a whole target; ${usage}`],
        ["verify --target files/s1", `--target takes a storage target (offsite, or local), not a snapshot: verify files/s1 --from <target> reads one copy; ${usage}`],
        ["verify files/s1 --target offsite", `verify --target reads a whole target: drop files/s1, or drop --target to verify that one snapshot; ${usage}`],
        ["verify --target offsite --from offsite", `--from picks one snapshot's copy: verify --target offsite reads the target itself, so drop --from; ${usage}`],
        ["verify --target", `--target needs a value; ${usage}`],
      ];
      const before = (await w.app.ledger.operations.list({ limit: 1 }))[0]!.id;
      for (const [text, line] of cases) {
        const r = await w.run(text, "U0OP");
        expect(r.follow, text).toBeUndefined();
        expect([r.tone, r.title], text).toEqual(["error", line]);
      }
      expect((await w.app.ledger.operations.list({ limit: 1 }))[0]!.id).toBe(before);
      await w.app.close();
    });
  });
}
