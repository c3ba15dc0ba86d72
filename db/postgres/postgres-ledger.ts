import pg from "pg";
import type { Clock } from "../../src/clock.ts";
import type { Ledger, LedgerTx } from "../ledger.ts";
import { createLedgerHealth } from "../health.ts";
import { poolSession, transaction, type Session, type Translate } from "./session.ts";
import { connectionProblem, displayUrl, isDiskFull, unreachable } from "./errors.ts";
import { migrate } from "./migrate.ts";
import { pgRepos } from "./repos.ts";
import { newReplicaId, pgCoordination } from "./coordination.ts";
import type { RepoContext } from "./context.ts";

// The Ledger interface on PostgreSQL (SNAPBOT_DB=postgres://…): several replicas share one database. Calls outside
// a transaction go to the pool, each statement on its own; `tx` holds one pooled connection from BEGIN to COMMIT,
// and `t.tx` inside it is a savepoint. Every state change is one guarded statement (or runs in a transaction),
// so replicas racing for the same change cannot both win.

export interface PostgresLedgerOptions {
  /** Connections the pool may open (default 10). */
  max?: number;
  /** How long to wait for a connection before the ledger counts as unreachable (ms, default 10 000). */
  connectTimeoutMs?: number;
  /** This process's id among the replicas (default: host/pid/random). */
  replica?: string;
  /** Told of a pooled idle connection that broke (the server restarted): one line, never the URL's password. */
  warn?: (message: string) => void;
}

/** int8 (count(*), bigint ids and times) as a JS number, for this pool only: ms times and ids stay below 2^53. */
function typeParsers(): pg.CustomTypesConfig {
  const types = new pg.TypeOverrides();
  types.setTypeParser(pg.types.builtins.INT8, (v: string) => Number(v));
  return types;
}

export async function createPostgresLedger(url: string, clock: Clock, opts: PostgresLedgerOptions = {}): Promise<Ledger> {
  const where = displayUrl(url);
  const now = () => clock.now();
  const pool = new pg.Pool({
    connectionString: url,
    types: typeParsers(),
    max: opts.max ?? 10,
    connectionTimeoutMillis: opts.connectTimeoutMs ?? 10_000,
    application_name: "snapbot",
  });
  // An idle connection the server dropped: the pool discards it and opens another on the next call. Unheard, the
  // 'error' event would end the process.
  pool.on("error", (e) => opts.warn?.(`the ledger ${where} dropped an idle connection (${connectionProblem(e) ?? e.message}); the next call reconnects`));

  let caught: Translate = (e) => e;
  const translate: Translate = (e) => (connectionProblem(e) !== null ? unreachable(where, e) : caught(e));
  const shared = { lastPrune: 0 };
  const replica = opts.replica ?? newReplicaId();
  const ctx = (s: Session): RepoContext => ({ s, now, shared, replica });

  try {
    const client = await pool.connect();
    try {
      await migrate(client, now);
    } finally {
      client.release();
    }
  } catch (e) {
    await pool.end().catch(() => undefined);
    throw translate(e);
  }

  const top = poolSession(pool, translate);
  const health = createLedgerHealth({
    path: where,
    now,
    isDiskFull,
    freeBytes: () => null, // the server's disk is not ours to measure
    probeWrite: async (busyMs) => {
      if (busyMs === undefined) return void (await top.run("UPDATE ledger_probe SET at = $1 WHERE id = 1", [now()]));
      // Bounded: a lock held on the probe row (or a server that stalls) fails after busyMs instead of waiting.
      await transaction(pool, (e) => (connectionProblem(e) !== null ? unreachable(where, e) : e), async (t) => {
        await t.run("SELECT set_config('statement_timeout', $1, true), set_config('lock_timeout', $1, true)", [`${Math.max(1, Math.round(busyMs))}ms`]);
        await t.run("UPDATE ledger_probe SET at = $1 WHERE id = 1", [now()]);
      });
    },
  });
  caught = (e) => health.caught(e);

  /** The tx handle over one transaction's session: its repositories, and `tx` as a savepoint on the same connection. */
  const handle = (s: Session): LedgerTx => ({ ...pgRepos(ctx(s)), tx: (fn) => s.atomic((inner) => fn(handle(inner))) });

  const coordination = pgCoordination(replica, { url, s: top, connectTimeoutMs: opts.connectTimeoutMs ?? 10_000, now, warn: opts.warn });

  return {
    ...pgRepos(ctx(top)),
    backend: "postgres",
    coordination,
    health,
    tx: (fn) => transaction(pool, translate, (s) => fn(handle(s))),
    ping: async () => void (await top.one("SELECT 1")),
    close: async () => {
      await coordination.closeLeader();
      await pool.end();
    },
  };
}
