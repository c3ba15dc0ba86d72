import { describe, expect, it } from "vitest";
import { UserError } from "../../../src/errors.ts";
import { rejectsWithCode, type fixtures } from "./fixture.ts";

// Servers: the config's servers synced, registered ones, and the history an unregistered server keeps
// (ported from test/db/ledger.test.ts and test/db/history.test.ts).

export function serverContract({ fresh, withServer }: ReturnType<typeof fixtures>): void {
  describe("servers", () => {
    it("config sync, register, unregister and their refusals", async () => {
      const { ledger } = await fresh();
      await ledger.servers.syncFromConfig([{ name: "a", driver: "archive", settings: {} }, { name: "b", driver: "archive", settings: {} }]);
      await ledger.servers.syncFromConfig([{ name: "a", driver: "archive", settings: {} }]);
      expect((await ledger.servers.list()).map((s) => s.name)).toEqual(["a"]);
      await ledger.servers.register({ name: "c", driver: "archive", settings: { paths: ["/srv"] } }, "U1");
      await expect(ledger.servers.register({ name: "c", driver: "archive", settings: {} }, "U1")).rejects.toThrow(/already registered/);
      await expect(ledger.servers.unregister("a")).rejects.toThrow(/comes from the config file/);
      await expect(ledger.servers.unregister("zzz")).rejects.toThrow(/unknown server/);
      await rejectsWithCode(ledger.servers.register({ name: "a", driver: "archive", settings: {} }, "U1"), "server_exists");
      const both = await ledger.servers.getMany(["c", "a", "zzz"]);
      expect([...both.keys()].sort()).toEqual(["a", "c"]);
      expect(both.get("c")).toEqual(await ledger.servers.get("c"));
      expect(both.get("a")).toEqual(await ledger.servers.get("a"));
      await ledger.servers.unregister("c");
      expect(await ledger.servers.get("c")).toBeUndefined();
      expect([...(await ledger.servers.getMany(["c", "a"])).keys()]).toEqual(["a"]); // unregistered: not among them
      expect((await ledger.servers.getMany([])).size).toBe(0);
      await expect(ledger.servers.unregister("c")).rejects.toThrow(UserError);
    });

    it("rows read back whole; a server removed from the config and added again keeps its id", async () => {
      const { ledger, clock } = await fresh();
      await ledger.servers.syncFromConfig([{ name: "web-1", driver: "lxd", settings: { instance: "web-1", limit: 50 }, channel: "C0WEB" }]);
      const first = (await ledger.servers.get("web-1"))!;
      expect(first).toEqual({
        id: first.id, name: "web-1", driver: "lxd", settings: { instance: "web-1", limit: 50 }, source: "config", channel: "C0WEB", cloned_from: null,
        registered_by: null, created_at: clock.now(), removed_at: null,
      });
      clock.advance(1000);
      await ledger.servers.syncFromConfig([]);
      expect((await ledger.servers.find("web-1"))!.removed_at).toBe(clock.now());
      await ledger.servers.syncFromConfig([{ name: "web-1", driver: "lxd", settings: { instance: "web-2" } }]);
      expect(await ledger.servers.get("web-1")).toEqual({ ...first, settings: { instance: "web-2" }, channel: null });
    });

    it("register revives an unregistered name with its history, and records a clone's origin", async () => {
      const { ledger, server } = await withServer();
      const c = await ledger.servers.register({ name: "clone", driver: "archive", settings: {} }, "U1", server.id);
      expect(c).toMatchObject({ source: "registered", registered_by: "U1", cloned_from: server.id });
      const snap = await ledger.snapshots.insert({ server_id: c.id, name: "keep-me", created_by: "U1", state: "done" });
      const gone = await ledger.servers.unregister("clone");
      expect(gone).toMatchObject({ id: c.id, removed_at: null }); // the row as it was
      expect(await ledger.servers.get("clone")).toBeUndefined();
      expect((await ledger.servers.list()).map((s) => s.name)).toEqual(["demo"]);
      const again = await ledger.servers.register({ name: "clone", driver: "command", settings: { x: 1 } }, "U2");
      expect(again).toMatchObject({ id: c.id, driver: "command", registered_by: "U2", removed_at: null });
      expect((await ledger.snapshots.find(again.id, "keep-me"))!.id).toBe(snap.id);
    });

    it("an unregistered server's history stays readable: find, list and the audit log", async () => {
      const { ledger, clock } = await fresh();
      const reg = await ledger.servers.register({ name: "files-2", driver: "archive", settings: { paths: ["/srv"] } }, "U0ADMIN");
      await ledger.operations.insert({ kind: "register", server_id: reg.id, requested_by: "U0ADMIN", state: "succeeded" });
      await ledger.snapshots.insert({ server_id: reg.id, name: "keep-me", created_by: "U0ALICE", state: "done" });
      await ledger.operations.insert({ kind: "create", server_id: reg.id, requested_by: "U0ALICE", state: "succeeded" });
      clock.advance(5000);
      await ledger.servers.unregister("files-2");
      expect(await ledger.servers.get("files-2")).toBeUndefined();
      const found = (await ledger.servers.find("files-2"))!;
      expect(found.removed_at).toBe(clock.now());
      expect((await ledger.snapshots.list(found.id, { limit: 10, offset: 0 })).rows.map((s) => s.name)).toEqual(["keep-me"]);
      expect((await ledger.operations.list({ serverId: found.id, limit: 10 })).map((o) => o.kind)).toEqual(["create", "register"]);
      expect((await ledger.operations.list({ serverId: found.id, limit: 10 }))[0]!.server).toBe("files-2");
      expect(await ledger.servers.find("nobody")).toBeUndefined();
    });
  });
}
