import { describe, expect, it } from "vitest";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { testApp } from "./helpers/test-app.ts";
import { tempDir } from "./helpers/temp-dir.ts";
import type { Reply } from "../src/reply.ts";

// Issue 10, "the first hour of a new user": every mistake a newcomer makes gets one line in plain words,
// register applies the rules the config file and create apply, and `servers` says how each server is doing.

const dir = tempDir("snapbot-first-hour-");
const src = join(dir, "src");
mkdirSync(src);
writeFileSync(join(src, "a.txt"), "hello\n");
const key = join(dir, "id_test");
writeFileSync(key, "not a real key\n", { mode: 0o600 });

const roles = { admins: ["U0ADMIN"], approvers: ["U0APP"], operators: ["*"] };
const app = (name: string, servers: Record<string, unknown> = { s: { driver: "archive", paths: [src] } }) =>
  testApp(join(dir, name), { roles, storage: { path: "snaps" }, servers });

/** Everything a reply says, as one text, with the temp folder (random letters) written as <dir>. */
const textOf = (r: Reply) => [r.title, ...(r.lines ?? [])].join("\n").replaceAll(dir, "<dir>");
const INTERNAL = /[a-z][A-Z][a-z]+[A-Z]|\b[a-z]+[A-Z][a-z]+\b|expected expected|\bundefined\b|Error:|at .*\.ts|--id\b/;

describe("register applies the same rules as the config file", () => {
  it.each([
    [`register f archive paths=etc/app`, /^register f archive: paths: "etc\/app" is not an absolute path: write it from \/, e\.g\. \/srv\/data$/],
    [`register f archive paths=/nonexistent/snapbot-x`, /^register f archive: paths: "\/nonexistent\/snapbot-x" does not exist on this machine: check paths$/],
    [`register f archive paths=/etc host=root@files-1`, /^register f archive: host: Invalid SSH host "root@files-1": it must start with ssh:\/\//],
    [`register f archive paths=/srv host=ssh://root@127.0.0.1:1`, /^register f archive: ssh_key: ssh:\/\/root@127\.0\.0\.1:1 is reached over SSH but has no ssh_key/],
    [`register f archive paths=/srv host=ssh://root@127.0.0.1:1 ssh_key=/nonexistent/k`, /^register f archive: ssh_key: the key file \/nonexistent\/k does not exist on this machine/],
    [`register f archive paths=/etc part_size=0`, /^register f archive: part_size: "0" is out of range: use a whole size between 4KiB and 1TiB, e\.g\. 1GiB$/],
    [`register f archive paths=/etc part_size=1`, /^register f archive: part_size: "1" is out of range: use a whole size between 4KiB and 1TiB/],
    [`register vm-1 qemu`, /^register vm-1 qemu: image: exactly one of image \(the qcow2 file of a stopped VM\), qmp \(the QMP socket of a running QEMU\) or domain \(a libvirt domain\)$/],
    [`register f archive paths=/etc limit=lots`, /^register f archive: limit: expected a number$/],
    [`register f archive paths=/etc mode=zip`, /^register f archive: mode: expected one of tar, raw$/],
    [`register f archive paths=/etc paths=/srv`, /^paths= given twice: give it once/],
  ])("refuses %s in one line", async (text, expected) => {
    const { app: a, run } = await app(`reg-${Math.random().toString(36).slice(2)}`);
    const r = await run(text, "U0ADMIN");
    expect(r.tone).toBe("error");
    expect(r.title).toMatch(expected);
    expect((await a.ledger.servers.get("f")) ?? (await a.ledger.servers.get("vm-1"))).toBeUndefined();
    await a.close();
  });

  it("registers an ssh:// server whose paths exist only there: existence is checked at its first create", async () => {
    const { app: a, run } = await app("reg-remote");
    const r = await run(`register f archive paths=/srv/only-there host=ssh://root@127.0.0.1:1 ssh_key=${key}`, "U0ADMIN");
    expect(r).toMatchObject({ tone: "success", title: "f registered (archive) by U0ADMIN" });
    expect((await a.ledger.servers.get("f"))?.settings).toMatchObject({ paths: ["/srv/only-there"] });
    await a.close();
  });
});

describe("create, at the same rules", () => {
  it("refuses a relative path with the rule register and the config loader use", async () => {
    // A server written before the rule (the ledger keeps it): create says the same as register would.
    const { app: a, run } = await app("create-rel");
    await a.ledger.servers.register({ name: "old", driver: "archive", settings: { paths: ["srv"] }, channel: null }, "U0ADMIN");
    const r = await run("create old");
    const final = r.follow ? await r.follow.done : r;
    expect(textOf(final)).toContain('"srv" is not an absolute path: write it from /, e.g. /srv/data');
    await a.close();
  });
});

describe("no internal names in what the user reads", () => {
  it("answers a table of mistakes with one plain line each", async () => {
    const { app: a, run } = await app("table");
    const cases: Array<[string, RegExp, string?]> = [
      ["approve abc", /^approve takes an approval id, a whole number like 12: type approvals to see them$/, "U0APP"],
      ["deny 0", /^deny takes an approval id, a whole number like 12: type approvals to see them$/, "U0APP"],
      ['schedule s "@daily" --native', /^s \(archive\) cannot keep its own schedule \(--native\): drop --native/],
      ["hostkeys regen s", /^s \(archive\) cannot regenerate host keys$/, "U0ADMIN"],
      ['schedule s "@daily" --expiry 0M', /^an expiry must be at least 1M: e\.g\. --expiry 7d$/],
      ["create s --expiry 99999999y", /^"99999999y" is too large: a duration can be at most 100y$/],
      ['schedule s "@daily" --expiry 99999999y', /^"99999999y" is too large/],
      ["create s --expiry 1d --expiry 2d", /^--expiry given twice: give it once; usage: create/],
      ["list s --page x", /^--page takes a whole number from 1 to 1000000, e\.g\. --page 20$/],
      ["audit --limit 0", /^--limit takes a whole number from 1 to 50/],
      ["register vm-1 qemu", /^register vm-1 qemu: image: exactly one of image/, "U0ADMIN"],
      ["register c consul address=nope", /^register c consul: address: expected a URL, e\.g\. http:\/\/127\.0\.0\.1:8500$/, "U0ADMIN"],
      ["register c command", /^register c command: create= is required/, "U0ADMIN"],
      ["register f archive", /^register f archive: paths: a list of folders to archive/, "U0ADMIN"],
      ["register f archive paths=/etc timeout=", /^register f archive: timeout: /, "U0ADMIN"],
      ["register w lxd instance=a%b", /^register w lxd: instance: a name of letters/, "U0ADMIN"],
    ];
    for (const [text, expected, user] of cases) {
      const r = await run(text, user);
      const said = textOf(r);
      expect({ text, tone: r.tone }).toEqual({ text, tone: "error" });
      expect(said, text).toMatch(expected);
      expect(said, text).not.toMatch(INTERNAL);
      expect(said, text).not.toContain("\n");
    }
    await a.close();
  });
});

describe("servers shows each server's health from the ledger", () => {
  it("says ok, failing or blocked, with the newest good snapshot's age and the open alerts", async () => {
    const gone = join(dir, "gone");
    mkdirSync(gone);
    const { app: a, run } = await app("health", {
      good: { driver: "archive", paths: [src] },
      bad: { driver: "archive", paths: [gone] },
      locked: { driver: "archive", paths: [src] },
      fresh: { driver: "archive", paths: [src] },
    });
    const done = async (text: string) => {
      const r = await run(text);
      return r.follow ? r.follow.done : r;
    };
    expect((await done("create good g1")).tone).toBe("success");
    rmSync(gone, { recursive: true });
    expect((await done("create bad b1")).tone).toBe("error"); // raises snapshot_failed for bad
    const locked = (await a.ledger.servers.get("locked"))!;
    await a.ledger.hostKeys.block(locked.id, []);

    const r = await run("servers");
    expect(r.table!.columns).toEqual(["server", "driver", "what", "from", "newest good", "open alerts", "status"]);
    const byName = Object.fromEntries(r.table!.rows.map((row) => [row[0], row.slice(4)]));
    expect(byName.good).toEqual([expect.stringMatching(/^\d+(ms|s) ago$/), "0", "ok"]);
    expect(byName.bad).toEqual(["none yet", "1", "failing: last create failed (audit bad)"]);
    expect(byName.locked).toEqual(["none yet", "0", "blocked: host key changed (hostkeys accept locked)"]);
    expect(byName.fresh).toEqual(["none yet", "0", "ok"]);
    await a.close();
  });
});
