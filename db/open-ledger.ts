import type { Clock } from "../src/clock.ts";
import type { Ledger } from "./ledger.ts";
import { createSqliteLedger } from "./sqlite/sqlite-ledger.ts";
import { createPostgresLedger } from "./postgres/postgres-ledger.ts";
import { displayUrl } from "./postgres/errors.ts";

// Which ledger SNAPBOT_DB names: a file (the embedded SQLite ledger, the default for one box) or a PostgreSQL
// URL (several replicas on one database). The one place that knows both backends; everything else sees `Ledger`.

export type LedgerLocation = { backend: "sqlite"; path: string } | { backend: "postgres"; url: string };

/** Where the ledger is, as logs and messages may show it: a path, or postgres://host:port/db without credentials. */
export function describeLocation(where: LedgerLocation): string {
  return where.backend === "sqlite" ? where.path : displayUrl(where.url);
}

export async function openLedger(where: LedgerLocation, clock: Clock, warn?: (message: string) => void): Promise<Ledger> {
  if (where.backend === "sqlite") return createSqliteLedger(where.path, clock, warn);
  return createPostgresLedger(where.url, clock, { warn });
}
