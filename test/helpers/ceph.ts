import { execFileSync, spawn, spawnSync } from "node:child_process";
import { randomUUID } from "node:crypto";
import { mkdirSync, openSync, closeSync, writeFileSync, readFileSync, existsSync } from "node:fs";
import { request } from "node:http";
import { createServer } from "node:net";
import { join } from "node:path";
import { track, trackedTempDir, alive } from "./cleanup.ts";

// A real S3 endpoint for the storage tests (DESIGN.md §5): one Ceph monitor, one memstore OSD and a RADOS
// Gateway on 127.0.0.1, as ../shared/recipes/ceph/ceph.sh starts them, but on free ports, each daemon in the
// foreground as a child of this process and recorded in the cleanup registry (a killed run still stops them).
// ~13 s cold, so a test run starts it once (ceph-global-setup.ts) and the files share it, each on its own bucket.

export interface CephEnv {
  endpoint: string; // http://127.0.0.1:<port> of the gateway
  accessKey: string;
  secretKey: string;
  conf: string; // ceph.conf, for radosgw-admin
  dir: string;
}

export interface CephCluster extends CephEnv {
  stop(): void;
}

export interface CephOptions {
  /** The OSD keeps everything in memory: room for what the tests (or the bench) write at once. */
  memstoreBytes?: number;
}

export const CEPH_USER = { uid: "snapbot-test", accessKey: "SNAPBOTTESTACCESS", secretKey: "snapbot-test-secret-0123456789" };
const DAEMONS = ["ceph-mon", "ceph-osd", "radosgw", "radosgw-admin", "monmaptool", "ceph-authtool", "ceph"];

/** Whether the Ceph packages are installed (ceph-mon ceph-osd radosgw ceph-common). */
export function cephInstalled(): boolean {
  return DAEMONS.every((d) => spawnSync("sh", ["-c", `command -v ${d}`], { stdio: "ignore" }).status === 0);
}

/** Under CI=true a missing Ceph is a failure, never a skip. */
export function cephEnabled(): boolean {
  return cephInstalled() || process.env.CI === "true";
}

export async function startCeph(opts: CephOptions = {}): Promise<CephCluster> {
  if (!cephInstalled()) throw new Error("Ceph is not installed: apt-get install -y ceph-mon ceph-osd radosgw ceph-common (see .ci/run)");
  const { dir, remove } = trackedTempDir("snapbot-ceph-");
  const [monPort, rgwPort] = [await freePort(), await freePort()];
  const conf = join(dir, "ceph.conf");
  writeFileSync(conf, cephConf(dir, monPort, rgwPort, opts.memstoreBytes ?? 1024 ** 3));
  const env = { ...process.env, CEPH_CONF: conf };
  const run = (cmd: string, args: string[]) => execFileSync(cmd, args, { env, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], timeout: 60_000 });
  const stops: Array<() => void> = [];
  const daemon = (cmd: string, args: string[]) => {
    const log = openSync(join(dir, "log", `${cmd}.out`), "a");
    const child = spawn(cmd, ["-f", ...args], { env, stdio: ["ignore", log, log] });
    closeSync(log);
    const pid = child.pid!;
    const release = track({ kind: "pid", pid });
    stops.unshift(() => (stopPid(pid), release()));
    return child;
  };
  const stop = () => {
    stops.splice(0).forEach((s) => s());
    remove();
  };
  try {
    const fsid = randomUUID();
    for (const d of ["mon.a", "osd.0", "log", "run"]) mkdirSync(join(dir, d), { recursive: true });
    writeFileSync(conf, readFileSync(conf, "utf8").replace("@FSID@", fsid));
    run("monmaptool", ["--create", "--fsid", fsid, "--addv", "a", `[v2:127.0.0.1:${monPort}]`, join(dir, "monmap")]);
    run("ceph-authtool", ["--create-keyring", join(dir, "mon.keyring"), "--gen-key", "-n", "mon.", "--cap", "mon", "allow *"]);
    run("ceph-mon", ["--mkfs", "-i", "a", "--monmap", join(dir, "monmap"), "--keyring", join(dir, "mon.keyring")]);
    daemon("ceph-mon", ["-i", "a"]);
    await until("the Ceph monitor", 30_000, () => spawnSync("ceph", ["-s", "--connect-timeout", "2"], { env, stdio: "ignore" }).status === 0);
    const osdUuid = randomUUID();
    const id = run("ceph", ["osd", "new", osdUuid]).trim();
    run("ceph-osd", ["-i", id, "--mkfs", "--osd-uuid", osdUuid]);
    daemon("ceph-osd", ["-i", id]);
    await until("the Ceph OSD", 60_000, () => /"num_up_osds":1/.test(spawnSync("ceph", ["osd", "stat", "-f", "json"], { env, encoding: "utf8" }).stdout ?? ""));
    const rgw = daemon("radosgw", ["-n", "client.rgw.a"]);
    const endpoint = `http://127.0.0.1:${rgwPort}`;
    await until("the RADOS Gateway", 90_000, async () => {
      if (rgw.exitCode !== null) throw new Error(`radosgw exited ${rgw.exitCode}: ${tail(join(dir, "log", "radosgw.out"))}`);
      return answers(endpoint);
    });
    run("radosgw-admin", ["user", "create", `--uid=${CEPH_USER.uid}`, "--display-name=snapbot tests", `--access-key=${CEPH_USER.accessKey}`, `--secret-key=${CEPH_USER.secretKey}`]);
    return { endpoint, accessKey: CEPH_USER.accessKey, secretKey: CEPH_USER.secretKey, conf, dir, stop };
  } catch (e) {
    stop();
    throw e;
  }
}

/** radosgw-admin against this cluster (quotas, users): its stdout. */
export function radosgwAdmin(ceph: Pick<CephEnv, "conf">, args: string[]): string {
  return execFileSync("radosgw-admin", ["-c", ceph.conf, ...args], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], timeout: 60_000 });
}

function cephConf(dir: string, monPort: number, rgwPort: number, memstoreBytes: number): string {
  return `[global]
fsid = @FSID@
mon host = v2:127.0.0.1:${monPort}
mon initial members = a
public network = 127.0.0.0/8
ms bind msgr1 = false
auth cluster required = none
auth service required = none
auth client required = none
run dir = ${dir}/run
admin socket = ${dir}/run/$name.asok
pid file = ${dir}/run/$name.pid
log file = ${dir}/log/$name.log
mon data = ${dir}/$name
osd data = ${dir}/$name
osd objectstore = memstore
memstore device bytes = ${memstoreBytes}
osd pool default size = 1
osd pool default min size = 1
mon allow pool size one = true
mon warn on pool no redundancy = false
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
mon max pg per osd = 1000
osd crush chooseleaf type = 0
mon allow pool delete = true
[client.rgw.a]
# radosgw defaults ms_mon_client_mode=secure, impossible with auth=none ('get_initial_auth_request returned -13')
ms mon client mode = crc
rgw frontends = beast endpoint=127.0.0.1:${rgwPort}
rgw thread pool size = 16
rgw data = ${dir}/rgw
# Quotas are checked against fresh stats (the tests fill a bucket and expect the next write refused), and
# deleted objects' space comes back soon (memstore is RAM).
rgw bucket quota ttl = 0
rgw user quota bucket sync interval = 0
rgw user quota sync interval = 0
rgw gc obj min wait = 0
rgw gc processor period = 5
`;
}

async function until(what: string, ms: number, ok: () => boolean | Promise<boolean>): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await ok()) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${what} did not come up within ${ms / 1000} s`);
}

function answers(url: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request(url, { timeout: 2000 }, (res) => {
      res.resume();
      resolve(true);
    });
    req.on("error", () => resolve(false));
    req.on("timeout", () => req.destroy());
    req.end();
  });
}

function stopPid(pid: number): void {
  try {
    process.kill(pid, "SIGTERM");
  } catch {
    return;
  }
  for (let i = 0; i < 100 && alive(pid); i++) spawnSync("sleep", ["0.05"]);
  if (alive(pid)) process.kill(pid, "SIGKILL");
}

function tail(file: string): string {
  return existsSync(file) ? readFileSync(file, "utf8").split("\n").slice(-5).join(" / ") : "(no log)";
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}
