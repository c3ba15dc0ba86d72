import { describe, expect, it } from "vitest";
import { mkdirSync, readdirSync, statSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { execFileSync } from "node:child_process";
import { tempDir } from "./helpers/temp-dir.ts";
import { mountTmpfs } from "./helpers/cleanup.ts";
import { runScript } from "./helpers/bot-process.ts";

// The README promises that a bad config or SNAPBOT_DB stops the bot with one line naming the file and the
// reason: the real src/main.ts as a child process must exit 2 with exactly that line, no stack trace.
const root = tempDir("snapbot-startup-");
const fixture = (name: string) => resolve(import.meta.dirname, "fixtures/config", name);
let n = 0;

function workdir(): string {
  const cwd = join(root, `w${++n}`);
  mkdirSync(cwd);
  return cwd;
}

async function startFails(env: Record<string, string>, cwd = workdir()): Promise<string> {
  const { code, stdout, stderr } = await runScript(cwd, ["/snapshot servers"], env);
  expect(code, stderr).toBe(2);
  expect(stdout).toBe("");
  expect(stderr).toMatch(/^snapbot: [^\n]+\n$/); // one line
  expect(stderr).not.toMatch(/failed to start|Error:|\bat .*:\d+:\d+/); // no stack, no "Error:" prefix
  return stderr.slice("snapbot: ".length, -1);
}

describe("src/main.ts refuses a bad SNAPBOT_DB with one line and exit 2", () => {
  it("/dev/null: refused, its mode unchanged", async () => {
    const before = statSync("/dev/null").mode;
    expect(await startFails({ SNAPBOT_DB: "/dev/null" })).toBe("ledger /dev/null: is a device, not a regular file: set SNAPBOT_DB to a file path (default ./data/snapbot.db)");
    expect(statSync("/dev/null").mode).toBe(before);
  });

  it("a folder, a path under a regular file, an empty value", async () => {
    const cwd = workdir();
    mkdirSync(join(cwd, "ledger-dir"));
    writeFileSync(join(cwd, "notes.txt"), "a file\n");
    expect(await startFails({ SNAPBOT_DB: "ledger-dir" }, cwd)).toBe(`ledger ${cwd}/ledger-dir: is a folder, not a regular file: set SNAPBOT_DB to a file path (default ./data/snapbot.db)`);
    expect(await startFails({ SNAPBOT_DB: "notes.txt/snapbot.db" }, cwd)).toBe(
      `ledger ${cwd}/notes.txt/snapbot.db: cannot be used: ${cwd}/notes.txt is a file, not a folder: set SNAPBOT_DB to a file path (default ./data/snapbot.db)`,
    );
    expect(await startFails({ SNAPBOT_DB: "" }, cwd)).toBe("SNAPBOT_DB is empty: set it to the ledger file's path or a postgres:// URL, or unset it for ./data/snapbot.db");
  });

  it("a read-only folder: the path and the reason, nothing written", async () => {
    // As root, permission bits stop nothing: a read-only mount is what really refuses a write.
    const cwd = workdir();
    const ro = join(cwd, "ro");
    const mount = mountTmpfs(ro, 1);
    try {
      execFileSync("mount", ["-o", "remount,ro", ro]);
      expect(await startFails({ SNAPBOT_DB: "ro/snapbot.db" }, cwd)).toMatch(new RegExp(`^ledger ${ro}/snapbot\\.db: .*read-only file system`));
      expect(readdirSync(ro)).toEqual([]);
    } finally {
      mount.unmount();
    }
  });

  it("a PostgreSQL URL nobody answers: one line naming it without the password, no folder named postgresql: created", async () => {
    const cwd = workdir();
    const line = await startFails({ SNAPBOT_DB: "postgresql://snap:s3cret@127.0.0.1:1/snapbot" }, cwd);
    expect(line).toBe("cannot reach the ledger postgres://127.0.0.1:1/snapbot (connection refused): check that PostgreSQL runs there and that SNAPBOT_DB names it, then try again");
    // Only the demo config's folder (made before the ledger is reached): no postgresql: folder, no ./data/snapbot.db.
    expect(readdirSync(cwd)).toEqual(["data"]);
    expect(readdirSync(join(cwd, "data"))).toEqual(["demo"]);
  });

  it("a PostgreSQL URL without a database: refused at load with what to write", async () => {
    expect(await startFails({ SNAPBOT_DB: "postgres://snap:s3cret@db.internal" })).toBe(
      "SNAPBOT_DB=postgres://…@db.internal: not a PostgreSQL URL snapbot can use: write postgres://user:password@host:5432/database",
    );
  });
});

describe("src/main.ts refuses a bad config with one line and exit 2", () => {
  it("SNAPBOT_CONFIG naming a folder", async () => {
    const cwd = workdir();
    mkdirSync(join(cwd, "conf"));
    expect(await startFails({ SNAPBOT_CONFIG: "conf" }, cwd)).toBe(`${cwd}/conf: is a folder, not a config file: point SNAPBOT_CONFIG at the YAML file`);
  });

  it("approval.ttl: forever names the file and the key", async () => {
    expect(await startFails({ SNAPBOT_CONFIG: fixture("bad-ttl.yml") })).toBe(
      `${fixture("bad-ttl.yml")}: approval.ttl: expected a duration like 30M, 2H, 3d or 4w (M minutes, H hours, d days, w weeks), got "forever"`,
    );
  });

  it("an S3 target whose credential variable is not set, and a store: naming no target: one line each", async () => {
    const cwd = workdir();
    const target = `storage:\n  targets:\n    offsite:\n      s3: { endpoint: "http://127.0.0.1:9", bucket: snapbot, access_key_env: SNAPBOT_E2E_S3_ACCESS, secret_key_env: SNAPBOT_E2E_S3_SECRET }\n`;
    writeFileSync(join(cwd, "s3.yml"), `${target}servers:\n  files-1: { driver: archive, paths: [${cwd}], store: offsite }\n`);
    expect(await startFails({ SNAPBOT_CONFIG: "s3.yml", SNAPBOT_E2E_S3_ACCESS: "AKIDEXAMPLE" }, cwd)).toBe(
      "storage.targets.offsite.s3.secret_key_env: the environment variable SNAPBOT_E2E_S3_SECRET is not set: export it before starting snapbot",
    );
    expect(readdirSync(cwd)).toEqual(["s3.yml"]); // stopped before the ledger was made
    writeFileSync(join(cwd, "typo.yml"), `${target}servers:\n  files-1: { driver: archive, paths: [${cwd}], store: ofsite }\n`);
    expect(await startFails({ SNAPBOT_CONFIG: "typo.yml" }, cwd)).toBe(
      `${cwd}/typo.yml: servers.files-1.store: no storage target "ofsite" (targets: offsite): add it under storage.targets, or remove store: to keep the snapshots in storage.path`,
    );
  });

  it("malformed YAML names the line and the column", async () => {
    expect(await startFails({ SNAPBOT_CONFIG: fixture("malformed.yml") })).toMatch(/malformed\.yml:3:3: malformed YAML: /);
  });
});
