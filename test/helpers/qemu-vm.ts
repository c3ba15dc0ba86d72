import { spawn, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { createConnection, createServer, type Server, type Socket } from "node:net";
import { join } from "node:path";
import { describe, it } from "vitest";
import { alive, track } from "./cleanup.ts";
import { qemuVmArgv } from "./qemu-argv.ts";

// A real QEMU for the qemu driver's tests (DESIGN.md §5): no guest OS, one qcow2 disk with node-name disk0,
// a QMP socket. Content is proven with qemu-io patterns: offline on the file, and on the running VM through
// HMP `qemu-io drive0 "…"`, whose output lands on QEMU's stdout (kept here), not in the HMP reply.

const TOOLS = ["qemu-img", "qemu-io", "qemu-system-x86_64", "socat"] as const;

function missingTools(): string[] {
  return TOOLS.filter((t) => spawnSync(t, [t === "socat" ? "-V" : "--version"], { stdio: "ignore" }).status !== 0);
}

/** Runs `body` when QEMU is installed; fails under CI=true when it is not, skips with a message otherwise. */
export function describeQemu(title: string, body: () => void): void {
  const missing = missingTools();
  if (missing.length === 0) {
    describe(title, body);
    return;
  }
  const why = `${missing.join(", ")} not installed (apt-get install -y qemu-utils qemu-system-x86 socat)`;
  if (process.env.CI === "true") {
    describe(title, () => it("needs QEMU installed", () => {
      throw new Error(`${why}: CI must run the qemu tests`);
    }));
    return;
  }
  console.warn(`skipping "${title}": ${why}`);
  describe.skip(title, body);
}

export function sh(cmd: string, args: string[]): { status: number; out: string } {
  const r = spawnSync(cmd, args, { encoding: "utf8" });
  return { status: r.status ?? -1, out: `${r.stdout}${r.stderr}` };
}

function ok(cmd: string, args: string[]): string {
  const r = sh(cmd, args);
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")} failed: ${r.out}`);
  return r.out;
}

export function makeImage(dir: string, name = "d.qcow2", size = "16M"): string {
  const file = join(dir, name);
  ok("qemu-img", ["create", "-q", "-f", "qcow2", file, size]);
  return file;
}

/** Offline: fills the first 64 KiB with `byte`. */
export function writePattern(file: string, byte: number): void {
  ok("qemu-io", ["-c", `write -P 0x${byte.toString(16)} 0 64k`, file]);
}

/** Offline: whether the first 64 KiB are all `byte` (qemu-io exits 1 on a mismatch). */
export function hasPattern(file: string, byte: number, format = "qcow2"): boolean {
  const r = sh("qemu-io", ["-r", "-f", format, "-c", `read -P 0x${byte.toString(16)} 0 64k`, file]);
  return r.status === 0 && !r.out.includes("Pattern verification failed");
}

export function snapshotNames(file: string): string[] {
  const info = JSON.parse(ok("qemu-img", ["info", "-U", "--output=json", file])) as { snapshots?: Array<{ name: string }> };
  return (info.snapshots ?? []).map((s) => s.name);
}

export interface QemuVm {
  image: string;
  socket: string;
  pid: number;
  /** One QMP command on its own connection (QEMU serves one QMP client at a time). */
  qmp<T = unknown>(execute: string, args?: Record<string, unknown>): Promise<T>;
  /** HMP qemu-io on the running disk; returns what it printed on QEMU's stdout. */
  io(command: string): Promise<string>;
  /** Running disk: whether the first 64 KiB are all `byte`. */
  hasPattern(byte: number): Promise<boolean>;
  writePattern(byte: number): Promise<void>;
  stop(): Promise<void>;
}

export async function startVm(dir: string, image: string): Promise<QemuVm> {
  const socket = join(dir, "qmp.sock");
  const child = spawn("qemu-system-x86_64", qemuVmArgv(image, socket), { stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  child.stdout.on("data", (c: Buffer) => (out += c.toString()));
  child.stderr.on("data", (c: Buffer) => (out += c.toString()));
  const release = track({ kind: "pid", pid: child.pid! });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  for (let i = 0; !existsSync(socket); i++) {
    if (i > 200 || child.exitCode !== null) throw new Error(`qemu did not start: ${out}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  const qmp = <T>(execute: string, args?: Record<string, unknown>) => qmpOnce<T>(socket, execute, args);
  const io = async (command: string) => {
    const from = out.length;
    await qmp("human-monitor-command", { "command-line": `qemu-io drive0 "${command}"` });
    for (let i = 0; i < 100 && !/(wrote|read) \d+\/\d+|Pattern verification failed/.test(out.slice(from)); i++) await new Promise((r) => setTimeout(r, 20));
    return out.slice(from);
  };
  return {
    image,
    socket,
    pid: child.pid!,
    qmp,
    io,
    hasPattern: async (byte) => {
      const said = await io(`read -P 0x${byte.toString(16)} 0 64k`);
      return !said.includes("Pattern verification failed") && /read 65536\/65536/.test(said);
    },
    writePattern: async (byte) => {
      const said = await io(`write -P 0x${byte.toString(16)} 0 64k`);
      if (!/wrote 65536\/65536/.test(said)) throw new Error(`qemu-io write on the running VM: ${said}`);
    },
    async stop() {
      if (child.exitCode === null) await qmp("quit").catch(() => undefined);
      const killer = setTimeout(() => alive(child.pid!) && child.kill("SIGKILL"), 5000);
      await exited;
      clearTimeout(killer);
      release();
    },
  };
}

async function qmpOnce<T>(socket: string, execute: string, args?: Record<string, unknown>): Promise<T> {
  const c: Socket = createConnection(socket);
  let buf = "";
  const lines: Array<Record<string, unknown>> = [];
  const next = (want: (m: Record<string, unknown>) => boolean) =>
    new Promise<Record<string, unknown>>((resolve, reject) => {
      const look = () => {
        const i = lines.findIndex(want);
        if (i >= 0) return resolve(lines.splice(i, 1)[0]!);
        c.once("data", look);
      };
      c.once("error", reject);
      look();
    });
  c.on("data", (d: Buffer) => {
    buf += d.toString();
    let i;
    while ((i = buf.indexOf("\n")) >= 0) {
      const line = buf.slice(0, i).trim();
      buf = buf.slice(i + 1);
      if (line) lines.push(JSON.parse(line) as Record<string, unknown>);
    }
  });
  try {
    await next((m) => "QMP" in m);
    c.write('{"execute":"qmp_capabilities"}\n');
    await next((m) => "return" in m || "error" in m);
    c.write(`${JSON.stringify(args ? { execute, arguments: args } : { execute })}\n`);
    const r = await next((m) => "return" in m || "error" in m);
    if (r.error) throw new Error(`QMP ${execute}: ${JSON.stringify(r.error)}`);
    return r.return as T;
  } finally {
    c.destroy();
  }
}

/** A unix socket that accepts connections and never says a word (a hung QEMU, a monitor held by another client). */
export async function silentSocket(path: string): Promise<{ connections: () => number; openNow: () => number; close(): Promise<void> }> {
  const open = new Set<Socket>();
  let seen = 0;
  const server: Server = createServer((s) => {
    seen++;
    open.add(s);
    s.on("close", () => open.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(path, resolve));
  return {
    connections: () => seen,
    openNow: () => open.size,
    close: () => new Promise<void>((resolve) => {
      for (const s of open) s.destroy();
      server.close(() => resolve());
    }),
  };
}
