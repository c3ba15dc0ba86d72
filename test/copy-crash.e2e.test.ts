import { describe, expect, it } from "vitest";
import { existsSync, mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import Database from "better-sqlite3";
import { runScript, startBot } from "./helpers/bot-process.ts";
import { tempDir } from "./helpers/temp-dir.ts";

// The kill-and-restart pattern of crash.e2e.test.ts, for a copy to a storage target: the real bot is killed
// while the copy is half-written there; the next start reports it interrupted, the copy failed (never done), and
// what it had written on the target removed; the local snapshot is untouched and copies again.

const cwd = tempDir("snapbot-copy-crash-");

const poll = async (what: string, ok: () => boolean, ms = 60_000) => {
  const end = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
};
const rows = (sql: string) => {
  const db = new Database(join(cwd, "data/snapbot.db"), { readonly: true });
  try {
    return db.prepare(sql).all();
  } finally {
    db.close();
  }
};

describe("a crash in the middle of a copy to a storage target", () => {
  it("is settled at the next start: the copy failed, its partial parts removed from the target, the snapshot untouched", async () => {
    const src = join(cwd, "big");
    mkdirSync(src);
    for (let i = 0; i < 16; i++) writeFileSync(join(src, `blob-${i}`), randomBytes(8 * 1024 * 1024)); // 128 MiB incompressible
    writeFileSync(join(cwd, "snapbot.yml"), `storage:\n  path: ./snaps\n  targets:\n    offsite: { path: ./offsite }\nservers:\n  big: { driver: archive, paths: [${src}], part_size: 1MiB }\n`);
    const made = await runScript(cwd, ["/snapshot create big s1"]);
    expect(made.stdout).toMatch(/✔ big\/s1 done/);

    const bot = startBot(cwd);
    bot.send("/snapshot copy big/s1 offsite");
    const parts = join(cwd, "offsite/big/s1/.parts");
    await poll("the first parts on the target", () => existsSync(parts) && readdirSync(parts).length >= 2);
    bot.child.kill("SIGKILL");
    expect((await bot.exit).signal).toBe("SIGKILL");
    expect(existsSync(join(cwd, "offsite/big/s1/manifest.json"))).toBe(false); // killed half-way, as intended
    expect(rows("SELECT target, state, location IS NOT NULL AS claimed FROM copies")).toEqual([{ target: "offsite", state: "running", claimed: 1 }]);

    const { code, stdout } = await runScript(cwd, ["/snapshot copies big/s1", "/snapshot verify big/s1"]);
    expect(code).toBe(0);
    expect(stdout).toContain("✖ snapbot restarted after an interruption: 1 operation(s), 1 copy(ies) and 0 snapshot(s) were left unfinished");
    expect(stdout).toMatch(/operation #2 copy big was running: now failed/);
    expect(stdout).toMatch(/the copy big\/s1@offsite was running: now failed \(interrupted: snapbot stopped .*; what it had written on offsite is removed\)/);
    expect(stdout).toMatch(/offsite\s+failed/);
    expect(stdout).toMatch(/✔ big\/s1 verified: /); // the local snapshot was only read
    expect(existsSync(join(cwd, "offsite/big/s1"))).toBe(false);
    expect(rows("SELECT state, error FROM copies")).toEqual([{ state: "failed", error: expect.stringMatching(/^interrupted: /) }]);
    expect(rows("SELECT kind, state FROM operations WHERE kind = 'copy'")).toEqual([{ kind: "copy", state: "failed" }]);

    // A third start has nothing left to settle, and the copy can be made again.
    const third = await runScript(cwd, ["/snapshot copy big/s1 offsite"]);
    expect(third.stdout).not.toContain("restarted after an interruption");
    expect(third.stdout).toMatch(/✔ big\/s1 copied to offsite \(operation #4, asked by console\)/);
    expect(existsSync(join(cwd, "offsite/big/s1/manifest.json"))).toBe(true);
  }, 180_000);
});
