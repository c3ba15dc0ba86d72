import { spawn, type ChildProcess } from "node:child_process";
import { createHmac } from "node:crypto";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { createServer, request, Agent, type Server } from "node:http";
import { createRequire } from "node:module";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { pino } from "pino";
import { App, LogLevel } from "@slack/bolt";
import { fileSchema } from "../src/config/schema.ts";
import { systemClock } from "../src/clock.ts";
import { createLocalRunner } from "../src/transport/local-runner.ts";
import { startSlack } from "../src/chat/slack/start-slack.ts";

// Ack latency of `/snapshot list demo` over HTTP: the bot against a bare Bolt app whose handler only
// acks, same load, same run. Each server runs in its own child process (as deployed); the load and the
// response_url sink run here, so neither server pays for them. Ack latency is the HTTP response time.

const SECRET = "bench-signing-secret";
const SELF = fileURLToPath(import.meta.url);
const TSX = pathToFileURL(createRequire(import.meta.url).resolve("tsx")).href;

export interface SlackBenchOptions {
  dir: string;
  requests?: number;
  concurrency?: number;
  rounds?: number;
}

export async function benchSlack(o: SlackBenchOptions): Promise<Record<string, number | string>> {
  const requests = o.requests ?? 2000;
  const concurrency = o.concurrency ?? 50;
  const rounds = o.rounds ?? 3;
  const sink = await startSink();
  const dir = join(o.dir, "slack-bench");
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const bot = await serve("bot", { dir, apiUrl: `${sink.url}/api/` });
  const bare = await serve("bare", { dir, apiUrl: `${sink.url}/api/` });
  const agent = new Agent({ keepAlive: true, maxSockets: concurrency }); // Slack keeps connections open too
  try {
    let expected = 0;
    // A bot run ends when its last answer reached response_url: the next run (either side) starts on a
    // quiet machine, and the time the work behind the acks took to catch up is reported.
    const botRun = async (n: number) => {
      const r = await runLoad(agent, bot.port, n, concurrency, `${sink.url}/respond`);
      const t = performance.now();
      expected += n;
      await sink.waitFor(expected, 60_000);
      return { ...r, catchUpMs: performance.now() - t };
    };
    const bareRun = (n: number) => runLoad(agent, bare.port, n, concurrency, "http://127.0.0.1:9/unused");
    await botRun(requests); // warm-up, one round each: JIT, connections, SQLite pages, heap sizes
    await bareRun(requests);
    const b: Run[] = [];
    const a: Run[] = [];
    for (let i = 0; i < rounds; i++) {
      // Alternate which side goes first, so drift in the machine hits both alike.
      if (i % 2 === 0) (b.push(await botRun(requests)), a.push(await bareRun(requests)));
      else (a.push(await bareRun(requests)), b.push(await botRun(requests)));
    }
    return report(b, a, { requests, concurrency, rounds, answered: (await sink.waitFor(expected, 0)) === expected });
  } finally {
    agent.destroy();
    bot.child.kill("SIGTERM");
    bare.child.kill("SIGTERM");
    await Promise.all([bot.exited, bare.exited]);
    sink.server.close();
  }
}

interface Run {
  ms: number[];
  failed: number;
  seconds: number;
  catchUpMs?: number;
}

/** Medians over rounds (each round's p50/p99 from its own requests), the per-round p99s beside them. */
function report(b: Run[], a: Run[], o: { requests: number; concurrency: number; rounds: number; answered: boolean }) {
  const med = (runs: Run[], f: (r: Run) => number) => median(runs.map(f));
  const [bp99, ap99] = [med(b, (r) => pct(r.ms, 99)), med(a, (r) => pct(r.ms, 99))];
  const list = (runs: Run[]) => runs.map((r) => round(pct(r.ms, 99))).join(", ");
  return {
    requests: `${o.requests} a round, ${o.concurrency} concurrent, ${o.rounds} rounds`,
    "bot ack p50 ms": round(med(b, (r) => pct(r.ms, 50))),
    "bot ack p99 ms": round(bp99),
    "bot ack p99 ms, each round": list(b),
    "bot ack max ms": round(Math.max(...b.flatMap((r) => r.ms))),
    "bot acks/s": Math.round(med(b, (r) => r.ms.length / r.seconds)),
    "bot answers done after the last ack, ms": Math.round(med(b, (r) => r.catchUpMs ?? 0)),
    "bare Bolt ack p50 ms": round(med(a, (r) => pct(r.ms, 50))),
    "bare Bolt ack p99 ms": round(ap99),
    "bare Bolt ack p99 ms, each round": list(a),
    "bare Bolt ack max ms": round(Math.max(...a.flatMap((r) => r.ms))),
    "bare Bolt acks/s": Math.round(med(a, (r) => r.ms.length / r.seconds)),
    "ratio bot/bare p99": round(bp99 / ap99),
    "non-200 answers": [...b, ...a].reduce((n, r) => n + r.failed, 0),
    "every list answered through response_url": o.answered ? "yes" : "NO",
    "target p99 < 25 ms": bp99 < 25 ? "met" : "missed",
    "target p99 < 1.5x bare": bp99 < 1.5 * ap99 ? "met" : "missed",
  };
}

/** Signed slash commands, `concurrency` in flight at a time over keep-alive connections. */
async function runLoad(agent: Agent, port: number, n: number, concurrency: number, responseUrl: string): Promise<Run> {
  const ts = String(Math.floor(Date.now() / 1000));
  const bodies = Array.from({ length: n }, (_, i) =>
    new URLSearchParams({ token: "t", team_id: "T0BENCH", channel_id: "C0BENCH", user_id: "U0BENCH", command: "/snapshot", text: "list demo", response_url: `${responseUrl}/${i}`, trigger_id: `${port}.${Date.now()}.${i}` }).toString(),
  );
  const signed = bodies.map((b) => ({ b, sig: `v0=${createHmac("sha256", SECRET).update(`v0:${ts}:${b}`).digest("hex")}` }));
  const ms: number[] = [];
  let failed = 0;
  let next = 0;
  const t0 = performance.now();
  const worker = async () => {
    while (next < n) {
      const { b, sig } = signed[next++]!;
      const start = performance.now();
      const status = await post(agent, port, b, { "x-slack-signature": sig, "x-slack-request-timestamp": ts });
      ms.push(performance.now() - start);
      if (status !== 200) failed++;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return { ms, failed, seconds: (performance.now() - t0) / 1000 };
}

function post(agent: Agent, port: number, body: string, headers: Record<string, string>): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port, path: "/slack/events", method: "POST", agent, headers: { "content-type": "application/x-www-form-urlencoded", "content-length": Buffer.byteLength(body), ...headers } }, (res) => {
      res.resume();
      res.on("end", () => resolve(res.statusCode ?? 0));
    });
    req.on("error", reject);
    req.end(body);
  });
}

/** The Web API (auth.test and the rest answer ok) and the response_url target: both just say ok. */
async function startSink(): Promise<{ server: Server; url: string; waitFor(n: number, ms: number): Promise<number> }> {
  let responses = 0;
  const server = createServer((req, res) => {
    if (req.url?.startsWith("/respond/")) responses++;
    req.resume();
    req.on("end", () => {
      res.writeHead(200, { "content-type": "application/json" });
      res.end('{"ok":true,"user_id":"U0BOT","bot_id":"B0BOT","ts":"1.1","channel":"C0BENCH"}');
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  const waitFor = async (n: number, ms: number) => {
    const end = Date.now() + ms;
    while (responses < n && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
    return responses;
  };
  return { server, url, waitFor };
}

interface Served {
  child: ChildProcess;
  port: number;
  exited: Promise<unknown>;
}

function serve(kind: "bot" | "bare", args: { dir: string; apiUrl: string }): Promise<Served> {
  const prof = process.env.BENCH_CPU_PROF ? [`--cpu-prof`, `--cpu-prof-dir=${process.env.BENCH_CPU_PROF}`] : []; // where a server spends its time
  const child = spawn(process.execPath, [...prof, ...(SELF.endsWith(".ts") ? ["--import", TSX] : []), SELF, "--serve", kind, JSON.stringify(args)], { stdio: ["ignore", "pipe", "inherit"] });
  const exited = new Promise((r) => child.on("exit", r));
  return new Promise((resolve, reject) => {
    let out = "";
    child.stdout!.on("data", (d) => {
      out += String(d);
      const m = /^port (\d+)$/m.exec(out);
      if (m) resolve({ child, port: Number(m[1]), exited });
    });
    child.on("exit", (code) => reject(new Error(`bench ${kind} server exited (${code}) before listening: ${out}`)));
  });
}

/** In the child: the bot as `npm start` runs it in HTTP mode (over a ledger with 30 snapshots), or a bare Bolt app. */
async function serveChild(kind: string, args: { dir: string; apiUrl: string }): Promise<void> {
  const log = pino({ level: "warn" }, process.stderr);
  let stop: () => Promise<unknown>;
  let port: number;
  if (kind === "bot") {
    mkdirSync(join(args.dir, "demo"), { recursive: true });
    writeFileSync(join(args.dir, "demo/file.txt"), "bench\n");
    const file = fileSchema.parse({ roles: { operators: ["*"] }, storage: { path: join(args.dir, "snapshots") }, servers: { demo: { driver: "archive", paths: [join(args.dir, "demo")] } } });
    const config = { ...file, source: "bench", demo: false, ledger: { backend: "sqlite" as const, path: join(args.dir, "bench.db") }, logLevel: "warn", chat: { mode: "http" as const, botToken: "xoxb-bench", signingSecret: SECRET, apiUrl: args.apiUrl, port: 0 }, metricsPort: null };
    const bot = await startSlack({ config, log, clock: systemClock, runner: createLocalRunner(log), host: "127.0.0.1" });
    const server = (await bot.app.ledger.servers.get("demo"))!;
    for (let i = 0; i < 30; i++) await bot.app.ledger.snapshots.insert({ server_id: server.id, name: `s${i}`, created_by: "U0BENCH", state: "done", origin: "external" });
    [port, stop] = [bot.port!, bot.stop];
  } else {
    const app = new App({ token: "xoxb-bench", botId: "B0BOT", botUserId: "U0BOT", signingSecret: SECRET, logLevel: LogLevel.ERROR });
    app.command("/snapshot", async ({ ack }) => ack());
    const server = (await app.start({ port: 0, host: "127.0.0.1" } as never)) as Server;
    [port, stop] = [(server.address() as { port: number }).port, () => app.stop()];
  }
  process.stdout.write(`port ${port}\n`);
  process.once("SIGTERM", () => void stop().then(() => process.exit(0)));
}

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]!;
};
const round = (x: number) => Math.round(x * 100) / 100;
const median = (xs: number[]) => [...xs].sort((p, q) => p - q)[Math.floor(xs.length / 2)]!;

if (process.argv[2] === "--serve") await serveChild(process.argv[3]!, JSON.parse(process.argv[4]!));
