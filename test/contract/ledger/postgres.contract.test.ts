import { createPostgresLedger } from "../../../db/postgres/postgres-ledger.ts";
import { describePostgres } from "../../helpers/postgres.ts";
import { freshDatabase } from "../../helpers/pg-ledger.ts";
import { ledgerContract } from "./ledger-contract.ts";

// The ledger contract on PostgreSQL 15: each test a new database on the run's one server (test/helpers/
// pg-global-setup.ts); a replica is a second pool on the same database, as another process would open it.

describePostgres("postgres ledger", () => {
  ledgerContract("postgres", async (clock) => {
    const url = await freshDatabase("contract");
    return { ledger: await createPostgresLedger(url, clock, { max: 4 }), replica: (c) => createPostgresLedger(url, c, { max: 4 }) };
  });
});
