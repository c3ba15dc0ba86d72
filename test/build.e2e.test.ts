import { describe, expect, it } from "vitest";
import { readdirSync } from "node:fs";
import { join, resolve } from "node:path";
import { execa } from "execa";
import Database from "better-sqlite3";
import { COMPILED, runScript } from "./helpers/bot-process.ts";
import { tempDir } from "./helpers/temp-dir.ts";

// `npm start` builds dist/ and runs it: the compiled bot must find its migrations and do what the source does.

const REPO = resolve(import.meta.dirname, "..");

describe("the compiled bot (what npm start runs)", () => {
  it("builds, applies its migrations and takes a verified snapshot from a piped script", async () => {
    await execa("node", ["scripts/build.mjs"], { cwd: REPO });
    const cwd = tempDir("snapbot-build-");
    const { code, stdout, stderr } = await runScript(cwd, ["/snapshot create demo", "/snapshot frobnicate"], {}, COMPILED);
    expect(stderr).not.toMatch(/tsx|\.ts:\d/); // no loader, no source paths in a stack
    expect(stdout).toMatch(/✔ demo\/\S+ done: [\d.]+ KiB/);
    expect(stdout).toMatch(/unknown command "frobnicate"/i);
    expect(code).toBe(0);
    const db = new Database(join(cwd, "data/snapbot.db"), { readonly: true });
    try {
      const migrations = readdirSync(join(REPO, "db/migrations/sqlite")).filter((f) => f.endsWith(".sql"));
      expect(migrations.length).toBeGreaterThan(1);
      expect(db.prepare("SELECT count(*) FROM schema_migrations").pluck().get()).toBe(migrations.length);
      expect(db.prepare("SELECT state FROM snapshots").pluck().all()).toEqual(["done"]);
    } finally {
      db.close();
    }
  });
});
