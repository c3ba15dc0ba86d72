import { describe, expect, it } from "vitest";
import { IllegalTransitionError } from "../../../src/errors.ts";
import type { fixtures } from "./fixture.ts";

// Transactions: everything in one commits together or not at all; a nested one is a savepoint.

export function txContract({ withServer }: ReturnType<typeof fixtures>): void {
  describe("transactions", () => {
    it("rolls back everything in a transaction when one change is illegal", async () => {
      const { ledger, server } = await withServer();
      const s = await ledger.snapshots.insert({ server_id: server.id, name: "s1", created_by: "U1" });
      const op = await ledger.operations.insert({ kind: "create", server_id: server.id, snapshot_id: s.id, requested_by: "U1" });
      await expect(
        ledger.tx(async (t) => {
          await t.operations.transition(op.id, "running");
          await t.snapshots.transition(s.id, "done"); // pending → done is illegal
        }),
      ).rejects.toThrow(IllegalTransitionError);
      expect((await ledger.operations.get(op.id))!.state).toBe("queued");
      expect((await ledger.snapshots.get(s.id))!.state).toBe("pending");
    });

    it("commits what fn did and answers with fn's value", async () => {
      const { ledger, server } = await withServer();
      const out = await ledger.tx(async (t) => {
        const s = await t.snapshots.insert({ server_id: server.id, name: "in-tx", created_by: "U1" });
        await t.operations.insert({ kind: "create", server_id: server.id, snapshot_id: s.id, requested_by: "U1" });
        expect((await t.snapshots.get(s.id))!.name).toBe("in-tx"); // its own writes are visible inside
        return s.id;
      });
      expect((await ledger.snapshots.get(out))!.name).toBe("in-tx");
      expect(await ledger.operations.list({ limit: 5 })).toHaveLength(1);
    });

    it("a rolled-back transaction leaves nothing: no rows, no server, no alert", async () => {
      const { ledger, server } = await withServer();
      await expect(
        ledger.tx(async (t) => {
          await t.snapshots.insert({ server_id: server.id, name: "ghost", created_by: "U1" });
          await t.servers.register({ name: "ghost-server", driver: "archive", settings: {} }, "U1");
          await t.alerts.raise({ kind: "snapshot_failed", key: "snapshot_failed:demo:ghost", server_id: server.id, snapshot_id: null, message: "m", channel: null });
          throw new Error("changed my mind");
        }),
      ).rejects.toThrow("changed my mind");
      expect(await ledger.snapshots.find(server.id, "ghost")).toBeUndefined();
      expect(await ledger.servers.find("ghost-server")).toBeUndefined();
      expect(await ledger.alerts.listOpen()).toEqual([]);
      expect(await ledger.snapshots.insert({ server_id: server.id, name: "after", created_by: "U1" })).toMatchObject({ name: "after" }); // still usable
    });

    it("a nested transaction that fails undoes only its own part", async () => {
      const { ledger, server } = await withServer();
      await ledger.tx(async (t) => {
        await t.snapshots.insert({ server_id: server.id, name: "outer", created_by: "U1" });
        await expect(
          t.tx(async (inner) => {
            await inner.snapshots.insert({ server_id: server.id, name: "inner", created_by: "U1" });
            throw new Error("inner fails");
          }),
        ).rejects.toThrow("inner fails");
        const kept = await t.tx(async (inner) => (await inner.snapshots.insert({ server_id: server.id, name: "inner-2", created_by: "U1" })).name);
        expect(kept).toBe("inner-2");
      });
      expect(await ledger.snapshots.find(server.id, "inner")).toBeUndefined();
      expect((await ledger.snapshots.liveNames(server.id)).sort()).toEqual(["inner-2", "outer"]);
    });

    it("a nested transaction commits only with the outer one", async () => {
      const { ledger, server } = await withServer();
      await expect(
        ledger.tx(async (t) => {
          await t.tx(async (inner) => inner.snapshots.insert({ server_id: server.id, name: "nested", created_by: "U1" }));
          throw new Error("outer fails");
        }),
      ).rejects.toThrow("outer fails");
      expect(await ledger.snapshots.find(server.id, "nested")).toBeUndefined();
    });

    it("repository methods that are transactions themselves nest inside one (schedules, host keys, sync)", async () => {
      const { ledger, server } = await withServer();
      await expect(
        ledger.tx(async (t) => {
          await t.schedules.set({ server_id: server.id, cron: "0 * * * *", pattern: null, expiry: null, keep: null, native: false, warn_after_ms: null, crit_after_ms: null, created_by: "U1" });
          await t.hostKeys.record(server.id, [{ type: "ssh-ed25519", fingerprint: "SHA256:a", publicKey: "k" }]);
          await t.servers.syncFromConfig([{ name: "other", driver: "archive", settings: {} }]);
          throw new Error("undo all");
        }),
      ).rejects.toThrow("undo all");
      expect(await ledger.schedules.forServer(server.id)).toBeUndefined();
      expect(await ledger.hostKeys.current(server.id)).toEqual([]);
      expect((await ledger.servers.list()).map((s) => s.name)).toEqual(["demo"]);
    });
  });
}
