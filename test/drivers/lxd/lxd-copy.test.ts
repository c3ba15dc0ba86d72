import { beforeAll, expect, it } from "vitest";
import { UserError } from "../../../src/errors.ts";
import { context, describeLxd, driverFor, handle, json, launch, request, sh } from "./lxd-fixture.ts";

// The seed's snapshot-server walk-through: profiles first, `lxc copy web-1/<snap> snap:web-1`, autostart
// off there; a later copy refreshes the same target; a profile that differs there is left alone.

interface Instance {
  profiles: string[];
  status: string;
  config: Record<string, string>;
}

describeLxd("lxd driver: copies to the snapshot server", (env) => {
  beforeAll(() => {
    launch(env(), "web-1");
    env().lxc(["profile", "create", "web"]);
    env().lxc(["profile", "set", "web", "limits.memory", "256MiB"]);
    env().lxc(["profile", "set", "web", "user.role", "web"]);
    env().lxc(["profile", "add", "web-1", "web"]);
  });

  it("copies the profile first, then the snapshot, and turns autostart off there", async () => {
    const driver = driverFor(env());
    sh(env(), "web-1", "echo first > /root/f");
    await driver.create(request("s1"), context());
    sh(env(), "web-1", "echo after-s1 > /root/f");
    expect(() => env().lxc(["query", "snap:/1.0/profiles/web"])).toThrow(/not found/i);

    const res = await driver.copy!(handle("s1"), { remote: "snap", name: "web-1" }, context());
    expect(res).toEqual({ summary: "copied web-1/s1 to snap:web-1 (autostart off; profiles copied: web)", refreshed: false, warnings: [] });
    expect(json(env(), "snap:/1.0/profiles/web").config).toEqual({ "limits.memory": "256MiB", "user.role": "web" });
    const copy = json<Instance>(env(), "snap:/1.0/instances/web-1");
    expect(copy.profiles).toEqual(["default", "web"]);
    expect(copy.status).toBe("Stopped");
    expect(copy.config["boot.autostart"]).toBe("0");
    expect(env().lxc(["file", "pull", "snap:web-1/root/f", "-"])).toBe("first\n"); // the snapshot's content
  });

  it("refreshes the copy on a later copy: the newer snapshot is there and the content is its", async () => {
    const driver = driverFor(env());
    sh(env(), "web-1", "echo second > /root/f");
    await driver.create(request("s2"), context());
    sh(env(), "web-1", "echo after-s2 > /root/f");

    const res = await driver.copy!(handle("s2"), { remote: "snap", name: "web-1" }, context());
    expect(res.refreshed).toBe(true);
    expect(res.summary).toBe("refreshed snap:web-1 from web-1 and set it to s2 (autostart off; profiles copied: none)");
    expect(json<string[]>(env(), "snap:/1.0/instances/web-1/snapshots")).toEqual(
      expect.arrayContaining(["/1.0/instances/web-1/snapshots/s1", "/1.0/instances/web-1/snapshots/s2"]),
    );
    expect(env().lxc(["file", "pull", "snap:web-1/root/f", "-"])).toBe("second\n");
    expect(json<Instance>(env(), "snap:/1.0/instances/web-1").config["boot.autostart"]).toBe("0");
  });

  it("reports a profile that differs on the target and leaves it as it is", async () => {
    env().lxc(["profile", "create", "db"]);
    env().lxc(["profile", "set", "db", "limits.cpu", "1"]);
    env().lxc(["profile", "create", "snap:db"]);
    env().lxc(["profile", "set", "snap:db", "limits.cpu", "2"]);
    env().lxc(["profile", "add", "web-1", "db"]);
    const driver = driverFor(env());
    await driver.create(request("s3"), context());

    const res = await driver.copy!(handle("s3"), { remote: "snap", name: "web-1" }, context());
    expect(res.warnings).toEqual(["profile db differs on snap (config limits.cpu); not overwritten"]);
    expect(res.summary).toMatch(/; 1 profile\(s\) differ there, not overwritten\)$/);
    expect(json(env(), "snap:/1.0/profiles/db").config).toEqual({ "limits.cpu": "2" });
    expect(json<Instance>(env(), "snap:/1.0/instances/web-1").profiles).toEqual(["default", "web", "db"]);
  });

  it("does not refresh over a copy someone started on the snapshot server", async () => {
    env().lxc(["start", "snap:web-1"]);
    try {
      const err = await driverFor(env()).copy!(handle("s3"), { remote: "snap", name: "web-1" }, context()).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(UserError);
      expect((err as Error).message).toBe("snap:web-1 is running on snap: stop it there before refreshing the copy (lxc stop snap:web-1)");
    } finally {
      env().lxc(["stop", "--force", "snap:web-1"]);
    }
  });

  it("does not refresh over an instance copied from another source", async () => {
    launch(env(), "web-9");
    const other = driverFor(env(), { name: "web-9" });
    await other.create(request("s1", { server: "web-9" }), context());
    const err = await other.copy!(handle("s1", "web-9"), { remote: "snap", name: "web-1" }, context()).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: "target_taken" });
    expect((err as Error).message).toMatch(/^snap:web-1 is a copy of web-1, not of web-9: pick another name/);
  });

  it("refuses a remote name lxc would read as a flag", async () => {
    await expect(driverFor(env()).copy!(handle("s1"), { remote: "--force", name: "web-1" }, context())).rejects.toMatchObject({ code: "bad_remote" });
  });
});
