import { describe, expect, it } from "vitest";
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, truncateSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { FROM_SOURCE, startBot } from "../../helpers/bot-process.ts";
import { tempDir } from "../../helpers/temp-dir.ts";
import { createSqliteLedger } from "../../../db/sqlite/sqlite-ledger.ts";
import type { OperationRow, SnapshotRow } from "../../../db/ledger.ts";
import { systemClock } from "../../../src/clock.ts";

// Console mode stops as Slack mode does: Ctrl-C or SIGTERM waits for running work, a second one cancels
// it (processes killed, partial folder removed) and exits at once. At a terminal (a real pseudo-terminal
// from util-linux `script`) the console is readline: a prompt, history, and progress that redraws the
// line being typed.
const root = tempDir("snapbot-console-stop-");
let n = 0;

/** A server over a sparse file: tar reads every zero (seconds of work), zstd writes almost nothing. */
function bigServer(gib: number): string {
  const cwd = join(root, `c${++n}`);
  mkdirSync(join(cwd, "big"), { recursive: true });
  writeFileSync(join(cwd, "big/sparse.img"), "");
  truncateSync(join(cwd, "big/sparse.img"), gib * 1024 ** 3);
  writeFileSync(join(cwd, "snapbot.yml"), `storage: { path: ./snaps }\nservers:\n  big: { driver: archive, paths: [${join(cwd, "big")}] }\n`);
  return cwd;
}

/** The ledger the bot left (its process has exited), through the ledger API: every snapshot and operation, oldest first. */
async function ledgerRows(cwd: string): Promise<{ snapshots: SnapshotRow[]; operations: OperationRow[] }> {
  const ledger = createSqliteLedger(join(cwd, "data/snapbot.db"), systemClock);
  try {
    const snapshots: SnapshotRow[] = [];
    for (const server of await ledger.servers.list()) snapshots.push(...(await ledger.snapshots.list(server.id, { all: true, limit: 100_000, offset: 0 })).rows);
    return { snapshots: snapshots.sort((a, b) => a.id - b.id), operations: (await ledger.operations.list({ limit: 100_000 })).reverse() };
  } finally {
    await ledger.close();
  }
}
const snapshotStates = async (cwd: string) => (await ledgerRows(cwd)).snapshots.map(({ state }) => ({ state }));

describe("console mode on a pipe: Ctrl-C / SIGTERM", () => {
  it("a first SIGINT waits for the running create, which ends done; lines after it are not run", async () => {
    const cwd = bigServer(1);
    const bot = startBot(cwd);
    bot.send("/snapshot create big s1");
    await bot.waitFor(/create big\/s1 .*: started/);
    bot.child.kill("SIGINT");
    await bot.waitFor(/• stopping: waiting up to 25s for running operations; Ctrl-C again cancels them/);
    bot.send("/snapshot create big s2");
    expect(await bot.exit).toEqual({ code: 0, signal: null });
    expect(bot.out()).toMatch(/✔ big\/s1 done: /);
    expect((await ledgerRows(cwd)).snapshots.map(({ name, state }) => ({ name, state }))).toEqual([{ name: "s1", state: "done" }]);
    expect(existsSync(join(cwd, "snaps/big/s1/manifest.json"))).toBe(true);
  });

  it("a second SIGTERM cancels the running create: no partial folder is left, and it exits 130", async () => {
    const cwd = bigServer(8);
    const bot = startBot(cwd);
    bot.send("/snapshot create big s1");
    await bot.waitFor(/create big\/s1 .*: started/);
    bot.child.kill("SIGTERM");
    await bot.waitFor(/• stopping: waiting/);
    bot.child.kill("SIGTERM");
    expect(await bot.exit).toEqual({ code: 130, signal: null });
    expect(bot.out()).toMatch(/✖ stopping now: cancelling running operations/);
    expect(bot.out()).toMatch(/✖ create big\/s1 failed .*\n  cancelled: snapbot was stopped while it ran/);
    expect(existsSync(join(cwd, "snaps/big/s1"))).toBe(false);
    expect(await snapshotStates(cwd)).toEqual([{ state: "failed" }]);
    expect((await ledgerRows(cwd)).operations.map(({ state, error }) => ({ state, error }))).toEqual([{ state: "failed", error: "cancelled: snapbot was stopped while it ran" }]);
  });
});

/** The bot at a real terminal: `script` gives it a pseudo-terminal; what we write is typed, what it draws is read. */
function startAtTerminal(cwd: string) {
  const command = [process.execPath, ...FROM_SOURCE].map((a) => `'${a}'`).join(" ");
  const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("SLACK_") && !k.startsWith("SNAPBOT_")));
  const child = spawn("script", ["-qfec", command, "/dev/null"], { cwd, env: { ...clean, TERM: "xterm", COLUMNS: "200" }, stdio: "pipe" });
  let screen = "";
  child.stdout.on("data", (d) => (screen += String(d)));
  child.stderr.on("data", (d) => (screen += String(d)));
  const exit = new Promise<number | null>((res) => child.on("exit", (code) => res(code)));
  const waitFor = async (pattern: RegExp, from = 0, ms = 30_000) => {
    const end = Date.now() + ms;
    while (!pattern.test(screen.slice(from))) {
      if (Date.now() > end) throw new Error(`timed out waiting for ${pattern}\n--- screen ---\n${JSON.stringify(screen.slice(from))}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  return { type: (keys: string) => child.stdin.write(keys), screen: () => screen, waitFor, exit };
}

describe("console mode at a terminal", () => {
  it("prompts, runs a typed line, recalls it with up-arrow, and redraws the half-typed line under progress", async () => {
    const cwd = bigServer(2);
    const t = startAtTerminal(cwd);
    await t.waitFor(/snapbot> /);
    t.type("/snapshot servers\r");
    await t.waitFor(/big\s+archive\s+tar /);
    let mark = t.screen().length;
    t.type("\x1b[A"); // up-arrow: the last line comes back, ready to run again
    await t.waitFor(/snapbot> \/snapshot servers/, mark);
    t.type("\r");
    await t.waitFor(/big\s+archive\s+tar /, mark);
    t.type("/snapshot create big s1\r");
    await t.waitFor(/archiving…/);
    t.type("/snapshot li"); // typed while the create runs, not yet entered
    mark = t.screen().length;
    // A progress line printed after it, then the prompt and the half-typed line drawn again below it.
    await t.waitFor(/archiving…[^\n]*\r?\n[^]*snapbot> \/snapshot li/, mark);
    t.type("st big\r");
    await t.waitFor(/• big: snapshots|s1\s+(running|done)/, mark);
    await t.waitFor(/✔ big\/s1 done: /);
    t.type("\x04"); // Ctrl-D: end of input
    expect(await t.exit).toBe(0);
  });

  it("Ctrl-C waits for the running create, which ends done", async () => {
    const cwd = bigServer(1);
    const t = startAtTerminal(cwd);
    await t.waitFor(/snapbot> /);
    t.type("/snapshot create big s1\r");
    await t.waitFor(/create big\/s1 .*: started/);
    t.type("\x03"); // Ctrl-C, as readline sees it in raw mode
    await t.waitFor(/• stopping: waiting up to 25s/);
    expect(await t.exit).toBe(0);
    expect(t.screen()).toMatch(/✔ big\/s1 done: /);
    expect(await snapshotStates(cwd)).toEqual([{ state: "done" }]);
  });

  it("a second Ctrl-C cancels it and leaves no partial folder", async () => {
    const cwd = bigServer(8);
    const t = startAtTerminal(cwd);
    await t.waitFor(/snapbot> /);
    t.type("/snapshot create big s1\r");
    await t.waitFor(/create big\/s1 .*: started/);
    t.type("\x03");
    await t.waitFor(/• stopping: waiting/);
    t.type("\x03"); // readline has let go of the terminal: this one is the terminal's SIGINT, to snapbot's group only
    expect(await t.exit).toBe(130);
    expect(t.screen()).toMatch(/cancelled: snapbot was stopped while it ran/);
    expect(existsSync(join(cwd, "snaps/big/s1"))).toBe(false);
    expect(await snapshotStates(cwd)).toEqual([{ state: "failed" }]);
  });
});
