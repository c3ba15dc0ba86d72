import { describe, expect, it } from "vitest";
import { IllegalTransitionError } from "../../../src/errors.ts";
import { addServers, rejectsWithCode, type fixtures } from "./fixture.ts";

// Operations (the audit log): who asked, times, result, the machine; what a crash interrupted.

export function operationContract({ withServer }: ReturnType<typeof fixtures>): void {
  describe("operations (the audit log)", () => {
    it("records who asked, times and the result, and enforces its machine", async () => {
      const { ledger, server, clock } = await withServer();
      const op = await ledger.operations.insert({ kind: "create", server_id: server.id, requested_by: "U1", args: { name: "x" } });
      clock.advance(1000);
      await ledger.operations.transition(op.id, "running");
      clock.advance(2000);
      const done = await ledger.operations.transition(op.id, "succeeded", { result: "ok" });
      expect(done).toMatchObject({ requested_by: "U1", state: "succeeded", result: "ok", args: { name: "x" }, server: "demo" });
      expect(done.finished_at! - done.started_at!).toBe(2000);
      await expect(ledger.operations.transition(op.id, "running")).rejects.toThrow(IllegalTransitionError);
      expect((await ledger.operations.list({ limit: 5 })).map((o) => o.id)).toEqual([op.id]);
      await rejectsWithCode(ledger.operations.transition(999_999, "running"), "unknown_operation");
      expect(await ledger.operations.get(999_999)).toBeUndefined();
    });

    it("an insert's state sets its times; rows have every column", async () => {
      const { ledger, server, clock } = await withServer();
      const waiting = await ledger.operations.insert({ kind: "restore", server_id: server.id, requested_by: "U1", state: "awaiting_approval", channel: "C1" });
      expect(waiting).toEqual({
        id: waiting.id, kind: "restore", server_id: server.id, server: "demo", snapshot_id: null, state: "awaiting_approval", requested_by: "U1",
        approved_by: null, channel: "C1", args: null, result: null, error: null, created_at: clock.now(), started_at: null, finished_at: null,
      });
      const failed = await ledger.operations.insert({ kind: "register", server_id: null, requested_by: "U1", state: "failed", error: "no" });
      expect(failed).toMatchObject({ server: null, started_at: clock.now(), finished_at: clock.now(), error: "no" });
      const running = await ledger.operations.insert({ kind: "verify", server_id: server.id, requested_by: "U1", state: "running" });
      expect(running).toMatchObject({ started_at: clock.now(), finished_at: null });
      const approved = await ledger.operations.transition(waiting.id, "queued", { approved_by: "U2" });
      expect(approved).toMatchObject({ state: "queued", approved_by: "U2", server: "demo" });
    });

    it("insertMany records many in one call, in the order given, each as insert would; a skipped run (cancelled) never started", async () => {
      const { ledger, server, clock } = await withServer();
      expect(await ledger.operations.insertMany([])).toEqual([]);
      const before = await ledger.operations.insert({ kind: "verify", server_id: server.id, requested_by: "U1" });
      const made = await ledger.operations.insertMany([
        { kind: "create", server_id: server.id, requested_by: "scheduler", args: { name: "a" }, state: "queued" },
        { kind: "create", server_id: server.id, requested_by: "scheduler", args: { schedule: 1 }, state: "cancelled", error: "skipped: busy" },
        { kind: "register", server_id: null, requested_by: "U2", channel: "C1", state: "running" },
      ]);
      expect(made.map((o) => o.args)).toEqual([{ name: "a" }, { schedule: 1 }, null]);
      expect(before.id).toBeLessThan(made[0]!.id);
      expect(made[0]!.id).toBeLessThan(made[1]!.id);
      expect(made[1]!.id).toBeLessThan(made[2]!.id);
      expect(made[0]).toMatchObject({ kind: "create", requested_by: "scheduler", server: "demo", state: "queued", created_at: clock.now(), started_at: null, finished_at: null });
      expect(made[1]).toMatchObject({ state: "cancelled", error: "skipped: busy", started_at: null, finished_at: clock.now(), server: "demo" });
      expect(made[2]).toMatchObject({ state: "running", channel: "C1", server: null, started_at: clock.now(), finished_at: null });
      for (const o of made) expect(await ledger.operations.get(o.id)).toEqual(o);
      // A skip recorded alone is the same row.
      const one = await ledger.operations.insert({ kind: "create", server_id: server.id, requested_by: "scheduler", state: "cancelled", error: "no" });
      expect(one).toMatchObject({ state: "cancelled", started_at: null, finished_at: clock.now() });
    });

    it("attaches a snapshot once, lists by server newest first, and finds the interrupted ones", async () => {
      const { ledger, server } = await withServer();
      const [two] = await addServers(ledger, "two");
      const s1 = await ledger.snapshots.insert({ server_id: server.id, name: "a", created_by: "U1" });
      const s2 = await ledger.snapshots.insert({ server_id: server.id, name: "b", created_by: "U1" });
      const a = await ledger.operations.insert({ kind: "create", server_id: server.id, requested_by: "scheduler" });
      await ledger.operations.attachSnapshot(a.id, s1.id);
      await ledger.operations.attachSnapshot(a.id, s2.id); // already attached: kept
      expect((await ledger.operations.get(a.id))!.snapshot_id).toBe(s1.id);
      const b = await ledger.operations.insert({ kind: "verify", server_id: two.id, requested_by: "U1", state: "running" });
      const c = await ledger.operations.insert({ kind: "verify", server_id: server.id, requested_by: "U1", state: "succeeded" });
      await ledger.operations.insert({ kind: "x", server_id: server.id, requested_by: "U1", state: "awaiting_approval" });
      expect((await ledger.operations.list({ serverId: server.id, limit: 2 })).map((o) => o.kind)).toEqual(["x", "verify"]);
      expect((await ledger.operations.list({ serverId: two.id, limit: 10 })).map((o) => o.id)).toEqual([b.id]);
      expect((await ledger.operations.list({ limit: 10 })).map((o) => o.id)).toHaveLength(4);
      expect((await ledger.operations.interrupted()).map((o) => o.id).sort((x, y) => x - y)).toEqual([a.id, b.id]);
      expect(c.state).toBe("succeeded");
    });
  });
}
