import { describe, expect, it } from "vitest";
import { join } from "node:path";
import { createSqliteLedger } from "../../../db/sqlite/sqlite-ledger.ts";
import { fakeClock } from "../../../src/clock.ts";
import { tempDir } from "../../helpers/temp-dir.ts";
import { ledgerContract } from "./ledger-contract.ts";

// The ledger contract on the embedded SQLite file: each test a new file; a replica is a second connection on it.

const dir = tempDir("snapbot-ledger-contract-");
let n = 0;

ledgerContract("sqlite", async (clock) => {
  const path = join(dir, `l${++n}.db`);
  return { ledger: createSqliteLedger(path, clock), replica: async (c) => createSqliteLedger(path, c) };
});

describe("sqlite ledger: one connection", () => {
  it("a call from outside waits while a transaction is open, and runs after it commits", async () => {
    const ledger = createSqliteLedger(join(dir, "gate.db"), fakeClock());
    await ledger.servers.syncFromConfig([{ name: "demo", driver: "archive", settings: {} }]);
    const server = (await ledger.servers.get("demo"))!;
    const order: string[] = [];
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    const tx = ledger.tx(async (t) => {
      await t.snapshots.insert({ server_id: server.id, name: "in-tx", created_by: "U1" });
      order.push("tx wrote");
      await held;
      order.push("tx ends");
    });
    await new Promise((r) => setImmediate(r));
    const outside = ledger.snapshots.liveNames(server.id).then((names) => (order.push("outside read"), names));
    await new Promise((r) => setTimeout(r, 50));
    expect(order).toEqual(["tx wrote"]); // still waiting
    release();
    await tx;
    expect(await outside).toEqual(["in-tx"]); // it saw the committed row
    expect(order).toEqual(["tx wrote", "tx ends", "outside read"]);
    await ledger.close();
  });
});
