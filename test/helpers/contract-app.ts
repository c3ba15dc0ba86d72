import { join } from "node:path";
import { pino } from "pino";
import { fileSchema } from "../../src/config/schema.ts";
import type { Config } from "../../src/config/load-config.ts";
import type { DriverModule, SnapshotDriver } from "../../src/drivers/driver.ts";
import type { ServerRow } from "../../db/types.ts";
import { createApp } from "../../src/app.ts";
import { systemClock, type Clock } from "../../src/clock.ts";
import { createLocalRunner } from "../../src/transport/local-runner.ts";
import { runCommand } from "../../commands/index.ts";
import { silentChat, type ChatPort } from "../../src/chat/chat-port.ts";
import { plainReply } from "./plain-reply.ts";

// SHIM until the driver platform (branch h1: createApp(config, { drivers }), testApp(..., { drivers })) lands:
// testApp with extra DriverModules. Their servers are validated by the module's own schema and kept out of
// fileSchema; the app's registry answers for their kind. Goes away when testApp takes `drivers`.

type Servers = Record<string, Record<string, unknown>>;

export async function contractApp(dir: string, file: { servers?: Servers } & Record<string, unknown>, clock: Clock = systemClock, chat: ChatPort = silentChat, opts: { drivers?: DriverModule[] } = {}) {
  const extra = new Map((opts.drivers ?? []).map((m) => [m.kind, m]));
  const servers = Object.entries(file.servers ?? {});
  const mine = (s: Record<string, unknown>) => extra.has(String(s.driver));
  const parsed = fileSchema.parse({ ...file, servers: Object.fromEntries(servers.filter(([, s]) => !mine(s))) });
  for (const [name, s] of servers.filter(([, s]) => mine(s))) (parsed.servers as Servers)[name] = extra.get(String(s.driver))!.settings.parse(s);
  const config: Config = {
    ...parsed,
    storage: { path: parsed.storage.path.startsWith("/") ? parsed.storage.path : join(dir, parsed.storage.path) },
    source: "test",
    demo: false,
    dbPath: join(dir, "ledger.db"),
    logLevel: "silent",
    chat: { mode: "console", port: 0 },
    metricsPort: null,
  };
  const log = pino({ level: "silent" });
  const runner = createLocalRunner(log);
  const app = await createApp(config, { log, clock, runner, chat });
  addModules(app.drivers, extra, { runner, storageDir: config.storage.path, fsync: config.engine.fsync, log });
  const run = async (text: string, user = "U1") => plainReply(await runCommand(app, { user, channel: "C1", text }));
  return { app, run };
}

function addModules(registry: { get(s: ServerRow): SnapshotDriver; available(kind: string): boolean }, extra: Map<string, DriverModule>, deps: Parameters<DriverModule["create"]>[1]) {
  const made = new Map<string, SnapshotDriver>();
  const { get, available } = registry;
  registry.get = (s) => {
    const m = extra.get(s.driver);
    if (!m) return get.call(registry, s);
    let d = made.get(s.name);
    if (!d) made.set(s.name, (d = m.create({ name: s.name, settings: m.settings.parse({ driver: s.driver, ...s.settings }) }, { ...deps, log: deps.log.child({ server: s.name }) })));
    return d;
  };
  registry.available = (kind) => extra.has(kind) || available.call(registry, kind);
}
