import { spawn, spawnSync, execFileSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { createRequire } from "node:module";
import { fileURLToPath, pathToFileURL } from "node:url";

// One registry of what tests start outside their own process: daemons (sshd, LXD), tmpfs mounts, temp
// folders. Helpers record each thing here when they make it and drop it when they tear it down as usual
// (afterAll). Whatever is still recorded is torn down when the process exits, on SIGINT/SIGTERM/SIGHUP
// (Ctrl-C, a stopped worker), when a vitest worker loses its vitest (vitest itself killed), and, when the
// process dies without running any handler (SIGKILL, a crashed worker), by a detached reaper that watches
// this process and reads the same records from a journal file.
// Everything here is synchronous: it must run inside an "exit" handler.

export type Resource =
  | { kind: "pid"; pid: number } // a daemon, killed (SIGTERM, then SIGKILL)
  | { kind: "lxd"; dir: string; pid: number } // a detached LXD daemon: `lxd shutdown`, then its process group killed
  | { kind: "libvirt-domain"; name: string; connect: string } // a test's domain: destroyed, undefined with its snapshots' metadata
  | { kind: "mount"; dir: string } // unmounted (lazily: a busy mount still goes)
  | { kind: "dir"; dir: string }; // removed with everything in it

type Entry = Resource & { id: number };

// Processes first (they hold mounts and files open), then mounts, then folders; the newest first in each.
const ORDER: Record<Resource["kind"], number> = { "libvirt-domain": 0, lxd: 0, pid: 1, mount: 2, dir: 3 };
const JOURNALS = join(tmpdir(), "snapbot-test-cleanup");
const journal = join(JOURNALS, `${process.pid}.json`);
const TSX = pathToFileURL(createRequire(import.meta.url).resolve("tsx")).href;
const entries: Entry[] = [];
let next = 1;
let armed = false;

/** Records a resource to tear down if the process ends before the test does; returns its release. */
export function track(r: Resource): () => void {
  arm();
  const entry = { ...r, id: next++ } as Entry;
  entries.push(entry);
  save();
  return () => {
    const i = entries.indexOf(entry);
    if (i >= 0) entries.splice(i, 1);
    save();
  };
}

/** Tears down everything still recorded (what the exit and signal handlers run). */
export function cleanupAll(): void {
  teardown(entries.splice(0));
  save();
}

/** A fresh folder under the system temp dir, removed by the registry unless `release` ran first. */
export function trackedTempDir(prefix = "snapbot-"): { dir: string; remove(): void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const release = track({ kind: "dir", dir });
  return { dir, remove: () => (rmSync(dir, { recursive: true, force: true }), release()) };
}

/** A tmpfs of `mib` MiB mounted on `dir` (made if missing); unmount() or the registry takes it off. */
export function mountTmpfs(dir: string, mib: number): { unmount(): void } {
  mkdirSync(dir, { recursive: true });
  execFileSync("mount", ["-t", "tmpfs", "-o", `size=${mib}m`, "tmpfs", dir]);
  const release = track({ kind: "mount", dir });
  return { unmount: () => (spawnSync("umount", [dir], { stdio: "ignore" }), release()) };
}

/** Whether a process runs (a zombie nobody reaped does not count: nothing of it is left but its pid). */
export function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2)[0] !== "Z";
  } catch {
    return false;
  }
}

export function teardown(list: Resource[]): void {
  const sorted = [...list].reverse().sort((a, b) => ORDER[a.kind] - ORDER[b.kind]);
  for (const r of sorted) {
    try {
      undo(r);
    } catch {
      /* best effort: the next resource still goes */
    }
  }
}

function undo(r: Resource): void {
  if (r.kind === "pid") kill(r.pid, r.pid);
  else if (r.kind === "lxd") {
    spawnSync("lxd", ["shutdown", "--timeout=20"], { env: { ...process.env, LXD_DIR: r.dir }, stdio: "ignore", timeout: 25_000 });
    kill(-r.pid, r.pid);
  } else if (r.kind === "libvirt-domain") {
    for (const args of [["destroy", r.name], ["undefine", r.name, "--snapshots-metadata"]])
      spawnSync("virsh", ["-q", "-c", r.connect, ...args], { stdio: "ignore", timeout: 30_000 });
    rmSync(`/var/log/libvirt/qemu/${r.name}.log`, { force: true });
  } else if (r.kind === "mount") {
    if (mounted(r.dir)) spawnSync("umount", ["-l", r.dir], { stdio: "ignore" });
  } else rmSync(r.dir, { recursive: true, force: true });
}

/** SIGTERM, a short wait, then SIGKILL (`target` negative: the whole group). */
function kill(target: number, pid: number): void {
  const send = (sig: NodeJS.Signals) => {
    try {
      process.kill(target, sig);
    } catch {
      /* already gone */
    }
  };
  send("SIGTERM");
  for (let i = 0; i < 40 && alive(pid); i++) spawnSync("sleep", ["0.05"]);
  if (alive(pid) || target < 0) send("SIGKILL");
}

function mounted(dir: string): boolean {
  return readFileSync("/proc/mounts", "utf8").split("\n").some((l) => l.split(" ")[1] === dir);
}

function save(): void {
  if (!armed) return;
  if (entries.length === 0) rmSync(journal, { force: true });
  else writeFileSync(journal, JSON.stringify(entries.map(({ id: _id, ...r }) => r)));
}

/** Once per process: exit and signal handlers, and the reaper for deaths that run no handler. */
function arm(): void {
  if (armed) return;
  armed = true;
  mkdirSync(JOURNALS, { recursive: true });
  process.on("exit", cleanupAll);
  for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"] as const)
    process.once(sig, () => {
      cleanupAll();
      // Our listener is gone (once): with no other, the signal's default action ends the process as it would have.
      if (process.listenerCount(sig) === 0) process.kill(process.pid, sig);
    });
  // A vitest worker whose vitest ended (SIGTERM or Ctrl-C of vitest itself) is not killed: it would run on,
  // orphaned, holding its daemons. Its IPC channel closing says so.
  if (process.connected)
    process.once("disconnect", () => {
      cleanupAll();
      process.exit(1);
    });
  const reaper = join(dirname(fileURLToPath(import.meta.url)), "cleanup-reaper.ts");
  if (existsSync(reaper))
    spawn(process.execPath, ["--import", TSX, reaper, String(process.pid), journal], { detached: true, stdio: "ignore" }).unref();
}
