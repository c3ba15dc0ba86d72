import { createServer, type Server } from "node:http";
import { rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TestProject } from "vitest/node";
import { startCeph, type CephCluster } from "./ceph.ts";
import { track } from "./cleanup.ts";

// vitest globalSetup: one Ceph cluster for the whole run, started only when a test file first asks for it
// (ceph-env.ts), so a run of files that never touch S3 pays nothing. The cluster is a child of vitest's own
// process, in its cleanup registry; the files reach this process through a unix socket it provides.

declare module "vitest" {
  export interface ProvidedContext {
    cephControl: string;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const socket = join(tmpdir(), `snapbot-ceph-control-${process.pid}.sock`);
  rmSync(socket, { force: true });
  let cluster: Promise<CephCluster> | null = null;
  const server = createServer((req, res) => {
    req.resume();
    cluster ??= startCeph();
    cluster.then(
      (c) => res.end(JSON.stringify({ ok: true, env: { endpoint: c.endpoint, accessKey: c.accessKey, secretKey: c.secretKey, conf: c.conf, dir: c.dir } })),
      (e: unknown) => res.end(JSON.stringify({ ok: false, error: e instanceof Error ? e.message : String(e) })),
    );
  });
  await listen(server, socket);
  const release = track({ kind: "dir", dir: socket }); // a killed run leaves no socket file either
  project.provide("cephControl", socket);
  return async () => {
    server.close();
    rmSync(socket, { force: true });
    release();
    const started = await cluster?.catch(() => null);
    started?.stop();
  };
}

function listen(server: Server, path: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(path, () => resolve());
  });
}
