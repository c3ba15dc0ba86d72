import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { BackendError } from "../../../src/errors.ts";
import { classify, lxcError, lxdMessage } from "../../../src/drivers/lxd/lxc-errors.ts";
import { profileDiff } from "../../../src/drivers/lxd/profile-sync.ts";
import { parsePublicKey } from "../../../src/drivers/shared/public-key.ts";
import { lxdDriver } from "../../../src/drivers/lxd/lxd-module.ts";
import { lxdSettingsSchema } from "../../../src/drivers/lxd/lxd-settings.ts";
import { doomedBy, keptInstanceName, readTimes } from "../../../src/drivers/lxd/kept-copies.ts";
import { commandFailed } from "../../../src/transport/command-error.ts";
import type { Runner, RunOptions } from "../../../src/transport/runner.ts";
import { context, handle, log, request } from "./lxd-fixture.ts";

// The pure parts, on messages LXD 5.0 really prints, and the argv/env/signal of every lxc call through a
// recording Runner (the real-daemon files show the same calls work against LXD).

describe("lxc error messages", () => {
  const said: Array<[string, string]> = [
    ["Instance not found", "instance_missing"],
    ['Failed checking instance snapshot exists "local:nope/s1": Instance not found', "instance_missing"],
    ['Failed to fetch snapshot "zz" of instance "web-1" in project "default": InstanceSnapshot not found', "snapshot_missing"],
    ["Snapshot web-1/zz does not exist", "snapshot_missing"],
    ['Get "https://127.0.0.1:1/1.0": Unable to connect to: 127.0.0.1:1 ([dial tcp 127.0.0.1:1: connect: connection refused])', "remote_unreachable"],
    ["Failed instance creation: not authorized", "remote_unreachable"],
    ['The remote "nosuch" doesn\'t exist', "remote_unreachable"],
    ["Create instance snapshot: Failed to run: rsync … No space left on device (28)", "disk_full"],
    ["Unable to create a stateful snapshot. CRIU isn't installed", "command_failed"],
  ];
  it.each(said)("%s → %s", (message, code) => expect(classify(message)).toBe(code));

  it("keeps LXD's whole message from its Error: line, past progress lines", () => {
    const stderr = "Transferring instance: 4B (3B/s)\r\nError: Create instance snapshot: rsync failed\nrsync: write failed: No space left on device (28)\n";
    expect(lxdMessage(stderr)).toBe("Create instance snapshot: rsync failed rsync: write failed: No space left on device (28)");
  });

  it("says what failed, why, what to do, and what LXD said", () => {
    const e = lxcError("list the snapshots of dead:web-1", commandFailed("lxc", { exitCode: 1, stderr: "Error: Get \"https://127.0.0.1:1/1.0\": Unable to connect to: 127.0.0.1:1\n" }), "/etc/snapbot/lxc");
    expect(e).toBeInstanceOf(BackendError);
    expect(e.message).toBe(
      "list the snapshots of dead:web-1 failed: an LXD remote cannot be reached or does not trust snapbot: check it is up and listed by " +
        "`lxc remote list` (LXD_CONF=/etc/snapbot/lxc), and set up trust with `lxc remote add <name> <address>` as the bot's user. " +
        'LXD: Get "https://127.0.0.1:1/1.0": Unable to connect to: 127.0.0.1:1',
    );
  });
});

describe("profile comparison", () => {
  it("names the config keys and devices that differ; order does not matter", () => {
    const a = { config: { "limits.cpu": "1", "user.x": "y" }, devices: { eth0: { type: "nic", nictype: "macvlan", parent: "enp3s0" } } };
    const b = { config: { "user.x": "y", "limits.cpu": "2" }, devices: { eth0: { parent: "enp3s0", type: "nic", nictype: "macvlan" } } };
    expect(profileDiff(a, b)).toEqual(["config limits.cpu"]);
    expect(profileDiff(a, { config: a.config, devices: {} })).toEqual(["device eth0"]);
    expect(profileDiff(a, { ...a })).toEqual([]);
  });
});

describe("copies kept on the snapshot server", () => {
  const snap = (name: string, created_at: string) => ({ name, created_at, stateful: false, profiles: [] });

  it("are the target's snapshots LXD's refresh would delete: gone from the source, or re-made there under the same name", () => {
    const source = [snap("s2", "2027-01-08T00:00:00.918Z"), snap("s3", "2027-01-09T00:00:00Z"), snap("s4", "2027-01-10T00:00:00Z")];
    const target = [snap("s1", "2027-01-07T00:00:00Z"), snap("s2", "2027-01-08T00:00:00Z"), snap("s3", "2027-01-09T00:00:05Z")];
    // s2 is the same snapshot (LXD keeps a copy's time to the second); s3 was re-made on the source.
    expect(doomedBy(target, source).map((s) => s.name)).toEqual(["s1", "s3"]);
    expect(doomedBy(target, target)).toEqual([]);
  });

  it("become instances with names LXD accepts, never two snapshots on one name", () => {
    expect(keptInstanceName("web-1", "s1")).toBe("web-1-s1");
    const dated = keptInstanceName("web-1", "snap-2027-01-07_03-00-00");
    expect(dated).toMatch(/^web-1-snap-2027-01-07-03-0-[0-9a-f]{8}$/);
    expect(keptInstanceName("web-1", "snap-2027-01-07.03-00-00")).not.toBe(dated);
    const long = keptInstanceName("a".repeat(60), "b".repeat(60));
    for (const n of [dated, long, keptInstanceName("web-1", "x__y"), keptInstanceName("web-1", "9.")])
      expect(n).toMatch(/^[A-Za-z][A-Za-z0-9-]{0,61}[A-Za-z0-9]$/); // LXD: letters, digits, '-', at most 63, no '-' at an end
  });

  it("take their times from the copy's record, and ignore one edited into something else", () => {
    expect(readTimes({ "user.snapbot.created": '{"s1":"2027-01-07T00:00:00.000Z","s2":42,"s3":"soon"}' })).toEqual({ s1: "2027-01-07T00:00:00.000Z" });
    expect(readTimes({ "user.snapbot.created": "not json" })).toEqual({});
    expect(readTimes({ "user.snapbot.created": "[1]" })).toEqual({});
    expect(readTimes({})).toEqual({});
  });
});

describe("SSH host key fingerprints", () => {
  it("equal ssh-keygen -l for every key type, and refuse a blob that is not its type", () => {
    const dir = mkdtempSync(join(tmpdir(), "snapbot-keys-"));
    try {
      for (const t of ["ed25519", "rsa", "ecdsa"]) {
        const f = join(dir, t);
        execFileSync("ssh-keygen", ["-q", "-t", t, "-N", "", "-C", "c", "-f", f]);
        const expected = execFileSync("ssh-keygen", ["-l", "-E", "sha256", "-f", `${f}.pub`], { encoding: "utf8" }).split(" ")[1];
        expect(parsePublicKey(readFileSync(`${f}.pub`, "utf8"))?.fingerprint).toBe(expected);
      }
      const [, blob] = readFileSync(join(dir, "rsa.pub"), "utf8").split(" ");
      expect(parsePublicKey(`ssh-ed25519 ${blob}`)).toBeUndefined();
      expect(parsePublicKey("not a key")).toBeUndefined();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("every lxc call", () => {
  it("goes through the Runner as argv, with the settings' LXD_CONF/LXD_DIR and the operation's signal", async () => {
    const calls: Array<{ args: string[]; opts: RunOptions }> = [];
    const snapshot = { name: "s1", created_at: "2026-01-01T00:00:00Z", expires_at: "0001-01-01T00:00:00Z", stateful: false, size: -1, profiles: ["default"] };
    const answer = (args: string[]): string => {
      if (args[0] === "query" && args.includes("POST")) return JSON.stringify({ status: "Success", status_code: 200 });
      const path = args[0] === "query" ? args.at(-1)! : "";
      if (path.endsWith("/snapshots?recursion=1")) return JSON.stringify([snapshot]);
      if (path.includes("/snapshots/")) return JSON.stringify(snapshot);
      if (path.includes("files?path=/etc/ssh")) return JSON.stringify(["ssh_host_ed25519_key.pub"]);
      if (path.startsWith("snap:/1.0/instances/")) throw new BackendError("command_failed", "lxc failed", { stderrTail: "Error: Instance not found" });
      if (path.startsWith("snap:/1.0/profiles/")) return JSON.stringify({ name: "default", config: {}, devices: {} });
      if (path.startsWith("/1.0/profiles/")) return JSON.stringify({ name: "default", config: {}, devices: {} });
      if (path.startsWith("/1.0/instances/")) return JSON.stringify({ name: "web-1", status: "Running", profiles: ["default"], config: {} });
      const key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB9B4nnxpZXFXcaSyxOE9m3hKq/eoETY7VmrRaA/5oQu image\n";
      if (args[0] === "file") return key;
      if (args[0] === "exec") return `#restarted: none (no running sshd service found)\n${key}`; // the script's report
      return "";
    };
    const runner: Runner = {
      async run(cmd, args, opts = {}) {
        expect(cmd).toBe("lxc");
        calls.push({ args, opts });
        return { stdout: answer(args), stderr: "", exitCode: 0 };
      },
      pipeline: () => {
        throw new Error("not used");
      },
      has: async () => true,
    };
    const settings = lxdSettingsSchema.parse({ driver: "lxd", lxd_conf: "/c", lxd_dir: "/d" });
    const driver = lxdDriver.create({ name: "web-1", settings }, { runner, storageDir: "/x", fsync: false, log });
    const ctx = context();
    await driver.create(request("s1"), ctx);
    await driver.delete(handle("s1"), ctx);
    await driver.restore!(handle("s1"), {}, ctx);
    await driver.listBackend!(ctx);
    await driver.copy!(handle("s1"), { remote: "snap", name: "web-1" }, ctx);
    await driver.clone!(handle("s1"), "web-2", ctx);
    await driver.hostKeys!(ctx);
    await driver.regenHostKeys!(ctx);
    for (const c of calls) {
      expect(c.opts.signal).toBe(ctx.signal);
      expect(c.opts.env).toEqual({ LXD_CONF: "/c", LXD_DIR: "/d" });
    }
    expect(calls[0]!.args).toEqual(["query", "-X", "POST", "--wait", "/1.0/instances/web-1/snapshots", "--data", JSON.stringify({ name: "s1", stateful: false })]);
    const commands = calls.map((c) => c.args).filter((a) => a[0] !== "query");
    expect(commands).toEqual([
      ["delete", "web-1/s1"],
      ["restore", "web-1", "s1"],
      ["copy", "web-1/s1", "snap:web-1", "-c", "boot.autostart=0", "-c", "user.snapbot.source=web-1"],
      ["copy", "web-1", "snap:web-1", "--refresh"], // the first copy too: s1 is then a snapshot there, kept by later copies
      ["restore", "snap:web-1", "s1"],
      ["config", "set", "snap:web-1", "boot.autostart=0", "user.snapbot.source=web-1", expect.stringMatching(/^user\.snapbot\.created=\{"s1":"\d{4}-\d\d-\d\dT[\d:.]+Z"\}$/)],
      ["copy", "web-1/s1", "web-2"],
      ["start", "web-2"],
      ["file", "pull", "web-1/etc/ssh/ssh_host_ed25519_key.pub", "-"],
      ["exec", "web-1", "--", "sh", "-c", expect.stringContaining("ssh-keygen -A"), "sh", "/"],
    ]);
  });
});
