import { describe, expect, it } from "vitest";
import { addServers, type fixtures } from "./fixture.ts";

// Host keys, deliveries, the metrics' aggregates, retention's reads, and the ledger's own ping and health.

const key = (fingerprint: string, type = "ssh-ed25519") => ({ type, fingerprint, publicKey: `${type} AAAA${fingerprint}` });

export function miscContract({ fresh, withServer }: ReturnType<typeof fixtures>): void {
  describe("host keys", () => {
    it("records what a server presents, blocks on a change until accepted", async () => {
      const { ledger, server } = await withServer();
      await ledger.hostKeys.record(server.id, [key("SHA256:b", "ssh-rsa"), key("SHA256:a")]);
      expect(await ledger.hostKeys.current(server.id)).toEqual([key("SHA256:a"), key("SHA256:b", "ssh-rsa")]); // by key type
      await ledger.hostKeys.record(server.id, [key("SHA256:a"), key("SHA256:c", "ecdsa-sha2-nistp256")]);
      expect((await ledger.hostKeys.current(server.id)).map((k) => k.fingerprint)).toEqual(["SHA256:c", "SHA256:a"]);
      expect(await ledger.hostKeys.pending(server.id)).toEqual([]);
      await ledger.hostKeys.block(server.id, [key("SHA256:x")]);
      await ledger.hostKeys.block(server.id, [key("SHA256:y"), key("SHA256:z", "ssh-rsa")]); // replaces the earlier pending ones
      expect((await ledger.hostKeys.pending(server.id)).map((k) => k.fingerprint)).toEqual(["SHA256:y", "SHA256:z"]);
      await ledger.hostKeys.accept(server.id, [key("SHA256:y")]);
      expect(await ledger.hostKeys.pending(server.id)).toEqual([]);
      expect(await ledger.hostKeys.current(server.id)).toEqual([key("SHA256:y")]);
      expect(await ledger.hostKeys.blockedAmong([server.id, 999_999])).toEqual(new Set());
      await ledger.hostKeys.block(server.id, []); // nothing presented: still blocked
      expect(await ledger.hostKeys.pending(server.id)).toEqual([{ type: "unknown", fingerprint: "unknown", publicKey: null }]);
      expect(await ledger.hostKeys.blockedAmong([server.id, 999_999])).toEqual(new Set([server.id]));
      expect(await ledger.hostKeys.blockedAmong([])).toEqual(new Set());
    });

    it("shared keys: the same key on more than one active server", async () => {
      const { ledger, server } = await withServer();
      const [b, a] = await addServers(ledger, "clone-b", "clone-a");
      await ledger.hostKeys.record(server.id, [key("SHA256:same"), key("SHA256:own", "ssh-rsa")]);
      await ledger.hostKeys.record(b.id, [key("SHA256:same")]);
      await ledger.hostKeys.record(a.id, [key("SHA256:same"), key("SHA256:ab", "ssh-rsa")]);
      await ledger.hostKeys.record(b.id, [key("SHA256:same"), key("SHA256:ab", "ssh-rsa")]);
      expect(await ledger.hostKeys.shared()).toEqual([
        { fingerprint: "SHA256:ab", type: "ssh-rsa", servers: ["clone-a", "clone-b"] },
        { fingerprint: "SHA256:same", type: "ssh-ed25519", servers: ["clone-a", "clone-b", "demo"] },
      ]);
      await ledger.servers.syncFromConfig([{ name: "demo", driver: "archive", settings: {} }, { name: "clone-a", driver: "archive", settings: {} }]);
      expect((await ledger.hostKeys.shared()).map((k) => k.servers)).toEqual([["clone-a", "demo"]]);
    });
  });

  describe("deliveries", () => {
    it("the first delivery of a key wins, on any replica; a day later the key is forgotten", async () => {
      const { ledger, clock, replica } = await fresh();
      const other = await replica();
      const firsts = await Promise.all([ledger.deliveries.firstSeen("trigger:1"), other.deliveries.firstSeen("trigger:1")]);
      expect(firsts.filter(Boolean)).toHaveLength(1);
      expect(await ledger.deliveries.firstSeen("trigger:1")).toBe(false);
      expect(await ledger.deliveries.firstSeen("trigger:2")).toBe(true);
      expect(await other.deliveries.count()).toBe(2);
      clock.advance(25 * 3_600_000);
      expect(await ledger.deliveries.firstSeen("trigger:1")).toBe(true);
      expect(await ledger.deliveries.count()).toBe(1); // the day-old keys were forgotten when trigger:1 came again
    });
  });

  describe("stats", () => {
    it("counts, newest good, health per server, open alerts by kind, finished operations", async () => {
      const { ledger, server, clock } = await withServer();
      const [b] = await addServers(ledger, "b");
      const s1 = await ledger.snapshots.insert({ server_id: server.id, name: "s1", created_by: "U1", state: "done", finished_at: 5000 });
      await ledger.snapshots.insert({ server_id: server.id, name: "s2", created_by: "U1", state: "done", created_at: 7000 });
      await ledger.snapshots.insert({ server_id: server.id, name: "s3", created_by: "U1" });
      const counts = await ledger.stats.snapshotCounts();
      expect(counts).toEqual([
        { server: "demo", counts: { pending: 1, running: 0, done: 2, failed: 0, broken: 0, deleting: 0, deleted: 0, expired: 0 } },
        { server: "b", counts: { pending: 0, running: 0, done: 0, failed: 0, broken: 0, deleting: 0, deleted: 0, expired: 0 } },
      ]);
      expect(await ledger.stats.newestGood()).toEqual([{ server: "demo", at: 7000 }]);
      await ledger.alerts.raise({ kind: "snapshot_failed", key: "snapshot_failed:demo:s1", server_id: server.id, snapshot_id: s1.id, message: "m", channel: null });
      await ledger.alerts.raise({ kind: "snapshot_failed", key: "snapshot_failed:demo:s2", server_id: server.id, snapshot_id: null, message: "m", channel: null });
      await ledger.alerts.raise({ kind: "limit_near", key: "limit_near:b:", server_id: b.id, snapshot_id: null, message: "m", channel: null });
      expect(await ledger.stats.openAlerts()).toEqual([{ kind: "limit_near", n: 1 }, { kind: "snapshot_failed", n: 2 }]);
      await ledger.hostKeys.block(b.id, [key("SHA256:new")]);
      const t0 = clock.now();
      const ok = await ledger.operations.insert({ kind: "create", server_id: server.id, requested_by: "U1", state: "running" });
      clock.advance(1000);
      await ledger.operations.transition(ok.id, "succeeded");
      const bad = await ledger.operations.insert({ kind: "verify", server_id: b.id, requested_by: "U1", state: "running" });
      await ledger.operations.transition(bad.id, "failed", { error: "x" });
      const orphan = await ledger.operations.insert({ kind: "register", server_id: null, requested_by: "U1", state: "succeeded" });
      expect(await ledger.stats.serverHealth()).toEqual([
        { server: "b", newestGood: null, openAlerts: 1, blocked: true, lastFailed: "verify" },
        { server: "demo", newestGood: 7000, openAlerts: 2, blocked: false, lastFailed: null },
      ]);
      expect(await ledger.stats.finishedSince(t0 + 1)).toEqual([
        { id: ok.id, kind: "create", server: "demo", state: "succeeded", started_at: t0, finished_at: t0 + 1000 },
        { id: bad.id, kind: "verify", server: "b", state: "failed", started_at: t0 + 1000, finished_at: t0 + 1000 },
        { id: orphan.id, kind: "register", server: null, state: "succeeded", started_at: t0 + 1000, finished_at: t0 + 1000 },
      ]);
      expect(await ledger.stats.finishedSince(t0 + 2000)).toEqual([]);
    });
  });

  describe("retention reads", () => {
    it("candidates by origin, the newest good snapshot, parents and what unfinished work holds", async () => {
      const { ledger, server } = await withServer();
      const mk = (name: string, created_at: number, origin: "snapbot" | "schedule" | "external" = "snapbot", parent_id: number | null = null) =>
        ledger.snapshots.insert({ server_id: server.id, name, created_by: "U1", state: "done", created_at, origin, parent_id });
      const a = await mk("a", 3000);
      const b = await mk("b", 1000, "schedule");
      const c = await mk("c", 2000, "snapbot", a.id);
      await ledger.snapshots.transition(c.id, "broken");
      await mk("d", 4000, "external", b.id);
      const e = await mk("e", 500, "snapbot", c.id);
      await ledger.snapshots.transition(e.id, "deleting");
      await ledger.snapshots.transition(e.id, "deleted");
      const got = await ledger.retention.candidates(server.id, ["snapbot", "schedule"]);
      expect(got).toEqual([
        { id: c.id, name: "c", createdAt: 2000, state: "broken", hasChildren: false, inUse: null },
        { id: a.id, name: "a", createdAt: 3000, state: "done", hasChildren: false, inUse: null },
        { id: b.id, name: "b", createdAt: 1000, state: "done", hasChildren: false, inUse: null },
      ]);
      expect((await ledger.retention.candidates(server.id, ["schedule", "snapbot"], false)).map((r) => [r.id, r.name])).toEqual([[b.id, ""], [c.id, ""], [a.id, ""]]);
      expect(await ledger.retention.candidates(server.id, [])).toEqual([]);
      expect(await ledger.retention.newestGood(server.id)).toBe(4000);
      expect(await ledger.retention.newestGood(server.id + 1000)).toBeNull();
      expect([...(await ledger.retention.parents(server.id))].sort((x, y) => x - y)).toEqual([a.id, b.id]); // not c: its child is deleted
      const op = await ledger.operations.insert({ kind: "restore", server_id: server.id, snapshot_id: a.id, requested_by: "U1", state: "awaiting_approval" });
      await ledger.operations.insert({ kind: "verify", server_id: server.id, snapshot_id: b.id, requested_by: "U1", state: "succeeded" });
      expect(await ledger.retention.inUse()).toEqual(new Map([[a.id, `restore awaiting approval (operation #${op.id})`]]));
    });
  });

  describe("the ledger itself", () => {
    it("answers ping, names its backend, and its health starts writable", async () => {
      const { ledger } = await fresh();
      await ledger.ping();
      expect(["sqlite", "postgres"]).toContain(ledger.backend);
      expect(ledger.health.full).toBe(false);
      expect(ledger.health.fullSince()).toBeNull();
      expect(await ledger.health.probe()).toBe(true);
      expect(await ledger.health.probe(500)).toBe(true);
      expect(ledger.health.waiting()).toBe(0);
      expect(ledger.health.path).not.toMatch(/:[^/@]*@/); // never credentials
      expect(ledger.health.caught(new Error("other"))).toBeInstanceOf(Error);
    });
  });
}
