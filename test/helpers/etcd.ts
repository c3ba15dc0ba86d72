import { execFileSync, spawn, spawnSync, type ChildProcess } from "node:child_process";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { describe, it } from "vitest";
import { track } from "./cleanup.ts";
import { freePort } from "./postgres.ts";

// A real etcd 3.4 member on 127.0.0.1 ports (DESIGN.md §5, recipes/etcd/etcd.sh), a child of the test process.
// A member can also start from a data dir `etcdctl snapshot restore` wrote (the restored member).
// Missing under CI=true is a failure (.ci/run installs etcd-server etcd-client), a skip with a warning otherwise.

export interface EtcdMember {
  name: string;
  client: string; // http://127.0.0.1:<port>
  peer: string;
  dataDir: string;
  get(key: string): string | null;
  put(key: string, value: string): void;
  stop(): Promise<void>;
}

export function etcdMissing(): string | null {
  for (const tool of ["etcd", "etcdctl"]) if (spawnSync("which", [tool]).status !== 0) return `${tool} is not installed (etcd-server etcd-client)`;
  return null;
}

export function describeEtcd(title: string, body: () => void): void {
  const why = etcdMissing();
  if (!why) return void describe(title, body);
  if (process.env.CI === "true") return void describe(title, () => it("has etcd 3.4", () => { throw new Error(`${why}: CI must run the etcd tests`); }));
  console.warn(`skipping "${title}": ${why}`);
  describe.skip(title, body);
}

export const etcdEnv = { ...process.env, ETCDCTL_API: "3" };

/** Ports for a member: its client and peer URLs. */
export async function memberUrls(): Promise<{ client: string; peer: string }> {
  return { client: `http://127.0.0.1:${await freePort()}`, peer: `http://127.0.0.1:${await freePort()}` };
}

/** Starts a member (a new cluster of one, or from a restored data dir) and waits until it is healthy. */
export async function startEtcd(dir: string, name: string, urls: { client: string; peer: string }, dataDir = join(dir, `${name}.etcd`)): Promise<EtcdMember> {
  const { client, peer } = urls;
  const child: ChildProcess = spawn("etcd", [
    "--name", name, "--data-dir", dataDir,
    "--listen-client-urls", client, "--advertise-client-urls", client,
    "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
    "--initial-cluster", `${name}=${peer}`, "--initial-cluster-state", "new",
    "--log-outputs", join(dir, `${name}.log`), "--logger", "zap",
  ], { stdio: "ignore" });
  const release = track({ kind: "pid", pid: child.pid! }); // stopped even when the run is interrupted
  const ctl = (...args: string[]) => execFileSync("etcdctl", [`--endpoints=${client}`, ...args], { env: etcdEnv, encoding: "utf8" });
  for (let i = 0; ; i++) {
    if (spawnSync("etcdctl", [`--endpoints=${client}`, "endpoint", "health"], { env: etcdEnv }).status === 0) break;
    if (i > 200 || child.exitCode !== null) throw new Error(`etcd ${name} did not become healthy (see ${join(dir, `${name}.log`)})`);
    await sleep(50);
  }
  return {
    name, client, peer, dataDir,
    get: (key) => ctl("get", key, "--print-value-only").replace(/\n$/, "") || null,
    put: (key, value) => void ctl("put", key, value),
    async stop() {
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once("exit", r));
        child.kill("SIGTERM");
        await exited;
      }
      release();
    },
  };
}
