import { describe, expect, it, vi } from "vitest";
import type { OperationRow } from "../../../db/ledger.ts";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { testApp } from "../../helpers/test-app.ts";
import { tempDir } from "../../helpers/temp-dir.ts";
import { recordingChat } from "../../helpers/recording-chat.ts";
import { fakeClock } from "../../../src/clock.ts";

// The scheduler on a real ledger and the real archive driver (tar, zstd, real files), with a fake clock:
// each tick is "node-cron fired at this minute", so no test waits for real minutes.

const root = tempDir("snapbot-scheduler-");
const MIN = 60_000;
const HOUR = 60 * MIN;
const T0 = Date.UTC(2026, 0, 1, 0, 0, 30); // 00:00:30 UTC

function source(name: string): string {
  const d = join(root, "src", name);
  mkdirSync(d, { recursive: true });
  writeFileSync(join(d, "etc-hosts"), "127.0.0.1 localhost\n".repeat(100));
  return d;
}

async function setup(name: string, paths = [source(name)]) {
  const clock = fakeClock(T0);
  const chat = recordingChat();
  const roles = { admins: ["U0ADMIN"], approvers: ["U0ALICE"], operators: ["*"] };
  const { app, run } = await testApp(join(root, name), { roles, storage: { path: "snaps" }, servers: { web: { driver: "archive", paths } } }, clock, chat.port);
  const server = (await app.ledger.servers.get("web"))!;
  const snaps = async () => (await app.ledger.snapshots.list(server.id, { all: true, limit: 100, offset: 0 })).rows.reverse();
  const tickAt = async (ms: number) => {
    clock.set(ms);
    const report = await app.scheduler.tick(ms);
    await app.scheduler.settle();
    await app.engine.idle();
    await app.scheduler.settle();
    return report;
  };
  return { app, run, clock, chat, server, snaps, tickAt };
}

describe("schedule, schedules, unschedule", () => {
  it("refuses bad input with one line saying what to type, and writes nothing", async () => {
    const { app, run } = await setup("bad-input");
    const cases: Array<[string, RegExp]> = [
      ['schedule web "0 25 * * *"', /hour.*25.*0-23/i],
      ['schedule web "every day"', /cron|five fields/i],
      ['schedule web "@daily" --keep daily=x', /keep/i],
      ['schedule web "@daily" --keep daily=0', /keep/i],
      ['schedule web "@daily" --expiry tomorrow', /duration/i],
      ['schedule web "@daily" --warn 4d --crit 1d', /--warn must be shorter than --crit/],
      ['schedule web "@daily" --native', /^web \(archive\) cannot keep its own schedule \(--native\): drop --native/],
      ['schedule nope "@daily"', /unknown server "nope"/],
      ["schedule web", /usage: schedule <server> "<cron>"/],
      ["unschedule web", /web has no schedule/],
      ["prune web", /no --keep policy/],
    ];
    for (const [text, expected] of cases) {
      const r = await run(text);
      expect(r.tone, text).toBe("error");
      expect(r.title, text).toMatch(expected);
      expect(r.title.includes("\n"), text).toBe(false);
    }
    expect(await app.ledger.schedules.live()).toEqual([]);
    await app.close();
  });

  it("sets, replaces, lists and removes a schedule; the audit log has each change", async () => {
    const { app, run, server } = await setup("crud");
    const set = await run('schedule web "0 3 * * *" --keep daily=7,weekly=4,monthly=6 --expiry 1y');
    expect(set.tone).toBe("success");
    expect(set.title).toBe('⏰ web: snapshots on "0 3 * * *", next 2026-01-01 03:00:00Z');
    expect(set.fields).toContainEqual(["keep", "daily=7,weekly=4,monthly=6"]);
    expect(set.fields).toContainEqual(["stale alert", "warn after 36h, critical after 4d"]);
    const again = await run("schedule web 0 */6 * * * --pattern snap%d"); // five unquoted fields work too
    expect(again.lines![0]).toMatch(/^replaces "0 3 \* \* \*"/);
    const list = await run("schedules");
    expect(list.table!.rows).toEqual([["web", "0 */6 * * *", "2026-01-01 06:00:00Z", "—", "—", "—", "snap%d"]]);
    const unregister = await run("unregister web", "U0ADMIN");
    expect(unregister).toMatchObject({ tone: "error", title: 'web has a schedule ("0 */6 * * *"): unschedule web first' });
    expect(await app.ledger.servers.get("web")).toBeDefined();
    expect((await run("unschedule web")).title).toBe('web: schedule "0 */6 * * *" removed by U1');
    expect((await run("schedules")).title).toMatch(/^no schedules yet/);
    expect((await app.ledger.operations.list({ serverId: server.id, limit: 10 })).map((o) => o.kind)).toEqual(["unschedule", "schedule", "schedule"]);
    await app.close();
  });
});

describe("scheduled snapshots", () => {
  it("takes snapshots at their minute with the schedule's pattern and expiry, then applies --keep", async () => {
    const { app, run, snaps, tickAt } = await setup("runs");
    await run('schedule web "*/5 * * * *" --pattern "nightly-{{ creation_date|date:\'2006-01-02_15-04\' }}" --keep last=2');
    expect((await tickAt(T0 + 2 * MIN)).fired).toBe(0); // 00:02:30: not due
    expect(await tickAt(Date.UTC(2026, 0, 1, 0, 5))).toEqual({ fired: 1, skipped: 0, missed: 0 });
    await tickAt(Date.UTC(2026, 0, 1, 0, 10));
    expect((await snaps()).map((s) => [s.name, s.state, s.origin])).toEqual([
      ["nightly-2026-01-01_00-05", "done", "schedule"],
      ["nightly-2026-01-01_00-10", "done", "schedule"],
    ]);
    await tickAt(Date.UTC(2026, 0, 1, 0, 15)); // a third: last=2 prunes the oldest, files and all
    const [oldest, ...kept] = await snaps();
    expect(oldest).toMatchObject({ name: "nightly-2026-01-01_00-05", state: "expired" });
    expect(existsSync(oldest!.location!)).toBe(false);
    expect(kept.map((s) => s.state)).toEqual(["done", "done"]);
    for (const s of kept) expect(existsSync(join(s.location!, "manifest.json"))).toBe(true);
    const prune = (await app.ledger.operations.list({ limit: 20 })).find((o) => o.kind === "prune")!;
    expect(prune).toMatchObject({ state: "succeeded", requested_by: "scheduler" });
    expect(prune.args!.reason).toMatch(/^retention last=2: /);
    expect((await app.ledger.schedules.live())[0]).toMatchObject({ last_status: "succeeded", last_run_at: Date.UTC(2026, 0, 1, 0, 15) });
    await app.close();
  });

  it("never prunes a snapshot someone took by hand, and prune --dry-run shows the plan without removing", async () => {
    const { app, run, snaps, tickAt } = await setup("by-hand");
    await run('schedule web "@hourly"');
    const manual = await run("create web before-upgrade");
    await manual.follow!.done;
    await tickAt(Date.UTC(2026, 0, 1, 1, 0));
    await tickAt(Date.UTC(2026, 0, 1, 2, 0));
    await run('schedule web "@hourly" --keep last=1'); // the policy comes later: nothing pruned yet
    const dry = await run("prune web --dry-run");
    expect(dry.title).toBe("prune web --dry-run (last=1): would remove 1, keep 1");
    expect(dry.lines).toEqual([expect.stringMatching(/^remove 2026-01-01_01-00-00: /)]);
    expect((await snaps()).filter((s) => s.state === "done")).toHaveLength(3); // nothing removed by a dry run
    const done = await run("prune web");
    expect(done.title).toMatch(/^prune web \(asked by U1\): removed 1, kept 1$/);
    expect((await snaps()).map((s) => [s.name, s.state])).toEqual([
      ["before-upgrade", "done"],
      [expect.any(String), "expired"],
      [expect.any(String), "done"],
    ]);
    await app.close();
  });

  it("keeps a snapshot a pending restore approval refers to, and says why", async () => {
    const { app, run, snaps, tickAt } = await setup("in-use");
    await run('schedule web "@hourly"');
    for (const h of [1, 2, 3]) await tickAt(Date.UTC(2026, 0, 1, h, 0));
    const oldest = (await snaps())[0]!;
    const asked = await run(`restore web/${oldest.name}`, "U0OPS");
    expect(asked.title).toMatch(/approv/i);
    await run('schedule web "@hourly" --keep last=1');
    const dry = await run("prune web --dry-run");
    expect(dry.lines).toContainEqual(expect.stringMatching(new RegExp(`^keep ${oldest.name}: in use: restore awaiting approval \\(operation #\\d+\\)`)));
    expect(dry.title).toBe("prune web --dry-run (last=1): would remove 1, keep 2");
    await run("prune web");
    expect((await snaps()).map((s) => s.state)).toEqual(["done", "expired", "done"]);
    await app.close();
  });

  it("removes a snapshot once its expiry passes (fixed at creation, as LXD does)", async () => {
    const { app, run, snaps, tickAt } = await setup("expiry");
    await run('schedule web "0 * * * *" --expiry 30M');
    await tickAt(Date.UTC(2026, 0, 1, 1, 0));
    expect((await snaps())[0]).toMatchObject({ state: "done", expires_at: Date.UTC(2026, 0, 1, 1, 30) });
    await tickAt(Date.UTC(2026, 0, 1, 1, 29));
    expect((await snaps())[0]!.state).toBe("done");
    await tickAt(Date.UTC(2026, 0, 1, 1, 31));
    expect((await snaps())[0]!.state).toBe("expired");
    expect(existsSync((await snaps())[0]!.location!)).toBe(false);
    await app.close();
  });

  it("skips and records a run whose previous run is still going, instead of stacking it", async () => {
    const { app, run, clock } = await setup("overlap");
    await run('schedule web "* * * * *"');
    clock.set(Date.UTC(2026, 0, 1, 0, 1));
    expect(await app.scheduler.tick()).toMatchObject({ fired: 1, skipped: 0 });
    clock.set(Date.UTC(2026, 0, 1, 0, 2)); // the first create (real tar) has not finished yet
    expect(await app.scheduler.tick()).toMatchObject({ fired: 0, skipped: 1 });
    await app.scheduler.settle();
    const ops = (await app.ledger.operations.list({ limit: 10 })).filter((o) => o.kind === "create");
    expect(ops.map((o) => o.state).sort()).toEqual(["cancelled", "succeeded"]);
    const skipped = ops.find((o) => o.state === "cancelled")!;
    expect(skipped.error).toMatch(/^skipped: the previous run \(operation #\d+\) is still running$/); // recorded within the tick
    expect((await app.ledger.schedules.live())[0]).toMatchObject({ last_status: "skipped", last_operation_id: skipped.id });
    await app.close();
  });

  it("records a scheduled snapshot when its run starts, and fails the run cleanly if its name was taken meanwhile", async () => {
    const { app, run, clock, server } = await setup("late-record");
    await run('schedule web "@hourly" --pattern nightly');
    clock.set(Date.UTC(2026, 0, 1, 1, 0));
    // Someone is quicker: their insert is made while the scheduler's transaction records the run, so it waits for
    // the connection and runs right after the commit, before the job (which starts once the batch committed).
    const batch = app.engine.batch;
    let recorded: OperationRow | undefined;
    let quicker: Promise<unknown> | undefined;
    vi.spyOn(app.engine, "batch").mockImplementationOnce((fn) =>
      batch(async (t) => {
        const out = await fn(t);
        recorded = (await t.operations.list({ limit: 1 }))[0];
        quicker = app.ledger.snapshots.insert({ server_id: server.id, name: "nightly", created_by: "U2" });
        return out;
      }),
    );
    expect(await app.scheduler.tick()).toMatchObject({ fired: 1 });
    await quicker;
    const op = recorded!;
    // One insert at the minute (running at once: a slot was free), the snapshot's own when the work starts.
    expect(op).toMatchObject({ kind: "create", state: "running", snapshot_id: null });
    await app.scheduler.settle();
    expect(await app.ledger.operations.get(op.id)).toMatchObject({ state: "failed", error: "web/nightly was taken (pending) while this run waited to start" });
    expect((await app.ledger.schedules.live())[0]).toMatchObject({ last_status: "failed", last_operation_id: op.id });
    await run("schedule web \"@hourly\" --pattern nightly"); // and the next run takes the next free name
    clock.set(Date.UTC(2026, 0, 1, 2, 0));
    await app.scheduler.tick();
    await app.scheduler.settle();
    const next = (await app.ledger.operations.list({ limit: 1 }))[0]!;
    expect(next).toMatchObject({ state: "succeeded" });
    expect(await app.ledger.snapshots.get(next.snapshot_id!)).toMatchObject({ name: "nightly-0", state: "done", origin: "schedule" });
    await app.close();
  });

  it("catches up once after downtime and posts schedule_missed saying how late; resolved by the catch-up run", async () => {
    const dir = "missed";
    const first = await setup(dir);
    await first.run('schedule web "0 * * * *"');
    await first.tickAt(Date.UTC(2026, 0, 1, 1, 0)); // ran at 01:00
    await first.app.close(); // down from 01:00:30 until 06:12
    const clock = fakeClock(Date.UTC(2026, 0, 1, 6, 12));
    const chat = recordingChat();
    const { app } = await testApp(join(root, dir), { storage: { path: "snaps" }, servers: { web: { driver: "archive", paths: [join(root, "src", dir)] } } }, clock, chat.port);
    expect(await app.scheduler.tick()).toEqual({ fired: 1, skipped: 0, missed: 1 }); // 02:00…06:00 missed: one run, not five
    await app.scheduler.settle();
    await app.engine.idle();
    await app.scheduler.settle();
    const missed = (await app.ledger.alerts.allPage(1000, 0)).rows.filter((a) => a.kind === "schedule_missed").sort((a, b) => a.id - b.id);
    const alert = missed[0]!;
    expect(alert).toBeDefined();
    expect(alert.message).toMatch(/^web's schedule "0 \* \* \* \*" ran 4h late\n5 runs missed, due 2026-01-01 02:00Z, started 2026-01-01 06:12Z/);
    expect(alert.state).toBe("resolved");
    const server = (await app.ledger.servers.get("web"))!;
    expect((await app.ledger.snapshots.list(server.id, { limit: 10, offset: 0 })).rows.filter((s) => s.state === "done")).toHaveLength(2);
    await app.close();
  });

  it("warns, then goes critical, when the newest good snapshot gets old; resolved when one succeeds again", async () => {
    const missing = join(root, "src", "stale-later");
    const { app, run, tickAt } = await setup("stale", [missing]); // creates fail until the folder exists
    await run('schedule web "@hourly"'); // interval 1h: warn after 1.5h, crit after 4h
    const stale = async () =>
      (await app.ledger.alerts.allPage(1000, 0)).rows
        .filter((a) => a.kind === "snapshot_stale")
        .sort((a, b) => a.id - b.id)
        .map(({ state, count, message }) => ({ state, count, message }));
    await tickAt(Date.UTC(2026, 0, 1, 1, 0));
    expect(await stale()).toEqual([]);
    await tickAt(Date.UTC(2026, 0, 1, 2, 0, 30)); // 2h since the schedule was set: warning
    expect(await stale()).toEqual([{ state: "open", count: 1, message: expect.stringMatching(/^web: warning, no good snapshot yet\nschedule "@hourly": warn after 1h30m, critical after 4h\nlast run: (failed|started)/) }]);
    await tickAt(Date.UTC(2026, 0, 1, 3, 0)); // still warning: no repeat
    expect((await stale())[0]!.count).toBe(1);
    await tickAt(Date.UTC(2026, 0, 1, 4, 0, 40));
    expect(await stale()).toEqual([{ state: "open", count: 2, message: expect.stringMatching(/^web: CRITICAL/) }]);
    source("stale-later");
    await tickAt(Date.UTC(2026, 0, 1, 5, 0));
    expect(await stale()).toEqual([{ state: "resolved", count: 2, message: expect.stringMatching(/^web: CRITICAL/) }]);
    expect((await app.ledger.alerts.allPage(1000, 0)).rows.filter((a) => a.kind === "snapshot_failed").length).toBeGreaterThan(0);
    await app.close();
  });
});
