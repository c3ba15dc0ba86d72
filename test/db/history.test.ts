import { describe, expect, it } from "vitest";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { testApp } from "../helpers/test-app.ts";
import { tempDir } from "../helpers/temp-dir.ts";
import { fakeClock } from "../../src/clock.ts";
import { listMigrations, migrate } from "../../db/sqlite/open-db.ts";
import type { Reply } from "../../src/reply.ts";

const dir = tempDir("snapbot-history-");
const src = join(dir, "src");
mkdirSync(src);
writeFileSync(join(src, "a.txt"), "history is kept\n".repeat(1000));
const T0 = Date.UTC(2026, 3, 1, 9, 0, 0);
const roles = { admins: ["U0ADMIN"], approvers: [], operators: ["*"] };

const finalOf = (r: Reply) => {
  if (!r.follow) throw new Error(`expected long work, got: ${r.title}`);
  return r.follow.done;
};
const field = (r: Reply, name: string) => r.fields?.find(([k]) => k === name)?.[1];

describe("show of a deleted or expired snapshot keeps its creation facts", () => {
  it("delete: size, checksum, parts, created by/at and finished stay; a deleted line says when and by whom", async () => {
    const clock = fakeClock(T0);
    const { app, run } = await testApp(join(dir, "delete"), { storage: { path: "snaps" }, servers: { s: { driver: "archive", paths: [src] } } }, clock);
    expect((await finalOf(await run("create s one", "U0ALICE"))).tone).toBe("success");
    const before = await run("show s/one");
    clock.advance(3_600_000);
    expect((await finalOf(await run("delete s/one", "U0BOB"))).tone).toBe("success");
    const after = await run("show s/one");
    expect(field(after, "state")).toBe("deleted");
    for (const k of ["size", "checksum", "parts", "finished", "location"]) expect(field(after, k)).toBe(field(before, k));
    expect(field(after, "size")).not.toBe("—");
    expect(field(after, "created")).toBe("2026-04-01 09:00:00Z (60m ago) by U0ALICE");
    expect(field(after, "finished")).toMatch(/^2026-04-01 09:00:0\dZ \(took \d+ms\)$/); // not the delete's time
    expect(field(after, "deleted")).toBe("2026-04-01 10:00:00Z (0ms ago) by U0BOB");
    expect(after.buttons).toBeUndefined();
    await app.close();
  });

  it("prune: an expired snapshot says when it expired and who pruned it", async () => {
    const clock = fakeClock(T0);
    const { app, run } = await testApp(join(dir, "prune"), { storage: { path: "snaps" }, servers: { s: { driver: "archive", paths: [src] } } }, clock);
    expect((await finalOf(await run("create s old --expiry 1d", "U0ALICE"))).tone).toBe("success");
    clock.advance(2 * 86_400_000);
    await run("prune s", "U0CAROL");
    const shown = await run("show s/old");
    expect(field(shown, "state")).toBe("expired");
    expect(field(shown, "expired")).toBe("2026-04-03 09:00:00Z (0ms ago) by U0CAROL");
    expect(field(shown, "size")).not.toBe("—");
    expect(field(shown, "parts")).toBe("1");
    await app.close();
  });

  it("migration 006 moves an old delete's time to deleted_at and takes who from the delete operation", () => {
    const db = new Database(join(dir, "old.db"));
    const old = listMigrations().filter((m) => m.version < 6);
    for (const m of old) db.exec(m.sql);
    db.exec("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)");
    const ins = db.prepare("INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, 0)");
    for (const m of old) ins.run(m.version, m.name);
    db.exec(`INSERT INTO servers (id, name, driver, settings, source, created_at) VALUES (1, 's', 'archive', '{}', 'config', 0);
      INSERT INTO snapshots (id, server_id, name, state, created_by, created_at, finished_at, size) VALUES (1, 1, 'one', 'deleted', 'U0ALICE', 1000, 9000, 42);
      INSERT INTO operations (kind, server_id, snapshot_id, state, requested_by, created_at, finished_at) VALUES ('create', 1, 1, 'succeeded', 'U0ALICE', 1000, 1500);
      INSERT INTO operations (kind, server_id, snapshot_id, state, requested_by, created_at, finished_at) VALUES ('delete', 1, 1, 'succeeded', 'U0BOB', 8000, 9000);`);
    expect(migrate(db)).toContain(6);
    expect(db.prepare("SELECT finished_at, deleted_at, deleted_by, size FROM snapshots WHERE id = 1").get()).toEqual({
      finished_at: 1500, deleted_at: 9000, deleted_by: "U0BOB", size: 42,
    });
    db.close();
  });
});

describe("list and audit are read-only on an unregistered server: history is kept", () => {
  it("after unregister, list and audit show the history with a line saying so; create and delete are refused", async () => {
    const clock = fakeClock(T0);
    const { app, run } = await testApp(join(dir, "unreg"), { roles, storage: { path: "snaps" }, servers: {} }, clock);
    expect((await run(`register files-2 archive paths=${src}`, "U0ADMIN")).tone).toBe("success");
    expect((await finalOf(await run("create files-2 keep-me", "U0ALICE"))).tone).toBe("success");
    expect((await run("unregister files-2", "U0ADMIN")).tone).toBe("success");
    expect(await app.ledger.servers.get("files-2")).toBeUndefined();

    const listed = await run("list files-2");
    expect(listed.tone).toBe("info");
    expect(listed.table?.rows.map((r) => r[0])).toEqual(["keep-me"]);
    expect(listed.lines?.[0]).toBe("files-2 is no longer registered (unregistered 2026-04-01 09:00:00Z); its history is kept, read-only");

    const audit = await run("audit files-2");
    expect(audit.table?.rows.map((r) => r[3])).toEqual(["unregister files-2", "create files-2/keep-me", "register files-2"]);
    expect(audit.lines?.[0]).toMatch(/^files-2 is no longer registered/);

    const shown = await run("show files-2/keep-me");
    expect(field(shown, "state")).toBe("done");
    expect(shown.buttons).toBeUndefined(); // no Verify/Delete on a server that is gone
    expect(shown.lines?.[0]).toMatch(/^files-2 is no longer registered/);

    expect((await run("create files-2")).title).toMatch(/^unknown server "files-2"/);
    expect((await run("delete files-2/keep-me")).title).toMatch(/^unknown server "files-2"/);
    expect((await run("list nobody")).title).toMatch(/^unknown server "nobody"/);
    await app.close();
  });
});
