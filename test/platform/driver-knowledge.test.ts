import { describe, expect, it } from "vitest";
import { execFileSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { BUILTIN_DRIVERS } from "../../src/drivers/index.ts";
import { driverKindsOf } from "../../src/config/schema.ts";
import { createDriverRegistry } from "../../src/drivers/registry.ts";
import { createLocalRunner } from "../../src/transport/local-runner.ts";
import type { ServerRow } from "../../db/types.ts";
import { pino } from "pino";
import { ConfigError, loadConfig } from "../../src/config/load-config.ts";
import { fakeBackend, fakeDriverModule } from "../helpers/fake-driver.ts";
import { testApp } from "../helpers/test-app.ts";
import { tempDir } from "../helpers/temp-dir.ts";

// The driver platform (DESIGN.md §1a): commands and the engine ask drivers (features, methods, describeRestore)
// and never test a driver's name or read its settings, so a new driver is a folder and one line in BUILTIN_DRIVERS.

const REPO = resolve(import.meta.dirname, "../..");
const PATTERN = String.raw`"(lxd|archive|qemu|consul)"|driver *[!=]==? *"|settings\.(mode|paths|device|instance|snapshot_server)`;

/** grep's hits in commands/ and src/engine/, minus comment lines (// …, * …). */
function driverKnowledge(): string[] {
  let out = "";
  try {
    out = execFileSync("grep", ["-rnE", PATTERN, "commands", "src/engine"], { cwd: REPO, encoding: "utf8" });
  } catch (e) {
    if ((e as { status?: number }).status !== 1) throw e; // 1 = no match
  }
  return out.split("\n").filter((l) => l && !/^[^:]+:\d+:\s*(\/\/|\*|\/\*)/.test(l));
}

describe("the driver platform", () => {
  it("no driver name or driver setting is read in commands/ or src/engine/", () => {
    expect(driverKnowledge()).toEqual([]);
  });

  it("the grep itself finds what it is meant to find", () => {
    const probe = tempDir("snapbot-grep-");
    writeFileSync(join(probe, "x.ts"), 'if (server.driver !== "lxd") x = server.settings.paths;\n// a comment: "archive"\n');
    const hits = execFileSync("grep", ["-rnE", PATTERN, probe], { encoding: "utf8" }).trim().split("\n");
    expect(hits).toHaveLength(2); // the code line, and the comment line that driverKnowledge() drops
  });

  it("every built-in driver is a kind the config accepts, and qemu is one of them", () => {
    const kinds = BUILTIN_DRIVERS.map((m) => m.kind);
    expect(kinds).toEqual(expect.arrayContaining(["archive", "lxd", "qemu"]));
    for (const k of kinds) expect(driverKindsOf()).toContain(k);
    expect(new Set(kinds).size).toBe(kinds.length);
  });

  it("a driver module passed in is validated by its own schema and used by the commands", async () => {
    const backend = fakeBackend();
    const dir = tempDir("snapbot-platform-");
    const { app, run } = await testApp(dir, { servers: { f1: { driver: "fake" } } }, undefined, undefined, { drivers: [fakeDriverModule(backend)] });
    try {
      backend.data.set("f1", "hello");
      const reply = await run("create f1 s1");
      expect((await reply.follow!.done).title).toMatch(/^f1\/s1 done/);
      expect(backend.snapshots.get("f1")?.get("s1")).toBe("hello");
      expect((await run("export f1/s1 --format qcow2")).title).toMatch(/^f1 \(fake\) cannot export snapshots as disk images/);
    } finally {
      await app.close();
    }
  });

  it("a bad key in a passed-in driver's server is the loader's usual one line", () => {
    const dir = tempDir("snapbot-platform-");
    const file = join(dir, "snapbot.yml");
    writeFileSync(file, "servers:\n  f1: { driver: fake, colour: blue }\n");
    const load = () => loadConfig({ SNAPBOT_CONFIG: file }, dir, [...BUILTIN_DRIVERS, fakeDriverModule(fakeBackend())]);
    expect(load).toThrow(ConfigError);
    expect(load).toThrow(`${file}: servers.f1: unknown key colour: remove it or check its spelling`);
    // Without the module, "fake" is not a driver this build knows.
    expect(() => loadConfig({ SNAPBOT_CONFIG: file }, dir)).toThrow(/servers\.f1\.driver: expected one of archive, lxd, qemu, (consul, command|command, consul)/);
  });

  it("a server whose driver this build lacks (a ledger from a newer snapbot) is one line saying what to do", () => {
    const registry = createDriverRegistry(BUILTIN_DRIVERS, { runner: createLocalRunner(), storageDir: tempDir("snapbot-platform-"), fsync: false, log: pino({ level: "silent" }) });
    const server = { id: 1, name: "f1", driver: "fake", settings: {} } as unknown as ServerRow;
    expect(() => registry.get(server)).toThrow(
      "f1 uses the fake driver, which this snapbot does not have: run the snapbot that registered it, or remove f1 from snapbot.yml",
    );
  });
});
