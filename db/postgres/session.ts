import type pg from "pg";
import { toJson } from "../json.ts";

// Where a repository's statements go: the pool (each statement on whichever connection is free, committed on
// its own) or one transaction's connection. Repositories are written against this alone, so the same code
// serves the ledger's top level and a `tx` handle; `atomic` is how a repository method that takes several
// statements keeps them together (a transaction at the top level, a savepoint inside one).

export interface Session {
  /** The rows of one statement. */
  rows<R extends object>(sql: string, values?: readonly unknown[]): Promise<R[]>;
  /** The first row of one statement, or undefined. */
  one<R extends object>(sql: string, values?: readonly unknown[]): Promise<R | undefined>;
  /** How many rows one statement inserted, updated or deleted. */
  run(sql: string, values?: readonly unknown[]): Promise<number>;
  /** fn's statements commit together or not at all (a transaction; a savepoint when already in one). */
  atomic<T>(fn: (s: Session) => Promise<T>): Promise<T>;
}

/** A raw database error made into what callers see (ledger_full, ledger_unreachable…). */
export type Translate = (e: unknown) => unknown;

type Queryable = Pick<pg.Pool, "query"> | Pick<pg.PoolClient, "query">;

function statements(q: Queryable, translate: Translate): Omit<Session, "atomic"> {
  const exec = async (sql: string, values?: readonly unknown[]): Promise<pg.QueryResult> => {
    try {
      return await q.query(sql, values as unknown[] | undefined);
    } catch (e) {
      throw translate(e);
    }
  };
  return {
    // The row types are the SQL's promise (the columns it selects), as with better-sqlite3's `as` casts.
    rows: async <R extends object>(sql: string, values?: readonly unknown[]) => (await exec(sql, values)).rows as R[],
    one: async <R extends object>(sql: string, values?: readonly unknown[]) => (await exec(sql, values)).rows[0] as R | undefined,
    run: async (sql, values) => (await exec(sql, values)).rowCount ?? 0,
  };
}

/** Statements on the pool; `atomic` checks out one connection for BEGIN … COMMIT. */
export function poolSession(pool: pg.Pool, translate: Translate): Session {
  return { ...statements(pool, translate), atomic: (fn) => transaction(pool, translate, fn) };
}

/**
 * fn on one connection inside BEGIN … COMMIT (ROLLBACK when it throws). The connection is checked out for the
 * whole of fn: a broken one (the server went away mid-transaction) is destroyed, not returned to the pool.
 */
export async function transaction<T>(pool: pg.Pool, translate: Translate, fn: (s: Session) => Promise<T>): Promise<T> {
  let client: pg.PoolClient;
  try {
    client = await pool.connect();
  } catch (e) {
    throw translate(e);
  }
  // A checked-out client has no pool listener: without ours, the server dying mid-transaction would be an
  // uncaught 'error' event (the process would exit). Its pending query rejects as well, and that is what we report.
  let broken: unknown = null;
  const onError = (e: unknown) => void (broken ??= e);
  client.on("error", onError);
  const s = clientSession(client, translate);
  try {
    await s.run("BEGIN");
    const out = await fn(s);
    await s.run("COMMIT");
    return out;
  } catch (e) {
    broken ??= await client.query("ROLLBACK").then(() => null, (r: unknown) => r);
    throw e;
  } finally {
    client.removeListener("error", onError);
    client.release(broken instanceof Error ? broken : undefined);
  }
}

/** Statements on one transaction's connection; `atomic` is a savepoint, so a nested failure undoes only its own part. */
export function clientSession(client: pg.PoolClient, translate: Translate): Session {
  let depth = 0;
  const s: Session = {
    ...statements(client, translate),
    async atomic(fn) {
      const sp = `snapbot_sp${++depth}`;
      await s.run(`SAVEPOINT ${sp}`);
      try {
        const out = await fn(s);
        await s.run(`RELEASE SAVEPOINT ${sp}`);
        return out;
      } catch (e) {
        await client.query(`ROLLBACK TO SAVEPOINT ${sp}; RELEASE SAVEPOINT ${sp}`).catch(() => undefined);
        throw e;
      } finally {
        depth--;
      }
    },
  };
  return s;
}

/**
 * "a = $2, b = $3" for the keys of `changes` a caller may set, and their values (JSON columns serialised).
 * The column names come from a fixed list, never from the caller's object: an unknown key is a programming error.
 */
export function setClause(
  changes: Record<string, unknown>,
  allowed: readonly string[],
  first: number,
  json: readonly string[] = [],
): { sets: string[]; values: unknown[] } {
  const sets: string[] = [];
  const values: unknown[] = [];
  for (const [k, v] of Object.entries(changes)) {
    if (!allowed.includes(k)) throw new Error(`${k} is not a column this change may set (${allowed.join(", ")})`);
    sets.push(`${k} = $${first + values.length}`);
    values.push(json.includes(k) ? toJson(v) : (v ?? null));
  }
  return { sets, values };
}
