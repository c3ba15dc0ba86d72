import { describe, expect, it } from "vitest";
import { createServer } from "node:net";
import { startBot } from "../helpers/bot-process.ts";
import { tempDir } from "../helpers/temp-dir.ts";

// METRICS_PORT on the real bot process: what a Prometheus server and a process supervisor see.

async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
  const port = (srv.address() as { port: number }).port;
  await new Promise((r) => srv.close(r));
  return port;
}

async function get(url: string, tries = 50): Promise<Response> {
  for (let i = 0; ; i++) {
    try {
      return await fetch(url);
    } catch (e) {
      if (i >= tries) throw e;
      await new Promise((r) => setTimeout(r, 100)); // the bot is still starting
    }
  }
}

describe("the bot with METRICS_PORT", () => {
  it("serves /healthz and /metrics that follow what the bot does", async () => {
    const port = await freePort();
    const bot = startBot(tempDir("snapbot-metrics-proc-"), { METRICS_PORT: String(port) });
    try {
      const health = await get(`http://127.0.0.1:${port}/healthz`);
      expect(health.status).toBe(200);
      expect(await health.json()).toMatchObject({ status: "ok", checks: { ledger: "ok", scheduler: expect.stringMatching(/^ok/) } });
      bot.send("/snapshot create demo");
      await bot.waitFor(/✔ demo\/\S+ done/);
      const text = await (await get(`http://127.0.0.1:${port}/metrics`)).text();
      expect(text).toMatch(/^snapbot_snapshots\{server="demo",state="done"\} 1$/m);
      expect(text).toMatch(/^snapbot_newest_good_snapshot_age_seconds\{server="demo"\} \d/m);
      expect(text).toMatch(/^snapbot_operation_duration_seconds_count\{kind="create",outcome="succeeded"\} 1$/m);
      expect(text).toMatch(/^snapbot_alerts_open\{kind="snapshot_failed"\} 0$/m);
      expect(text).not.toMatch(/xox[bpa]-/); // nothing secret in a scrape
    } finally {
      bot.end();
      await bot.exit;
    }
  });
});
