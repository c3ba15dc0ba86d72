import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { join } from "node:path";
import { lxdAvailable, startLxdEnv, type LxdEnv } from "../../helpers/lxd-env.ts";
import { testApp } from "../../helpers/test-app.ts";
import { tempDir } from "../../helpers/temp-dir.ts";
import { recordingChat } from "../../helpers/recording-chat.ts";
import { fakeClock } from "../../../src/clock.ts";
import type { Reply } from "../../../src/reply.ts";

// The seed's whole walk-through (shared/seeds/000), typed as /snapshot commands, against real LXD.
const needLxd = lxdAvailable() || process.env.CI === "true"; // under CI a missing LXD fails below, never skips
const dir = tempDir("snapbot-lxd-walk-");

describe.runIf(needLxd)("LXD walk-through through the commands", () => {
  let env: LxdEnv;
  let t: Awaited<ReturnType<typeof testApp>>;
  const chat = recordingChat();
  const clock = fakeClock(Date.now());
  const done = (r: Reply) => {
    if (!r.follow) throw new Error(`expected long work, got: ${r.title}`);
    return r.follow.done;
  };
  const approvalOf = (r: Reply) => Number(/approve (\d+)/.exec(r.buttons?.[0]?.command ?? "")?.[1] ?? NaN);
  const inside = (inst: string, script: string) => env.lxc(["exec", inst, "--", "sh", "-c", script]).trim();
  const query = (path: string) => JSON.parse(env.lxc(["query", path]));

  beforeAll(async () => {
    env = await startLxdEnv();
    env.lxc(["profile", "create", "web"]);
    env.lxc(["profile", "set", "web", "user.role", "web"]);
    env.lxc(["launch", "busybox", "web-1", "--profile", "default", "--profile", "web"]);
    const lxd = { driver: "lxd", lxd_dir: env.localDir, lxd_conf: env.conf, snapshot_server: "snap" };
    t = await testApp(
      dir,
      {
        roles: { admins: ["U0ADMIN"], approvers: ["U0ALICE"], operators: ["*"] },
        alerts: { channel: "C0ALERTS" },
        servers: { "web-1": { ...lxd, limit: 6 }, ghost: { ...lxd, instance: "no-such-instance" } },
      },
      clock,
      chat.port,
    );
  }, 120_000);
  afterAll(async () => {
    await t?.app.close();
    env?.stop();
  });

  it("snapshots, lists snapshots made by hand, and notices ones deleted outside", async () => {
    inside("web-1", "echo original > /root/f");
    expect(await done(await t.run("create web-1 s1"))).toMatchObject({ tone: "success", title: expect.stringMatching(/^web-1\/s1 done/) });
    expect(query("/1.0/instances/web-1/snapshots")).toContain("/1.0/instances/web-1/snapshots/s1");
    env.lxc(["snapshot", "web-1", "by-hand"]);
    const list = await t.run("list web-1");
    expect(list.table!.rows).toContainEqual(expect.arrayContaining(["by-hand", "done", "external"]));
    env.lxc(["delete", "web-1/by-hand"]);
    const all = await t.run("list web-1 --all");
    expect(all.table!.rows).toContainEqual(expect.arrayContaining(["by-hand", "deleted", "external"]));
  });

  it("restores after a change inside the container, once another person approves", async () => {
    inside("web-1", "echo changed > /root/f");
    const request = await t.run("restore web-1/s1", "U0OP");
    expect(request.title).toMatch(/^Approval needed: restore web-1\/s1/);
    expect(inside("web-1", "cat /root/f")).toBe("changed");
    const final = await done(await t.run(`approve ${approvalOf(request)}`, "U0ALICE"));
    expect(final.tone).toBe("success");
    expect(inside("web-1", "cat /root/f")).toBe("original");
    expect(query("/1.0/instances/web-1").status).toBe("Running");
  });

  it("copies to the snapshot server: profile first, autostart off, a later copy refreshes", async () => {
    const first = await done(await t.run("copy web-1/s1 snap"));
    expect(first.tone).toBe("success");
    expect(query("snap:/1.0/profiles/web").config["user.role"]).toBe("web");
    expect(query("snap:/1.0/instances/web-1").config["boot.autostart"]).toBe("0");
    await done(await t.run("create web-1 s2"));
    const second = await done(await t.run("copy web-1/s2")); // to web-1's snapshot_server
    expect(second.tone).toBe("success");
    expect(query("snap:/1.0/instances/web-1/snapshots")).toContain("/1.0/instances/web-1/snapshots/s2");
    expect(query("snap:/1.0/instances/web-1").config["boot.autostart"]).toBe("0");
    const s1 = (await t.app.ledger.snapshots.find((await t.app.ledger.servers.get("web-1"))!.id, "s1"))!;
    expect(s1.details?.copies).toEqual([expect.objectContaining({ remote: "snap", name: "web-1", refreshed: false })]);
  });

  it("clones, alerts on the shared host key, and resolves it once regenerated with approval", async () => {
    const cloned = await done(await t.run("clone web-1/s1 web-2"));
    expect(cloned.title).toMatch(/^web-2 cloned from web-1\/s1 and registered/);
    expect(await t.app.ledger.servers.get("web-2")).toMatchObject({ driver: "lxd", cloned_from: (await t.app.ledger.servers.get("web-1"))!.id });
    const alert = chat.calls.find((c) => c.kind === "post" && c.reply.title.startsWith("hostkey_regen_needed"))!;
    expect(alert.channel).toBe("C0ALERTS");
    expect(alert.reply.title).toMatch(/web-2 presents the same SSH host key as web-1 \(ssh-ed25519 SHA256:/);
    expect(alert.reply.buttons).toEqual([{ label: "Regenerate host keys", command: "hostkeys regen web-2", style: "primary" }]);
    expect((await t.run("hostkeys scan")).title).toMatch(/^1 host key\(s\) shared between servers/);
    const request = await t.run(alert.reply.buttons![0]!.command, "U0OP"); // the button, pressed by an operator
    const final = await done(await t.run(`approve ${approvalOf(request)}`, "U0ALICE"));
    expect(final).toMatchObject({ tone: "success", lines: [expect.stringMatching(/^new host keys: ssh-ed25519 SHA256:/)] });
    expect((await t.run("hostkeys scan")).title).toMatch(/^No shared host keys/);
    expect(chat.calls.find((c) => c.kind === "update" && c.ts === alert.ts && c.reply.title.startsWith("resolved hostkey_regen_needed"))).toBeDefined();
  });

  it("deletes a snapshot on the backend", async () => {
    expect((await done(await t.run("delete web-1/s2"))).tone).toBe("success");
    expect(query("/1.0/instances/web-1/snapshots")).not.toContain("/1.0/instances/web-1/snapshots/s2");
  });

  it("refuses a create at the limit, prunes an expired one instead when it can, and warns near it", async () => {
    // web-1 has limit 6 and holds s1 now.
    await done(await t.run("create web-1 old --expiry 1M"));
    for (const n of ["s3", "s4", "s5"]) await done(await t.run(`create web-1 ${n}`));
    await new Promise((r) => setTimeout(r, 50));
    expect(chat.calls.find((c) => c.reply.title.startsWith("limit_near:"))).toBeUndefined(); // 5 of 6 is under 90%
    await done(await t.run("create web-1 s6"));
    await new Promise((r) => setTimeout(r, 50));
    expect(chat.calls.find((c) => c.reply.title.startsWith("limit_near: web-1 holds 6 of its 6 snapshots"))).toBeDefined();
    expect(await t.run("create web-1 s7")).toMatchObject({ tone: "error", title: expect.stringMatching(/^web-1 has 6 snapshots, its limit is 6, and none has expired/) });
    clock.advance(2 * 60_000); // "old" expires
    expect((await done(await t.run("create web-1 s7"))).tone).toBe("success");
    expect(query("/1.0/instances/web-1/snapshots")).not.toContain("/1.0/instances/web-1/snapshots/old");
  });

  it("fails clearly with LXD's own message when the instance is missing, and alerts", async () => {
    const final = await done(await t.run("create ghost g1"));
    expect(final.tone).toBe("error");
    expect(final.lines![0]).toMatch(/no-such-instance/);
    expect((await t.app.ledger.snapshots.find((await t.app.ledger.servers.get("ghost"))!.id, "g1"))!.state).toBe("failed");
    await new Promise((r) => setTimeout(r, 50));
    expect(chat.calls.find((c) => c.channel === "C0ALERTS" && c.reply.title.startsWith("snapshot_failed: snapshot ghost/g1 failed"))).toBeDefined();
  });
  it("hands a schedule to LXD itself with --native, lists what LXD's schedule made, and takes it back", async () => {
    const set = await t.run('schedule web-1 "0 3 * * *" --native --pattern "auto-%d" --expiry 2w');
    expect(set).toMatchObject({ tone: "success", title: '⏰ web-1: snapshots on "0 3 * * *" by LXD itself (--native)' });
    const config = () => query("/1.0/instances/web-1").config as Record<string, string>;
    expect(config()).toMatchObject({ "snapshots.schedule": "0 3 * * *", "snapshots.pattern": "auto-%d", "snapshots.expiry": "2w" });
    env.lxc(["snapshot", "web-1", "auto-0"]); // what LXD's scheduler does at 03:00 (no test waits for it)
    expect((await t.run("list web-1")).table!.rows).toContainEqual(expect.arrayContaining(["auto-0", "done", "external"]));
    expect((await t.run("schedules")).table!.rows).toContainEqual(["web-1", "0 3 * * *", "LXD (--native)", "—", "—", "2w", "auto-%d"]);
    expect((await t.run("unschedule web-1")).tone).toBe("success");
    expect(config()["snapshots.schedule"]).toBeUndefined();
    expect(config()["snapshots.pattern"]).toBeUndefined();
  });
});
