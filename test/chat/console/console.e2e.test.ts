import { describe, expect, it } from "vitest";
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync, openSync, writeSync, closeSync } from "node:fs";
import { join } from "node:path";
import { runScript, startBot } from "../../helpers/bot-process.ts";
import { tempDir } from "../../helpers/temp-dir.ts";
import { createSqliteLedger } from "../../../db/sqlite/sqlite-ledger.ts";
import type { Ledger, OperationRow, SnapshotRow } from "../../../db/ledger.ts";
import { systemClock } from "../../../src/clock.ts";

const root = tempDir("snapbot-console-");
let n = 0;
const freshCwd = () => {
  const d = join(root, `c${++n}`);
  mkdirSync(d);
  return d;
};
/** The ledger the bot left (its process has exited), read through the ledger API. */
async function readLedger<T>(cwd: string, read: (ledger: Ledger) => Promise<T>): Promise<T> {
  const ledger = createSqliteLedger(join(cwd, "data/snapbot.db"), systemClock);
  try {
    return await read(ledger);
  } finally {
    await ledger.close();
  }
}
/** Every operation, oldest first. */
const operations = (cwd: string): Promise<OperationRow[]> => readLedger(cwd, async (l) => (await l.operations.list({ limit: 100_000 })).reverse());
/** Every snapshot of every server, oldest first. */
const snapshots = (cwd: string): Promise<SnapshotRow[]> =>
  readLedger(cwd, async (l) => {
    const all: SnapshotRow[] = [];
    for (const server of await l.servers.list()) all.push(...(await l.snapshots.list(server.id, { all: true, limit: 100_000, offset: 0 })).rows);
    return all.sort((a, b) => a.id - b.id);
  });
const kindsAndStates = async (cwd: string) => (await operations(cwd)).map(({ kind, state }) => ({ kind, state }));

describe("console mode, as a child process on a pipe", () => {
  it("creates and lists a verified snapshot on a fresh machine (the README's first command)", async () => {
    const cwd = freshCwd();
    const { code, stdout, stderr } = await runScript(cwd, ["/snapshot create demo", "/snapshot list demo"]);
    expect(code).toBe(0);
    expect(stderr).toContain("config built-in demo config");
    expect(stdout).toMatch(/✔ demo\/\d{4}-\d\d-\d\d_\d\d-\d\d-\d\d done: [\d.]+ KiB/);
    expect(stdout).toMatch(/\n  \d{4}-\d\d-\d\d_\S+\s+done\s+[\d.]+ KiB .* \d+m?s ago /); // the list row: done and verified
    const [snap] = await snapshots(cwd);
    expect(snap).toMatchObject({ state: "done" });
    expect(snap!.verified_at).not.toBeNull();
    const dir = snap!.location!;
    expect(statSync(join(dir, "manifest.json")).mode & 0o777).toBe(0o600);
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    for (const f of readdirSync(join(dir, ".parts"))) expect(statSync(join(dir, ".parts", f)).mode & 0o777).toBe(0o600);
  });

  it("runs a whole session: create, list, verify, a corrupted part makes it broken, delete", async () => {
    const cwd = freshCwd();
    const bot = startBot(cwd);
    bot.send("/snapshot create demo s1 --expiry 3d");
    await bot.waitFor(/✔ demo\/s1 done/);
    bot.send("/snapshot verify demo/s1");
    await bot.waitFor(/✔ demo\/s1 verified: .* every part matches/);
    const part = join(cwd, "data/snapshots/demo/s1/.parts/part-000000");
    const fd = openSync(part, "r+");
    writeSync(fd, Buffer.from("CORRUPTED"), 0, 9, 100);
    closeSync(fd);
    let mark = bot.out().length;
    bot.send("/snapshot verify demo/s1");
    await bot.waitFor(/✖ demo\/s1 is broken \(operation #\d+\): it will not be used to restore/, 20_000, mark);
    expect(bot.out().slice(mark)).toMatch(/part-000000.*(hash|sha256|mismatch)/i);
    mark = bot.out().length;
    bot.send("/snapshot list demo --state broken");
    await bot.waitFor(/s1\s+broken/, 5000, mark);
    bot.send("/snapshot delete demo/s1");
    await bot.waitFor(/✔ demo\/s1 deleted/, 20_000, mark);
    bot.send("/snapshot list demo --all");
    bot.end();
    expect((await bot.exit).code).toBe(0);
    expect(bot.out()).toMatch(/s1\s+deleted/);
    expect(existsSync(join(cwd, "data/snapshots/demo/s1"))).toBe(false);
    const ops = await kindsAndStates(cwd);
    expect(ops).toEqual([
      { kind: "create", state: "succeeded" },
      { kind: "verify", state: "succeeded" },
      { kind: "verify", state: "succeeded" },
      { kind: "delete", state: "succeeded" },
    ]);
  });

  it("answers bad input with one clear line and leaves the ledger consistent", async () => {
    const cwd = freshCwd();
    const { code, stdout } = await runScript(cwd, [
      "/snapshot frobnicate",
      "/snapshot create",
      "/snapshot create ../x",
      "/snapshot create 'a;rm -rf /'",
      "/snapshot create demo ''",
      `/snapshot create demo ${"x".repeat(200)}`,
      "/snapshot create nosuch",
      "/snapshot show demo/nosuch",
      "/snapshot show demo",
      "/snapshot create demo --expiry 3 days",
      "/snapshot create demo --expiry soon",
      "/snapshot list demo --state sideways",
      "/snapshot list demo --page 0",
      '/snapshot schedule demo "0 25 * * *"',
      "/snapshot create demo --stateful",
      "/click 9",
      "/as",
      "/bogus",
    ]);
    expect(code).toBe(0);
    const lines = stdout.trim().split("\n");
    expect(lines).toEqual([
      `✖ unknown command "frobnicate": type help for the list`,
      "✖ missing argument; usage: create <server> [<name>] [--expiry <dur>] [--stateful] [--note <text>]",
      expect.stringMatching(/^✖ unknown server "\.\.\/x"|^✖ "\.\.\/x" is not a valid server name/),
      expect.stringMatching(/^✖ "a;rm -rf \/" is not a valid server name/),
      expect.stringMatching(/^✖ "" is not a valid snapshot name/),
      expect.stringMatching(/^✖ "x{40}…" is not a valid snapshot name/),
      expect.stringMatching(/^✖ unknown server "nosuch" \(known: demo\)/),
      "✖ demo has no snapshot \"nosuch\": type list demo to see them",
      expect.stringMatching(/^✖ "demo" is not <server>\/<snapshot>; usage: show/),
      expect.stringMatching(/^✖ unexpected "days"; usage: create|^✖ "3" is not a duration/),
      expect.stringMatching(/^✖ "soon" is not a duration: expected a duration like 30M/),
      expect.stringMatching(/^✖ unknown state "sideways": use one of pending, running, done/),
      "✖ --page takes a whole number from 1 to 1000000, e.g. --page 20",
      expect.stringMatching(/^✖ "0 25 \* \* \*": hour 25 is out of range 0-23; expected five fields/),
      "✖ demo (archive) cannot take stateful snapshots: drop --stateful",
      "✖ no reply has had buttons yet: type /click <n> for button [n] of the last reply, or /click <m>.<n> as shown in [brackets]",
      "✖ usage: /as <user>, e.g. /as U0ALICE",
      "✖ unknown console command /bogus: type /snapshot help, /as <user> or /click <n>",
    ]);
    expect(stdout).not.toMatch(/\n\s+at /); // no stack trace
    expect(await snapshots(cwd)).toHaveLength(0);
    expect(await operations(cwd)).toHaveLength(0);
  });

  it("checks roles per command and records register/unregister in the audit log", async () => {
    const cwd = freshCwd();
    mkdirSync(join(cwd, "srv"));
    writeFileSync(join(cwd, "srv/f.txt"), "hello");
    writeFileSync(
      join(cwd, "snapbot.yml"),
      `roles: { admins: [U0ADMIN], approvers: [U0ALICE], operators: [U0OP] }\nstorage: { path: ./snaps }\nservers:\n  files: { driver: archive, paths: [${join(cwd, "srv")}] }\n`,
    );
    const { stdout } = await runScript(cwd, [
      "/as U0OUT",
      "/snapshot list files",
      "/as U0OP",
      "/snapshot register extra archive paths=/etc",
      "/snapshot create files first",
      "/as U0ADMIN",
      "/snapshot register extra archive paths=/nonexistent/dir",
      "/snapshot register extra archive pathz=/etc",
      "/snapshot register extra vmware",
      `/snapshot register extra archive paths=${join(cwd, "srv")}`,
      "/snapshot servers",
      "/snapshot unregister files",
      "/snapshot unregister extra",
      "/snapshot audit --limit 5",
    ]);
    expect(stdout).toContain("✖ list is for operators only, and U0OUT is not one: ask an admin to add you under roles.operators in the config");
    expect(stdout).toContain("✖ register is for admins only, and U0OP is not one");
    expect(stdout).toMatch(/✔ files\/first done/);
    expect(stdout).toContain('✖ register extra archive: paths: "/nonexistent/dir" does not exist on this machine: check paths');
    expect(stdout).toContain("✖ register extra archive: unknown key pathz: check its spelling");
    expect(stdout).toContain('✖ unknown driver "vmware": use one of archive, lxd, qemu, consul, command');
    expect(stdout).toContain("✔ extra registered (archive) by U0ADMIN");
    expect(stdout).toMatch(/extra\s+archive\s+tar .*registered\s+none yet\s+0\s+ok/);
    expect(stdout).toContain("✖ files comes from the config file: remove it there and restart snapbot");
    expect(stdout).toContain("✔ extra unregistered by U0ADMIN");
    expect(stdout).toMatch(/U0ADMIN\s+unregister extra\s+succeeded/);
    expect(stdout).toMatch(/U0ADMIN\s+register extra\s+succeeded/);
    expect(stdout).toMatch(/U0OP\s+create files\/first\s+succeeded/);
  });

  it("stops on a bad config file with one line naming the file and key", async () => {
    const cwd = freshCwd();
    writeFileSync(join(cwd, "snapbot.yml"), "servers:\n  web-1: { driver: vmware }\n");
    const { code, stdout, stderr } = await runScript(cwd, ["/snapshot servers"]);
    expect(code).toBe(2);
    expect(stdout).toBe("");
    expect(stderr.trim()).toBe(`snapbot: ${join(cwd, "snapbot.yml")}: servers.web-1.driver: expected one of archive, lxd, qemu, consul, command`);
  });

  it("stops at start on a path that does not exist, before any create writes to storage", async () => {
    // Checked at load with the rule register and create use (a folder removed later fails its create: first-hour.test.ts).
    const cwd = freshCwd();
    writeFileSync(join(cwd, "snapbot.yml"), `storage: { path: ./snaps }\nservers:\n  gone: { driver: archive, paths: [${join(cwd, "not-there")}] }\n`);
    const { code, stdout, stderr } = await runScript(cwd, ["/snapshot create gone s1"]);
    expect(code).toBe(2);
    expect(stdout).toBe("");
    expect(stderr.trim()).toBe(`snapbot: ${join(cwd, "snapbot.yml")}: servers.gone.paths: "${join(cwd, "not-there")}" does not exist on this machine: check paths`);
    expect(existsSync(join(cwd, "snaps/gone"))).toBe(false);
  });

  it("restores only after a second person approves with /as and /click", async () => {
    const cwd = freshCwd();
    const bot = startBot(cwd);
    bot.send("/snapshot create demo s1");
    await bot.waitFor(/✔ demo\/s1 done/);
    const conf = join(cwd, "data/demo/etc/app.conf");
    const original = readFileSync(conf, "utf8");
    writeFileSync(conf, "workers = 999\n");
    bot.send("/snapshot restore demo/s1");
    await bot.waitFor(/\[2\.1\] Approve   \[2\.2\] Deny   \(type \/click <n>\)/);
    bot.send("/click 1");
    await bot.waitFor(/✖ you asked for this, so you cannot approve it/);
    expect(readFileSync(conf, "utf8")).toBe("workers = 999\n");
    bot.send("/as U0BOB");
    bot.send("/click 1");
    await bot.waitFor(/✔ restore demo\/s1 done in .* approved by U0BOB\)/);
    bot.end();
    expect((await bot.exit).code).toBe(0);
    expect(readFileSync(conf, "utf8")).toBe(original);
  });

  it("presses buttons by message: never an alert's by default, and a stale number is refused with what it was", async () => {
    const cwd = freshCwd();
    mkdirSync(join(cwd, "srv"));
    // gone's creates fail: where its snapshots go (<storage>/gone) is a file, not a folder.
    mkdirSync(join(cwd, "snaps"));
    writeFileSync(join(cwd, "snaps/gone"), "in the way\n");
    writeFileSync(join(cwd, "snapbot.yml"), `storage: { path: ./snaps }\nservers:\n  gone: { driver: archive, paths: [${join(cwd, "srv")}] }\n  files: { driver: archive, paths: [${join(cwd, "srv")}] }\n`);
    const { stdout } = await runScript(cwd, [
      "/snapshot create gone s1", // message 1, its Retry [1.1]; the snapshot_failed alert is message 2, [2.1]
      "/click 1", // the reply's Retry (message 3), not the alert's button
      "/snapshot create files s1", // 4
      "/snapshot show files/s1", // 5: [5.1] Verify [5.2] Delete
      "/click 3",
      "/snapshot servers", // 6: no buttons
      "/click 2",
      "/click 5.4",
      "/click 6.1",
      "/click 99.1",
      "/click x",
      "/click 5.1", // verify files/s1
    ]);
    expect(stdout).toMatch(/\[#console\] ✖ snapshot_failed: snapshot gone\/s1 failed[^]*\[2\.1\] \w+   \(type \/click 2\.<n>\)/);
    expect(stdout).toMatch(/✖ create gone\/s1 failed \(operation #2, asked by console\)\n  .*snaps\/gone cannot be a folder for gone.s snapshots: a file is in the way there: move it\n  \[3\.1\] Retry/);
    const lines = stdout.split("\n");
    const how = "type /click <n> for button [n] of the last reply, or /click <m>.<n> as shown in [brackets]";
    expect(lines).toContain("  [5.1] Verify   [5.2] Delete   (type /click <n>)");
    expect(lines).toContain("✖ the last reply (message 5) has no button 3: its buttons are [5.1] Verify [5.2] Delete");
    expect(lines).toContain("✖ the last reply (message 6) has no buttons; button 2 was on message 5 (files/s1), which is no longer the last reply: type /click 5.2 to press it");
    expect(lines).toContain("✖ message 5 has no button 4: its buttons are [5.1] Verify [5.2] Delete");
    expect(lines).toContain(`✖ message 6 has no buttons: ${how}`);
    expect(lines).toContain(`✖ there is no message 99 (the last is 6): ${how}`);
    expect(lines).toContain(`✖ usage: ${how}`);
    expect(stdout).toMatch(/✔ files\/s1 verified/);
    expect(stdout).not.toMatch(/files\/s1 deleted/);
    expect(await kindsAndStates(cwd)).toEqual([
      { kind: "create", state: "failed" },
      { kind: "create", state: "failed" },
      { kind: "create", state: "succeeded" },
      { kind: "verify", state: "succeeded" },
    ]);
  });

  it("pages a long list with Next and Previous buttons", async () => {
    const cwd = freshCwd();
    const lines = Array.from({ length: 55 }, (_, i) => `/snapshot create demo s${String(i).padStart(2, "0")}`);
    const { stdout } = await runScript(cwd, [...lines, "/snapshot list demo", "/click 1", "/click 1"]);
    expect(stdout).toContain("• demo: snapshots 1–50 of 55 (page 1 of 2)");
    expect(stdout).toContain("• demo: snapshots 51–55 of 55 (page 2 of 2)");
    expect(stdout).toMatch(/\[56\.1\] Next/);
    expect(stdout).toMatch(/\[57\.1\] Previous/);
    expect(stdout.split("• demo: snapshots 1–50 of 55").length).toBe(3); // page 1, then again after Previous
  }, 60_000);
});
