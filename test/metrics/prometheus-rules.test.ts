import { describe, expect, it } from "vitest";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { pino } from "pino";
import { parse as parseYaml } from "yaml";
import { tempDir } from "../helpers/temp-dir.ts";
import { createApp } from "../../src/app.ts";
import { fileSchema } from "../../src/config/schema.ts";
import type { Config } from "../../src/config/load-config.ts";
import { systemClock } from "../../src/clock.ts";
import { createLocalRunner } from "../../src/transport/local-runner.ts";
import { silentChat } from "../../src/chat/chat-port.ts";
import { runCommand } from "../../commands/index.ts";
import type { Reply } from "../../src/reply.ts";

// docs/prometheus-rules.yml must name only metrics a real bot exports: a renamed metric would otherwise
// leave an alert that can never fire, which is worse than none.

const RULES = resolve(import.meta.dirname, "../../docs/prometheus-rules.yml");
const dir = tempDir("snapbot-rules-");
const src = join(dir, "src");
mkdirSync(src);
writeFileSync(join(src, "a.txt"), "alpha\n");

const PROMQL_WORDS = new Set(["and", "or", "unless", "by", "without", "on", "ignoring", "group_left", "group_right", "bool", "offset"]);

/** Metric names in a PromQL expression: identifiers that are not functions, keywords, labels or durations. */
function metricNames(expr: string): string[] {
  const bare = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, " ") // label values
    .replace(/\{[^}]*\}/g, " ") // label matchers
    .replace(/\[[^\]]*\]/g, " ") // range durations
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, " "); // grouping label lists
  const names = [...bare.matchAll(/[A-Za-z_:][A-Za-z0-9_:]*/g)]
    .filter((m) => !/^\s*\(/.test(bare.slice(m.index + m[0].length))) // a function call, not a metric
    .map((m) => m[0]);
  return [...new Set(names.filter((n) => !PROMQL_WORDS.has(n)))];
}

const finalOf = (r: Reply) => {
  if (!r.follow) throw new Error(`expected long work, got: ${r.title}`);
  return r.follow.done;
};

/** The real bot with METRICS_PORT, after one good and one failed create (so every series exists); its /metrics sample names. */
async function scrapedNames(): Promise<Set<string>> {
  const parsed = fileSchema.parse({ storage: { path: join(dir, "snaps") }, servers: { s: { driver: "archive", paths: [src] }, bad: { driver: "archive", paths: [join(dir, "missing")] } } });
  const config: Config = { ...parsed, source: "test", demo: false, ledger: { backend: "sqlite", path: join(dir, "ledger.db") }, logLevel: "silent", chat: { mode: "console", port: 0 }, metricsPort: 0 };
  const log = pino({ level: "silent" });
  const app = await createApp(config, { log, clock: systemClock, runner: createLocalRunner(log), chat: silentChat });
  try {
    const run = (text: string) => runCommand(app, { user: "U1", channel: "C1", text });
    expect((await finalOf(await run("create s one"))).tone).toBe("success");
    expect((await finalOf(await run("create bad one"))).tone).toBe("error");
    const text = await (await fetch(`${app.metricsServer!.url}/metrics`)).text();
    return new Set(text.split("\n").filter((l) => l && !l.startsWith("#")).map((l) => /^[A-Za-z_:][A-Za-z0-9_:]*/.exec(l)![0]));
  } finally {
    await app.close();
  }
}

describe("docs/prometheus-rules.yml", () => {
  const doc = parseYaml(readFileSync(RULES, "utf8")) as { groups: Array<{ name: string; rules: Array<Record<string, unknown>> }> };
  const rules = doc.groups.flatMap((g) => g.rules);

  it("has the structure Prometheus loads: groups[].rules[] with alert, expr, for, labels.severity, annotations.summary", () => {
    expect(doc.groups.length).toBeGreaterThan(0);
    for (const g of doc.groups) {
      expect(g.name).toMatch(/\S/);
      expect(g.rules.length).toBeGreaterThan(0);
    }
    for (const r of rules) {
      expect(r.alert, JSON.stringify(r)).toMatch(/^[A-Za-z][A-Za-z0-9_]*$/);
      expect(typeof r.expr).toBe("string");
      if (r.for !== undefined) expect(r.for).toMatch(/^\d+[smhd]$/);
      expect((r.labels as Record<string, string>).severity).toMatch(/^(critical|warning|info)$/);
      expect((r.annotations as Record<string, string>).summary).toMatch(/\S/);
    }
    expect(new Set(rules.map((r) => r.alert)).size).toBe(rules.length);
    const names = rules.map((r) => r.alert);
    expect(names).toEqual(expect.arrayContaining(["SnapbotSnapshotStale", "SnapbotOperationsFailing", "SnapbotSchedulerStopped"]));
  });

  it("names only metrics a real /metrics scrape of the bot exposes", async () => {
    const exported = await scrapedNames();
    expect(exported).toContain("snapbot_scheduler_last_tick_age_seconds");
    for (const r of rules) {
      const used = metricNames(r.expr as string);
      expect(used.length, `${r.alert} names no metric`).toBeGreaterThan(0);
      for (const name of used) expect(exported.has(name), `${r.alert}: ${name} is not exported`).toBe(true);
    }
  });

  it("the metric-name reader sees through functions, matchers, ranges and grouping", () => {
    expect(metricNames('sum by (server, kind) (increase(snapbot_operation_failures_total{kind="create"}[1h])) > 0')).toEqual(["snapbot_operation_failures_total"]);
    expect(metricNames("absent(snapbot_snapshots) or up_typo > 2 * 86400")).toEqual(["snapbot_snapshots", "up_typo"]);
  });
});
