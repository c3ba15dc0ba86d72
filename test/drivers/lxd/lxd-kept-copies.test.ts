import { beforeAll, expect, it } from "vitest";
import type { RemoteCopy } from "../../../src/drivers/driver.ts";
import { context, describeLxd, driverFor, handle, json, launch, request, sh } from "./lxd-fixture.ts";

// lxd #14473: `lxc copy --refresh` deletes the target's snapshots the source no longer has. The copies on the
// snapshot server must outlive the source's: deleting a local snapshot, or LXD expiring it, never deletes its
// copy. Real daemons: "snap" is the snapshot server; the snapshots' times are the ledger's (here: test times).

const DAY = 86_400_000;
const T0 = Date.UTC(2027, 0, 7); // a Thursday, after the machine's clock: LXD never expires these by itself
const at = (day: number) => T0 + day * DAY;
const snapHandle = (name: string, day: number) => ({ ...handle(name), createdAt: at(day) });
const instances = (env: Parameters<typeof json>[0]) => json<string[]>(env, "snap:/1.0/instances").map((p) => p.split("/").pop()!);
const snapshotsOn = (env: Parameters<typeof json>[0], ref: string) => {
  const [remote, name] = ref.includes(":") ? ref.split(":") : ["", ref];
  return json<string[]>(env, `${remote ? `${remote}:` : ""}/1.0/instances/${name}/snapshots`).map((p) => p.split("/").pop()!);
};

describeLxd("lxd driver: copies on the snapshot server outlive the source's snapshots", (env) => {
  const driver = () => driverFor(env(), { snapshot_server: "snap", snapshot_server_keep: "daily=30" });
  const copies = async (): Promise<RemoteCopy[]> => driver().listCopies!(context());

  beforeAll(() => launch(env(), "web-1"));

  it("keeps the copies a later refresh would delete, with their content and the ledger's times", async () => {
    for (const [i, name] of ["s1", "s2", "s3"].entries()) {
      sh(env(), "web-1", `echo ${name} > /root/f`);
      await driver().create(request(name), context());
      await driver().copy!(snapHandle(name, i), { remote: "snap", name: "web-1" }, context());
    }
    expect(snapshotsOn(env(), "snap:web-1")).toEqual(["s1", "s2", "s3"]);
    // Local retention takes s1 and s2 (as `delete` or a prune does: lxc delete on the source).
    await driver().delete(handle("s1"), context());
    env().lxc(["delete", "web-1/s2"]); // or LXD's own expiry, outside snapbot
    sh(env(), "web-1", "echo s4 > /root/f");
    await driver().create(request("s4"), context());

    const res = await driver().copy!(snapHandle("s4", 3), { remote: "snap", name: "web-1" }, context());
    expect(res.summary).toBe(
      "refreshed snap:web-1 from web-1 and set it to s4 (autostart off; profiles copied: none; kept as they left web-1: snap:web-1-s1, snap:web-1-s2)",
    );
    expect(snapshotsOn(env(), "web-1")).toEqual(["s3", "s4"]); // the source is untouched
    expect(snapshotsOn(env(), "snap:web-1")).toEqual(["s3", "s4"]); // LXD's refresh did delete s1 and s2 there…
    expect(instances(env())).toEqual(expect.arrayContaining(["web-1", "web-1-s1", "web-1-s2"])); // …after they were kept
    for (const n of ["s1", "s2"]) {
      const kept = json<{ status: string; config: Record<string, string> }>(env(), `snap:/1.0/instances/web-1-${n}`);
      expect(kept.status).toBe("Stopped");
      expect(kept.config).toMatchObject({ "boot.autostart": "0", "user.snapbot.source": "web-1", "user.snapbot.copy_of": n });
      expect(env().lxc(["file", "pull", `snap:web-1-${n}/root/f`, "-"])).toBe(`${n}\n`);
    }
    expect(await copies()).toEqual([
      { where: "snap:web-1-s1", snapshot: "s1", createdAt: at(0) },
      { where: "snap:web-1-s2", snapshot: "s2", createdAt: at(1) },
      { where: "snap:web-1/s3", snapshot: "s3", createdAt: at(2) },
      { where: "snap:web-1/s4", snapshot: "s4", createdAt: at(3) },
    ]);
  });

  it("a later copy keeps what is kept: nothing is copied twice, nothing removed", async () => {
    await driver().create(request("s5"), context());
    const res = await driver().copy!(snapHandle("s5", 4), { remote: "snap", name: "web-1" }, context());
    expect(res.summary).not.toMatch(/kept as/);
    expect((await copies()).map((c) => c.where)).toEqual(["snap:web-1-s1", "snap:web-1-s2", "snap:web-1/s3", "snap:web-1/s4", "snap:web-1/s5"]);
  });

  it("clears the expiry LXD copies from the source, so the snapshot server never expires a copy by the source's", async () => {
    const soon = Date.now() + 3 * DAY;
    await driver().create(request("s6", { expiresAt: soon }), context());
    expect(json<{ expires_at: string }>(env(), "/1.0/instances/web-1/snapshots/s6").expires_at).toMatch(/^20\d\d-/);
    await driver().copy!(snapHandle("s6", 5), { remote: "snap", name: "web-1" }, context());
    expect(json<{ expires_at: string }>(env(), "snap:/1.0/instances/web-1/snapshots/s6").expires_at).toBe("0001-01-01T00:00:00Z");
    expect(json<{ expires_at: string }>(env(), "/1.0/instances/web-1/snapshots/s6").expires_at).toMatch(/^20\d\d-/); // the source keeps its own
  });

  it("keeps a snapshot re-made under the same name: LXD's refresh would replace the old copy", async () => {
    await driver().delete(handle("s5"), context());
    sh(env(), "web-1", "echo s5-again > /root/f");
    await new Promise((r) => setTimeout(r, 1100)); // LXD compares creation times to the second
    await driver().create(request("s5"), context());
    const res = await driver().copy!(snapHandle("s5", 6), { remote: "snap", name: "web-1" }, context());
    expect(res.summary).toMatch(/kept as they left web-1: snap:web-1-s5\)$/);
    expect(env().lxc(["file", "pull", "snap:web-1-s5/root/f", "-"])).toBe("s4\n"); // the first s5 (taken when f said s4)
    expect(env().lxc(["file", "pull", "snap:web-1/root/f", "-"])).toBe("s5-again\n");
    expect((await copies()).filter((c) => c.snapshot === "s5")).toEqual([
      { where: "snap:web-1-s5", snapshot: "s5", createdAt: at(4) },
      { where: "snap:web-1/s5", snapshot: "s5", createdAt: at(6) },
    ]);
  });

  it("refuses to refresh, deleting nothing, when the name a copy must be kept as is another instance", async () => {
    env().lxc(["init", "snap:web-1-s3", "--empty"]); // someone's own instance on the snapshot server
    await driver().delete(handle("s3"), context());
    await driver().create(request("s7"), context());
    const err = await driver().copy!(snapHandle("s7", 7), { remote: "snap", name: "web-1" }, context()).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: "target_taken" });
    expect((err as Error).message).toMatch(/snap:web-1\/s3 must be kept as snap:web-1-s3 before the refresh deletes it, but snap:web-1-s3 is another instance: rename or delete it there .*nothing was refreshed$/);
    expect(snapshotsOn(env(), "snap:web-1")).toContain("s3"); // still there
    expect(snapshotsOn(env(), "snap:web-1")).not.toContain("s7");
    env().lxc(["delete", "snap:web-1-s3"]);
  });

  it("removes a copy on the snapshot server only, and refuses anything that is not one of its copies", async () => {
    const before = snapshotsOn(env(), "web-1");
    await driver().removeCopy!({ where: "snap:web-1-s1", snapshot: "s1", createdAt: at(0) }, context());
    await driver().removeCopy!({ where: "snap:web-1/s4", snapshot: "s4", createdAt: at(3) }, context());
    expect(instances(env())).not.toContain("web-1-s1");
    expect(snapshotsOn(env(), "snap:web-1")).not.toContain("s4");
    expect(snapshotsOn(env(), "web-1")).toEqual(before); // web-1's own s4 stays
    expect(JSON.parse(json<{ config: Record<string, string> }>(env(), "snap:/1.0/instances/web-1").config["user.snapbot.created"]!)).not.toHaveProperty("s4");
    await driver().removeCopy!({ where: "snap:web-1-s1", snapshot: "s1", createdAt: at(0) }, context()); // gone already: done

    env().lxc(["init", "snap:other-1", "--empty"]);
    const refused = (c: RemoteCopy) => driver().removeCopy!(c, context()).catch((e: unknown) => e);
    expect(await refused({ where: "snap:other-1", snapshot: "other-1", createdAt: 0 })).toMatchObject({
      code: "not_a_copy",
      message: "remove the copy snap:other-1 refused: snap:other-1 is not a copy snapbot made of web-1; it is left as it is",
    });
    expect(await refused({ where: "local:web-1/s4", snapshot: "s4", createdAt: 0 })).toMatchObject({ code: "not_a_copy", message: expect.stringMatching(/is not on the snapshot server snap/) });
    expect(await refused({ where: "snap:web-1-s2", snapshot: "s9", createdAt: 0 })).toMatchObject({ code: "not_a_copy" });
    expect(instances(env())).toEqual(expect.arrayContaining(["other-1", "web-1-s2"]));
    expect(snapshotsOn(env(), "web-1")).toContain("s4");
  });

  it("lists nothing of another instance's copies, and says when the snapshot server cannot be reached", async () => {
    launch(env(), "web-9");
    const other = driverFor(env(), { name: "web-9", snapshot_server: "snap", snapshot_server_keep: "daily=1" });
    await other.create(request("s1", { server: "web-9" }), context());
    await other.copy!({ ...handle("s1", "web-9"), createdAt: at(0) }, { remote: "snap", name: "web-9" }, context());
    expect((await other.listCopies!(context())).map((c) => c.where)).toEqual(["snap:web-9/s1"]);
    expect((await copies()).every((c) => c.where.startsWith("snap:web-1"))).toBe(true);

    env().addRemote("down", "https://127.0.0.1:1");
    const down = driverFor(env(), { snapshot_server: "down", snapshot_server_keep: "daily=1" });
    await expect(down.listCopies!(context())).rejects.toMatchObject({ code: "remote_unreachable", message: expect.stringMatching(/^list the copies of web-1 on down failed: an LXD remote cannot be reached/) });
    expect(down.copyRetention!()).toMatchObject({ where: "down", keep: { daily: 1 } });
    expect(driverFor(env(), { snapshot_server: "snap" }).copyRetention!()).toBeNull(); // no policy: copies stay until removed by hand
  });
});
