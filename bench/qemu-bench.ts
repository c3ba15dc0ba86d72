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
import { withQmp } from "../src/drivers/qemu/qmp-client.ts";
import { socketLink } from "../src/drivers/qemu/qmp-link.ts";
import { makeDataImage, missingQemuTools, snapshotCount, startBenchVm } from "./qemu-bench-env.ts";

// `/snapshot create <vm>` through the whole bot (command parsing, ledger, job runner, limit check, the qemu
// driver's create and check) against the backend's own command sent by hand, on the same image in the same
// run: `qemu-img snapshot -c` on a stopped VM's 1 GiB qcow2, and the QMP `snapshot-save` job (with the
// arguments the qmp backend sends) on a running QEMU. Runs alternate, and which side goes first rotates,
// so the image's growing snapshot table and any drift hit every side alike.

type App = Awaited<ReturnType<typeof createApp>>;
type Result = Record<string, number | string>;

interface Side {
  direct: (tag: string) => Promise<void>;
  label: string; // what the direct side is, for the figures
}

export async function benchQemuImage(o: { dir: string; runs?: number }): Promise<Result> {
  const missing = missingQemuTools();
  if (missing.length) return { skipped: `${missing.join(", ")} not installed (apt-get install -y qemu-utils qemu-system-x86)` };
  const dir = fresh(join(o.dir, "qemu-image-bench"));
  const image = makeDataImage(dir, "vm.qcow2");
  const app = await botFor(dir, "image", image);
  try {
    const direct = async (tag: string) => void (await execa("qemu-img", ["snapshot", "-c", tag, image], { stdin: "ignore" }));
    return { ...(await measure(app, { direct, label: "qemu-img snapshot -c" }, o.runs ?? Number(process.env.BENCH_QEMU_RUNS ?? 20))), "snapshots in the image at the end": snapshotCount(image) };
  } finally {
    await app.close();
  }
}

export async function benchQemuQmp(o: { dir: string; runs?: number }): Promise<Result> {
  const missing = missingQemuTools();
  if (missing.length) return { skipped: `${missing.join(", ")} not installed (apt-get install -y qemu-utils qemu-system-x86)` };
  const dir = fresh(join(o.dir, "qemu-qmp-bench"));
  const image = makeDataImage(dir, "vm.qcow2");
  const vm = await startBenchVm(dir, image);
  try {
    const app = await botFor(dir, "qmp", vm.socket);
    try {
      // The job exactly as the qmp backend sends it: VM state into the first qcow2 node, every node covered.
      const nodes = ["disk0"];
      const direct = (tag: string) =>
        withQmp(socketLink(vm.socket), `QMP ${vm.socket}`, AbortSignal.timeout(120_000), (s) =>
          s.job("snapshot-save", { tag, vmstate: nodes[0], devices: nodes }),
        );
      return { ...(await measure(app, { direct, label: "QMP snapshot-save" }, o.runs ?? Number(process.env.BENCH_QEMU_RUNS ?? 20))), "snapshots in the image at the end": snapshotCount(image) };
    } finally {
      await app.close();
    }
  } finally {
    await vm.stop();
  }
}

async function measure(app: App, side: Side, runs: number): Promise<Result> {
  const byHand = () => timed(() => side.direct(`hand-${++seq}`));
  await snapbotCreate(app); // warm-up: first-use costs (driver made, statements prepared, page cache)
  await byHand();
  const sides = { bot: [] as number[], direct: [] as number[], driver: [] as number[], listing: [] as number[], engine: [] as number[] };
  const inside = await timeDriverCreate(app);
  const order = [
    () => byHand().then((ms) => sides.direct.push(ms)),
    () => snapbotCreate(app).then((ms) => {
      sides.bot.push(ms);
      sides.engine.push(ms - inside.last());
    }),
    () => driverCreate(app).then((ms) => sides.driver.push(ms)),
    () => listing(app).then((ms) => sides.listing.push(ms)),
  ];
  for (let i = 0; i < runs; i++) for (let k = 0; k < order.length; k++) await order[(i + k) % order.length]!(); // rotate who goes first
  const [b, d, v] = [median(sides.bot), median(sides.direct), median(sides.driver)];
  return {
    runs,
    [`${side.label} median ms`]: round(d),
    "snapbot create median ms": round(b),
    // Each round runs both sides back to back: the median of the rounds' ratios cancels the drift of the disk's
    // fsync times between rounds (one side's median can land 5 ms off the other's on the same code).
    [`ratio snapbot/${side.label}, median of per-round ratios (target <= 1.10)`]: round(median(sides.bot.map((x, i) => x / sides.direct[i]!)), 3),
    [`ratio of the medians snapbot/${side.label}`]: round(b / d, 3),
    "snapbot overhead median ms": round(b - d),
    "of it: driver create+check median ms": round(v - d),
    "of it: engine (ledger, limit check) ms, median of bot create minus its own driver.create": round(median(sides.engine), 2),
    "listing the backend, paid only at 80%+ of the limit (qemu-img info) ms": round(median(sides.listing)),
    [`${side.label} min/max ms`]: `${round(Math.min(...sides.direct))}/${round(Math.max(...sides.direct))}`,
    "snapbot create min/max ms": `${round(Math.min(...sides.bot))}/${round(Math.max(...sides.bot))}`,
  };
}

/** The bot as deployed: a snapbot.yml with one qemu server, loaded the way main.ts loads it. */
async function botFor(dir: string, mode: "image" | "qmp", path: string): Promise<App> {
  const file = join(dir, "snapbot.yml");
  writeFileSync(file, ["servers:", "  vm:", "    driver: qemu", `    ${mode}: ${JSON.stringify(path)}`, "    limit: 1000", ""].join("\n"));
  const config = loadConfig({ SNAPBOT_CONFIG: file, SNAPBOT_DB: join(dir, "ledger.db"), LOG_LEVEL: "silent" }, dir);
  const log = pino({ level: "silent" });
  return createApp(config, { log, clock: systemClock, runner: createLocalRunner(log), chat: silentChat });
}

let seq = 0;

async function snapbotCreate(app: App): Promise<number> {
  const t0 = performance.now();
  const reply = await runCommand(app, { user: "U0BENCH", channel: "C0BENCH", text: `/snapshot create vm bot-${++seq}` });
  const final = reply.follow ? await reply.follow.done : reply;
  const ms = performance.now() - t0;
  if (final.tone !== "success") throw new Error(`snapbot create failed: ${final.title} ${final.lines?.join(" ") ?? ""}`);
  return ms;
}

/** Times the bot's own calls of driver.create (the registry's cached instance): the engine's share of one create, drift-free. */
async function timeDriverCreate(app: App): Promise<{ last(): number }> {
  const driver = app.drivers.get((await app.ledger.servers.get("vm"))!);
  const create = driver.create.bind(driver);
  let last = 0;
  driver.create = async (req, ctx) => {
    const t0 = performance.now();
    try {
      return await create(req, ctx);
    } finally {
      last = performance.now() - t0;
    }
  };
  return { last: () => last };
}

/** The driver alone, as the engine calls it (create, then check): where the overhead is, not a target. */
async function driverCreate(app: App): Promise<number> {
  const driver = app.drivers.get((await app.ledger.servers.get("vm"))!);
  const ctx = { signal: new AbortController().signal, log: app.log, progress: () => {} };
  const name = `drv-${++seq}`;
  const t0 = performance.now();
  const res = await driver.create({ server: "vm", name, createdAt: Date.now(), stateful: false }, ctx);
  await driver.check?.({ server: "vm", name, location: null, createdAt: Date.now() }, res);
  const ms = performance.now() - t0;
  // Not deleted: a snapshot-delete between the timed calls frees clusters the next save then reuses, which
  // made whichever side came next pay for it (up to 10% of a save) and drowned what is measured here.
  return ms;
}

/** The backend sync the engine does before a create near the limit (the limit needs the true count). */
async function listing(app: App): Promise<number> {
  const driver = app.drivers.get((await app.ledger.servers.get("vm"))!);
  const t0 = performance.now();
  await driver.listBackend?.({ signal: new AbortController().signal, log: app.log, progress: () => {} });
  return performance.now() - t0;
}

async function timed(fn: () => Promise<void>): Promise<number> {
  const t0 = performance.now();
  await fn();
  return performance.now() - t0;
}

function fresh(dir: string): string {
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  return dir;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

const round = (x: number, digits = 1) => Math.round(x * 10 ** digits) / 10 ** digits;
