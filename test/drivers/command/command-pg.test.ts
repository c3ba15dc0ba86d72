import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { testApp } from "../../helpers/test-app.ts";
import { tempDir } from "../../helpers/temp-dir.ts";
import { ageKey, filesContaining } from "../../helpers/age-identity.ts";
import { CLEAN_SQL, PG_BIN, describePostgres, startPostgres, type Postgres } from "../../helpers/postgres.ts";
import { approvalOf, done, text } from "./command-replies.ts";

// driver: command against a real PostgreSQL 15: pg_dump -Fc streamed into encrypted parts, the data changed,
// a restore with approval into a clean database (rows compared), a restore onto the non-clean source refused
// with what the clean check printed, then forced. No plaintext marker in the stored parts of the sensitive server.

const MARKER = "SNAPBOT-PG-MARKER-7c1d";
const root = tempDir("snapbot-cmd-pg-");
let pg: Postgres;
let t: Awaited<ReturnType<typeof testApp>>;

const folder = (server: string, snap: string) => join(root, "snaps", server, snap);

function pgServer(db: string, extra: Record<string, unknown> = {}) {
  return {
    driver: "command",
    vars: { db: pg.url(db), bin: PG_BIN },
    create: [["{bin}/pg_dump", "-Fc", "--dbname={db}"]],
    restore: [["{bin}/pg_restore", "--exit-on-error", "--no-owner", "--clean", "--if-exists", "--dbname={db}"]],
    clean: [["{bin}/psql", "-X", "-tA", "--dbname={db}", "-c", CLEAN_SQL]],
    part_size: "64KiB",
    ...extra,
  };
}

describePostgres("driver: command with PostgreSQL 15", () => {
  beforeAll(async () => {
    pg = await startPostgres(join(root, "pg"));
    pg.sql("postgres", "CREATE DATABASE src");
    pg.sql("postgres", "CREATE DATABASE dst TEMPLATE template0");
    pg.sql("src", `CREATE TABLE items(id int primary key, name text); INSERT INTO items SELECT g, md5(g::text) FROM generate_series(1,20000) g;`);
    pg.sql("src", `COMMENT ON TABLE items IS '${MARKER}'`); // in the dump's table of contents, which -Fc leaves uncompressed
    const key = await ageKey(root, "snapbot");
    const file = {
      roles: { admins: ["U0ADMIN"], approvers: ["U0ALICE"], operators: ["*"] },
      storage: { path: "snaps", encryption: { recipients: [key.recipient], identity_file: key.file } },
      servers: { "pg-app": pgServer("src"), "pg-dst": pgServer("dst"), "pg-plain": pgServer("src", { sensitive: false }) },
    };
    t = await testApp(root, file);
  }, 60_000);
  afterAll(async () => {
    await t?.app.close();
    pg?.stop();
  });

  it("create streams pg_dump -Fc into age-encrypted parts (the plain server's show the marker, these never)", async () => {
    for (const s of ["pg-app", "pg-plain"]) expect(text(await done(await t.run(`create ${s} s1`, "U0OP")))).toMatch(/done|created/i);
    expect(filesContaining(folder("pg-plain", "s1"), MARKER).length).toBeGreaterThan(0);
    expect(filesContaining(join(root, "snaps", "pg-app"), MARKER)).toEqual([]);
    const parts = readdirSync(join(folder("pg-app", "s1"), ".parts")).sort();
    expect(parts.length).toBeGreaterThan(1);
    expect(readFileSync(join(folder("pg-app", "s1"), ".parts", parts[0]!)).subarray(0, 21).toString()).toBe("age-encryption.org/v1");
    expect(readFileSync(join(folder("pg-plain", "s1"), ".parts", "part-000000")).subarray(0, 5).toString()).toBe("PGDMP");
  });

  it("metadata.json records the steps as configured (no URL from vars), pg_dump's version, sizes and times", () => {
    const meta = JSON.parse(readFileSync(join(folder("pg-app", "s1"), "metadata.json"), "utf8"));
    expect(meta.steps[0].argv).toEqual(["{bin}/pg_dump", "-Fc", "--dbname={db}"]);
    expect(meta.tools.pg_dump).toMatch(/^pg_dump \(PostgreSQL\) 15\./);
    expect(meta.encrypted).toBe(true);
    expect(meta.plain_size).toBeGreaterThan(100_000);
    expect(meta.stored_size).toBeGreaterThan(meta.plain_size);
    expect(JSON.stringify(meta)).not.toContain("127.0.0.1");
    expect(Date.parse(meta.finished_at)).toBeGreaterThanOrEqual(Date.parse(meta.created_at));
  });

  it("show prints the application's metadata: what the snapshot is and pg_dump's version", async () => {
    const r = await t.run("show pg-app/s1", "U0OP");
    expect(r.fields).toContainEqual(["application", expect.stringMatching(/^the last create step's stdout, .* \(metadata\.json beside it\)$/)]);
    expect(r.fields).toContainEqual(["pg_dump", expect.stringMatching(/^pg_dump \(PostgreSQL\) 15\./)]);
  });

  it("verify --full decrypts the stored dump to its end", async () => {
    const r = await done(await t.run("verify pg-app/s1 --full", "U0OP"));
    expect(text(r)).toMatch(/decrypted/);
    expect(r.tone).toBe("success");
  });

  it("after the data changed, restore --to a clean database (approved) gives back the rows of the snapshot", async () => {
    const before = pg.sql("src", "SELECT count(*), sum(id), md5(string_agg(name, ',' ORDER BY id)) FROM items");
    pg.sql("src", "DELETE FROM items WHERE id > 100; UPDATE items SET name = 'changed'");
    const ask = await t.run("restore pg-app/s1 --to pg-dst", "U0OP");
    expect(text(ask)).toMatch(/pg-dst is clean/);
    const r = await done(await t.run(`approve ${approvalOf(ask)}`, "U0ALICE"));
    expect(r.tone).toBe("success");
    expect(pg.sql("dst", "SELECT count(*), sum(id), md5(string_agg(name, ',' ORDER BY id)) FROM items")).toBe(before);
    expect(pg.sql("src", "SELECT count(*) FROM items")).toBe("100");
  });

  it("restore onto the non-clean source is refused with what the clean check printed; --force asks, says so, and restores", async () => {
    const refused = await t.run("restore pg-app/s1", "U0OP");
    expect(text(refused)).toMatch(/pg-app is not clean: its clean check printed "1"; to restore over it anyway: restore pg-app\/s1 --force/);
    expect(await t.app.ledger.approvals.pending()).toHaveLength(0);
    const ask = await t.run("restore pg-app/s1 --force", "U0OP");
    expect(text(ask)).toMatch(/FORCED over a target that is not clean/);
    expect(text(ask)).toMatch(/printed "1"/);
    const r = await done(await t.run(`approve ${approvalOf(ask)}`, "U0ALICE"));
    expect(r.tone).toBe("success");
    expect(pg.sql("src", "SELECT count(*) FROM items")).toBe("20000");
    expect(pg.sql("src", "SELECT count(*) FROM items WHERE name = 'changed'")).toBe("0");
  });
});
