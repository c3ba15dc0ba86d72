import { createHash } from "node:crypto";
import { rm } from "node:fs/promises";
import { join } from "node:path";
import { execa } from "execa";
import { pino } from "pino";
import { createApp } from "../src/app.ts";
import { fileSchemaFor } from "../src/config/schema.ts";
import { BUILTIN_DRIVERS } from "../src/drivers/index.ts";
import type { Config } from "../src/config/load-config.ts";
import { systemClock } from "../src/clock.ts";
import { createLocalRunner } from "../src/transport/local-runner.ts";
import { silentChat } from "../src/chat/chat-port.ts";
import { slicesOf, type Sized } from "../src/engine/copies/target-slices.ts";
import { median, randomTree, round, timedSeconds as timed } from "./measure.ts";

// verify --target, two figures against baselines of the same run. Balance: on simulated targets of 300 copies
// (sizes log-uniform from 1 KiB to 10 GiB, as a target holding small configs and large disks does), the heaviest
// of 7 slices against 1/7 of the bytes, for snapbot's cut (hash order, equal bytes) and for a hash alone (restic's
// pack subsets, `hash mod m`). Speed: `verify --target` of a folder target through the engine against hashing the
// same part files by hand, with `sha256sum` and with `openssl dgst -sha256` (SHA-NI, as Node's own hash): one hash
// per byte, where verify hashes each byte twice (its part's SHA-256 and the whole stream's).

const MiB = 2 ** 20;
const COPIES = 8;
const RUNS = 3;

export async function benchSlices(opts: { sizeMiB: number; dir: string }): Promise<Record<string, number | string>> {
  return { ...balance(), ...(await speed(opts)) };
}

function balance(): Record<string, number> {
  const m = 7;
  const ours: number[] = [];
  const hashOnly: number[] = [];
  for (let seed = 1; seed <= 20; seed++) {
    const units = simulated(300, seed);
    const total = units.reduce((s, u) => s + u.size, 0);
    const of = slicesOf(units, m);
    ours.push(heaviest(units, (u) => of.get(u)!, m) / (total / m));
    hashOnly.push(heaviest(units, (u) => (parseInt(createHash("sha256").update(u.place).digest("hex").slice(0, 12), 16) % m) + 1, m) / (total / m));
  }
  return { "heaviest of 7 slices / (1/7), hash order + equal bytes (median of 20)": round(median(ours)), "same, hash mod 7 alone": round(median(hashOnly)) };
}

function heaviest(units: Sized[], slice: (u: Sized) => number, m: number): number {
  const bytes = new Array<number>(m).fill(0);
  for (const u of units) bytes[slice(u) - 1]! += u.size;
  return Math.max(...bytes);
}

function simulated(count: number, seed: number): Sized[] {
  let a = seed * 7919;
  const next = () => ((a = (a * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  return Array.from({ length: count }, (_, i) => ({ place: `srv-${i % 9}/snap-${seed}-${i}`, size: Math.round(1024 * Math.pow(10 * MiB, next())) }));
}

async function speed(opts: { sizeMiB: number; dir: string }): Promise<Record<string, number | string>> {
  const root = join(opts.dir, "slices");
  await rm(root, { recursive: true, force: true });
  const src = join(root, "src");
  await randomTree(src, Math.max(1, Math.floor(opts.sizeMiB / COPIES)));
  const log = pino({ level: "silent" });
  const offsite = join(root, "offsite");
  const file = { storage: { path: join(root, "snaps"), targets: { offsite: { path: offsite } } }, engine: { fsync: false }, servers: { bench: { driver: "archive", paths: [src], part_size: "64MiB" } } };
  const config: Config = { ...fileSchemaFor(BUILTIN_DRIVERS).parse(file), source: "bench", demo: false, ledger: { backend: "sqlite", path: join(root, "ledger.db") }, logLevel: "silent", chat: { mode: "console", port: 0 }, metricsPort: null };
  const app = await createApp(config, { log, clock: systemClock, runner: createLocalRunner(log), chat: silentChat });
  try {
    const server = (await app.ledger.servers.get("bench"))!;
    for (let i = 1; i <= COPIES; i++) {
      const snap = await (await app.engine.create({ server, name: `s${i}`, user: "bench" })).job.done;
      await (await app.engine.copies.copy(server, snap, "offsite", { user: "bench" })).job.done;
    }
    const stored = (await app.ledger.copies.onTarget("offsite")).reduce((s, c) => s + (c.size ?? 0), 0);
    const [coreutils, openssl, engine]: [number[], number[], number[]] = [[], [], []];
    const byHand = (tool: string) => timed(() => execa("bash", ["-c", `${tool} "$1"/bench/*/.parts/* >/dev/null`, "_", offsite]));
    for (let i = 0; i < RUNS; i++) {
      coreutils.push(await byHand("sha256sum"));
      openssl.push(await byHand("openssl dgst -sha256"));
      engine.push(await timed(async () => (await app.engine.copies.verifyTarget({ target: "offsite", slice: null }, { user: "bench" })).job.done));
    }
    const quarter = await (await app.engine.copies.verifyTarget({ target: "offsite", slice: { n: 1, m: 4 } }, { user: "bench" })).job.done;
    const [c, o, e] = [median(coreutils), median(openssl), median(engine)];
    return {
      "target MiB (8 copies)": round(stored / MiB),
      "sha256sum of every part s": round(c),
      "openssl dgst -sha256 of every part s": round(o),
      "verify --target s": round(e),
      "ratio verify --target / sha256sum": round(e / c),
      "ratio verify --target / openssl (two hashes a byte vs one)": round(e / o),
      "verify --target MiB/s": round(stored / MiB / e),
      "--slice 1/4 read / whole": round(quarter.bytes / stored),
    };
  } finally {
    await app.close();
  }
}

