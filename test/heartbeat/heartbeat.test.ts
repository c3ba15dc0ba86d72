import { afterAll, describe, expect, it } from "vitest";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { testApp } from "../helpers/test-app.ts";
import { tempDir } from "../helpers/temp-dir.ts";
import { captureLog } from "../helpers/slack-bot.ts";
import { fakeClock, systemClock } from "../../src/clock.ts";
import { createSqliteLedger } from "../../db/sqlite/sqlite-ledger.ts";
import { createHeartbeat } from "../../src/heartbeat/heartbeat.ts";
import { parseFile } from "../../src/config/load-config.ts";

const dir = tempDir("snapbot-heartbeat-");
const SECRET = "0f3c9a1e-secret-check-uuid";

/** A healthchecks-like endpoint on 127.0.0.1 that records each ping; `answer` decides the reply. */
async function pingServer(answer: (req: IncomingMessage, res: ServerResponse) => void = (_q, s) => s.end("OK")) {
  const pings: string[] = [];
  const waiters: Array<{ n: number; resolve: () => void }> = [];
  const server = createServer((req, res) => {
    pings.push(`${req.method} ${req.url}`);
    for (const w of waiters.filter((x) => pings.length >= x.n)) w.resolve();
    answer(req, res);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  afterAll(() => {
    server.closeAllConnections();
    server.close();
  });
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/ping/${SECRET}`;
  const reached = (n: number) => (pings.length >= n ? Promise.resolve() : new Promise<void>((resolve) => waiters.push({ n, resolve })));
  return { url, pings, reached };
}

describe("heartbeat: a dead man's switch pinged only while snapbot works", () => {
  it("pings while the scheduler ticks and the ledger writes; silent when either stops; again once both work", async () => {
    const hc = await pingServer();
    const clock = fakeClock(Date.UTC(2026, 4, 1, 12, 0, 0));
    const root = join(dir, "app");
    const { app } = await testApp(root, { heartbeat: { url: hc.url, every: "5M" }, servers: {} }, clock);
    await hc.reached(1); // started with the app: the first ping goes right away
    expect(hc.pings).toEqual([`GET /ping/${SECRET}`]);
    const beat = app.heartbeat!.beat;

    await app.scheduler.tick(clock.now());
    expect(await beat()).toBe("pinged");
    clock.advance(10 * 60_000); // ten minutes without a tick: the scheduler has stopped
    expect(await beat()).toBe("skipped");
    expect(hc.pings).toHaveLength(2);
    await app.scheduler.tick(clock.now());
    expect(await beat()).toBe("pinged");

    // Another writer (a second connection to the file) holds the ledger's write lock: its transaction is open
    // (BEGIN IMMEDIATE) until `release`.
    const other = createSqliteLedger(join(root, "ledger.db"), systemClock);
    let release!: () => void;
    let holding!: () => void;
    const held = new Promise<void>((r) => (holding = r));
    const writing = other.tx(async () => {
      holding();
      await new Promise<void>((r) => (release = r));
    });
    await held;
    expect(await beat()).toBe("skipped");
    expect(hc.pings).toHaveLength(3);
    release();
    await writing;
    await other.close();
    expect(await beat()).toBe("pinged");
    expect(hc.pings).toHaveLength(4);
    await app.close();
  });

  it("start() pings every interval on its own; stop() ends it; the URL's secret is never logged", async () => {
    const hc = await pingServer();
    const ledger = createSqliteLedger(join(dir, "interval.db"), systemClock);
    const log = captureLog("debug");
    const hb = createHeartbeat({ url: hc.url, everyMs: 20, lastTick: () => Date.now(), maxTickAgeMs: 60_000, health: ledger.health, clock: systemClock, log: log.log });
    hb.start();
    await hc.reached(3);
    hb.stop();
    await ledger.close();
    expect(await hb.beat()).toBe("skipped"); // a closed ledger cannot write
    const warn = log.entries().find((e) => e.msg === "heartbeat silent: snapbot is not healthy, so the dead man's switch is not pinged")!;
    expect(warn).toMatchObject({ host: new URL(hc.url).host, why: expect.stringMatching(/^the ledger cannot write/) });
    expect(log.text()).not.toContain(SECRET);
  });

  it("a refused, unreachable or hanging endpoint is a warning with the host only, never a crash", async () => {
    const refusing = await pingServer((_q, s) => ((s.statusCode = 500), s.end("no")));
    const hanging = await pingServer(() => undefined); // never answers
    const ledger = createSqliteLedger(join(dir, "fail.db"), systemClock);
    const log = captureLog("debug");
    const make = (url: string) => createHeartbeat({ url, everyMs: 60_000, lastTick: () => Date.now(), maxTickAgeMs: 60_000, health: ledger.health, clock: systemClock, log: log.log, timeoutMs: 200 });
    expect(await make(refusing.url).beat()).toBe("failed");
    expect(log.entries().at(-1)).toMatchObject({ level: 40, msg: "heartbeat ping was refused", status: 500, host: new URL(refusing.url).host });
    expect(await make(hanging.url).beat()).toBe("failed");
    expect(log.entries().at(-1)).toMatchObject({ level: 40, msg: "heartbeat ping failed" });
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, "127.0.0.1", r));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((r) => closed.close(r));
    expect(await make(`http://127.0.0.1:${port}/ping/${SECRET}`).beat()).toBe("failed");
    expect(log.entries().at(-1)).toMatchObject({ msg: "heartbeat ping failed", code: "ECONNREFUSED" });
    expect(log.text()).not.toContain(SECRET);
    await ledger.close();
  });

  it("config: heartbeat.url must be an http(s) URL and every a duration of at least a minute", () => {
    const parse = (hb: string) => () => parseFile("/etc/snapbot.yml", `heartbeat: ${hb}\n`);
    expect(parse(`{ url: "https://hc.example.com/ping/x", every: 5M }`)().heartbeat).toEqual({ url: "https://hc.example.com/ping/x", every: "5M" });
    expect(parse(`{ url: "https://hc.example.com/ping/x" }`)().heartbeat?.every).toBe("5M");
    expect(parse(`{ url: "hc.example.com" }`)).toThrow(/^\/etc\/snapbot.yml: heartbeat.url: an http\(s\) URL to ping/);
    expect(parse(`{ url: "https://hc.example.com/x", every: 30s }`)).toThrow(/heartbeat.every: a duration of at least a minute, like 5M or 1H/);
    expect(parse(`{ url: "https://hc.example.com/x", every: 1m }`)).toThrow(/heartbeat.every: a duration of at least a minute/); // months
    expect(parse(`{ url: "https://hc.example.com/x", evry: 5M }`)).toThrow(/heartbeat: unknown key evry/);
  });
});
