import { createServer, type Server } from "node:http";
import { rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TestProject } from "vitest/node";
import { postgresMissing, startPostgres, type Postgres } from "./postgres.ts";
import { track, trackedTempDir } from "./cleanup.ts";

// vitest globalSetup: one PostgreSQL 15 for the whole run, started only when a test file first asks for it
// (pg-ledger.ts), so a run of files that never touch PostgreSQL pays nothing. Each test then makes its own
// database on it (CREATE DATABASE … TEMPLATE template0): independent tests, one server start. The server is a
// child of vitest's own process, in its cleanup registry; the files reach this process through a unix socket.

declare module "vitest" {
  export interface ProvidedContext {
    pgControl: string;
  }
}

export interface PgControlAnswer {
  ok: boolean;
  port?: number;
  /** How long the server took to start (ms), for the first file that asked. */
  startedMs?: number;
  error?: string;
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const socket = join(tmpdir(), `snapbot-pg-control-${process.pid}.sock`);
  rmSync(socket, { force: true });
  let dir: { dir: string; remove(): void } | null = null;
  let server: Promise<{ pg: Postgres; startedMs: number }> | null = null;
  const start = async () => {
    const missing = postgresMissing();
    if (missing) throw new Error(missing);
    const t0 = Date.now();
    dir = trackedTempDir("snapbot-pg-");
    const pg = await startPostgres(join(dir.dir, "pg"));
    return { pg, startedMs: Date.now() - t0 };
  };
  const control = createServer((req, res) => {
    req.resume();
    server ??= start();
    server.then(
      ({ pg, startedMs }) => res.end(JSON.stringify({ ok: true, port: pg.port, startedMs } satisfies PgControlAnswer)),
      (e: unknown) => res.end(JSON.stringify({ ok: false, error: e instanceof Error ? e.message : String(e) } satisfies PgControlAnswer)),
    );
  });
  await listen(control, socket);
  const release = track({ kind: "dir", dir: socket }); // a killed run leaves no socket file either
  project.provide("pgControl", socket);
  return async () => {
    control.close();
    rmSync(socket, { force: true });
    release();
    const started = await server?.catch(() => null);
    started?.pg.stop();
    (dir as { remove(): void } | null)?.remove();
  };
}

function listen(server: Server, path: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(path, () => resolve());
  });
}
