import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { TargetFactory } from "../../helpers/copy-targets.ts";
import { tempDir } from "../../helpers/temp-dir.ts";
import type { Clock } from "../../../src/clock.ts";
import { done, world } from "./copy-cases.ts";
import { copiedWorld, SNAPS } from "./target-verify-cases.ts";

// schedule --target <t> "<cron>" --slices m: the rolling verification of a whole target, with a fake clock (each
// tick is "node-cron fired at this minute", the scheduler tests' pattern), through the real commands, engine, ledger
// and archive driver, on whatever target the factory gives.

const DAY = 86_400_000;
const at = (day: number, hour = 3, minute = 0) => Date.UTC(2026, 2, day, hour, minute, 30);

type World = Awaited<ReturnType<typeof copiedWorld>>;

/** One minute tick at `ms`, then everything it started has finished; returns the tick's report and what it read. */
async function tickAt(w: Pick<World, "app" | "copies"> & { clock: Clock & { set(ms: number): void } }, ms: number) {
  w.clock.set(ms);
  const report = await w.app.scheduler.tick(ms);
  await w.app.scheduler.settle();
  await w.app.engine.idle();
  await w.app.scheduler.settle();
  return { report, read: (await w.copies()).filter((c) => c.verified_at === ms).map((c) => c.name).sort() };
}

export function targetRoundCases(f: TargetFactory): void {
  describe(`schedule --target on a ${f.name} target`, () => {
    const root = tempDir("snapbot-target-rounds-");
    let n = 0;
    beforeAll(() => f.setup(join(root, "factory")));
    afterAll(() => f.teardown?.());

    it("each run reads the next slice; a restart continues the round where it was; a round reads every copy once", async () => {
      const label = `r${++n}`;
      const w = await copiedWorld(f, root, label);
      const set = await w.run('schedule --target offsite "0 3 * * *" --slices 3', "U0OP");
      expect(set).toMatchObject({ tone: "success", title: '⏰ offsite: every copy re-read once every 3 runs of "0 3 * * *", one slice a run; next 2026-03-01 03:00:00Z reads slice 1/3' });
      expect(set.fields).toContainEqual(["round", "starts at slice 1/3"]);
      const reads: string[][] = [];
      for (const day of [1, 2]) {
        const { report, read } = await tickAt(w, at(day));
        expect(report).toEqual({ fired: 1, skipped: 0, missed: 0 });
        reads.push(read);
      }
      expect((await w.app.ledger.operations.list({ limit: 2 })).map((o) => [o.kind, o.requested_by, o.state, o.args?.slice])).toEqual([
        ["verify_target", "scheduler", "succeeded", "2/3"],
        ["verify_target", "scheduler", "succeeded", "1/3"],
      ]);
      const listed = await w.run("schedules");
      expect(listed.title).toBe("1 schedule(s)");
      expect(listed.lines).toEqual([
        expect.stringMatching(/^verify --target offsite "0 3 \* \* \*" in 3 slice\(s\): next 2026-03-03 03:00:00Z reads slice 3\/3 \(round begun 24h ago\); last run succeeded 30s ago: offsite slice 2\/3: 2 copies, /),
      ]);
      await w.app.close();

      // A restart: the round is in the ledger, so the next run reads slice 3, not 1.
      const again = await world(f, root, label, { clock: w.clock });
      const w2 = { ...again, clock: w.clock, copies: () => again.app.ledger.copies.onTarget("offsite") };
      const third = await tickAt(w2, at(3));
      expect(third.report).toEqual({ fired: 1, skipped: 0, missed: 0 });
      expect((await again.app.ledger.operations.list({ limit: 1 }))[0]?.args).toMatchObject({ target: "offsite", slice: "3/3" });
      reads.push(third.read);
      expect(reads.flat().sort()).toEqual(SNAPS); // the round: every copy once
      expect(reads.map((r) => r.length)).toEqual([2, 2, 2]);
      expect(await again.app.ledger.targetSchedules.forTarget("offsite")).toMatchObject({ next_slice: 1, round_started_at: null, last_status: "succeeded" });

      const fourth = await tickAt(w2, at(4)); // a new round starts at slice 1 again, with the same copies
      expect(fourth.read).toEqual(reads[0]);
      expect((await again.run("unschedule --target offsite", "U0OP")).title).toBe('offsite: verification schedule "0 3 * * *" (3 slice(s)) removed by U0OP');
      expect((await tickAt(w2, at(5))).report).toEqual({ fired: 0, skipped: 0, missed: 0 });
      expect((await again.run("audit --limit 3")).table!.rows.map((r) => [r[3], r[5]])).toEqual([
        ["unschedule offsite", "unscheduled"],
        ["verify_target offsite 1/3", expect.stringMatching(/^offsite slice 1\/3: 2 copies, [\d.]+ MiB read, every part matches$/)],
        ["verify_target offsite 3/3", expect.stringMatching(/^offsite slice 3\/3: 2 copies/)],
      ]);
      await again.app.close();
    });

    it("a run missed while snapbot was down: schedule_missed, one catch-up run of the next slice, resolved when it succeeds", async () => {
      const w = await copiedWorld(f, root, `r${++n}`);
      await w.run('schedule --target offsite "0 3 * * *" --slices 3', "U0OP");
      await tickAt(w, at(1));
      const late = await tickAt(w, at(4, 5)); // days 2, 3 and 4 at 03:00 passed without a tick
      expect(late.report).toEqual({ fired: 1, skipped: 0, missed: 1 });
      expect((await w.app.ledger.operations.list({ limit: 1 }))[0]?.args).toMatchObject({ slice: "2/3" }); // one run, the next slice
      await w.app.alerts.flush();
      const alert = (await w.app.ledger.alerts.allPage(5, 0)).rows.find((a) => a.kind === "schedule_missed")!;
      expect(alert).toMatchObject({ key: "schedule_missed:@offsite:", server_id: null, state: "resolved", resolved_why: "the catch-up run succeeded" });
      expect(alert.message).toMatch(/^offsite's verification schedule "0 3 \* \* \*" ran 2d late\ndue 2026-03-02 03:00:00Z, started 2026-03-04 05:00:30Z/);
      expect(w.chat.calls.some((c) => c.channel === "C0ALERTS" && /offsite's verification schedule "0 3 \* \* \*" ran 2d late/.test(c.reply.title))).toBe(true);
      await w.app.close();
    });

    it("a round reads what an earlier slice could not (busy) and skips what was re-read meanwhile", async () => {
      const w = await copiedWorld(f, root, `r${++n}`);
      // Which slice holds which copy, as verify --target --slice says.
      const slices: string[][] = [];
      for (let k = 1; k <= 3; k++) slices.push((await w.verifyAt(at(1, 1, k), `verify --target offsite --slice ${k}/3`)).read);
      await w.run('schedule --target offsite "0 3 * * *" --slices 3', "U0OP");
      const [busy, other] = slices[0]!;
      const lease = await w.app.engine.lease(`files/${busy}@offsite`, `copy files/${busy} to offsite`);
      const first = await tickAt(w, at(1));
      w.app.engine.release(lease);
      expect(first.read).toEqual([other]);
      expect((await w.app.ledger.targetSchedules.forTarget("offsite"))?.last_message).toMatch(new RegExp(`^offsite slice 1/3: 1 copy, .*1 skipped, busy: files/${busy}$`));

      const fresh = slices[2]![0]!; // re-read by hand during the round: the round does not read it again
      await w.verifyAt(at(1, 12), `verify files/${fresh} --from offsite`);
      const second = await tickAt(w, at(2));
      expect(second.read).toEqual([busy, ...slices[1]!].sort());
      expect((await w.app.ledger.targetSchedules.forTarget("offsite"))?.last_message).toMatch(/^offsite slice 2\/3: 3 copies \(1 from earlier slices\), /);
      const third = await tickAt(w, at(3));
      expect(third.read).toEqual(slices[2]!.filter((s) => s !== fresh));
      expect((await w.app.ledger.targetSchedules.forTarget("offsite"))?.last_message).toMatch(/^offsite slice 3\/3: 1 copy, [\d.]+ MiB read, every part matches, 1 already re-read this round$/);
      // Every copy was re-read since the round began.
      expect((await w.copies()).every((c) => c.verified_at! >= at(1))).toBe(true);
      await w.app.close();
    });

    it("each mistake is one line with the usage, and nothing is scheduled", async () => {
      const w = await copiedWorld(f, root, `r${++n}`);
      const usage =
        'usage: schedule <server> "<cron>" [--pattern <p>] [--expiry <dur>] [--keep last=N,daily=N,…,parents=prune] [--warn <dur>] [--crit <dur>] [--native] | schedule --target <target> "<cron>" [--slices m]';
      const cases: Array<[string, string | RegExp]> = [
        ['schedule --target nowhere "@daily"', `no storage target "nowhere" (targets: offsite): add it under storage.targets in snapbot.yml; ${usage}`],
        ['schedule --target offsite "@daily" --slices 0', `--slices takes a whole number from 1 to 1000: each run reads the next slice, the whole target every that many runs (e.g. --slices 7); ${usage}`],
        ['schedule --target offsite "@daily" --slices x', /^--slices takes a whole number from 1 to 1000/],
        ['schedule --target offsite "0 25 * * *"', /hour.*25.*0-23.*; usage: schedule <server>/i],
        ['schedule files "@daily" --slices 7', `--slices goes with --target: schedule --target <target> "<cron>" --slices m re-reads a storage target in slices; ${usage}`],
        ['schedule files --target offsite "@daily"', `schedule --target takes the target and "<cron>", no server (e.g. schedule --target offsite "@daily" --slices 7); ${usage}`],
        ['schedule --target offsite "@daily" --keep daily=7', `--keep is for a server's snapshots: schedule --target takes "<cron>" and --slices only; ${usage}`],
        ['schedule --target files/s1 "@daily"', `--target takes a storage target (offsite, or local), not a snapshot; ${usage}`],
        ["unschedule --target offsite", "offsite has no verification schedule: type schedules to see them"],
        ["unschedule files --target offsite", "unschedule --target takes no server: drop files; usage: unschedule <server> | unschedule --target <target>"],
      ];
      for (const [text, line] of cases) {
        const r = await w.run(text, "U0OP");
        expect(r.tone, text).toBe("error");
        if (typeof line === "string") expect(r.title, text).toBe(line);
        else expect(r.title, text).toMatch(line);
      }
      expect(await w.app.ledger.targetSchedules.live()).toEqual([]);
      expect((await w.run("schedules")).title).toMatch(/^no schedules yet/);
      // Replacing keeps the round when the number of slices is the same, and starts again when it is not.
      await w.run('schedule --target offsite "0 3 * * *" --slices 3', "U0OP");
      await tickAt(w, at(1));
      expect((await w.run('schedule --target offsite "0 4 * * *" --slices 3', "U0OP")).fields).toContainEqual(["round", expect.stringMatching(/^continues at slice 2\/3/)]);
      const restarted = await w.run('schedule --target offsite "0 4 * * *" --slices 2', "U0OP");
      expect(restarted.fields).toContainEqual(["round", "starts at slice 1/2"]);
      expect(restarted.lines).toEqual([expect.stringMatching(/^replaces "0 4 \* \* \*" in 3 slice\(s\) \(set by U0OP /)]);
      await done(await w.run("verify --target offsite", "U0OP")); // still works by hand alongside
      await w.app.close();
    });
  });
}
