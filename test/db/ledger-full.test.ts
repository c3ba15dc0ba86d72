import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { closeSync, mkdirSync, openSync, rmSync, writeFileSync, writeSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { execFileSync } from "node:child_process";
import Database from "better-sqlite3";
import { fileSchema } from "../../src/config/schema.ts";
import type { Config } from "../../src/config/load-config.ts";
import { createApp, type App } from "../../src/app.ts";
import { systemClock } from "../../src/clock.ts";
import { createLocalRunner } from "../../src/transport/local-runner.ts";
import { runCommand } from "../../commands/index.ts";
import type { Reply } from "../../src/reply.ts";
import { tempDir } from "../helpers/temp-dir.ts";
import { recordingChat } from "../helpers/recording-chat.ts";
import { captureLog } from "../helpers/slack-bot.ts";

// The ledger on a real 4 MiB tmpfs, the snapshots elsewhere: the tmpfs is filled with a filler file
// while the bot runs, as a full disk under /var/lib/snapbot would be, then freed again.

const dir = tempDir("snapbot-ledger-full-");
const src = join(dir, "src");
mkdirSync(src);
for (let i = 0; i < 6; i++) writeFileSync(join(src, `blob-${i}`), randomBytes(4 * 1024 * 1024)); // 24 MiB, incompressible
const mnt = join(dir, "ledger-disk");
const ledgerPath = join(mnt, "ledger.db");
const filler = join(mnt, "filler");
let mounted = false;

beforeAll(() => {
  mkdirSync(mnt);
  try {
    execFileSync("mount", ["-t", "tmpfs", "-o", "size=4m", "tmpfs", mnt]);
    mounted = true;
  } catch (e) {
    if (process.env.CI === "true") throw e;
  }
});
afterAll(() => {
  if (mounted) execFileSync("umount", ["-l", mnt]);
});

/** An empty WAL, so the next commit needs new space on the disk (a second connection: the ledger's is its own). */
function checkpoint(path: string): void {
  const raw = new Database(path);
  try {
    expect(raw.pragma("wal_checkpoint(TRUNCATE)", { simple: true })).toBe(0); // 0: not blocked by a reader or writer
  } finally {
    raw.close();
  }
}

/** Writes until the disk takes no more. */
function fill(): void {
  const fd = openSync(filler, "a");
  const chunk = Buffer.alloc(64 * 1024, 1);
  try {
    for (;;) writeSync(fd, chunk);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "ENOSPC") throw e;
  } finally {
    closeSync(fd);
  }
}

const finalOf = (r: Reply) => {
  if (!r.follow) throw new Error(`expected long work, got: ${r.title}`);
  return r.follow.done;
};
/** Resolves once the job has started (its snapshot is running). */
const started = (r: Reply) => new Promise<void>((res) => r.follow!.subscribe((u) => u.lines?.[0] !== "queued" && res()));

async function start(dbPath = ledgerPath) {
  const parsed = fileSchema.parse({
    storage: { path: join(dir, "snaps") },
    servers: { s: { driver: "archive", paths: [src], part_size: "1MiB" }, slow: { driver: "archive", paths: [src], part_size: "1MiB", timeout: 0.1 } },
  });
  const config: Config = { ...parsed, source: "test", demo: false, ledger: { backend: "sqlite", path: dbPath }, logLevel: "info", chat: { mode: "console", port: 0 }, metricsPort: null };
  const log = captureLog("info"); // the level snapbot logs at
  const chat = recordingChat();
  const app = await createApp(config, { log: log.log, clock: systemClock, runner: createLocalRunner(log.log), chat: chat.port });
  const run = (text: string) => runCommand(app, { user: "U1", channel: "C1", text });
  return { app, run, log, chat };
}

describe("a full ledger disk", () => {
  let t: Awaited<ReturnType<typeof start>>;
  let app: App;
  const snap = async (server: string, name: string) => (await app.ledger.snapshots.find((await app.ledger.servers.get(server))!.id, name))!;
  const fullLine = new RegExp(`^the ledger ${ledgerPath.replace(/[/.]/g, "\\$&")} is full \\(.+ free on its disk\\): free space there, then try again; list, show and help still work$`);

  beforeAll(async () => {
    if (!mounted) return;
    t = await start();
    app = t.app;
  });
  afterAll(async () => {
    await app?.close();
  });

  it("lets a create finish while the disk fills, then refuses work with one line, keeps reads working and alerts without the ledger", async (ctx) => {
    if (!mounted) return ctx.skip("mounting a tmpfs needs root");
    expect((await finalOf(await t.run("create s first"))).tone).toBe("success");
    checkpoint(ledgerPath); // an empty WAL: the next commit needs new space on the disk

    // A create running when the disk fills: its parts are written (elsewhere) but its commit is not.
    const big = await t.run("create s big");
    await started(big);
    fill();
    const final = await finalOf(big);
    expect(final.tone).toBe("info");
    expect(final.title).toBe("create s/big finished, not recorded yet (operation #2, asked by U1)");
    expect(final.lines![0]).toMatch(/^create s\/big finished, but the ledger .* is full .*: its result is kept and is recorded as soon as the ledger can write again/);
    expect((await snap("s", "big")).state).toBe("running"); // not done: it is not recorded
    expect(app.ledger.health.full).toBe(true);

    // New work: one line, nothing written.
    const ops = (await app.ledger.operations.list({ limit: 50 })).length;
    for (const text of ["create s other", "delete s/first", "verify s/first"]) {
      const r = await t.run(text);
      expect(r).toMatchObject({ tone: "error", title: expect.stringMatching(fullLine) });
    }
    expect(await app.ledger.operations.list({ limit: 50 })).toHaveLength(ops);

    // Reads keep working.
    const listed = await t.run("list s");
    expect(listed.tone).toBe("info");
    expect(JSON.stringify(listed.table)).toContain("big");
    expect((await t.run("show s/first")).title).toMatch(/s\/first/);
    expect((await t.run("help")).tone).toBe("info");
    expect((await t.run("servers")).tone).toBe("info");

    // The alert went to chat without the ledger, and is held to be recorded later.
    await app.alerts.flush();
    const posts = t.chat.calls.filter((c) => c.kind === "post");
    expect(posts).toHaveLength(1);
    expect(posts[0]!).toMatchObject({ channel: "console", ok: true, reply: { title: expect.stringMatching(/^ledger_full: the ledger .* is full/) } });
    expect(app.alerts.held()).toBe(1);

    // The log: one warning for the state change, no stack trace, no SqliteError.
    expect(t.log.text()).not.toMatch(/SqliteError|"stack"|at .*\.ts:\d+/);
    const fullWarnings = t.log.entries().filter((e) => e.level === 40 && /the ledger .* is full/.test(String(e.msg)));
    expect(fullWarnings).toHaveLength(1);
  });

  it("settles a create that fails while full, and posts its alert without the ledger", async (ctx) => {
    if (!mounted) return ctx.skip("mounting a tmpfs needs root");
    rmSync(filler);
    const slow = await t.run("create slow t1"); // its probe finds the ledger writable: the waiting commit is made first
    expect(await snap("s", "big")).toMatchObject({ state: "done", checksum: expect.stringMatching(/^sha256:/) });
    expect(await app.ledger.operations.get(2)).toMatchObject({ state: "succeeded" });
    expect(app.ledger.health.full).toBe(false);
    expect(app.alerts.held()).toBe(0);
    expect(slow.follow).toBeDefined();
    // The disk fills again while it runs; its timeout (0.1 s) stops it, and its failure cannot be written.
    checkpoint(ledgerPath);
    await started(slow);
    fill();
    const final = await finalOf(slow);
    expect(final).toMatchObject({ tone: "error", title: "create slow/t1 failed (operation #3, asked by U1)" });
    expect((await snap("slow", "t1")).state).toBe("running");
    await app.alerts.flush();
    const failedPost = t.chat.calls.find((c) => c.kind === "post" && /^snapshot_failed: snapshot slow\/t1 failed/.test(c.reply.title));
    expect(failedPost?.reply.lines).toContain("(not in the ledger yet: it is recorded once the ledger can write again)");
  });

  it("once space is freed: the outcomes are recorded, the alerts recorded and resolved, and work runs again", async (ctx) => {
    if (!mounted) return ctx.skip("mounting a tmpfs needs root");
    expect(app.ledger.health.full).toBe(true);
    rmSync(filler);
    const again = await t.run("create s again"); // its probe finds the ledger writable: first the waiting writes are made
    expect(await snap("slow", "t1")).toMatchObject({ state: "failed", error: expect.stringMatching(/timed out/) });
    expect(await app.ledger.operations.get(3)).toMatchObject({ state: "failed" });
    expect((await finalOf(again)).tone).toBe("success");

    const page = await app.ledger.alerts.allPage(50, 0);
    expect(page.total).toBe(3);
    const rows = [...page.rows].sort((a, b) => a.id - b.id);
    expect(rows.map((r) => [r.kind, r.state])).toEqual([
      ["ledger_full", "resolved"],
      ["ledger_full", "resolved"],
      ["snapshot_failed", "open"],
    ]);
    expect(rows.every((r) => r.message_ref !== null)).toBe(true); // recorded with the messages they were posted as
    expect(app.alerts.held()).toBe(0);
    await app.alerts.flush();
    const replies = t.chat.calls.filter((c) => c.kind === "post" && c.threadTs && /^✔ resolved: the ledger can write again/.test(c.reply.title));
    expect(replies.map((r) => r.reply.title)).toEqual([
      expect.stringMatching(/create s\/big \(operation #2\): recorded as succeeded/),
      expect.stringMatching(/create slow\/t1 \(operation #3\): recorded as failed/),
    ]);
    // One warning per state change: full, writable, full, writable.
    const changes = t.log.entries().filter((e) => e.level === 40 && /the ledger (.* is full|can write again)/.test(String(e.msg)));
    expect(changes.map((e) => (/full/.test(String(e.msg)) ? "full" : "writable"))).toEqual(["full", "writable", "full", "writable"]);
    expect(t.log.text()).not.toMatch(/SqliteError|"stack"/);
  });
});

describe("starting on a full ledger disk", () => {
  it("starts, refuses work, and settles what the stopped run left once the ledger can write", async (ctx) => {
    if (!mounted) return ctx.skip("mounting a tmpfs needs root");
    const path = join(mnt, "second.db");
    const first = await start(path);
    const big = await first.run("create s left");
    await started(big);
    checkpoint(path);
    fill();
    expect((await finalOf(big)).title).toMatch(/finished, not recorded yet/);
    await first.app.close(); // stopped while its commit waited: the ledger still says running

    const second = await start(path); // reconciliation cannot write: it waits, the bot starts anyway
    const op = (await second.app.ledger.operations.list({ limit: 1 }))[0]!;
    const left = async () => (await second.app.ledger.snapshots.find((await second.app.ledger.servers.get("s"))!.id, "left"))!;
    expect(second.app.reconciled.snapshots).toEqual([expect.objectContaining({ ref: "s/left", was: "running", now: "broken" })]);
    expect((await left()).state).toBe("running");
    expect((await second.run("create s more")).title).toMatch(/^the ledger .*second\.db is full/);
    expect((await second.run("list s")).tone).toBe("info");
    await second.app.alerts.flush();
    expect(second.chat.calls.map((c) => c.reply.title)).toEqual([expect.stringMatching(/^ledger_full: the ledger .*second\.db is full/)]);

    rmSync(filler);
    expect(await second.app.ledger.health.probe()).toBe(true); // what the 30 s probe does
    expect(await left()).toMatchObject({ state: "broken", error: expect.stringMatching(/run verify to confirm it/) });
    expect(await second.app.ledger.operations.get(op.id)).toMatchObject({ state: "failed", error: expect.stringMatching(/^interrupted/) });
    expect((await finalOf(await second.run("verify s/left"))).tone).toBe("success"); // its parts are complete: done again
    expect((await left()).state).toBe("done");
    expect(second.log.text()).not.toMatch(/SqliteError|"stack"/);
    await second.app.close();
  });
});
