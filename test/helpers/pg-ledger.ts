import { join } from "node:path";
import pg from "pg";
import { afterAll } from "vitest";
import { startPostgres } from "./postgres.ts";
import { trackedTempDir } from "./cleanup.ts";
import type { PgControlAnswer } from "./pg-global-setup.ts";
import { askDaemon } from "./daemon-ask.ts";

// PostgreSQL for a test file: the run's shared server (pg-global-setup.ts starts it on the first request), or,
// under a config without that setup, one of the file's own. `freshDatabase` gives each test an empty database.

export interface PgServer {
  port: number;
  url(db: string): string;
  /** ms the server took to start (0 when another file started it). */
  startedMs: number;
}

let shared: Promise<PgServer> | null = null;
let made = 0;

export function usePostgresServer(): Promise<PgServer> {
  shared ??= fromControl().then(async (server) => {
    if (server) return server;
    const t0 = Date.now();
    const dir = trackedTempDir("snapbot-pg-file-");
    const own = await startPostgres(join(dir.dir, "pg"));
    afterAll(() => {
      own.stop();
      dir.remove();
    });
    return { port: own.port, url: own.url, startedMs: Date.now() - t0 };
  });
  return shared;
}

/** A new, empty database on the shared server (from template0: nothing of other tests in it); returns its URL. */
export async function freshDatabase(prefix = "snapbot"): Promise<string> {
  const server = await usePostgresServer();
  const name = `${prefix}_${process.pid}_${++made}_${Math.random().toString(36).slice(2, 8)}`;
  const admin = new pg.Client({ connectionString: server.url("postgres") });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name} TEMPLATE template0`);
  } finally {
    await admin.end();
  }
  return server.url(name);
}

async function fromControl(): Promise<PgServer | null> {
  const answer = await askDaemon<PgControlAnswer>("pgControl", "/postgres");
  if (!answer) return null;
  if (!answer.ok) throw new Error(`PostgreSQL did not start: ${answer.error}`);
  const { port, startedMs } = answer;
  return { port, url: (db) => `postgresql://postgres@127.0.0.1:${port}/${db}`, startedMs };
}
