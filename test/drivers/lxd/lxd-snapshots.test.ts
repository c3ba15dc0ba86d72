import { createServer, type Server, type Socket } from "node:net";
import { execFileSync, spawnSync } from "node:child_process";
import { beforeAll, expect, it } from "vitest";
import { BackendError, UserError } from "../../../src/errors.ts";
import { context, describeLxd, driverFor, handle, json, launch, request, sh } from "./lxd-fixture.ts";

// Snapshots inside LXD: create, list (including ones made by hand), verify, delete, restore, and the
// failures an operator meets: missing instance or snapshot, unreachable or untrusting remote, full
// storage, a hung lxc killed at the operation's timeout.

describeLxd("lxd driver: snapshots on a real LXD", (env) => {
  beforeAll(() => {
    launch(env(), "web-1");
    sh(env(), "web-1", "echo original > /root/f");
  });

  it("creates a real snapshot that LXD lists, checks and verifies", async () => {
    const driver = driverFor(env());
    const before = Date.now();
    const res = await driver.create(request("s1"), context());
    expect(res).toMatchObject({ location: null, checksum: null, parts: [], details: { stateful: false, instance: "web-1" } });
    expect(res.size).toBeNull(); // LXD's dir pool reports no size
    expect(json(env(), "/1.0/instances/web-1/snapshots/s1")).toMatchObject({ name: "s1", stateful: false });
    const listed = (await driver.listBackend!(context())).find((s) => s.name === "s1");
    expect(listed).toMatchObject({ name: "s1", expiresAt: null, stateful: false });
    expect(listed!.createdAt).toBeGreaterThanOrEqual(before - 2000);
    expect(await driver.check!(handle("s1"), res)).toMatchObject({ ok: true, problems: [] }); // LXD's operation confirmed it
    expect(await driver.check!(handle("s1"), { ...res })).toMatchObject({ ok: true, problems: [] }); // asks LXD
    expect(await driver.verify!(handle("s1"), context())).toMatchObject({ ok: true, problems: [] });
  });

  it("lists snapshots made by hand with lxc snapshot, and LXD's own expiry", async () => {
    env().lxc(["snapshot", "web-1", "by-hand"]);
    env().lxc(["config", "set", "web-1", "snapshots.expiry", "1d"]);
    env().lxc(["snapshot", "web-1", "scheduled-like"]);
    env().lxc(["config", "unset", "web-1", "snapshots.expiry"]);
    const all = await driverFor(env()).listBackend!(context());
    expect(all.map((s) => s.name)).toEqual(expect.arrayContaining(["s1", "by-hand", "scheduled-like"]));
    expect(all.find((s) => s.name === "by-hand")!.expiresAt).toBeNull();
    const exp = all.find((s) => s.name === "scheduled-like")!.expiresAt!;
    expect(Math.abs(exp - (Date.now() + 86_400_000))).toBeLessThan(60_000);
  });

  it("gives a snapshot the expiry the engine asks for, as LXD's own", async () => {
    const at = Date.UTC(2031, 0, 2, 3, 4, 5);
    await driverFor(env()).create(request("s-exp", { expiresAt: at }), context());
    expect(json(env(), "/1.0/instances/web-1/snapshots/s-exp").expires_at).toBe("2031-01-02T03:04:05Z");
  });

  it("deletes a snapshot; one already gone counts as deleted; verify then reports it missing", async () => {
    const driver = driverFor(env());
    const res = await driver.create(request("s-del"), context());
    await driver.delete(handle("s-del"), context());
    expect(await driver.check!(handle("s-del"), { ...res })).toMatchObject({ ok: false, problems: ["snapshot s-del is missing on web-1"] });
    expect(() => env().lxc(["query", "/1.0/instances/web-1/snapshots/s-del"])).toThrow(/not found/);
    await driver.delete(handle("s-del"), context()); // by hand or by LXD's expiry: still deleted
    expect(await driver.verify!(handle("s-del"), context())).toEqual({ ok: false, problems: ["snapshot s-del is missing on web-1"], checkedBytes: 0 });
  });

  it("restores the instance after a change inside it, keeping it running", async () => {
    const driver = driverFor(env());
    sh(env(), "web-1", "echo before-restore > /root/f");
    await driver.create(request("s-restore"), context());
    sh(env(), "web-1", "echo changed > /root/f; echo new > /root/g");
    expect(sh(env(), "web-1", "cat /root/f")).toBe("changed\n");
    // What the dry run and the approval request show, then the result: the same words.
    const writes = "the instance web-1, rolled back to s-restore (changes made since then are lost)";
    expect(await driver.describeRestore!(handle("s-restore"), {})).toEqual({
      writes,
      notes: ["web-1 is running: LXD stops it, rolls it back and starts it again"],
      bytes: null,
    });
    const { summary } = await driver.restore!(handle("s-restore"), {}, context());
    expect(summary).toBe(`restored ${writes}; now running`);
    expect(sh(env(), "web-1", "cat /root/f")).toBe("before-restore\n");
    expect(sh(env(), "web-1", "ls /root")).not.toMatch(/\bg\b/);
  });

  it("a stopped instance: says it stays stopped, and it does", async () => {
    env().lxc(["init", "busybox", "still-1"]);
    const driver = driverFor(env(), { name: "still-1" });
    await driver.create(request("s1", { server: "still-1" }), context());
    const writes = "the instance still-1, rolled back to s1 (changes made since then are lost)";
    expect(await driver.describeRestore!(handle("s1", "still-1"), {})).toEqual({ writes, notes: ["still-1 is stopped and stays stopped"], bytes: null });
    expect((await driver.restore!(handle("s1", "still-1"), {}, context())).summary).toBe(`restored ${writes}; now stopped`);
    await expect(driver.describeRestore!(handle("never-made", "still-1"), {})).rejects.toMatchObject({ code: "snapshot_missing" });
  });

  it("refuses to restore a missing snapshot with a clear error", async () => {
    const err = await driverFor(env()).restore!(handle("never-made"), {}, context()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BackendError);
    expect(err).toMatchObject({ code: "snapshot_missing" });
    expect((err as Error).message).toMatch(/LXD has no snapshot never-made of web-1/);
  });

  it("says which instance is missing, in LXD's words", async () => {
    const err = await driverFor(env(), { name: "ghost" }).create(request("s1", { server: "ghost" }), context()).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: "instance_missing" });
    expect((err as Error).message).toBe("snapshot ghost/s1 failed: the instance does not exist. LXD: Instance not found");
    // Not "the snapshot is missing" (which would mark every snapshot broken over a typo in the config).
    await expect(driverFor(env(), { name: "ghost" }).verify!(handle("s1", "ghost"), context())).rejects.toMatchObject({ code: "instance_missing" });
  });

  it("passes LXD's refusal of a stateful snapshot through (no CRIU here)", async () => {
    const err = await driverFor(env()).create(request("s-state", { stateful: true }), context()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BackendError);
    expect((err as Error).message).toMatch(/^snapshot web-1\/s-state failed: .*LXD: .*CRIU/);
  });

  it("reports an unreachable remote, a remote that does not trust snapbot, and an unknown remote", async () => {
    env().addRemote("dead", "https://127.0.0.1:1");
    const dead = await driverFor(env(), { remote: "dead" }).listBackend!(context()).catch((e: unknown) => e);
    expect(dead).toMatchObject({ code: "remote_unreachable" });
    expect((dead as Error).message).toMatch(/lxc remote add .*LXD: .*connection refused/);

    const untrusted = driverFor(env(), { remote: "snap", lxd_conf: env().untrustedConf() });
    const denied = await untrusted.listBackend!(context()).catch((e: unknown) => e);
    expect(denied).toMatchObject({ code: "remote_unreachable" });
    expect((denied as Error).message).toMatch(/does not trust snapbot.*LXD: not authorized/);

    const unknown = await driverFor(env(), { remote: "nosuch" }).create(request("s1"), context()).catch((e: unknown) => e);
    expect(unknown).toMatchObject({ code: "remote_unreachable" });
    expect((unknown as Error).message).toMatch(/LXD: The remote "nosuch" doesn't exist/);
  });

  it("reports a full storage pool", async () => {
    const pool = env().addSmallPool("small", 32);
    env().lxc(["init", "busybox", "tiny", "-s", "small"]);
    // Other data takes the rest of the disk: the snapshot's copy of the rootfs cannot fit.
    spawnSync("dd", ["if=/dev/zero", `of=${pool}/filler`, "bs=1M"], { stdio: "ignore" });
    try {
      const err = await driverFor(env(), { name: "tiny" }).create(request("s1", { server: "tiny" }), context()).catch((e: unknown) => e);
      expect(err).toMatchObject({ code: "disk_full" });
      expect((err as Error).message).toMatch(/the storage pool is full\. LXD: .*No space left on device/);
    } finally {
      env().lxc(["delete", "--force", "tiny"]);
    }
  });

  it("kills a hung lxc when the operation's signal fires", async () => {
    const sockets: Socket[] = [];
    const server: Server = createServer((s) => void sockets.push(s)); // accepts, never answers
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    try {
      env().addRemote("hung", `https://127.0.0.1:${(server.address() as { port: number }).port}`);
      const started = Date.now();
      const err = await driverFor(env(), { remote: "hung", instance: "hung-probe" })
        .create(request("s1"), context(AbortSignal.timeout(1500)))
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(BackendError);
      expect((err as BackendError).code).toMatch(/^command_(aborted|timeout)$/);
      expect((err as Error).message).toMatch(/^snapshot hung:hung-probe\/s1: lxc .*stopped/);
      expect(Date.now() - started).toBeLessThan(8000);
      expect(lxcProcesses("hung:hung-probe")).toBe("");
    } finally {
      sockets.forEach((s) => s.destroy());
      server.close();
    }
  });

  it("rejects --target and --to for an in-place LXD restore, before and at the restore", async () => {
    await expect(driverFor(env()).restore!(handle("s1"), { target: "/tmp/x" }, context())).rejects.toBeInstanceOf(UserError);
    await expect(driverFor(env()).describeRestore!(handle("s1"), { target: "/tmp/x" })).rejects.toThrow("web-1 (lxd) is restored in place: --target is for archive servers");
    await expect(driverFor(env()).describeRestore!(handle("s1", "web-0"), { to: "web-1" })).rejects.toThrow(
      "web-1 (lxd) is restored in place: to put web-0/s1 on another LXD server use copy or clone",
    );
  });
});

function lxcProcesses(marker: string): string {
  try {
    return execFileSync("pgrep", ["-f", `lxc snapshot ${marker}`], { encoding: "utf8" }).trim();
  } catch {
    return ""; // pgrep exits 1 when nothing matches
  }
}
