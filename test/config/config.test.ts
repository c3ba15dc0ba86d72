import { describe, expect, it } from "vitest";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { ConfigError, loadConfig } from "../../src/config/load-config.ts";
import { tempDir } from "../helpers/temp-dir.ts";

const cfgRoot = tempDir("snapbot-cfg-");

const fixture = (name: string) => resolve(import.meta.dirname, "../fixtures/config", name);
// The example's ssh_key must exist on the machine that loads it: a temp copy points at a real key file.
const scratch = tempDir("snapbot-full-");
let copies = 0;
function fullExample(): string {
  const dir = join(scratch, String(++copies));
  mkdirSync(dir);
  writeFileSync(join(dir, "id_ed25519"), "not a real key\n", { mode: 0o600 });
  const text = readFileSync(fixture("full.yml"), "utf8").replaceAll("/etc/snapbot/id_ed25519", join(dir, "id_ed25519"));
  writeFileSync(join(dir, "snapbot.yml"), text.replace("./snapshots", resolve(import.meta.dirname, "../fixtures/config/snapshots")));
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
    expect(c.storage.path).toBe(resolve(import.meta.dirname, "../fixtures/config/snapshots"));
    expect(c.servers["files-1"]).toMatchObject({ driver: "archive", mode: "tar", compression: "auto" });
    expect(c.chat.mode).toBe("console");
    expect(c.demo).toBe(false);
  });

  it("reads hooks at the top level and per server, the timeout defaulting to 5M", () => {
    const c = load("hooks.yml");
    expect(c.hooks).toEqual({ pre: [["logger", "-t", "snapbot", "starting {server}/{name}"]], post: [], timeout: "5M" });
    expect(c.servers["files-1"]!.hooks).toEqual({ pre: [["fsfreeze", "-f", "/srv"]], post: [["fsfreeze", "-u", "/srv"]], timeout: 30 });
  });

  it("accepts the README's Hooks example as written", () => {
    const readme = readFileSync(resolve(import.meta.dirname, "../../README.md"), "utf8");
    const yaml = /## Hooks\n[^]*?```yaml\n([^]*?)```/.exec(readme)?.[1] ?? "";
    const dir = mkdtempSync(join(cfgRoot, "hooks-readme-"));
    writeFileSync(join(dir, "snapbot.yml"), yaml.replace("paths: [/srv]", `paths: [${dir}]`));
    const c = loadConfig({ SNAPBOT_CONFIG: join(dir, "snapbot.yml") });
    expect(c.servers["files-1"]!.hooks).toEqual({ pre: [["fsfreeze", "-f", "/srv"]], post: [["fsfreeze", "-u", "/srv"]], timeout: "2M" });
    expect(c.hooks?.post).toEqual([["curl", "-fsS", "-m", "10", "https://hc.example.com/ping/{server}"]]);
  });

  it("uses the built-in demo config when there is no file", () => {
    const cwd = mkdtempSync(join(cfgRoot, "cfg-"));
    const c = loadConfig({}, cwd);
    expect(c.demo).toBe(true);
    expect(c.servers.demo).toMatchObject({ driver: "archive", paths: [join(cwd, "data/demo")] });
    expect(c.ledger).toEqual({ backend: "sqlite", path: join(cwd, "data/snapbot.db") });
  });

  it.each([
    ["empty.yml", /empty\.yml: the file is empty: expected a YAML mapping/],
    ["malformed.yml", /malformed\.yml(:\d+)*: malformed YAML/],
    ["unknown-driver.yml", /unknown-driver\.yml: servers\.web-1\.driver: expected one of archive, lxd, qemu, (consul, command|command, consul)/],
    ["missing-key.yml", /missing-key\.yml: servers\.files-1\.paths: a list of folders to archive/],
    ["evil.yml", /evil\.yml: servers\.\.\.\/\.\.\/etc: .*name/],
    ["unknown-key.yml", /unknown-key\.yml: servers\.files-1: unknown key pathz/],
    ["bad-ttl.yml", /bad-ttl\.yml: approval\.ttl: expected a duration like 30M, 2H, 3d or 4w .*, got "forever"$/],
    ["bad-engine-timeout.yml", /bad-engine-timeout\.yml: engine\.timeout: expected a duration like 30M.*, got "1y"$/],
    ["bad-server-timeout.yml", /bad-server-timeout\.yml: servers\.files-1\.timeout: expected a duration like 30M.*, got "soon"$/],
    ["negative-timeout.yml", /negative-timeout\.yml: engine\.timeout: expected a duration like 30M.*, or a number of seconds, got -5$/],
    ["bad-type.yml", /bad-type\.yml: engine\.concurrency: expected a number$/],
    ["relative-path.yml", /relative-path\.yml: servers\.files-1\.paths: "etc\/app" is not an absolute path: write it from \/, e\.g\. \/srv\/data$/],
    ["missing-path.yml", /missing-path\.yml: servers\.files-1\.paths: "\/nonexistent\/snapbot-data" does not exist on this machine: check paths$/],
    ["host-without-ssh.yml", /host-without-ssh\.yml: servers\.files-1\.host: Invalid SSH host "root@files-1": it must start with ssh:\/\/; write it as/],
    ["ssh-without-key.yml", /ssh-without-key\.yml: servers\.files-1\.ssh_key: ssh:\/\/root@files-1:22 is reached over SSH but has no ssh_key: set ssh_key/],
    ["ssh-key-missing.yml", /ssh-key-missing\.yml: servers\.files-1\.ssh_key: the key file \/nonexistent\/id_ed25519 does not exist on this machine/],
    ["part-size-zero.yml", /part-size-zero\.yml: servers\.files-1\.part_size: 0 is out of range: use a whole size between 4KiB and 1TiB, e\.g\. 1GiB$/],
    ["part-size-one.yml", /part-size-one\.yml: servers\.files-1\.part_size: 1 is out of range: use a whole size between 4KiB and 1TiB/],
    ["missing-image.yml", /missing-image\.yml: servers\.vm-1\.image: exactly one of image \(the qcow2 file of a stopped VM\), qmp \(the QMP socket of a running QEMU\) or domain \(a libvirt domain\)$/],
    ["paths-not-list.yml", /paths-not-list\.yml: servers\.files-1\.paths: expected a list$/],
    ["bad-snapshot-server-keep.yml", /bad-snapshot-server-keep\.yml: servers\.web-1\.snapshot_server_keep: expected a keep policy like daily=30,monthly=12 \(.*\), got "daily=forever"$/],
    ["keep-without-snapshot-server.yml", /keep-without-snapshot-server\.yml: servers\.web-1\.snapshot_server_keep: there is no snapshot_server to keep copies on: set snapshot_server/],
    ["bad-hook-placeholder.yml", /bad-hook-placeholder\.yml: servers\.files-1\.hooks\.pre\.1\.1: unknown placeholder \{nam\}: hooks know \{server\} and \{name\}$/],
    ["bad-global-hook-placeholder.yml", /bad-global-hook-placeholder\.yml: hooks\.post\.0\.2: unknown placeholder \{uuid\}: hooks know \{server\} and \{name\}$/],
    ["hook-not-argv.yml", /hook-not-argv\.yml: hooks\.pre\.0: expected a list$/],
    ["bad-hook-timeout.yml", /bad-hook-timeout\.yml: servers\.files-1\.hooks\.timeout: expected a duration like 30M.*, got "later"$/],
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

  it("reads valid durations: a TTL, a number of seconds, a server's space-separated timeout", () => {
    const c = load("durations.yml");
    expect(c.approval.ttl).toBe("2H");
    expect(c.engine.timeout).toBe(3600);
    expect(c.servers["files-1"]).toMatchObject({ timeout: "1d 6H" });
  });

  it("says where malformed YAML is: the file, the line and the column", () => {
    expect(failure("malformed.yml")).toMatch(/malformed\.yml:3:3: malformed YAML: /);
  });

  it("points to the README, never to a file users do not have", () => {
    for (const name of ["empty.yml", "malformed.yml", "bad-ttl.yml", "unknown-key.yml"]) expect(failure(name)).not.toMatch(/DESIGN/);
    expect(failure("empty.yml")).toContain("README → Configuration");
  });

  it("names a config path that is a folder in one line", () => {
    const dir = mkdtempSync(join(cfgRoot, "cfg-"));
    expect(() => loadConfig({ SNAPBOT_CONFIG: dir })).toThrow(new ConfigError(`${dir}: is a folder, not a config file: point SNAPBOT_CONFIG at the YAML file`));
    mkdirSync(join(dir, "snapbot.yml")); // the default name, as a folder
    expect(() => loadConfig({}, dir)).toThrow(/snapbot\.yml: is a folder, not a config file: move it away, or set SNAPBOT_CONFIG/);
  });

  it.each([
    ["", /^SNAPBOT_DB is empty: set it to the ledger file's path or a postgres:\/\/ URL, or unset it/],
    ["postgresql://snap:s3cret@db.example", /^SNAPBOT_DB=postgresql:\/\/…@db\.example: not a PostgreSQL URL snapbot can use: write postgres:\/\/user:password@host:5432\/database$/],
    ["postgres://snap:s3cret@/snapbot", /^SNAPBOT_DB=postgres:\/\/…@\/snapbot: not a PostgreSQL URL snapbot can use/],
    ["mysql://db/snapbot", /^SNAPBOT_DB=mysql:\/\/db\/snapbot: mysql:\/\/ is not a ledger snapbot supports: use a file path or a postgres:\/\/ URL$/],
  ])("refuses SNAPBOT_DB=%j at load, without a password in the line", (db, pattern) => {
    const cwd = mkdtempSync(join(cfgRoot, "cfg-"));
    expect(() => loadConfig({ SNAPBOT_DB: db }, cwd)).toThrow(pattern);
    expect(() => loadConfig({ SNAPBOT_DB: db }, cwd)).not.toThrow(/s3cret/);
    expect(readdirSync(cwd)).toEqual([]); // no folder named "postgresql:"
  });

  it("takes SNAPBOT_DB=postgres://… as the PostgreSQL ledger, and keeps a file path for SQLite", () => {
    const cwd = mkdtempSync(join(cfgRoot, "cfg-"));
    expect(loadConfig({ SNAPBOT_DB: "postgres://snap:s3cret@127.0.0.1:5432/snapbot" }, cwd).ledger).toEqual({ backend: "postgres", url: "postgres://snap:s3cret@127.0.0.1:5432/snapbot" });
    expect(loadConfig({ SNAPBOT_DB: "postgresql://db.internal/snapbot" }, cwd).ledger).toEqual({ backend: "postgres", url: "postgresql://db.internal/snapbot" });
    expect(loadConfig({ SNAPBOT_DB: "ledger.db" }, cwd).ledger).toEqual({ backend: "sqlite", path: join(cwd, "ledger.db") });
    expect(readdirSync(cwd)).toEqual([]);
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
