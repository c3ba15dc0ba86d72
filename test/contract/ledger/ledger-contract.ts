import { describe } from "vitest";
import { fixtures, type OpenLedger } from "./fixture.ts";
import { snapshotContract } from "./snapshots-contract.ts";
import { txContract } from "./tx-contract.ts";
import { operationContract } from "./operations-contract.ts";
import { copyContract } from "./copies-contract.ts";
import { treeContract } from "./tree-contract.ts";
import { serverContract } from "./servers-contract.ts";
import { alertContract } from "./alerts-contract.ts";
import { scheduleContract } from "./schedules-contract.ts";
import { miscContract } from "./misc-contract.ts";

// One ledger contract (DESIGN.md §1a), run against every backend: the same calls, the same rows, the same
// refusals, on the async interface of db/ledger.ts. A backend's own file adds what only it can show
// (SQLite's one connection, PostgreSQL's concurrent transactions and connection errors).

export type { OpenLedger } from "./fixture.ts";

export function ledgerContract(name: string, open: OpenLedger): void {
  describe(`ledger contract: ${name}`, () => {
    const f = fixtures(open);
    snapshotContract(f);
    txContract(f);
    operationContract(f);
    copyContract(f);
    treeContract(f);
    serverContract(f);
    alertContract(f);
    scheduleContract(f);
    miscContract(f);
  });
}
