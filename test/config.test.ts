import { describe, expect, it } from "vitest";
import { mkdtempSync } from "node:fs";
import { join, resolve } from "node:path";
import { ConfigError, loadConfig } from "../src/config/load-config.ts";
import { tempDir } from "./helpers/temp-dir.ts";

const cfgRoot = tempDir("snapbot-cfg-");

const fixture = (name: string) => resolve(import.meta.dirname, "fixtures/config", name);
const load = (name: string, env: Record<string, string> = {}) => loadConfig({ SNAPBOT_CONFIG: fixture(name), ...env });

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
    const cwd = mkdtempSync(join(cfgRoot, "cfg-"));
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
    ["bad-type.yml", /bad-type\.yml: engine\.concurrency: expected number/],
  ])("rejects %s with one line naming the file and key", (name, pattern) => {
    const msg = failure(name);
    expect(msg).toMatch(pattern);
    expect(msg).not.toContain("\n");
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
