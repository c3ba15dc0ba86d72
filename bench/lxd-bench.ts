import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { execa } from "execa";
import { pino } from "pino";
import { loadConfig } from "../src/config/load-config.ts";
import { createApp } from "../src/app.ts";
import { systemClock } from "../src/clock.ts";
import { silentChat } from "../src/chat/chat-port.ts";
import { createLocalRunner } from "../src/transport/local-runner.ts";
import { runCommand } from "../commands/index.ts";
import { lxdAvailable, startLxdEnv } from "../test/helpers/lxd-env.ts";

// `/snapshot create web-1` through the whole bot (command parsing, ledger, job runner, backend sync,
// limit check, the driver's lxc calls, the post-create check) against `lxc snapshot web-1` typed by hand,
// on the same running instance of a real LXD daemon in the same run. Runs alternate, and which side goes
// first alternates too, so the instance's growing snapshot list and any drift hit both sides alike.

export interface LxdBenchOptions {
  dir: string;
  runs?: number;
}

export async function benchLxd(opts: LxdBenchOptions): Promise<Record<string, number | string>> {
  if (!lxdAvailable()) return { skipped: "lxd is not installed (apt-get install -y lxd busybox-static)" };
  const runs = opts.runs ?? 20;
  const dir = join(opts.dir, "lxd-bench");
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const env = await startLxdEnv();
  try {
    await execa("lxc", ["launch", "busybox", "web-1"], { env: env.env, stdin: "ignore" }); // lxc reads config YAML from a piped stdin
    const app = await botFor(dir, env.env);
    try {
      const bySnapbot = () => snapbotCreate(app);
      const byHand = () => lxcSnapshot(env.env);
      const byDriver = () => driverCreate(app);
      await bySnapbot(); // warm-up: first-use costs (driver made, statements prepared, page cache)
      await byHand();
      const sides = { bot: [] as number[], direct: [] as number[], driver: [] as number[], listing: [] as number[] };
      const order = [
        () => byHand().then((ms) => sides.direct.push(ms)),
        () => bySnapbot().then((ms) => sides.bot.push(ms)),
        () => byDriver().then((ms) => sides.driver.push(ms)),
        () => listing(app).then((ms) => sides.listing.push(ms)),
      ];
      for (let i = 0; i < runs; i++) for (let k = 0; k < order.length; k++) await order[(i + k) % order.length]!(); // rotate who goes first
      const [b, d, v] = [median(sides.bot), median(sides.direct), median(sides.driver)];
      return {
        runs,
        "lxc snapshot median ms": round(d),
        "snapbot create median ms": round(b),
        "ratio snapbot/lxc (target <= 1.10)": round(b / d, 3),
        "snapbot overhead median ms": round(b - d),
        "of it: driver create+check median ms": round(v - d),
        "of it: engine (ledger, limit check) ms": round(b - v),
        "listing the backend, paid only at 80%+ of the limit (lxc query) ms": round(median(sides.listing)),
        "snapshots on the instance at the end": 2 * (runs + 1),
        "lxc snapshot min/max ms": `${round(Math.min(...sides.direct))}/${round(Math.max(...sides.direct))}`,
        "snapbot create min/max ms": `${round(Math.min(...sides.bot))}/${round(Math.max(...sides.bot))}`,
      };
    } finally {
      await app.close();
    }
  } finally {
    env.stop();
  }
}

/** The bot as deployed: a snapbot.yml with one lxd server, loaded the way main.ts loads it. */
async function botFor(dir: string, lxdEnv: Record<string, string>) {
  const file = join(dir, "snapbot.yml");
  writeFileSync(
    file,
    [
      "servers:",
      "  web-1:",
      "    driver: lxd",
      `    lxd_dir: ${JSON.stringify(lxdEnv.LXD_DIR)}`,
      `    lxd_conf: ${JSON.stringify(lxdEnv.LXD_CONF)}`,
      "    limit: 1000",
      "",
    ].join("\n"),
  );
  const config = loadConfig({ SNAPBOT_CONFIG: file, SNAPBOT_DB: join(dir, "ledger.db"), LOG_LEVEL: "silent" }, dir);
  const log = pino({ level: "silent" });
  return createApp(config, { log, clock: systemClock, runner: createLocalRunner(log), chat: silentChat });
}

let seq = 0;

async function snapbotCreate(app: Awaited<ReturnType<typeof botFor>>): Promise<number> {
  const t0 = performance.now();
  const reply = await runCommand(app, { user: "U0BENCH", channel: "C0BENCH", text: `/snapshot create web-1 bot-${++seq}` });
  const final = reply.follow ? await reply.follow.done : reply;
  const ms = performance.now() - t0;
  if (final.tone !== "success") throw new Error(`snapbot create failed: ${final.title} ${final.lines?.join(" ") ?? ""}`);
  return ms;
}

/** The driver alone, as the engine calls it (create, then check): where the overhead is, not a target. */
async function driverCreate(app: Awaited<ReturnType<typeof botFor>>): Promise<number> {
  const driver = app.drivers.get((await app.ledger.servers.get("web-1"))!);
  const ctx = { signal: new AbortController().signal, log: app.log, progress: () => {} };
  const name = `drv-${++seq}`;
  const t0 = performance.now();
  const res = await driver.create({ server: "web-1", name, createdAt: Date.now(), stateful: false }, ctx);
  await driver.check?.({ server: "web-1", name, location: null, createdAt: Date.now() }, res);
  const ms = performance.now() - t0;
  await driver.delete({ server: "web-1", name, location: null, createdAt: 0 }, ctx); // untimed: the list stays as long as a two-sided run's
  return ms;
}

/** The backend sync the engine does before each create (the limit needs the true count). */
async function listing(app: Awaited<ReturnType<typeof botFor>>): Promise<number> {
  const driver = app.drivers.get((await app.ledger.servers.get("web-1"))!);
  const t0 = performance.now();
  await driver.listBackend?.({ signal: new AbortController().signal, log: app.log, progress: () => {} });
  return performance.now() - t0;
}

async function lxcSnapshot(lxdEnv: Record<string, string>): Promise<number> {
  const t0 = performance.now();
  await execa("lxc", ["snapshot", "web-1", `hand-${++seq}`], { env: lxdEnv, stdin: "ignore" });
  return performance.now() - t0;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

const round = (x: number, digits = 1) => Math.round(x * 10 ** digits) / 10 ** digits;
