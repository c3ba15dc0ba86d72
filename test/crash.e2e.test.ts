import { describe, expect, it } from "vitest";
import { existsSync, mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import Database from "better-sqlite3";
import { runScript, startBot } from "./helpers/bot-process.ts";
import { tempDir } from "./helpers/temp-dir.ts";

const cwd = tempDir("snapbot-crash-");

const poll = async (what: string, ok: () => boolean, ms = 30_000) => {
  const end = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
};

describe("a crash in the middle of a large create", () => {
  it("is detected at the next start: the operation failed, the snapshot broken, never done", async () => {
    const src = join(cwd, "big");
    mkdirSync(src);
    for (let i = 0; i < 24; i++) writeFileSync(join(src, `blob-${i}`), randomBytes(16 * 1024 * 1024)); // 384 MiB incompressible
    writeFileSync(join(cwd, "snapbot.yml"), `storage: { path: ./snaps }\nservers:\n  big: { driver: archive, paths: [${src}], part_size: 4MiB }\n`);

    const bot = startBot(cwd);
    bot.send("/snapshot create big s1");
    const parts = join(cwd, "snaps/big/s1/.parts");
    await poll("the first parts on disk", () => existsSync(parts) && readdirSync(parts).length >= 2);
    bot.child.kill("SIGKILL");
    expect((await bot.exit).signal).toBe("SIGKILL");
    expect(existsSync(join(cwd, "snaps/big/s1/manifest.json"))).toBe(false);

    const db = new Database(join(cwd, "data/snapbot.db"), { readonly: true });
    expect(db.prepare("SELECT state FROM snapshots").get()).toEqual({ state: "running" }); // what the crash left
    db.close();

    const { code, stdout } = await runScript(cwd, ["/snapshot list big --all", "/snapshot show big/s1"]);
    expect(code).toBe(0);
    expect(stdout).toContain("✖ snapbot restarted after an interruption: 1 operation(s) and 1 snapshot(s) were left unfinished");
    expect(stdout).toMatch(/operation #1 create big was running: now failed/);
    expect(stdout).toMatch(/big\/s1 was running: now broken \(interrupted: .* parts were written but never completed \(no manifest\)/);
    expect(stdout).toMatch(/s1\s+broken/);

    const after = new Database(join(cwd, "data/snapbot.db"), { readonly: true });
    expect(after.prepare("SELECT kind, state, error FROM operations").all()).toEqual([
      { kind: "create", state: "failed", error: expect.stringMatching(/^interrupted: snapbot stopped/) },
    ]);
    expect(after.prepare("SELECT count(*) AS n FROM snapshots WHERE state = 'done'").get()).toEqual({ n: 0 });
    after.close();

    // A third start finds nothing left to settle, and the broken snapshot can be deleted.
    const third = await runScript(cwd, ["/snapshot delete big/s1"]);
    expect(third.stdout).not.toContain("restarted after an interruption");
    expect(third.stdout).toContain("✔ big/s1 deleted");
    expect(existsSync(join(cwd, "snaps/big/s1"))).toBe(false);
  }, 120_000);
});
