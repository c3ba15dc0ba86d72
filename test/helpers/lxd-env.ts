import { spawn, spawnSync, execFileSync } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, symlinkSync, writeFileSync, copyFileSync } from "node:fs";
import { createServer } from "node:net";
import { dirname, join } from "node:path";
import { track, trackedTempDir } from "./cleanup.ts";

// Two real LXD daemons in throwaway LXD_DIRs (DESIGN.md §5): "local" runs the instances, "snap" is the
// snapshot server, trusted over loopback. A busybox image with an SSH host key is built from local files.
// The daemons (detached: LXD outlives its parent), the tmpfs pools and the folder are in the cleanup registry,
// so an interrupted run or a dead worker shuts them down too.

export interface LxdEnv {
  root: string;
  localDir: string; // LXD_DIR of the daemon that runs the instances
  snapDir: string; // LXD_DIR of the snapshot server
  conf: string; // LXD_CONF of the client, with the remote "snap" added
  env: Record<string, string>;
  snapAddr: string; // https://127.0.0.1:<port> of the snapshot server
  lxc(args: string[], opts?: { dir?: string; input?: string }): string;
  /** A remote in the client config pointing at `url` (a closed port, a server that never answers…). */
  addRemote(name: string, url: string): void;
  /** A second LXD_CONF with the same remotes but a client certificate no daemon trusts. */
  untrustedConf(): string;
  /** A storage pool on a tmpfs of `mib` MiB on the local daemon, to fill up for real; returns its folder. */
  addSmallPool(name: string, mib: number): string;
  stop(): void;
}

const PASSWORD = "snapbot-test";

export function lxdAvailable(): boolean {
  try {
    execFileSync("lxd", ["--version"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

export async function startLxdEnv(): Promise<LxdEnv> {
  const { dir: root, remove } = trackedTempDir("snapbot-lxd-");
  chmodSync(root, 0o711); // containers run as mapped uids: they must be able to pass through to LXD_DIR
  const localDir = join(root, "local");
  const snapDir = join(root, "snap");
  const conf = join(root, "client");
  const stops: Array<() => void> = [];
  let snapAddr = "";
  const mounts: Array<{ dir: string; release: () => void }> = [];
  const lxc = (args: string[], opts: { dir?: string; input?: string } = {}) =>
    execFileSync("lxc", args, { env: { ...process.env, LXD_DIR: opts.dir ?? localDir, LXD_CONF: conf }, input: opts.input, encoding: "utf8", stdio: ["pipe", "pipe", "pipe"] });
  try {
    for (const dir of [localDir, snapDir]) {
      mkdirSync(dir, { recursive: true });
      const port = await freePort();
      const release = track({ kind: "lxd", dir, pid: startDaemon(dir) });
      stops.push(() => (stopDaemon(dir), release()));
      execFileSync("lxd", ["waitready", "--timeout=60"], { env: { ...process.env, LXD_DIR: dir } });
      execFileSync("lxd", ["init", "--preseed"], { env: { ...process.env, LXD_DIR: dir }, input: preseed(port) });
      if (dir === snapDir) {
        mkdirSync(conf, { recursive: true });
        lxc(["remote", "add", "snap", `127.0.0.1:${port}`, "--accept-certificate", `--password=${PASSWORD}`]);
        snapAddr = `https://127.0.0.1:${port}`;
      }
    }
    const image = buildImage(join(root, "image"));
    lxc(["image", "import", join(image, "meta.tar.gz"), join(image, "rootfs.tar.gz"), "--alias", "busybox"]);
  } catch (e) {
    stops.forEach((s) => s());
    remove();
    throw e;
  }
  return {
    root,
    localDir,
    snapDir,
    conf,
    env: { LXD_DIR: localDir, LXD_CONF: conf },
    snapAddr,
    lxc,
    addRemote(name, url) {
      // `lxc remote add` insists on reaching the address; add a working one, then point it elsewhere.
      lxc(["remote", "add", name, snapAddr, "--accept-certificate", `--password=${PASSWORD}`]);
      lxc(["remote", "set-url", name, url]);
    },
    untrustedConf() {
      const dir = mkdtempSync(join(root, "untrusted-"));
      // A remote add without the password fails, but not before lxc made this config a client certificate.
      spawnSync("lxc", ["remote", "add", "snap", snapAddr, "--accept-certificate"], { env: { ...process.env, LXD_DIR: localDir, LXD_CONF: dir }, input: "", stdio: ["pipe", "ignore", "ignore"] });
      if (!existsSync(join(dir, "client.crt"))) throw new Error("lxc did not generate a client certificate");
      mkdirSync(join(dir, "servercerts"), { recursive: true });
      copyFileSync(join(conf, "config.yml"), join(dir, "config.yml"));
      copyFileSync(join(conf, "servercerts", "snap.crt"), join(dir, "servercerts", "snap.crt"));
      return dir;
    },
    addSmallPool(name, mib) {
      const dir = join(root, `pool-${name}`);
      mkdirSync(dir);
      execFileSync("mount", ["-t", "tmpfs", "-o", `size=${mib}m`, "tmpfs", dir]);
      mounts.push({ dir, release: track({ kind: "mount", dir }) });
      lxc(["storage", "create", name, "dir", `source=${dir}`]);
      return dir;
    },
    stop() {
      stops.forEach((s) => s());
      for (const m of mounts) {
        spawnSync("umount", [m.dir], { stdio: "ignore" }); // LXD may have unmounted it already
        m.release();
      }
      remove();
    },
  };
}

function preseed(port: number): string {
  return [
    "config:",
    `  core.https_address: 127.0.0.1:${port}`,
    `  core.trust_password: ${PASSWORD}`,
    "storage_pools:",
    "- name: default",
    "  driver: dir",
    "profiles:",
    "- name: default",
    "  devices:",
    "    root: { path: /, pool: default, type: disk }",
    "",
  ].join("\n");
}

/** Returns the daemon's pid (the leader of its own process group). */
function startDaemon(dir: string): number {
  const child = spawn("lxd", ["--group", "root", "--logfile", join(dir, "lxd.log")], { env: { ...process.env, LXD_DIR: dir }, detached: true, stdio: "ignore" });
  child.unref();
  return child.pid!;
}

function stopDaemon(dir: string): void {
  try {
    execFileSync("lxd", ["shutdown", "--timeout=30"], { env: { ...process.env, LXD_DIR: dir }, stdio: "ignore", timeout: 40_000 });
  } catch {
    /* already gone */
  }
}

/**
 * A rootfs of busybox-static plus an SSH host key (clones of it share the key, the host-key case) and a
 * real ssh-keygen, so regenerating host keys inside an instance really makes new ones.
 */
function buildImage(dir: string): string {
  const rootfs = join(dir, "rootfs");
  for (const d of ["bin", "sbin", "usr/bin", "etc/ssh", "root", "tmp", "proc", "sys", "dev", "var/log"]) mkdirSync(join(rootfs, d), { recursive: true });
  const busybox = ["/bin/busybox", "/usr/bin/busybox"].find(existsSync);
  if (!busybox) throw new Error("busybox-static is not installed (apt-get install busybox-static)");
  copyFileSync(busybox, join(rootfs, "bin/busybox"));
  execFileSync("chmod", ["755", join(rootfs, "bin/busybox")]);
  for (const c of ["sh", "ls", "cat", "echo", "mkdir", "rm", "sleep", "true", "sed", "grep", "cut", "head"]) symlinkSync("busybox", join(rootfs, "bin", c));
  symlinkSync("../bin/busybox", join(rootfs, "sbin/init"));
  copyDynamic("/usr/bin/ssh-keygen", rootfs); // busybox has none: host-key regeneration must really run
  writeFileSync(join(rootfs, "etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n");
  writeFileSync(join(rootfs, "etc/group"), "root:x:0:\n");
  execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "image", "-f", join(rootfs, "etc/ssh/ssh_host_ed25519_key")]);
  writeFileSync(join(dir, "metadata.yaml"), `architecture: x86_64\ncreation_date: ${Math.floor(Date.now() / 1000)}\nproperties:\n  description: busybox test image\n  os: busybox\n`);
  execFileSync("tar", ["-czf", "meta.tar.gz", "metadata.yaml"], { cwd: dir });
  execFileSync("tar", ["-czf", "rootfs.tar.gz", "-C", "rootfs", "."], { cwd: dir });
  return dir;
}

/** A dynamically linked program with the libraries `ldd` lists and the loader, at the same paths. */
function copyDynamic(program: string, rootfs: string): void {
  if (!existsSync(program)) throw new Error(`${program} is not installed (apt-get install openssh-client)`);
  const libs = execFileSync("ldd", [program], { encoding: "utf8" })
    .split("\n")
    .map((l) => /(?:=>\s*)?(\/\S+)\s+\(0x/.exec(l)?.[1])
    .filter((f): f is string => !!f);
  for (const file of [program, ...libs]) {
    const to = join(rootfs, file);
    mkdirSync(dirname(to), { recursive: true });
    copyFileSync(file, to); // follows symlinks: the loader and libraries arrive as real files
    chmodSync(to, 0o755);
  }
}

function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = createServer();
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => res(port));
    });
    s.on("error", rej);
  });
}
