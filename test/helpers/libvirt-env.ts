import { execFile, execFileSync, spawnSync } from "node:child_process";
import { chmodSync, existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { alive, track, trackedTempDir } from "./cleanup.ts";

// Real libvirt for the qemu driver's `domain:` mode (DESIGN.md §5, recipes/libvirt): virtlogd and libvirtd
// started the way the recipe does (`-d`: no systemd here; the first start takes ~8 s) once, and reused by every
// later test file and run (a `virsh version` that answers is enough). libvirtd is the machine's system
// daemon, shared: it is left running. Each test file gets its own throwaway domain (no guest OS, a fresh qcow2
// in a temp folder), recorded in the cleanup registry so an interrupted run destroys and undefines it too.
// No vitest here: test/fixtures/cleanup-child.ts runs it in a plain process (describeLibvirt is in test/drivers/qemu/).

export const CONNECT = "qemu:///system";
// The disk's device in QEMU, as libvirt names it for <target dev='vda' bus='virtio'/> (for HMP qemu-io -d).
const QOM_DISK = "/machine/peripheral/virtio-disk0/virtio-backend";
const run = promisify(execFile);

export interface LibvirtDomain {
  name: string;
  connect: string;
  disk: string; // the qcow2 file
  /** `virsh -c <connect> <args>` (throws on failure); stdout. */
  virsh(args: string[]): string;
  /** qemu-io inside the running QEMU (HMP), returning what it printed to the domain log. */
  qemuIo(command: string): Promise<string[]>;
  writePattern(byte: number): Promise<void>;
  /** Whether the first 64 KiB of the running disk hold `byte` everywhere. */
  hasPattern(byte: number): Promise<boolean>;
  remove(): void;
}

export function libvirtInstalled(): boolean {
  const needed = ["virsh", "libvirtd", "virtlogd", "qemu-img", "qemu-system-x86_64"];
  return needed.every((cmd) => spawnSync("which", [cmd], { stdio: "ignore" }).status === 0);
}

let ready: Promise<void> | undefined;

/** virtlogd and libvirtd answer on qemu:///system; starts them if they do not (once per process). */
export function ensureLibvirtd(): Promise<void> {
  ready ??= startLibvirtd().catch((e: unknown) => {
    ready = undefined;
    throw e;
  });
  return ready;
}

async function answers(): Promise<boolean> {
  try {
    await run("virsh", ["-c", CONNECT, "version"], { timeout: 10_000 });
    return true;
  } catch {
    return false;
  }
}

function daemonRuns(pidFile: string): boolean {
  try {
    return alive(Number(readFileSync(pidFile, "utf8").trim()));
  } catch {
    return false;
  }
}

async function startLibvirtd(): Promise<void> {
  // libvirtd without virtlogd answers, but cannot start a domain: check it first, every time.
  if (!daemonRuns("/run/virtlogd.pid")) await run("virtlogd", ["-d"]).catch(() => undefined); // another worker may win the race
  if (await answers()) return;
  const started = run("libvirtd", ["-d"]).catch((e: { stderr?: string }) => e.stderr ?? "");
  for (let waited = 0; waited < 30_000; waited += 250) {
    if (await answers()) return;
    await new Promise((r) => setTimeout(r, 250));
  }
  const said = await started;
  throw new Error(`libvirtd did not answer on ${CONNECT} within 30 s${typeof said === "string" && said ? `: ${said.trim()}` : ""}`);
}

function domainXml(name: string, disk: string): string {
  // KVM where /dev/kvm exists (as here), else QEMU's TCG: the tests need no speed from the VM, only QEMU.
  const type = existsSync("/dev/kvm") ? "kvm" : "qemu";
  return `<domain type='${type}'>
  <name>${name}</name>
  <memory unit='MiB'>64</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64' machine='pc'>hvm</type></os>
  <on_poweroff>destroy</on_poweroff>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2'/>
      <source file='${disk}'/>
      <target dev='vda' bus='virtio'/>
    </disk>
    <memballoon model='none'/>
  </devices>
</domain>
`;
}

/** A new domain `snapbot-<label>-<pid>-<n>` with a fresh 64 MiB qcow2, started unless `start: false`. */
export async function defineDomain(
  label: string,
  opts: { start?: boolean; prepare?: (disk: string) => void } = {},
): Promise<LibvirtDomain> {
  await ensureLibvirtd();
  const name = `snapbot-${label}-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
  const { dir, remove: removeDir } = trackedTempDir("snapbot-libvirt-");
  chmodSync(dir, 0o711); // QEMU runs as libvirt-qemu: it must pass through to the disk (libvirt chowns the file itself)
  const disk = join(dir, "d.qcow2");
  execFileSync("qemu-img", ["create", "-q", "-f", "qcow2", disk, "64M"]);
  opts.prepare?.(disk);
  writeFileSync(join(dir, "dom.xml"), domainXml(name, disk));
  const virsh = (args: string[]) =>
    execFileSync("virsh", ["-q", "-c", CONNECT, ...args], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  virsh(["define", join(dir, "dom.xml")]);
  const release = track({ kind: "libvirt-domain", name, connect: CONNECT });
  const remove = () => {
    spawnSync("virsh", ["-q", "-c", CONNECT, "destroy", name], { stdio: "ignore" });
    spawnSync("virsh", ["-q", "-c", CONNECT, "undefine", name, "--snapshots-metadata"], { stdio: "ignore" });
    spawnSync("rm", ["-f", logFile(name)]);
    release();
    removeDir();
  };
  try {
    if (opts.start !== false) virsh(["start", name]);
  } catch (e) {
    remove();
    throw e;
  }
  const qemuIo = (command: string) => monitorQemuIo(name, virsh, command);
  return {
    name,
    connect: CONNECT,
    disk,
    virsh,
    qemuIo,
    async writePattern(byte) {
      const out = await qemuIo(`write -P 0x${byte.toString(16)} 0 64k`);
      if (!out.some((l) => l.startsWith("wrote 65536/65536"))) throw new Error(`qemu-io write failed in ${name}: ${out.join(" | ")}`);
    },
    async hasPattern(byte) {
      const out = await qemuIo(`read -P 0x${byte.toString(16)} 0 64k`);
      if (out.some((l) => l.includes("Pattern verification failed"))) return false;
      if (out.some((l) => l.startsWith("read 65536/65536"))) return true;
      throw new Error(`qemu-io read failed in ${name}: ${out.join(" | ")}`);
    },
    remove,
  };
}

const logFile = (name: string) => `/var/log/libvirt/qemu/${name}.log`;

// qemu-io's output goes to QEMU's stdout, which virtlogd appends to the domain log, not to the HMP reply.
async function monitorQemuIo(name: string, virsh: (args: string[]) => string, command: string): Promise<string[]> {
  const before = readFileSync(logFile(name), "utf8").length;
  const reply = virsh(["qemu-monitor-command", name, "--hmp", `qemu-io -d ${QOM_DISK} "${command}"`]);
  if (/error/i.test(reply)) throw new Error(`qemu-io in ${name}: ${reply.trim()}`);
  for (let i = 0; i < 100; i++) {
    const lines = readFileSync(logFile(name), "utf8").slice(before).split("\n");
    const said = lines.filter((l) => /^(wrote|read) \d|Pattern verification|rror/.test(l));
    if (said.some((l) => /^(wrote|read) \d/.test(l))) return said;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`qemu-io in ${name} printed nothing to ${logFile(name)}`);
}
