import { expect, it } from "vitest";
import { join } from "node:path";
import { describeLxd } from "./lxd-fixture.ts";
import { testApp } from "../../helpers/test-app.ts";
import { tempDir } from "../../helpers/temp-dir.ts";

// register asks the driver (its optional probe) whether the settings name something real: for LXD, that the
// instance exists. A mistyped instance is refused at register, not at the first snapshot at 3 a.m.

const dir = tempDir("snapbot-lxd-register-");

describeLxd("register an LXD server against a real daemon", (env) => {
  const settings = () => `lxd_conf=${env().conf} lxd_dir=${env().localDir}`;
  const app = (name: string) => testApp(join(dir, name), { roles: { admins: ["U0ADMIN"] }, storage: { path: "snaps" } });

  it("refuses an instance that does not exist, in one line, and registers nothing", async () => {
    const { app: a, run } = await app("missing");
    const r = await run(`register web-9 lxd ${settings()}`, "U0ADMIN");
    expect(r.tone).toBe("error");
    expect(r.title).toBe('register web-9 lxd: there is no LXD instance "web-9": check instance (lxc list shows the instances), or create it first');
    const other = await run(`register web-x lxd instance=nope ${settings()}`, "U0ADMIN");
    expect(other.title).toMatch(/^register web-x lxd: there is no LXD instance "nope"/);
    expect(await a.ledger.servers.list()).toEqual([]);
    await a.close();
  });

  it("registers an instance that exists", async () => {
    env().lxc(["init", "busybox", "reg-1"]);
    const { app: a, run } = await app("present");
    const r = await run(`register reg-1 lxd ${settings()}`, "U0ADMIN");
    expect(r).toMatchObject({ tone: "success", title: "reg-1 registered (lxd) by U0ADMIN" });
    expect(r.lines).toBeUndefined();
    expect((await a.ledger.servers.get("reg-1"))?.driver).toBe("lxd");
    await a.close();
  });

  it("registers, with a note, when the backend cannot be asked (an unreachable remote)", async () => {
    env().addRemote("down", "https://127.0.0.1:1");
    const { app: a, run } = await app("down");
    const r = await run(`register far lxd remote=down ${settings()}`, "U0ADMIN");
    expect(r.tone).toBe("success");
    expect(r.lines?.[0]).toMatch(/^not checked against the backend yet \(.*\): the first snapshot will tell$/);
    await a.close();
  });
});
