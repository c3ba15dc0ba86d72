import { describe, expect, it } from "vitest";
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { ConfigError, loadConfig } from "../src/config/load-config.ts";
import { tempDir } from "./helpers/temp-dir.ts";

const fixture = (name: string) => resolve(import.meta.dirname, "fixtures/config", name);
// The example's ssh_key must exist on the machine that loads it: a temp copy points at a real key file.
const scratch = tempDir("snapbot-full-");
let copies = 0;
function fullExample(): string {
  const dir = join(scratch, String(++copies));
  mkdirSync(dir);
  writeFileSync(join(dir, "id_ed25519"), "not a real key\n", { mode: 0o600 });
  const text = readFileSync(fixture("full.yml"), "utf8").replaceAll("/etc/snapbot/id_ed25519", join(dir, "id_ed25519"));
  writeFileSync(join(dir, "snapbot.yml"), text.replace("./snapshots", resolve(import.meta.dirname, "fixtures/config/snapshots")));
  return join(dir, "snapbot.yml");
}

const load = (name: string, env: Record<string, string> = {}) =>
  loadConfig({ SNAPBOT_CONFIG: name === "full.yml" ? fullExample() : fixture(name), ...env });

function failure(name: string): string {
  try {
    load(name);
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return (e as Error).message;
  }
  throw new Error(`${name} was accepted`);
}

describe("loadConfig", () => {
  it("reads the full example of DESIGN.md §3", () => {
    const c = load("full.yml");
    expect(Object.keys(c.servers)).toEqual(["web-1", "files-1", "disk-1", "vm-db", "consul-dc1"]);
    expect(c.roles.approvers).toEqual(["U0ALICE", "U0BOB"]);
    expect(c.storage.path).toBe(resolve(import.meta.dirname, "fixtures/config/snapshots"));
    expect(c.servers["files-1"]).toMatchObject({ driver: "archive", mode: "tar", compression: "auto" });
    expect(c.chat.mode).toBe("console");
    expect(c.demo).toBe(false);
  });

  it("uses the built-in demo config when there is no file", () => {
    const cwd = mkdtempSync(join(tmpdir(), "snapbot-cfg-"));
    const c = loadConfig({}, cwd);
    expect(c.demo).toBe(true);
    expect(c.servers.demo).toMatchObject({ driver: "archive", paths: [join(cwd, "data/demo")] });
    expect(c.dbPath).toBe(join(cwd, "data/snapbot.db"));
  });

  it.each([
    ["empty.yml", /empty\.yml: the file is empty: expected a YAML mapping/],
    ["malformed.yml", /malformed\.yml(:\d+)?: malformed YAML/],
    ["unknown-driver.yml", /unknown-driver\.yml: servers\.web-1\.driver: expected one of archive, lxd, qemu, consul, command/],
    ["missing-key.yml", /missing-key\.yml: servers\.files-1\.paths: a list of folders to archive/],
    ["evil.yml", /evil\.yml: servers\.\.\.\/\.\.\/etc: .*name/],
    ["unknown-key.yml", /unknown-key\.yml: servers\.files-1: unknown key pathz/],
    ["bad-type.yml", /bad-type\.yml: engine\.concurrency: expected a number$/],
    ["relative-path.yml", /relative-path\.yml: servers\.files-1\.paths: "etc\/app" is not an absolute path: write it from \/, e\.g\. \/srv\/data$/],
    ["missing-path.yml", /missing-path\.yml: servers\.files-1\.paths: "\/nonexistent\/snapbot-data" does not exist on this machine: check paths$/],
    ["host-without-ssh.yml", /host-without-ssh\.yml: servers\.files-1\.host: Invalid SSH host "root@files-1": it must start with ssh:\/\/; write it as/],
    ["ssh-without-key.yml", /ssh-without-key\.yml: servers\.files-1\.ssh_key: ssh:\/\/root@files-1:22 is reached over SSH but has no ssh_key: set ssh_key/],
    ["ssh-key-missing.yml", /ssh-key-missing\.yml: servers\.files-1\.ssh_key: the key file \/nonexistent\/id_ed25519 does not exist on this machine/],
    ["part-size-zero.yml", /part-size-zero\.yml: servers\.files-1\.part_size: 0 is out of range: use a whole size between 4KiB and 1TiB, e\.g\. 1GiB$/],
    ["part-size-one.yml", /part-size-one\.yml: servers\.files-1\.part_size: 1 is out of range: use a whole size between 4KiB and 1TiB/],
    ["missing-image.yml", /missing-image\.yml: servers\.vm-1\.image is required \(the path of the qcow2 image\)$/],
    ["paths-not-list.yml", /paths-not-list\.yml: servers\.files-1\.paths: expected a list$/],
  ])("rejects %s with one line naming the file and key", (name, pattern) => {
    const msg = failure(name);
    expect(msg).toMatch(pattern);
    expect(msg).not.toContain("\n");
    expect(msg).not.toMatch(/expected expected|received undefined|Invalid input/);
  });

  it("checks only the shape of an ssh:// server's paths: they exist there, not here", () => {
    const file = fullExample();
    writeFileSync(file, readFileSync(file, "utf8").replace("[/etc, /srv]", "[/srv/only-on-files-1]"));
    expect(loadConfig({ SNAPBOT_CONFIG: file }).servers["files-1"]).toMatchObject({ paths: ["/srv/only-on-files-1"] });
  });

  it("names a config file that does not exist", () => {
    expect(() => loadConfig({ SNAPBOT_CONFIG: "/nonexistent/snapbot.yml" })).toThrow(/\/nonexistent\/snapbot\.yml: file not found/);
  });

  it("picks the chat mode from the environment and says which variable is missing", () => {
    expect(load("full.yml", { SLACK_BOT_TOKEN: "xoxb-1", SLACK_APP_TOKEN: "xapp-1" }).chat.mode).toBe("socket");
    expect(load("full.yml", { SLACK_BOT_TOKEN: "xoxb-1", SLACK_SIGNING_SECRET: "s" }).chat).toMatchObject({ mode: "http", port: 3000 });
    expect(() => load("full.yml", { SLACK_APP_TOKEN: "xapp-1" })).toThrow(/SLACK_BOT_TOKEN is missing/);
    expect(() => load("full.yml", { SLACK_BOT_TOKEN: "xoxb-1" })).toThrow(/SLACK_APP_TOKEN .* or SLACK_SIGNING_SECRET .* is missing/);
    expect(() => load("full.yml", { PORT: "http" })).toThrow(/PORT: expected a port number/);
  });
});
