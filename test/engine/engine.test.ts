import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { existsSync, mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { execFileSync } from "node:child_process";
import { testApp } from "../helpers/test-app.ts";
import { mountTmpfs } from "../helpers/cleanup.ts";
import { tempDir } from "../helpers/temp-dir.ts";
import type { Reply } from "../../src/reply.ts";

const dir = tempDir("snapbot-engine-");
const src = join(dir, "src");
mkdirSync(src);
for (let i = 0; i < 8; i++) writeFileSync(join(src, `blob-${i}`), randomBytes(4 * 1024 * 1024)); // 32 MiB, incompressible

const finalOf = (r: Reply) => {
  if (!r.follow) throw new Error(`expected long work, got: ${r.title}`);
  return r.follow.done;
};

describe("engine with the real archive driver and a real ledger", () => {
  it("refuses a second operation on a busy server without writing anything", async () => {
    const { app, run } = await testApp(join(dir, "busy"), { storage: { path: "snaps" }, servers: { s: { driver: "archive", paths: [src] } } });
    const first = await run("create s one");
    const second = await run("create s two");
    expect(second).toMatchObject({ tone: "error", title: expect.stringMatching(/^s is busy: create s\/one \(operation #1\) has been running for \d+m?s; try again when it finishes$/) });
    expect((await finalOf(first)).tone).toBe("success");
    expect((await app.ledger.snapshots.list((await app.ledger.servers.get("s"))!.id, { all: true, limit: 10, offset: 0 })).rows.map((r) => r.name)).toEqual(["one"]);
    expect(await app.ledger.operations.list({ limit: 10 })).toHaveLength(1);
    expect((await finalOf(await run("create s two"))).tone).toBe("success"); // free again afterwards
    await app.close();
  });

  it("stops a create at its timeout: operation and snapshot failed, no files left", async () => {
    const { app, run } = await testApp(join(dir, "timeout"), {
      storage: { path: "snaps" },
      servers: { slow: { driver: "archive", paths: [src], part_size: "1MiB", timeout: 0.01 } }, // 10 ms: 32 MiB cannot make it
    });
    const final = await finalOf(await run("create slow t1"));
    expect(final.tone).toBe("error");
    expect(final.lines![0]).toBe("timed out after 10ms: the operation was stopped");
    const snap = (await app.ledger.snapshots.find((await app.ledger.servers.get("slow"))!.id, "t1"))!;
    expect(snap).toMatchObject({ state: "failed", error: "timed out after 10ms: the operation was stopped" });
    expect(await app.ledger.operations.get(1)).toMatchObject({ state: "failed" });
    expect(existsSync(join(dir, "timeout/snaps/slow/t1"))).toBe(false);
    await new Promise((r) => setTimeout(r, 200));
    expect(() => execFileSync("pgrep", ["-f", `snaps/slow/t1`])).toThrow(); // no tar or zstd left behind
    await app.close();
  });

  it("marks a snapshot failed with a clear message when storage fills up mid-write, and leaves no partial files", async () => {
    const mnt = join(dir, "tiny");
    let tmpfs: { unmount(): void };
    try {
      tmpfs = mountTmpfs(mnt, 4);
    } catch (e) {
      if (process.env.CI === "true") throw e;
      console.warn("skipping disk-full engine test: cannot mount tmpfs here");
      return;
    }
    try {
      const { app, run } = await testApp(join(dir, "full"), { storage: { path: mnt }, servers: { s: { driver: "archive", paths: [src], part_size: "1MiB" } } });
      const final = await finalOf(await run("create s big"));
      expect(final.tone).toBe("error");
      expect(final.title).toBe("create s/big failed (operation #1, asked by U1)");
      expect(final.lines![0]).toMatch(/^storage full while writing s\/big .*: free space or change storage\.path/);
      const snap = (await app.ledger.snapshots.find((await app.ledger.servers.get("s"))!.id, "big"))!;
      expect(snap.state).toBe("failed");
      expect(snap.error).toMatch(/storage full/);
      expect(await app.ledger.operations.get(1)).toMatchObject({ state: "failed", error: expect.stringMatching(/storage full/) });
      expect(readdirSync(join(mnt, "s"))).toEqual([]);
      await app.close();
    } finally {
      tmpfs.unmount();
    }
  });
});

describe("deleting a failed snapshot", () => {
  it("clears the record without touching a newer snapshot of the same name", async () => {
    const missing = join(dir, "comes-later");
    const { app, run } = await testApp(join(dir, "reuse"), { storage: { path: "snaps" }, servers: { s: { driver: "archive", paths: [missing] } } });
    expect((await finalOf(await run("create s nightly"))).tone).toBe("error"); // the path is not there yet
    mkdirSync(missing);
    writeFileSync(join(missing, "f"), "data");
    expect((await finalOf(await run("create s nightly"))).tone).toBe("success");
    const server = (await app.ledger.servers.get("s"))!;
    const failed = (await app.ledger.snapshots.list(server.id, { state: "failed", limit: 5, offset: 0 })).rows[0]!;
    const handle = await app.engine.delete(server, failed, { user: "U1" });
    expect((await handle.job.done).state).toBe("deleted");
    expect(existsSync(join(dir, "reuse/snaps/s/nightly/manifest.json"))).toBe(true);
    expect((await finalOf(await run("verify s/nightly"))).tone).toBe("success");
    await app.close();
  });
});
