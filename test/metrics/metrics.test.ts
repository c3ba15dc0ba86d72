import { afterAll, describe, expect, it } from "vitest";
import { mkdirSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { pino } from "pino";
import { testApp } from "../helpers/test-app.ts";
import { tempDir } from "../helpers/temp-dir.ts";
import { fakeClock } from "../../src/clock.ts";
import { createMetrics, DURATION_BUCKETS } from "../../src/metrics/metrics.ts";
import { healthOf, ledgerCheck, startMetricsServer, tickedWithin, type MetricsServer } from "../../src/metrics/metrics-server.ts";
import { createApp } from "../../src/app.ts";
import { fileSchema } from "../../src/config/schema.ts";
import { ConfigError, loadConfig, type Config } from "../../src/config/load-config.ts";
import { createLocalRunner } from "../../src/transport/local-runner.ts";
import { silentChat } from "../../src/chat/chat-port.ts";
import type { Reply } from "../../src/reply.ts";
import type { Ledger } from "../../db/ledger.ts";

const dir = tempDir("snapbot-metrics-");
const src = join(dir, "src");
mkdirSync(src);
writeFileSync(join(src, "a.txt"), "alpha\n");
writeFileSync(join(src, "b.txt"), "beta\n".repeat(1000));
const missing = join(dir, "no-such-folder");
const log = pino({ level: "silent" });
const servers = { s: { driver: "archive", paths: [src] }, bad: { driver: "archive", paths: [missing] } };
const HOUR = 3_600_000;

const finalOf = (r: Reply) => {
  if (!r.follow) throw new Error(`expected long work, got: ${r.title}`);
  return r.follow.done;
};

/** Prometheus text → samples keyed by name and sorted labels: `name{a="1",b="2"}`. */
function parse(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) throw new Error(`not a sample line: ${line}`);
    const labels = [...(m[2] ?? "").matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)].map((l) => `${l[1]}="${l[2]}"`).sort();
    out.set(`${m[1]}{${labels.join(",")}}`, Number(m[3]));
  }
  return out;
}
const key = (name: string, labels: Record<string, string> = {}) =>
  `${name}{${Object.entries(labels).map(([k, v]) => `${k}="${v}"`).sort().join(",")}}`;

const servers_: MetricsServer[] = [];
afterAll(async () => void (await Promise.all(servers_.map((s) => s.close()))));

async function serve(ledger: Ledger, clock = fakeClock(), extra: Parameters<typeof healthOf>[0] = {}) {
  const metrics = await createMetrics({ ledger, clock });
  const server = await startMetricsServer({ port: 0, host: "127.0.0.1", metrics, health: healthOf({ ledger: ledgerCheck(ledger), ...extra }), log });
  servers_.push(server);
  const scrape = async () => {
    const res = await fetch(`${server.url}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("text/plain; version=0.0.4; charset=utf-8");
    return parse(await res.text());
  };
  return { server, scrape, metrics };
}

describe("metrics over HTTP from a real ledger", () => {
  const clock = fakeClock(Date.UTC(2026, 2, 1, 12));
  const setup = (async () => {
    const t = await testApp(join(dir, "app"), { storage: { path: "snaps" }, servers }, clock);
    return { ...t, ...(await serve(t.app.ledger, clock)) };
  })();

  it("counts snapshots by server and state after real creates, and reports process metrics", async () => {
    const { run, scrape } = await setup;
    expect((await finalOf(await run("create s one"))).tone).toBe("success");
    expect((await finalOf(await run("create s two"))).tone).toBe("success");
    expect((await finalOf(await run("create bad x"))).tone).toBe("error");
    const m = await scrape();
    expect(m.get(key("snapbot_snapshots", { server: "s", state: "done" }))).toBe(2);
    expect(m.get(key("snapbot_snapshots", { server: "bad", state: "failed" }))).toBe(1);
    expect(m.get(key("snapbot_snapshots", { server: "bad", state: "done" }))).toBe(0); // done is always there
    expect(m.has(key("snapbot_snapshots", { server: "s", state: "failed" }))).toBe(false);
    expect(m.get(key("process_cpu_user_seconds_total"))).toBeGreaterThan(0);
  });

  it("counts each finished operation once across scrapes, from the ledger's own times", async () => {
    const { run, scrape } = await setup;
    const failed = key("snapbot_operation_failures_total", { kind: "create", server: "bad" });
    let m = await scrape();
    expect(m.get(failed)).toBe(1);
    expect(m.get(key("snapbot_operation_duration_seconds_count", { kind: "create", outcome: "succeeded" }))).toBe(2);
    expect(m.get(key("snapbot_operation_duration_seconds_count", { kind: "create", outcome: "failed" }))).toBe(1);
    m = await scrape(); // nothing new: nothing counted twice
    expect(m.get(failed)).toBe(1);
    expect(m.get(key("snapbot_operation_duration_seconds_count", { kind: "create", outcome: "succeeded" }))).toBe(2);
    expect((await finalOf(await run("create bad y"))).tone).toBe("error");
    m = await scrape();
    expect(m.get(failed)).toBe(2);
    expect((await scrape()).get(failed)).toBe(2);
  });

  it("gives the age of the newest done snapshot by the clock, and none for a server without one", async () => {
    const { scrape } = await setup;
    const age = key("snapbot_newest_good_snapshot_age_seconds", { server: "s" });
    expect((await scrape()).get(age)).toBe(0); // made at the fake clock's time
    clock.advance(2 * HOUR);
    const m = await scrape();
    expect(m.get(age)).toBe(7200);
    expect(m.has(key("snapbot_newest_good_snapshot_age_seconds", { server: "bad" }))).toBe(false);
    clock.advance(-2 * HOUR);
  });

  it("counts open alerts by kind, with 0 for kinds that have none", async () => {
    const { app, scrape } = await setup;
    const raise = (kind: "limit_near" | "hostkey_changed" | "hook_failed", k: string) =>
      app.ledger.alerts.raise({ kind, key: k, server_id: null, snapshot_id: null, message: k, channel: null });
    await raise("limit_near", "limit:a");
    await raise("limit_near", "limit:b");
    expect((await raise("limit_near", "limit:b")).fresh).toBe(false); // a repeat of an open alert is the same alert
    await raise("hostkey_changed", "hk:s");
    await raise("hook_failed", "hook_failed:s:"); // the ledger's CHECK takes the kind (migration 016)
    let m = await scrape();
    expect(m.get(key("snapbot_alerts_open", { kind: "hook_failed" }))).toBe(1);
    expect(m.get(key("snapbot_alerts_open", { kind: "limit_near" }))).toBe(2);
    expect(m.get(key("snapbot_alerts_open", { kind: "hostkey_changed" }))).toBe(1);
    expect(m.get(key("snapbot_alerts_open", { kind: "schedule_missed" }))).toBe(0);
    await app.ledger.alerts.resolve("limit:a");
    await app.ledger.alerts.resolve("hk:s");
    m = await scrape();
    expect(m.get(key("snapbot_alerts_open", { kind: "limit_near" }))).toBe(1);
    expect(m.get(key("snapbot_alerts_open", { kind: "hostkey_changed" }))).toBe(0);
  });

  it("drops the series of an unregistered server", async () => {
    const { app, scrape } = await setup;
    expect((await scrape()).has(key("snapbot_snapshots", { server: "bad", state: "failed" }))).toBe(true);
    // "bad" leaves the config (its row is kept, marked removed), then comes back.
    const configured = (await app.ledger.servers.list()).map(({ name, driver, settings, channel }) => ({ name, driver, settings, channel }));
    expect(configured.map((c) => c.name).sort()).toEqual(["bad", "s"]);
    await app.ledger.servers.syncFromConfig(configured.filter((c) => c.name !== "bad"));
    expect((await app.ledger.servers.find("bad"))!.removed_at).toBe(clock.now());
    const m = await scrape();
    expect(m.has(key("snapbot_snapshots", { server: "bad", state: "failed" }))).toBe(false);
    expect(m.get(key("snapbot_snapshots", { server: "s", state: "done" }))).toBe(2);
    await app.ledger.servers.syncFromConfig(configured);
    expect((await app.ledger.servers.get("bad"))!.removed_at).toBeNull();
  });

  it("answers /healthz, 404 for other paths and 405 for other methods", async () => {
    const { server } = await setup;
    const ok = await fetch(`${server.url}/healthz`);
    expect(ok.status).toBe(200);
    expect(await ok.json()).toEqual({ status: "ok", checks: { ledger: "ok" } });
    expect((await fetch(`${server.url}/healthz`, { method: "HEAD" })).status).toBe(200);
    const nf = await fetch(`${server.url}/nope`);
    expect(nf.status).toBe(404);
    expect(await nf.text()).toBe("not found: try /metrics or /healthz\n");
    expect((await fetch(`${server.url}/`)).status).toBe(404);
    const post = await fetch(`${server.url}/metrics`, { method: "POST", body: "x" });
    expect(post.status).toBe(405);
    expect(post.headers.get("allow")).toBe("GET, HEAD");
    expect((await fetch(`${server.url}/healthz`, { method: "DELETE" })).status).toBe(405);
  });
});

describe("the finished-operations cursor", () => {
  it("counts an operation that started before a scrape and finished after it exactly once, with its duration", async () => {
    const clock = fakeClock(Date.UTC(2026, 3, 1));
    const { app } = await testApp(join(dir, "cursor"), { storage: { path: "snaps" }, servers }, clock);
    const s = (await app.ledger.servers.get("s"))!;
    const { scrape } = await serve(app.ledger, clock);
    const op = await app.ledger.operations.insert({ kind: "verify", server_id: s.id, requested_by: "U1", state: "running" });
    const failed = key("snapbot_operation_failures_total", { kind: "verify", server: "s" });
    expect((await scrape()).has(failed)).toBe(false);
    clock.advance(90_000);
    await app.ledger.operations.transition(op.id, "failed", { error: "checksum mismatch" });
    let m = await scrape();
    expect(m.get(failed)).toBe(1);
    const bucket = (le: number) => m.get(key("snapbot_operation_duration_seconds_bucket", { kind: "verify", outcome: "failed", le: String(le) }));
    expect(bucket(60)).toBe(0);
    expect(bucket(120)).toBe(1);
    expect(m.get(key("snapbot_operation_duration_seconds_sum", { kind: "verify", outcome: "failed" }))).toBe(90);
    clock.advance(1000);
    m = await scrape();
    expect(m.get(failed)).toBe(1);
    await app.close();
  });

  it("counts a lower-numbered operation finishing in the same millisecond after a scrape", async () => {
    const clock = fakeClock(Date.UTC(2026, 3, 2));
    const { app } = await testApp(join(dir, "tie"), { storage: { path: "snaps" }, servers }, clock);
    const s = (await app.ledger.servers.get("s"))!;
    const { scrape } = await serve(app.ledger, clock);
    const early = await app.ledger.operations.insert({ kind: "verify", server_id: s.id, requested_by: "U1", state: "running" });
    const late = await app.ledger.operations.insert({ kind: "verify", server_id: s.id, requested_by: "U1", state: "running" });
    clock.advance(5000);
    await app.ledger.operations.transition(late.id, "failed", { error: "x" });
    const failed = key("snapbot_operation_failures_total", { kind: "verify", server: "s" });
    expect((await scrape()).get(failed)).toBe(1);
    await app.ledger.operations.transition(early.id, "failed", { error: "x" }); // same ms, lower id: a (finished_at, id) cursor would miss it
    expect((await scrape()).get(failed)).toBe(2);
    expect((await scrape()).get(failed)).toBe(2);
    await app.close();
  });

  it("does not replay operations that finished before start-up", async () => {
    const clock = fakeClock(Date.UTC(2026, 3, 3));
    const { app, run } = await testApp(join(dir, "history"), { storage: { path: "snaps" }, servers }, clock);
    expect((await finalOf(await run("create bad old"))).tone).toBe("error");
    clock.advance(HOUR);
    expect((await finalOf(await run("create bad older"))).tone).toBe("error");
    const { scrape } = await serve(app.ledger, clock); // a restart: the history is in the ledger
    const failed = key("snapbot_operation_failures_total", { kind: "create", server: "bad" });
    expect((await scrape()).has(failed)).toBe(false);
    clock.advance(1000);
    expect((await finalOf(await run("create bad new"))).tone).toBe("error");
    expect((await scrape()).get(failed)).toBe(1);
    await app.close();
  });
});

describe("health and scrape failures", () => {
  it("says 503 with the failing check, and 500 with one line for a scrape, when the ledger is closed", async () => {
    const clock = fakeClock(Date.UTC(2026, 3, 4));
    const { app } = await testApp(join(dir, "closed"), { storage: { path: "snaps" }, servers }, clock);
    const lines: string[] = [];
    const capture = pino({ level: "info" }, { write: (l: string) => void lines.push(l) });
    const metrics = await createMetrics({ ledger: app.ledger, clock });
    const server = await startMetricsServer({ port: 0, host: "127.0.0.1", metrics, health: healthOf({ ledger: ledgerCheck(app.ledger) }), log: capture });
    servers_.push(server);
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
    await app.close();
    const health = await fetch(`${server.url}/healthz`);
    expect(health.status).toBe(503);
    expect(await health.json()).toEqual({ status: "failing", checks: { ledger: "failing: The database connection is not open" } });
    const scrape = await fetch(`${server.url}/metrics`);
    expect(scrape.status).toBe(500);
    const body = await scrape.text();
    expect(body).toBe("metrics scrape failed: The database connection is not open\n");
    const errors = lines.map((l) => JSON.parse(l) as { level: number; msg: string; err?: string }).filter((l) => l.level >= 50);
    expect(errors).toEqual([expect.objectContaining({ msg: "metrics scrape failed", err: "The database connection is not open" })]);
  });

  it("takes extra checks as functions, such as a scheduler tick within N seconds", async () => {
    const clock = fakeClock(Date.UTC(2026, 3, 5));
    const { app } = await testApp(join(dir, "extra"), { storage: { path: "snaps" }, servers }, clock);
    let lastTick: number | null = null;
    const { server } = await serve(app.ledger, clock, { scheduler: tickedWithin("scheduler", () => lastTick, 120_000, clock) });
    const health = async () => {
      const r = await fetch(`${server.url}/healthz`);
      return { status: r.status, body: (await r.json()) as { status: string; checks: Record<string, string> } };
    };
    expect(await health()).toEqual({ status: 200, body: { status: "ok", checks: { ledger: "ok", scheduler: "ok" } } });
    clock.advance(121_000);
    expect(await health()).toEqual({
      status: 503,
      body: { status: "failing", checks: { ledger: "ok", scheduler: "failing: scheduler has not run since start-up 2m ago (limit 2m)" } },
    });
    lastTick = clock.now() - 30_000;
    expect(await health()).toEqual({ status: 200, body: { status: "ok", checks: { ledger: "ok", scheduler: "ok: scheduler ran 30s ago" } } });
    await app.close();
  });
});

describe("the stats queries", () => {
  // Their SQLite query plans (indexes, no table scan) are checked in test/db/stats-plans.test.ts.
  it("has histogram buckets from 0.1 s to 6 h", () => {
    expect(DURATION_BUCKETS[0]).toBe(0.1);
    expect(DURATION_BUCKETS.at(-1)).toBe(6 * 3600);
  });
});

describe("METRICS_PORT", () => {
  const fixture = resolve(import.meta.dirname, "../fixtures/config/minimal.yml");
  const load = (env: Record<string, string>) => loadConfig({ SNAPBOT_CONFIG: fixture, ...env });

  it("is off when unset or empty, and a port from 1 to 65535 otherwise", () => {
    expect(load({}).metricsPort).toBeNull();
    expect(load({ METRICS_PORT: "" }).metricsPort).toBeNull();
    expect(load({ METRICS_PORT: " " }).metricsPort).toBeNull();
    expect(load({ METRICS_PORT: "9464" }).metricsPort).toBe(9464);
    expect(load({ METRICS_PORT: "1" }).metricsPort).toBe(1);
    expect(load({ METRICS_PORT: "65535" }).metricsPort).toBe(65535);
  });

  it.each(["0", "65536", "-1", "abc", "9464.5", "1e3", "0x10", "9464 9465", "9\n464"])("rejects %j with one line naming METRICS_PORT", (value) => {
    let message = "";
    try {
      load({ METRICS_PORT: value });
    } catch (e) {
      expect(e).toBeInstanceOf(ConfigError);
      message = (e as Error).message;
    }
    expect(message).toBe(`METRICS_PORT: expected a port number from 1 to 65535 (or unset for no metrics), got ${JSON.stringify(value)}`);
    expect(message).not.toContain("\n");
  });

  it("refuses the Slack HTTP port", () => {
    expect(() => load({ SLACK_BOT_TOKEN: "xoxb-1", SLACK_SIGNING_SECRET: "s", PORT: "8080", METRICS_PORT: "8080" })).toThrow(
      /^METRICS_PORT: 8080 is also PORT, where Slack's HTTP requests arrive: choose another port for metrics$/,
    );
    expect(load({ SLACK_BOT_TOKEN: "xoxb-1", SLACK_APP_TOKEN: "xapp-1", PORT: "8080", METRICS_PORT: "8080" }).metricsPort).toBe(8080); // Socket Mode listens on nothing
  });
});

describe("the app with metricsPort", () => {
  it("serves /metrics and /healthz while it runs and stops serving when closed", async () => {
    const appDir = join(dir, "wired");
    const file = fileSchema.parse({ storage: { path: join(appDir, "snaps") }, servers });
    const config: Config = { ...file, source: "test", demo: false, ledger: { backend: "sqlite", path: join(appDir, "ledger.db") }, logLevel: "silent", chat: { mode: "console", port: 0 }, metricsPort: 0 };
    const app = await createApp(config, { log, clock: fakeClock(), runner: createLocalRunner(log), chat: silentChat });
    const server = app.metricsServer!;
    expect(server.port).toBeGreaterThan(0);
    const health = await fetch(`${server.url}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.json()).toMatchObject({ status: "ok", checks: { ledger: "ok" } });
    expect(parse(await (await fetch(`${server.url}/metrics`)).text()).get(key("snapbot_snapshots", { server: "s", state: "done" }))).toBe(0);
    await app.close();
    await server.close();
    await expect(fetch(`${server.url}/healthz`)).rejects.toThrow();
  });

  it("starts no server when metricsPort is null", async () => {
    const { app } = await testApp(join(dir, "off"), { storage: { path: "snaps" }, servers });
    expect(app.metricsServer).toBeNull();
    await app.close();
  });
});
