import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { lxdAvailable, startLxdEnv, type LxdEnv } from "../../helpers/lxd-env.ts";
import { testApp } from "../../helpers/test-app.ts";
import { tempDir } from "../../helpers/temp-dir.ts";
import { recordingChat } from "../../helpers/recording-chat.ts";
import { fakeClock } from "../../../src/clock.ts";
import type { Reply } from "../../../src/reply.ts";

// Issue 12 item 3 for LXD, typed as /snapshot commands against real daemons: the scheduler's --keep expires
// web-1's snapshots locally while every copy stays on the snapshot server "snap"; that server's own keep
// (snapshot_server_keep) then prunes the copies by restic's rules, with the retention runner and `prune`,
// audited, a failure alerted (limit_near, "copies on snap") — and never touches web-1's own snapshots.
const needLxd = lxdAvailable() || process.env.CI === "true"; // under CI a missing LXD fails below, never skips
const dir = tempDir("snapbot-lxd-copy-keep-");
const DAY = 86_400_000;
const T0 = Date.UTC(2027, 0, 7); // Thursday 2027-01-07 (ISO week 1), after the machine's clock
const day = (d: number, minutes = 0) => T0 + d * DAY + minutes * 60_000;

describe.runIf(needLxd)("LXD copies kept by the snapshot server's own keep, through the commands", () => {
  let env: LxdEnv;
  let t: Awaited<ReturnType<typeof testApp>>;
  const chat = recordingChat();
  const clock = fakeClock(day(-1, 720)); // the schedule is set the day before: its first run is day 0
  const done = (r: Reply) => {
    if (!r.follow) throw new Error(`expected long work, got: ${r.title}`);
    return r.follow.done;
  };
  const query = <T = Record<string, unknown>>(path: string) => JSON.parse(env.lxc(["query", path])) as T;
  const names = (path: string) => query<string[]>(path).map((p) => p.split("/").pop()!).sort();
  const onSnap = () => ({ instances: names("snap:/1.0/instances"), snapshots: names("snap:/1.0/instances/web-1/snapshots") });
  const local = () => names("/1.0/instances/web-1/snapshots");
  const config = (keep: string, more: Record<string, unknown> = {}) => ({
    alerts: { channel: "C0ALERTS" },
    servers: { "web-1": { driver: "lxd", lxd_dir: env.localDir, lxd_conf: env.conf, snapshot_server: "snap", snapshot_server_keep: keep }, ...more },
  });
  const tickAt = async (ms: number) => {
    clock.set(ms);
    await t.app.scheduler.tick(ms);
    await t.app.scheduler.settle();
    await t.app.engine.idle();
    await t.app.scheduler.settle();
  };
  const copy = async (ref: string, minutes: number, d: number) => {
    clock.set(day(d, minutes));
    const r = await done(await t.run(`copy ${ref}`));
    expect(r.tone).toBe("success");
    return r;
  };
  /** The limit_near alerts, oldest first, as { key, state, message }. */
  const alerts = async () =>
    (await t.app.ledger.alerts.allPage(1_000, 0)).rows
      .filter((a) => a.kind === "limit_near")
      .sort((a, b) => a.id - b.id)
      .map(({ key, state, message }) => ({ key, state, message }));

  beforeAll(async () => {
    env = await startLxdEnv();
    env.lxc(["launch", "busybox", "web-1"]);
    t = await testApp(dir, config("daily=30"), clock, chat.port);
  }, 120_000);
  afterAll(async () => {
    await t?.app.close();
    env?.stop();
  });

  it("local --keep expires most snapshots; every copy stays on the snapshot server, later refreshes included", async () => {
    expect((await t.run('schedule web-1 "@daily" --pattern "s%d" --keep last=2')).tone).toBe("success");
    for (let d = 0; d < 6; d++) {
      env.lxc(["exec", "web-1", "--", "sh", "-c", `echo day${d} > /root/f`]);
      await tickAt(day(d)); // takes s<d>; then --keep last=2 prunes web-1's older ones
      if (d === 0) {
        clock.set(day(0, 30));
        expect((await done(await t.run("create web-1 by-hand"))).tone).toBe("success"); // no schedule's: never its --keep's
        await copy("web-1/by-hand", 35, 0);
      }
      const r = await copy(`web-1/s${d}`, 40, d);
      if (d >= 2) expect(r.title).toMatch(new RegExp(`kept as they left web-1: snap:web-1-s${d - 2}\\)`));
      await t.app.scheduler.retention.pass(); // the retention runner's pass: daily=30 keeps every copy
    }
    const web1 = (await t.app.ledger.servers.get("web-1"))!;
    const state = async (n: string) => (await t.app.ledger.snapshots.find(web1.id, n))?.state;
    expect(await Promise.all(["s0", "s1", "s2", "s3"].map(state))).toEqual(["expired", "expired", "expired", "expired"]);
    expect(local()).toEqual(["by-hand", "s4", "s5"]);
    expect(onSnap()).toEqual({ instances: ["web-1", "web-1-s0", "web-1-s1", "web-1-s2", "web-1-s3"], snapshots: ["by-hand", "s4", "s5"] });
    expect(env.lxc(["file", "pull", "snap:web-1-s0/root/f", "-"])).toBe("day0\n"); // s0's content, days after web-1 lost s0
    // Each pass listed the copies and found nothing to remove: no operation recorded (as local retention), no alert.
    expect((await t.app.ledger.operations.list({ serverId: web1.id, limit: 200 })).filter((o) => o.kind === "prune_copies")).toEqual([]);
    expect(await alerts()).toEqual([]);
  }, 180_000);

  it("the snapshot server's keep prunes its copies by restic's rules, dry run first; web-1's own are never touched", async () => {
    await t.app.close(); // the operator tightens snapshot_server_keep and restarts
    env.addRemote("down", "https://127.0.0.1:1");
    const down = { driver: "lxd", instance: "web-1", lxd_dir: env.localDir, lxd_conf: env.conf, snapshot_server: "down", snapshot_server_keep: "daily=1" };
    t = await testApp(dir, config("daily=2,weekly=2", { "web-down": down }), clock, chat.port);
    clock.set(day(5, 50));

    const dry = await t.run("prune web-1 --dry-run");
    expect(dry.title).toBe("prune web-1 --dry-run (last=2): would remove 0, keep 2; copies on snap (daily=2,weekly=2): would remove 4, keep 3");
    const rule = "not kept by daily=2,weekly=2";
    expect(dry.lines).toEqual([`remove copy snap:web-1-s2: ${rule}`, `remove copy snap:web-1-s1: ${rule}`, `remove copy snap:web-1/by-hand: ${rule}`, `remove copy snap:web-1-s0: ${rule}`]);
    expect(dry.table!.rows).toEqual(expect.arrayContaining([
      ["snap:web-1/s5", "daily 2027-01-12, weekly 2027-W02"], ["snap:web-1/s4", "daily 2027-01-11"], ["snap:web-1-s3", "weekly 2027-W01"],
    ]));
    expect(onSnap().instances).toHaveLength(5); // a dry run removes nothing

    env.lxc(["start", "snap:web-1-s1"]); // LXD refuses to delete a running instance: one removal fails for real
    const first = await t.run("prune web-1");
    expect(first.tone).toBe("error");
    expect(first.title).toBe("prune web-1 (asked by U1): removed 0, kept 2; copies on snap (daily=2,weekly=2): failed");
    expect(first.lines).toContainEqual(expect.stringMatching(
      /^failed copies on snap \(daily=2,weekly=2\): could not remove 1 of 4 copies on snap \(daily=2,weekly=2\): snap:web-1-s1: remove the copy snap:web-1-s1 failed: .*; removed snap:web-1-s2, snap:web-1\/by-hand, snap:web-1-s0$/,
    ));
    expect(await alerts()).toEqual([expect.objectContaining({ key: "limit_near:web-1:copies on snap", state: "open" })]);
    await t.app.alerts.flush();
    expect(chat.calls.find((c) => c.channel === "C0ALERTS" && c.reply.title.startsWith("limit_near: web-1's copies on snap were not pruned"))).toBeDefined();

    env.lxc(["stop", "--force", "snap:web-1-s1"]);
    const second = await t.run("prune web-1");
    expect(second).toMatchObject({ tone: "success", title: "prune web-1 (asked by U1): removed 0, kept 2; copies on snap (daily=2,weekly=2): removed 1, kept 3" });
    expect(second.lines).toContain("removed copies: snap:web-1-s1");
    expect(await alerts()).toEqual([expect.objectContaining({ key: "limit_near:web-1:copies on snap", state: "resolved" })]);
    expect(onSnap()).toEqual({ instances: ["web-1", "web-1-s3"], snapshots: ["s4", "s5"] });
    expect(local()).toEqual(["by-hand", "s4", "s5"]); // by-hand's copy went; web-1's by-hand stays
    const audit = await t.run("audit web-1");
    expect(audit.table!.rows.filter((r) => r[3] === "prune_copies web-1").map((r) => [r[2], r[4], r[5]])).toEqual([
      ["U1", "succeeded", "removed 1 copy on snap (daily=2,weekly=2), kept 3: snap:web-1-s1"],
      ["U1", "failed", expect.stringMatching(/^could not remove 1 of 4 copies on snap/)],
    ]);
  }, 180_000);

  it("a later copy keeps the survivors: what the source still has comes back with the refresh", async () => {
    env.lxc(["exec", "web-1", "--", "sh", "-c", "echo day6 > /root/f"]);
    await tickAt(day(6)); // s6; web-1's --keep last=2 expires s4
    const r = await copy("web-1/s6", 40, 6);
    expect(r.title).toMatch(/kept as they left web-1: snap:web-1-s4\)/);
    expect(onSnap()).toEqual({ instances: ["web-1", "web-1-s3", "web-1-s4"], snapshots: ["by-hand", "s5", "s6"] });
    // The retention runner's hourly pass applies daily=2,weekly=2 on its own: s6, s5 (days), s3 (week 1) stay.
    clock.set(day(6, 60));
    await t.app.scheduler.retention.pass();
    expect(onSnap()).toEqual({ instances: ["web-1", "web-1-s3"], snapshots: ["s5", "s6"] });
    const op = (await t.app.ledger.operations.list({ serverId: (await t.app.ledger.servers.get("web-1"))!.id, limit: 5 })).find((o) => o.kind === "prune_copies")!;
    expect(op).toMatchObject({ requested_by: "scheduler", state: "succeeded", result: "removed 2 copies on snap (daily=2,weekly=2), kept 3: snap:web-1-s4, snap:web-1/by-hand" });
    expect(local()).toEqual(["by-hand", "s5", "s6"]);
  }, 120_000);

  it("says when the snapshot server cannot be reached: the dry run, the prune and an alert", async () => {
    const dry = await t.run("prune web-down --dry-run");
    expect(dry.title).toBe("prune web-down --dry-run (expiry only): would remove 0, keep 0; copies on down (daily=1): not listed");
    expect(dry.lines).toEqual([expect.stringMatching(/^copies on down \(daily=1\): could not list them: list the copies of web-1 on down failed: an LXD remote cannot be reached/)]);
    const real = await t.run("prune web-down");
    expect(real).toMatchObject({ tone: "error", title: "prune web-down (asked by U1): removed 0, kept 0; copies on down (daily=1): failed" });
    expect(await alerts()).toContainEqual(expect.objectContaining({ key: "limit_near:web-down:copies on down", state: "open" }));
    expect(local()).toEqual(["by-hand", "s5", "s6"]);
  }, 60_000);
});
