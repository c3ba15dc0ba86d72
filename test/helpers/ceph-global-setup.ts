import type { TestProject } from "vitest/node";
import { startCeph, type CephEnv } from "./ceph.ts";
import { serveDaemon } from "./daemon-control.ts";

// vitest globalSetup: one Ceph cluster for the whole run, started only when a test file first asks for it
// (ceph-env.ts), so a run of files that never touch S3 pays nothing (test/helpers/daemon-control.ts).

export default function setup(project: TestProject): Promise<() => Promise<void>> {
  return serveDaemon({
    project,
    key: "cephControl",
    name: "ceph",
    start: startCeph,
    answer: (c): { env: CephEnv } => ({ env: { endpoint: c.endpoint, accessKey: c.accessKey, secretKey: c.secretKey, conf: c.conf, dir: c.dir } }),
    stop: (c) => c.stop(),
  });
}
