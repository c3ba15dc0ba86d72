import type Database from "better-sqlite3";
import type { Db } from "./open-db.ts";

// better-sqlite3 prepares BEGIN/COMMIT/ROLLBACK each time db.transaction() wraps a function, and a
// statement each time db.prepare() is called: on hot paths (10,000 scheduled runs in one tick) both are
// made once per database and reused.

/** Runs fn in a transaction (a savepoint when nested), with one wrapper for the whole database. */
export function transactional(db: Db): <T>(fn: () => T) => T {
  const run = db.transaction((fn: () => unknown) => fn());
  return <T>(fn: () => T): T => run(fn) as T;
}

/** Prepared statements by SQL text, for queries built from a few fixed shapes (which columns change). */
export function statementCache(db: Db): (sql: string) => Database.Statement {
  const cache = new Map<string, Database.Statement>();
  return (sql) => {
    let st = cache.get(sql);
    if (!st) cache.set(sql, (st = db.prepare(sql)));
    return st;
  };
}
