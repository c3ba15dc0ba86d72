import { spawn, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { qemuVmArgv } from "../test/helpers/qemu-argv.ts";

// What the qemu bench runs on: a 1 GiB qcow2 with a few hundred MiB of real data (qemu-io pattern writes,
// so every snapshot has clusters to refcount), and a running QEMU on such an image started the way
// test/helpers/qemu-vm.ts starts it (no guest OS, node-name disk0, a QMP socket). Written without vitest:
// bench code runs outside the test runner.

const TOOLS = ["qemu-img", "qemu-io", "qemu-system-x86_64"] as const;

export function missingQemuTools(): string[] {
  return TOOLS.filter((t) => spawnSync(t, ["--version"], { stdio: "ignore" }).status !== 0);
}

function ok(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")} failed: ${r.stdout}${r.stderr}`);
  return r.stdout;
}

/** A 1 GiB qcow2 with `dataMiB` written in 32 MiB pattern runs (a different byte each). */
export function makeDataImage(dir: string, name: string, dataMiB = 320): string {
  const file = join(dir, name);
  ok("qemu-img", ["create", "-q", "-f", "qcow2", file, "1G"]);
  for (let at = 0, i = 0; at < dataMiB; at += 32, i++) ok("qemu-io", ["-c", `write -P 0x${(0x10 + i).toString(16)} ${at}M 32M`, file]);
  return file;
}

/** The snapshot count of an image, read the way snapbot reads a running VM's (-U). */
export function snapshotCount(file: string): number {
  const info = JSON.parse(ok("qemu-img", ["info", "-U", "--output=json", file])) as { snapshots?: unknown[] };
  return info.snapshots?.length ?? 0;
}

export interface BenchVm {
  socket: string;
  stop(): Promise<void>;
}

export async function startBenchVm(dir: string, image: string): Promise<BenchVm> {
  const socket = join(dir, "qmp.sock");
  const child = spawn("qemu-system-x86_64", qemuVmArgv(image, socket), { stdio: ["ignore", "ignore", "pipe"] });
  let err = "";
  child.stderr.on("data", (c: Buffer) => (err += c.toString()));
  // A bench that throws or is interrupted must not leave a QEMU behind.
  const kill = () => child.exitCode === null && child.kill("SIGKILL");
  process.once("exit", kill);
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  for (let i = 0; !existsSync(socket); i++) {
    if (i > 200 || child.exitCode !== null) {
      kill();
      throw new Error(`qemu did not start: ${err}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    socket,
    async stop() {
      child.kill("SIGTERM");
      const killer = setTimeout(kill, 5000);
      await exited;
      clearTimeout(killer);
      process.off("exit", kill);
    },
  };
}
