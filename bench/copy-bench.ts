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
import { median, randomTree, round, timedSeconds as timed } from "./measure.ts";

// copy <snap> <target> to a folder target through the engine (every part streamed and hashed on the way, then
// read back and hashed again before done) against what a person would do by hand in the same run: `cp -r` of
// the snapshot folder, then `sha256sum` of the copied parts. Runs alternate; medians of RUNS; fsync off on both
// sides (cp does not sync either), so the figure is the pipeline's cost, not the disk's.

const RUNS = 3;
const MiB = 2 ** 20;

export async function benchCopies(opts: { sizeMiB: number; dir: string }): Promise<Record<string, number | string>> {
  const root = join(opts.dir, "copies");
  await rm(root, { recursive: true, force: true });
  const src = join(root, "src");
  await randomTree(src, opts.sizeMiB);
  const log = pino({ level: "silent" });
  const file = { storage: { path: join(root, "snaps"), targets: { offsite: { path: join(root, "offsite") } } }, engine: { fsync: false }, servers: { bench: { driver: "archive", paths: [src], part_size: "64MiB" } } };
  const config: Config = { ...fileSchemaFor(BUILTIN_DRIVERS).parse(file), source: "bench", demo: false, ledger: { backend: "sqlite", path: join(root, "ledger.db") }, logLevel: "silent", chat: { mode: "console", port: 0 }, metricsPort: null };
  const app = await createApp(config, { log, clock: systemClock, runner: createLocalRunner(log), chat: silentChat });
  try {
    const server = (await app.ledger.servers.get("bench"))!;
    const snap = await (await app.engine.create({ server, name: "s1", user: "bench" })).job.done;
    const folder = snap.location!;
    const byHand: number[] = [];
    const both: number[] = [];
    const engine: number[] = [];
    const manual = join(root, "manual");
    for (let i = 0; i < RUNS; i++) {
      byHand.push(await timed(() => execa("bash", ["-c", 'cp -r "$1" "$2" && sha256sum "$2"/.parts/* >/dev/null', "_", folder, manual])));
      await rm(manual, { recursive: true, force: true });
      // The same work as copy: the source hashed too (copy checks it against the manifest on the way).
      both.push(await timed(() => execa("bash", ["-c", 'sha256sum "$1"/.parts/* >/dev/null && cp -r "$1" "$2" && sha256sum "$2"/.parts/* >/dev/null', "_", folder, manual])));
      await rm(manual, { recursive: true, force: true });
      engine.push(await timed(async () => (await app.engine.copies.copy(server, snap, "offsite", { user: "bench" })).job.done));
      const row = (await app.ledger.copies.live(snap.id, "offsite"))!; // gone again for the next run
      await app.ledger.copies.transition((await app.ledger.copies.transition(row.id, "deleting")).id, "deleted");
      await rm(join(root, "offsite", "bench"), { recursive: true, force: true });
    }
    const [h, b, e] = [median(byHand), median(both), median(engine)];
    return {
      "snapshot MiB": round((snap.size ?? 0) / MiB),
      "cp -r + sha256sum s": round(h),
      "sha256sum + cp -r + sha256sum s": round(b),
      "copy (stream + read back) s": round(e),
      "ratio copy/(cp + sha256sum)": round(e / h),
      "ratio copy/(sha256sum + cp + sha256sum)": round(e / b),
      "copy MiB/s": round((snap.size ?? 0) / MiB / e),
      "peak RSS MiB (whole process, create included)": round(process.resourceUsage().maxRSS / 1024),
    };
  } finally {
    await app.close();
  }
}

