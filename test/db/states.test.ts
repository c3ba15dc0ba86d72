import { describe, expect, it } from "vitest";
import { operationMachine, snapshotMachine } from "../../db/states.ts";

// The machines' shape (db/states.ts), which every backend enforces (test/contract/ledger/ walks them on each).

describe("the state machines", () => {
  it("never go from done back to running, nor from deleted or succeeded anywhere", () => {
    expect(snapshotMachine.done).not.toContain("running");
    expect(snapshotMachine.deleted).toEqual([]);
    expect(operationMachine.succeeded).toEqual([]);
  });
});
