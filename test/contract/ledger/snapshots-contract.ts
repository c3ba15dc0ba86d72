import { describe, expect, it } from "vitest";
import { snapshotMachine, type SnapshotState } from "../../../db/states.ts";
import { IllegalTransitionError, SnapbotError } from "../../../src/errors.ts";
import { SNAPSHOT_PATHS, addServers, rejectsWithCode, walkSnapshot, type fixtures } from "./fixture.ts";

// Snapshots: the state machine, guarded transitions, live-name uniqueness, the queries list/show/retention read
// (ported from test/db/ledger.test.ts and test/db/history.test.ts, on the async interface).

export function snapshotContract({ withServer }: ReturnType<typeof fixtures>): void {
  describe("snapshot state machine", () => {
    const legal: Array<[SnapshotState, SnapshotState[]]> = [
      ["pending", ["running"]],
      ["pending", ["running", "done"]],
      ["pending", ["running", "failed"]],
      ["pending", ["running", "broken"]],
      ["pending", ["running", "done", "broken", "deleting", "deleted"]],
      ["pending", ["running", "done", "expired"]],
    ];
    it.each(legal)("walks %s → %j", async (_from, path) => {
      const { ledger, server } = await withServer();
      const s = await ledger.snapshots.insert({ server_id: server.id, name: "s1", created_by: "U1" });
      for (const to of path) expect((await ledger.snapshots.transition(s.id, to)).state).toBe(to);
    });

    it("refuses every transition the machine does not list, and changes nothing", async () => {
      const { ledger, server } = await withServer();
      const all = Object.keys(snapshotMachine) as SnapshotState[];
      let refused = 0;
      for (const from of all)
        for (const to of all) {
          if (snapshotMachine[from].includes(to)) continue;
          const s = await ledger.snapshots.insert({ server_id: server.id, name: `s-${from}-${to}`, created_by: "U1" });
          await walkSnapshot(ledger, s.id, from);
          await expect(ledger.snapshots.transition(s.id, to, { error: "x" })).rejects.toThrow(IllegalTransitionError);
          expect(await ledger.snapshots.get(s.id)).toMatchObject({ state: from, error: null });
          refused++;
        }
      expect(refused).toBeGreaterThan(40);
    });

    it("an unknown snapshot is refused by name", async () => {
      const { ledger } = await withServer();
      await rejectsWithCode(ledger.snapshots.transition(999_999, "running"), "unknown_snapshot");
      expect(await ledger.snapshots.get(999_999)).toBeUndefined();
    });

    it("guards the update on the state it read: a stale writer loses", async () => {
      const { ledger, server, replica } = await withServer();
      const s = await ledger.snapshots.insert({ server_id: server.id, name: "s1", created_by: "U1" });
      const other = await replica(); // a second writer on the same database
      await other.snapshots.transition(s.id, "running");
      await other.snapshots.transition(s.id, "failed");
      await expect(ledger.snapshots.transition(s.id, "running")).rejects.toThrow(/cannot go from failed to running/);
    });

    it("two writers racing for the same transition: exactly one wins, the other is refused", async () => {
      const { ledger, server, replica } = await withServer();
      const other = await replica();
      for (let i = 0; i < 5; i++) {
        const s = await ledger.snapshots.insert({ server_id: server.id, name: `race${i}`, created_by: "U1" });
        const results = await Promise.allSettled([ledger.snapshots.transition(s.id, "running"), other.snapshots.transition(s.id, "running")]);
        expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(1);
        const lost = results.find((r) => r.status === "rejected")!.reason as SnapbotError;
        expect(["illegal_transition", "concurrent_change"]).toContain(lost.code);
        expect((await ledger.snapshots.get(s.id))!.state).toBe("running");
      }
    });

    it("keeps names unique among live snapshots but free again after a failure", async () => {
      const { ledger, server } = await withServer();
      const a = await ledger.snapshots.insert({ server_id: server.id, name: "nightly", created_by: "U1" });
      const dup = await rejectsWithCode(ledger.snapshots.insert({ server_id: server.id, name: "nightly", created_by: "U1" }), "snapshot_exists");
      expect(dup.message).toMatch(/already exists/);
      await ledger.snapshots.transition(a.id, "failed", { error: "boom" });
      const b = await ledger.snapshots.insert({ server_id: server.id, name: "nightly", created_by: "U1" });
      expect((await ledger.snapshots.find(server.id, "nightly"))!.id).toBe(b.id);
      expect((await ledger.snapshots.findLive(server.id, "nightly"))!.id).toBe(b.id);
      await ledger.snapshots.transition(b.id, "running");
      await ledger.snapshots.transition(b.id, "failed");
      expect(await ledger.snapshots.findLive(server.id, "nightly")).toBeUndefined();
      expect((await ledger.snapshots.find(server.id, "nightly"))!.id).toBe(b.id); // the newest record of it
      expect(await ledger.snapshots.find(server.id, "never")).toBeUndefined();
    });

    it("liveAmong finds, of many (server, name) pairs at once, the ones a live snapshot has", async () => {
      const { ledger, server } = await withServer();
      const [web] = await addServers(ledger, "web");
      const a = await ledger.snapshots.insert({ server_id: server.id, name: "nightly", created_by: "U1" });
      const gone = await ledger.snapshots.insert({ server_id: web.id, name: "nightly", created_by: "U1" });
      await ledger.snapshots.transition(gone.id, "failed", { error: "boom" });
      const b = await ledger.snapshots.insert({ server_id: web.id, name: "weekly", created_by: "U1" });
      expect(await ledger.snapshots.liveAmong([])).toEqual([]);
      const found = await ledger.snapshots.liveAmong([
        { serverId: server.id, name: "nightly" },
        { serverId: web.id, name: "nightly" }, // failed: free again
        { serverId: web.id, name: "weekly" },
        { serverId: server.id, name: "weekly" },
      ]);
      expect(found.map((s) => s.id).sort((x, y) => x - y)).toEqual([a.id, b.id]);
      expect(found.find((s) => s.id === b.id)).toEqual(await ledger.snapshots.get(b.id));
    });

    it("a refused duplicate inside a transaction leaves the transaction usable", async () => {
      const { ledger, server } = await withServer();
      await ledger.snapshots.insert({ server_id: server.id, name: "taken", created_by: "U1" });
      const made = await ledger.tx(async (t) => {
        await expect(t.snapshots.insert({ server_id: server.id, name: "taken", created_by: "U1" })).rejects.toThrow(/already exists/);
        return t.snapshots.insert({ server_id: server.id, name: "taken-2", created_by: "U1" });
      });
      expect((await ledger.snapshots.get(made.id))!.name).toBe("taken-2");
    });
  });

  describe("snapshot rows", () => {
    it("insert and transition return the whole row, JSON and boolean columns read back as values", async () => {
      const { ledger, server, clock } = await withServer();
      const s = await ledger.snapshots.insert({
        server_id: server.id, name: "full", created_by: "U1", origin: "schedule", note: "n", stateful: true, expires_at: clock.now() + 5, size: 7,
      });
      expect(s).toEqual({
        id: s.id, server_id: server.id, server: "demo", name: "full", parent_id: null, state: "pending", origin: "schedule", location: null, size: 7,
        checksum: null, checksums: null, details: null, stateful: true, note: "n", created_by: "U1", created_at: clock.now(), finished_at: null,
        expires_at: clock.now() + 5, verified_at: null, error: null, deleted_at: null, deleted_by: null,
      });
      await ledger.snapshots.transition(s.id, "running");
      const checksums = [{ file: "part-0", size: 3, sha256: "ab" }];
      const done = await ledger.snapshots.transition(s.id, "done", { location: "/x", checksum: "sha256:1", checksums, details: { a: [1, { b: null }] }, finished_at: 9, size: 2 ** 40 });
      expect(done).toMatchObject({ state: "done", server: "demo", checksums, details: { a: [1, { b: null }] }, finished_at: 9, size: 2 ** 40, stateful: true });
      expect(await ledger.snapshots.get(s.id)).toEqual(done);
      const plain = await ledger.snapshots.insert({ server_id: server.id, name: "plain", created_by: null, state: "done", created_at: 5, finished_at: 6 });
      expect(plain).toMatchObject({ stateful: false, origin: "snapbot", state: "done", created_at: 5, finished_at: 6, created_by: null });
    });

    it("annotate changes fields but never the state", async () => {
      const { ledger, server } = await withServer();
      const s = await ledger.snapshots.insert({ server_id: server.id, name: "a", created_by: "U1", state: "done" });
      await ledger.snapshots.annotate(s.id, { verified_at: 42, details: { verified: true }, error: "slow" });
      await ledger.snapshots.annotate(s.id, {});
      expect(await ledger.snapshots.get(s.id)).toMatchObject({ state: "done", verified_at: 42, details: { verified: true }, error: "slow" });
      await ledger.snapshots.annotate(s.id, { details: null, error: null });
      expect(await ledger.snapshots.get(s.id)).toMatchObject({ details: null, error: null, verified_at: 42 });
    });

    it("lists newest first with paging, filters by state, and finds expired snapshots", async () => {
      const { ledger, server, clock } = await withServer();
      for (let i = 0; i < 120; i++) {
        clock.advance(60_000);
        const s = await ledger.snapshots.insert({ server_id: server.id, name: `s${i}`, created_by: "U1", expires_at: i < 30 ? clock.now() + 1000 : null });
        await ledger.snapshots.transition(s.id, "running");
        await ledger.snapshots.transition(s.id, i % 10 === 0 ? "failed" : "done");
      }
      const page1 = await ledger.snapshots.list(server.id, { limit: 50, offset: 0 });
      expect(page1.total).toBe(108);
      expect(await ledger.snapshots.liveCount(server.id)).toBe(108); // the limit's count: what list shows
      expect(page1.rows[0]!.name).toBe("s119");
      const page3 = await ledger.snapshots.list(server.id, { limit: 50, offset: 100 });
      expect(page3.rows).toHaveLength(8);
      expect((await ledger.snapshots.list(server.id, { state: "failed", limit: 50, offset: 0 })).total).toBe(12);
      expect((await ledger.snapshots.list(server.id, { all: true, limit: 50, offset: 0 })).total).toBe(120);
      clock.advance(60_000);
      const expired = await ledger.snapshots.expired(clock.now());
      expect(expired).toHaveLength(27); // 30 minus the failed s0, s10, s20
      expect(expired[0]).toEqual({ id: expect.any(Number), server_id: server.id, server: "demo", name: "s1", location: null, created_at: expect.any(Number), expires_at: expect.any(Number) });
      expect(expired.map((e) => e.expires_at)).toEqual([...expired.map((e) => e.expires_at)].sort((a, b) => a - b));
      expect((await ledger.snapshots.expiredOf(server.id, clock.now())).map((e) => e.name)).toEqual(expired.map((e) => e.name));
      expect(await ledger.snapshots.expiredOf(server.id + 1000, clock.now())).toEqual([]);
    });

    it("live names, verifiable and unfinished snapshots", async () => {
      const { ledger, server } = await withServer();
      const ids: Record<string, number> = {};
      for (const st of Object.keys(SNAPSHOT_PATHS) as SnapshotState[]) {
        const s = await ledger.snapshots.insert({ server_id: server.id, name: `n-${st}`, created_by: "U1" });
        ids[st] = (await walkSnapshot(ledger, s.id, st)).id;
      }
      expect((await ledger.snapshots.liveNames(server.id)).sort()).toEqual(["n-broken", "n-deleting", "n-done", "n-pending", "n-running"]);
      expect((await ledger.snapshots.verifiable(server.id)).map((s) => s.name)).toEqual(["n-done", "n-broken"]);
      expect((await ledger.snapshots.unfinished()).map((s) => s.name).sort()).toEqual(["n-deleting", "n-pending", "n-running"]);
    });
  });

  describe("history: a deleted or expired snapshot keeps its creation facts", () => {
    it("delete: size, checksum, parts and finished stay; deleted_at and deleted_by say when and by whom", async () => {
      const { ledger, server, clock } = await withServer();
      const s = await ledger.snapshots.insert({ server_id: server.id, name: "one", created_by: "U0ALICE", state: "running" });
      const checksums = [{ file: "part-0", size: 10, sha256: "cd" }];
      const before = await ledger.snapshots.transition(s.id, "done", { size: 10, checksum: "sha256:x", checksums, location: "/s/one", finished_at: clock.now() + 5 });
      clock.advance(3_600_000);
      await ledger.snapshots.transition(s.id, "deleting");
      const after = await ledger.snapshots.transition(s.id, "deleted", { deleted_at: clock.now(), deleted_by: "U0BOB" });
      expect(after).toEqual({ ...before, state: "deleted", deleted_at: clock.now(), deleted_by: "U0BOB" });
      expect((await ledger.snapshots.find(server.id, "one"))!.state).toBe("deleted");
    });

    it("prune: an expired snapshot says when it expired and who pruned it", async () => {
      const { ledger, server, clock } = await withServer();
      const s = await ledger.snapshots.insert({ server_id: server.id, name: "old", created_by: "U0ALICE", state: "done", expires_at: clock.now() + 86_400_000 });
      clock.advance(2 * 86_400_000);
      expect((await ledger.snapshots.expired(clock.now())).map((e) => e.id)).toEqual([s.id]);
      const gone = await ledger.snapshots.transition(s.id, "expired", { deleted_at: clock.now(), deleted_by: "U0CAROL" });
      expect(gone).toMatchObject({ state: "expired", deleted_by: "U0CAROL", deleted_at: clock.now(), created_by: "U0ALICE" });
      expect(await ledger.snapshots.expired(clock.now())).toEqual([]);
    });
  });
}
