import { join } from "node:path";
import type { TestProject } from "vitest/node";
import { postgresMissing, startPostgres } from "./postgres.ts";
import { trackedTempDir } from "./cleanup.ts";
import { serveDaemon } from "./daemon-control.ts";

// vitest globalSetup: one PostgreSQL 15 for the whole run, started only when a test file first asks for it
// (pg-ledger.ts), so a run of files that never touch PostgreSQL pays nothing (test/helpers/daemon-control.ts).
// Each test then makes its own database on it (CREATE DATABASE … TEMPLATE template0): independent tests, one start.

export interface PgControlAnswer {
  port: number;
  /** How long the server took to start (ms), for the first file that asked. */
  startedMs: number;
}

export default function setup(project: TestProject): Promise<() => Promise<void>> {
  return serveDaemon({
    project,
    key: "pgControl",
    name: "pg",
    async start() {
      const missing = postgresMissing();
      if (missing) throw new Error(missing);
      const t0 = Date.now();
      const dir = trackedTempDir("snapbot-pg-");
      const pg = await startPostgres(join(dir.dir, "pg"));
      return { pg, dir, startedMs: Date.now() - t0 };
    },
    answer: ({ pg, startedMs }): PgControlAnswer => ({ port: pg.port, startedMs }),
    stop({ pg, dir }) {
      pg.stop();
      dir.remove();
    },
  });
}
