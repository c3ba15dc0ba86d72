import { execFileSync, spawnSync } from "node:child_process";
import { chmodSync, chownSync, existsSync, mkdirSync, readFileSync } from "node:fs";
import { createServer } from "node:net";
import { dirname, join } from "node:path";
import { describe, it } from "vitest";
import { track } from "./cleanup.ts";

// A real PostgreSQL 15 for the command driver's tests (DESIGN.md §5, recipes/pg/pg.sh): initdb + pg_ctl in a
// throwaway folder, listening on 127.0.0.1 with trust auth. It refuses to run as root, so it runs as postgres.
// Missing under CI=true is a failure (.ci/run installs it), a skip with a warning otherwise.

export const PG_BIN = "/usr/lib/postgresql/15/bin";
/** No user relations outside the catalogs: the recipe's "clean" query. */
export const CLEAN_SQL =
  "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid=c.relnamespace WHERE c.relkind IN ('r','p','v','m','f','S') " +
  "AND n.nspname NOT IN ('pg_catalog','information_schema') AND n.nspname NOT LIKE 'pg_toast%' AND n.nspname NOT LIKE 'pg_temp%'";

export interface Postgres {
  port: number;
  url(db: string): string;
  /** psql -tA: the rows as text. */
  sql(db: string, query: string): string;
  stop(): void;
  /** The server down (fast shutdown: every connection cut) and up again on the same port and data, for outage tests. */
  down(): void;
  up(): void;
}

export function postgresMissing(): string | null {
  if (!existsSync(join(PG_BIN, "pg_ctl"))) return `PostgreSQL 15 is not installed (${PG_BIN}/pg_ctl)`;
  if (spawnSync("id", ["postgres"]).status !== 0) return "there is no postgres user to run the server as";
  return null;
}

export function describePostgres(title: string, body: () => void): void {
  const why = postgresMissing();
  if (!why) return void describe(title, body);
  if (process.env.CI === "true") return void describe(title, () => it("has PostgreSQL 15", () => { throw new Error(`${why}: CI must run the PostgreSQL tests`); }));
  console.warn(`skipping "${title}": ${why}`);
  describe.skip(title, body);
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

export async function startPostgres(dir: string): Promise<Postgres> {
  const port = await freePort();
  mkdirSync(dir, { recursive: true });
  chmodSync(dirname(dir), 0o711); // a test's temp folder is 0700: the postgres user must pass through it
  chownSync(dir, uidOf("postgres"), gidOf("postgres"));
  const asPg = (cmd: string, args: string[]) => execFileSync("runuser", ["-u", "postgres", "--", join(PG_BIN, cmd), ...args], { cwd: "/tmp", stdio: "pipe" });
  asPg("initdb", ["-D", join(dir, "data"), "-U", "postgres", "-A", "trust", "--no-sync", "-E", "UTF8", "--locale=C.UTF-8"]);
  const opts = `-c listen_addresses=127.0.0.1 -p ${port} -k ${dir} -c fsync=off -c full_page_writes=off -c synchronous_commit=off`;
  const start = () => {
    asPg("pg_ctl", ["-D", join(dir, "data"), "-l", join(dir, "log"), "-w", "-t", "30", "-o", opts, "start"]);
    // The postmaster is recorded like every daemon a test starts, so an interrupted run does not leave it running.
    const postmaster = Number(readFileSync(join(dir, "data", "postmaster.pid"), "utf8").split("\n")[0]);
    return track({ kind: "pid", pid: postmaster });
  };
  const pgStop = () => spawnSync("runuser", ["-u", "postgres", "--", join(PG_BIN, "pg_ctl"), "-D", join(dir, "data"), "-m", "fast", "-w", "stop"], { cwd: "/tmp" });
  let release = start();
  const url = (db: string) => `postgresql://postgres@127.0.0.1:${port}/${db}`;
  return {
    port,
    url,
    sql: (db, query) => execFileSync(join(PG_BIN, "psql"), ["-X", "-q", "-tA", "-v", "ON_ERROR_STOP=1", `--dbname=${url(db)}`, "-c", query], { encoding: "utf8" }).trim(),
    stop: () => {
      spawnSync("runuser", ["-u", "postgres", "--", join(PG_BIN, "pg_ctl"), "-D", join(dir, "data"), "-m", "immediate", "-w", "stop"], { cwd: "/tmp" });
      release();
    },
    down: () => {
      pgStop();
      release();
    },
    up: () => {
      release = start();
    },
  };
}

const uidOf = (user: string) => Number(execFileSync("id", ["-u", user], { encoding: "utf8" }).trim());
const gidOf = (user: string) => Number(execFileSync("id", ["-g", user], { encoding: "utf8" }).trim());
