import { describe, expect, it } from "vitest";
import { cpSync, existsSync, mkdirSync, openSync, readdirSync, rmSync, writeFileSync, writeSync, closeSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { testApp } from "../../helpers/test-app.ts";
import { tempDir } from "../../helpers/temp-dir.ts";
import type { Reply } from "../../../src/reply.ts";

const dir = tempDir("snapbot-storage-");
const src = join(dir, "src");
mkdirSync(src);
writeFileSync(join(src, "blob"), randomBytes(256 * 1024));
const roles = { admins: ["U0ADMIN"], approvers: [], operators: ["*"] };
const config = { roles, storage: { path: "snaps" }, servers: { s: { driver: "archive", paths: [src] } } };
const ADMIN = "U0ADMIN";

const finalOf = (r: Reply) => {
  if (!r.follow) throw new Error(`expected long work, got: ${r.title}`);
  return r.follow.done;
};
const field = (r: Reply, name: string) => r.fields?.find(([k]) => k === name)?.[1];

/** Two snapshots made by snapbot, then the ledger lost: storage keeps their folders. */
async function lostLedger(name: string) {
  const root = join(dir, name);
  const first = await testApp(root, config);
  for (const snap of ["one", "two"]) expect((await finalOf(await first.run(`create s ${snap}`, "U0ALICE"))).tone).toBe("success");
  const before = (await first.app.ledger.snapshots.find((await first.app.ledger.servers.get("s"))!.id, "one"))!;
  await first.app.close();
  for (const f of readdirSync(root)) if (f.startsWith("ledger.db")) rmSync(join(root, f));
  const snaps = join(root, "snaps");
  mkdirSync(join(snaps, "s", "half", ".parts"), { recursive: true }); // a write that died: parts, no manifest
  writeFileSync(join(snaps, "s", "half", ".parts", "part-000000"), "partial");
  cpSync(join(snaps, "s", "one"), join(snaps, "gone", "x"), { recursive: true }); // a server nobody registered
  const fd = openSync(join(snaps, "s", "two", ".parts", "part-000000"), "r+"); // same size, one byte flipped
  writeSync(fd, Buffer.from([0x00, 0xff, 0x00]), 0, 3, 100);
  closeSync(fd);
  return { ...(await testApp(root, config)), snaps, before };
}

describe("storage scan, adopt and remove: folders a lost ledger forgot", () => {
  it("scan lists each unknown folder with its manifest status; only admins may scan", async () => {
    const { app, run } = await lostLedger("scan");
    expect((await run("storage scan", "U0ALICE")).tone).toBe("error");
    const scan = await run("storage scan", ADMIN);
    expect(scan.title).toBe("Storage holds 4 snapshot(s) the ledger does not know");
    expect(scan.table!.rows.map((r) => [r[0], r[1]!.replace(/:.*/, "")])).toEqual([
      ["gone/x", "invalid"], // its manifest names s/one
      ["s/half", "partial"],
      ["s/one", "complete"],
      ["s/two", "complete"], // sizes are right: only adopt's full verify sees the flipped byte
    ]);
    expect(scan.table!.rows[0]![1]).toBe("invalid: its manifest.json is for s/one, not gone/x");
    expect(scan.buttons!.map((b) => b.command)).toContain("storage adopt s/one");
    expect(scan.buttons!.map((b) => b.command)).not.toContain("storage adopt s/half");
    await app.close();
  });

  it("adopt re-verifies every part, then records a done snapshot with its original facts; a corrupt one is refused", async () => {
    const { app, run, before } = await lostLedger("adopt");
    const adopted = await finalOf(await run("storage adopt s/one", ADMIN));
    expect(adopted.tone).toBe("success");
    const shown = await run("show s/one");
    expect(field(shown, "state")).toBe("done");
    expect(field(shown, "origin")).toBe("external");
    expect(field(shown, "checksum")).toBe(before.checksum);
    expect(field(shown, "parts")).toBe(String(before.checksums!.length));
    const row = (await app.ledger.snapshots.find((await app.ledger.servers.get("s"))!.id, "one"))!;
    expect(row).toMatchObject({ size: before.size, created_at: before.created_at, location: before.location });
    expect(row.finished_at).toBeGreaterThanOrEqual(row.created_at); // the manifest's own end of writing
    expect(row.finished_at).toBeLessThanOrEqual(before.finished_at!);
    expect(row.details).toMatchObject({ adopted_by: ADMIN, mode: "tar" });
    expect((await finalOf(await run("verify s/one"))).tone).toBe("success");
    expect((await run("storage scan", ADMIN)).table!.rows.map((r) => r[0])).toEqual(["gone/x", "s/half", "s/two"]);

    const corrupt = await finalOf(await run("storage adopt s/two", ADMIN));
    expect(corrupt.tone).toBe("error");
    expect(corrupt.lines![0]).toMatch(/^s\/two did not verify, so it was not adopted: part-000000 is corrupt/);
    expect(await app.ledger.snapshots.findLive((await app.ledger.servers.get("s"))!.id, "two")).toBeUndefined();

    expect((await run("storage adopt s/half", ADMIN)).title).toMatch(/^s\/half is partial \(no manifest.json.*\): it cannot be adopted; remove it with storage remove s\/half$/);
    expect((await run("storage adopt gone/x", ADMIN)).title).toMatch(/^gone is not registered: register it first/);
    expect((await run("storage adopt s/one", ADMIN)).title).toMatch(/^s\/one is in the ledger \(done\)/);
    expect((await run("storage adopt s/nothing", ADMIN)).title).toMatch(/^storage holds no unknown snapshot at s\/nothing: type storage scan/);
    await app.close();
  });

  it("remove: --dry-run removes nothing; the real one removes the folder and the audit log says who", async () => {
    const { app, run, snaps } = await lostLedger("remove");
    const plan = await run("storage remove s/half --dry-run", ADMIN);
    expect(plan.title).toMatch(/^Dry run: storage remove s\/half would delete .*snaps\/s\/half \(partial\); nothing was removed$/);
    expect(plan.buttons).toEqual([{ label: "Remove s/half", command: "storage remove s/half", style: "danger" }]);
    expect(existsSync(join(snaps, "s", "half"))).toBe(true);
    expect((await run("storage remove s/half", "U0ALICE")).tone).toBe("error"); // admins only
    expect((await run("storage remove s/half", ADMIN)).title).toMatch(/^s\/half removed from storage by U0ADMIN/);
    expect(existsSync(join(snaps, "s", "half"))).toBe(false);
    expect((await app.ledger.operations.list({ limit: 1 }))[0]).toMatchObject({ kind: "storage-remove", requested_by: ADMIN, state: "succeeded" });

    writeFileSync(join(snaps, "gone", "x", "notes.txt"), "someone's own file");
    expect((await run("storage remove gone/x", ADMIN)).title).toMatch(/^refusing to delete .*gone\/x: it holds files snapbot did not write \(notes.txt\)/);
    expect(existsSync(join(snaps, "gone", "x", "notes.txt"))).toBe(true);
    expect((await app.ledger.operations.list({ limit: 1 }))[0]).toMatchObject({ kind: "storage-remove", state: "failed" });

    expect((await finalOf(await run("create s three"))).tone).toBe("success");
    expect((await run("storage remove s/three", ADMIN)).title).toMatch(/^s\/three is in the ledger \(done\)/);
    expect(existsSync(join(snaps, "s", "three"))).toBe(true);
    await app.close();
  });
});
