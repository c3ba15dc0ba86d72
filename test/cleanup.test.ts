import { spawn, spawnSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { createRequire } from "node:module";
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { describe, expect, it } from "vitest";
import { alive } from "./helpers/cleanup.ts";
import { libvirtInstalled } from "./helpers/libvirt-env.ts";
import { lxdAvailable } from "./helpers/lxd-env.ts";
import { sshdAvailable } from "./helpers/sshd.ts";
import { tempDir } from "./helpers/temp-dir.ts";

// What a test starts outside its process (an sshd, a tmpfs mount, a temp folder) is gone after the test
// process is interrupted: SIGTERM (a killed vitest) and SIGINT (Ctrl-C) run the registry's handlers before
// the process ends; SIGKILL runs nothing in it, and the detached reaper tears down what its journal lists.
// The child is a real test process using the real helpers (test/fixtures/cleanup-child.ts), or a real vitest
// run of one fixture test file (test/fixtures/interrupted.fixture.ts) whose vitest is killed mid-test.
const enabled = sshdAvailable() || process.env.CI === "true";
const TSX = pathToFileURL(createRequire(import.meta.url).resolve("tsx")).href;
const CHILD = resolve(import.meta.dirname, "fixtures/cleanup-child.ts");
const VITEST = join(resolve(createRequire(import.meta.url).resolve("vitest/package.json"), ".."), "vitest.mjs");
const FIXTURES = resolve(import.meta.dirname, "fixtures/vitest.fixtures.config.ts");
const scratch = tempDir("snapbot-cleanup-test-");

interface Started {
  dir: string;
  sshd: number;
  mount: string;
}

const mounted = (dir: string) => readFileSync("/proc/mounts", "utf8").split("\n").some((l) => l.split(" ")[1] === dir);
const leftovers = (s: Started) =>
  [alive(s.sshd) && `sshd ${s.sshd}`, mounted(s.mount) && `mount ${s.mount}`, existsSync(s.dir) && `dir ${s.dir}`].filter(Boolean);

async function startChild(...args: string[]) {
  const child = spawn(process.execPath, ["--import", TSX, CHILD, ...args], { stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  let err = "";
  child.stderr.on("data", (d: Buffer) => (err += d.toString()));
  type Exit = { code: number | null; signal: NodeJS.Signals | null };
  const exit = new Promise<Exit>((res) => child.once("exit", (code, signal) => res({ code, signal })));
  const started = await new Promise<Started>((res, rej) => {
    child.stdout.on("data", (d: Buffer) => {
      out += d.toString();
      if (out.includes("\n")) res(JSON.parse(out.split("\n")[0]!) as Started);
    });
    void exit.then((e) => rej(new Error(`the child ended (${e.code ?? e.signal}) before starting: ${err}`)));
  });
  return { child, started, exit };
}

/** Processes whose command line names `dir` (the LXD daemons started with --logfile <dir>/…). */
function processesIn(dir: string): number[] {
  return readdirSync("/proc")
    .filter((p) => /^\d+$/.test(p))
    .filter((p) => {
      try {
        return readFileSync(`/proc/${p}/cmdline`, "utf8").includes(dir) && alive(Number(p));
      } catch {
        return false;
      }
    })
    .map(Number);
}

/** Polls (the reaper works on its own time) until nothing is left or 20 s passed; returns what is left. */
async function settled(s: Started): Promise<unknown[]> {
  for (let i = 0; i < 100 && leftovers(s).length; i++) await new Promise((r) => setTimeout(r, 200));
  return leftovers(s);
}

describe.runIf(enabled)("the cleanup registry when a test process is interrupted", () => {
  for (const signal of ["SIGTERM", "SIGINT"] as const)
    it(`${signal}: the sshd is killed, the tmpfs unmounted and the temp folder removed before the process ends`, async () => {
      const { child, started, exit } = await startChild();
      expect(leftovers(started)).toEqual([`sshd ${started.sshd}`, `mount ${started.mount}`, `dir ${started.dir}`]);
      child.kill(signal);
      expect(await exit).toEqual({ code: null, signal }); // ended by the signal, as without the registry
      expect(leftovers(started)).toEqual([]);
    });

  it("SIGKILL (a worker that dies without running anything): the reaper tears it all down", async () => {
    const { child, started, exit } = await startChild();
    expect(leftovers(started)).toHaveLength(3);
    child.kill("SIGKILL");
    await exit;
    expect(await settled(started)).toEqual([]);
  });

  it("SIGTERM of vitest itself mid-test: its worker notices and tears it all down", async () => {
    const file = join(scratch, "started.json");
    const env = { ...process.env, SNAPBOT_STARTED: file };
    const vitest = spawn(process.execPath, [VITEST, "run", "--config", FIXTURES], { env, stdio: "ignore" });
    const exit = new Promise((res) => vitest.once("exit", res));
    for (let i = 0; i < 300 && !existsSync(file); i++) await new Promise((r) => setTimeout(r, 100));
    const started = JSON.parse(readFileSync(file, "utf8")) as Started;
    expect(leftovers(started)).toHaveLength(3);
    vitest.kill("SIGTERM");
    await exit;
    expect(await settled(started)).toEqual([]);
  });
});

describe.runIf(lxdAvailable() || process.env.CI === "true")("the cleanup registry with LXD daemons", () => {
  it("SIGTERM: both LXD daemons shut down, the tmpfs pool unmounted, the folder removed", async () => {
    const { child, started, exit } = await startChild("lxd");
    expect(processesIn(started.dir).length).toBeGreaterThanOrEqual(2);
    expect(mounted(started.mount)).toBe(true);
    child.kill("SIGTERM");
    expect(await exit).toEqual({ code: null, signal: "SIGTERM" });
    expect(processesIn(started.dir)).toEqual([]);
    expect(mounted(started.mount)).toBe(false);
    expect(existsSync(started.dir)).toBe(false);
  }, 120_000);
});

describe.runIf(libvirtInstalled() || process.env.CI === "true")("the cleanup registry with a libvirt domain", () => {
  const defined = (name: string) => spawnSync("virsh", ["-c", "qemu:///system", "domstate", name], { stdio: "ignore" }).status === 0;

  it("SIGKILL: the reaper destroys and undefines the running domain and removes its disk's folder", async () => {
    const { child, started, exit } = await startChild("libvirt");
    const { domain } = started as unknown as { domain: string };
    expect(defined(domain)).toBe(true);
    child.kill("SIGKILL");
    await exit;
    for (let i = 0; i < 100 && (defined(domain) || existsSync(started.dir)); i++) await new Promise((r) => setTimeout(r, 200));
    expect(defined(domain)).toBe(false);
    expect(existsSync(started.dir)).toBe(false);
  }, 90_000);
});
