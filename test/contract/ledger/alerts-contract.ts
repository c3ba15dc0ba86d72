import { describe, expect, it } from "vitest";
import type { NewAlert } from "../../../db/ledger.ts";
import type { fixtures } from "./fixture.ts";

// Approvals (a decision is one guarded UPDATE) and alerts (de-duplicated by key, paged, acknowledged).

export function alertContract({ withServer }: ReturnType<typeof fixtures>): void {
  describe("approvals", () => {
    it("a decision is made once: the second click, or one after expiry, changes nothing", async () => {
      const { ledger, server, clock, replica } = await withServer();
      const snap = await ledger.snapshots.insert({ server_id: server.id, name: "s", created_by: "U1", state: "done" });
      const op = await ledger.operations.insert({ kind: "restore", server_id: server.id, snapshot_id: snap.id, requested_by: "U1", state: "awaiting_approval" });
      const a = await ledger.approvals.insert(op.id, "U1", clock.now() + 60_000);
      expect(a).toEqual({ id: a.id, operation_id: op.id, state: "pending", requested_by: "U1", decided_by: null, created_at: clock.now(), expires_at: clock.now() + 60_000, decided_at: null, message_ref: null });
      expect((await ledger.approvals.pending()).map((p) => p.id)).toEqual([a.id]);
      expect((await ledger.approvals.pendingFor(snap.id))!.id).toBe(a.id);
      expect(await ledger.approvals.pendingFor(snap.id + 1)).toBeUndefined();
      const other = await replica();
      const votes = await Promise.all([ledger.approvals.decide(a.id, "approved", "U2"), other.approvals.decide(a.id, "denied", "U3")]);
      expect(votes.filter(Boolean)).toHaveLength(1);
      const decided = (await ledger.approvals.get(a.id))!;
      expect(decided.state).toBe(votes[0] ? "approved" : "denied");
      expect(decided.decided_at).toBe(clock.now());
      expect(await ledger.approvals.pending()).toEqual([]);
      expect(await ledger.approvals.get(999_999)).toBeUndefined();
    });

    it("expires what is past its time, once; an expired request cannot be decided", async () => {
      const { ledger, server, clock } = await withServer();
      const ops = [];
      for (let i = 0; i < 3; i++) ops.push(await ledger.operations.insert({ kind: "restore", server_id: server.id, requested_by: "U1", state: "awaiting_approval" }));
      const soon = await ledger.approvals.insert(ops[0]!.id, "U1", clock.now() + 2000);
      const sooner = await ledger.approvals.insert(ops[1]!.id, "U1", clock.now() + 1000);
      const later = await ledger.approvals.insert(ops[2]!.id, "U1", clock.now() + 60_000);
      clock.advance(2000);
      expect(await ledger.approvals.decide(soon.id, "approved", "U2")).toBe(false); // at its expiry: too late
      expect((await ledger.approvals.pending()).map((p) => p.id)).toEqual([later.id]);
      const expired = await ledger.approvals.expireDue();
      expect(expired.map((e) => [e.id, e.state])).toEqual([[sooner.id, "expired"], [soon.id, "expired"]]);
      expect(await ledger.approvals.expireDue()).toEqual([]);
      expect((await ledger.approvals.get(soon.id))!).toMatchObject({ state: "expired", decided_at: clock.now(), decided_by: null });
    });

    it("remembers where its request message is", async () => {
      const { ledger, server, clock } = await withServer();
      const op = await ledger.operations.insert({ kind: "restore", server_id: server.id, requested_by: "U1", state: "awaiting_approval" });
      const a = await ledger.approvals.insert(op.id, "U1", clock.now() + 1000);
      await ledger.approvals.setMessage(a.id, { channel: "C1", ts: "1.2" });
      expect((await ledger.approvals.get(a.id))!.message_ref).toEqual({ channel: "C1", ts: "1.2" });
    });
  });

  describe("alerts", () => {
    it("the outbox: a post owed from the raise, claimed once, cleared by the record of its message; updates and replies owed likewise", async () => {
      const { ledger, server } = await withServer();
      const base = { kind: "snapshot_failed" as const, server_id: server.id, snapshot_id: null, message: "m" };
      const { alert: a } = await ledger.alerts.raise({ ...base, key: "snapshot_failed:demo:", channel: "C1" });
      const { alert: quiet } = await ledger.alerts.raise({ ...base, key: "snapshot_failed:demo:x", channel: null });
      expect(await ledger.alerts.due()).toEqual([{ id: a.id, channel: "C1", post: true, update: 0, reply: false }]); // no channel: nothing owed
      expect(await ledger.alerts.get(a.id)).not.toHaveProperty("post_due");
      expect(await ledger.alerts.claimPosts([a.id, quiet.id], "me")).toEqual({ claimed: [a.id], tookOver: [] });
      expect(await ledger.alerts.claimPosts([a.id], "me")).toEqual({ claimed: [], tookOver: [] }); // in flight already: not posted twice
      await ledger.alerts.unclaimPosts([a.id], "me"); // the post failed: owed again
      expect(await ledger.alerts.claimPosts([a.id], "me")).toEqual({ claimed: [a.id], tookOver: [] });
      await ledger.alerts.raise({ ...base, key: "snapshot_failed:demo:", channel: "C1" }); // before its post: the post shows it
      expect((await ledger.alerts.due())[0]).toMatchObject({ post: true, update: 0 });
      await ledger.alerts.setMessage(a.id, { channel: "C1", ts: "1.1" });
      expect(await ledger.alerts.due()).toEqual([]);
      expect((await ledger.alerts.claimPosts([a.id], "me")).claimed).toEqual([]);
      await ledger.alerts.raise({ ...base, key: "snapshot_failed:demo:", channel: "C1" });
      await ledger.alerts.raise({ ...base, key: "snapshot_failed:demo:", channel: "C1" });
      expect(await ledger.alerts.due()).toEqual([{ id: a.id, channel: "C1", post: false, update: 2, reply: false }]);
      await ledger.alerts.updated(a.id, 1); // rendered before the second repeat: still owed
      expect((await ledger.alerts.due())[0]!.update).toBe(2);
      await ledger.alerts.updated(a.id, 2);
      expect(await ledger.alerts.due()).toEqual([]);
      await ledger.alerts.touch(a.id); // acknowledged: its message shows who
      expect((await ledger.alerts.due())[0]!.update).toBe(1);
      await ledger.alerts.updated(a.id, 1);
      await ledger.alerts.resolve("snapshot_failed:demo:", "fixed");
      expect(await ledger.alerts.due()).toEqual([{ id: a.id, channel: "C1", post: false, update: 1, reply: true }]);
      await ledger.alerts.replied([a.id]);
      await ledger.alerts.updated(a.id, 1);
      expect(await ledger.alerts.due()).toEqual([]);
    });

    const alert = (over: Partial<NewAlert> = {}): NewAlert => ({ kind: "snapshot_failed", key: "snapshot_failed:demo:s1", server_id: null, snapshot_id: null, message: "m1", channel: "C1", ...over });

    it("raise opens once and counts later sightings; resolve closes it and a new one opens after", async () => {
      const { ledger, server, clock } = await withServer();
      const first = await ledger.alerts.raise(alert({ server_id: server.id }));
      expect(first.fresh).toBe(true);
      expect(first.alert).toEqual({
        id: first.alert.id, kind: "snapshot_failed", key: "snapshot_failed:demo:s1", server_id: server.id, snapshot_id: null, state: "open", message: "m1",
        count: 1, channel: "C1", message_ref: null, first_seen: clock.now(), last_seen: clock.now(), resolved_at: null, resolved_why: null, acked_by: null, acked_at: null,
      });
      clock.advance(1000);
      const again = await ledger.alerts.raise(alert({ message: "m2" }));
      expect(again).toEqual({ fresh: false, alert: { ...first.alert, count: 2, message: "m2", last_seen: clock.now() } });
      clock.advance(1000);
      const closed = await ledger.alerts.resolve("snapshot_failed:demo:s1", "it passed");
      expect(closed).toMatchObject({ id: first.alert.id, state: "resolved", resolved_at: clock.now(), resolved_why: "it passed" });
      expect(await ledger.alerts.resolve("snapshot_failed:demo:s1")).toBeUndefined();
      const reopened = await ledger.alerts.raise(alert());
      expect(reopened.fresh).toBe(true);
      expect(reopened.alert.id).not.toBe(first.alert.id);
      expect((await ledger.alerts.resolve(reopened.alert.key))!.resolved_why).toBeNull();
    });

    it("replicas raising the same alert at once open it once", async () => {
      const { ledger, replica } = await withServer();
      const other = await replica();
      const both = await Promise.all([ledger.alerts.raise(alert()), other.alerts.raise(alert()), ledger.alerts.raise(alert()), other.alerts.raise(alert())]);
      expect(both.filter((r) => r.fresh)).toHaveLength(1);
      expect(new Set(both.map((r) => r.alert.id)).size).toBe(1);
      expect((await ledger.alerts.listOpen())[0]!.count).toBe(4);
    });

    it("open keys of a kind on a server, acknowledgements, message refs", async () => {
      const { ledger, clock } = await withServer();
      const a = (await ledger.alerts.raise(alert({ key: "snapshot_failed:demo:s1" }))).alert;
      const b = (await ledger.alerts.raise(alert({ key: "snapshot_failed:demo:s2" }))).alert;
      await ledger.alerts.raise(alert({ key: "snapshot_failed:demo-2:s1" }));
      await ledger.alerts.raise(alert({ kind: "limit_near", key: "limit_near:demo:" }));
      expect(await ledger.alerts.openKeys("snapshot_failed", "demo")).toEqual(["snapshot_failed:demo:s1", "snapshot_failed:demo:s2"]);
      expect(await ledger.alerts.openKeys("hook_failed", "demo")).toEqual([]);
      expect(await ledger.alerts.ack(a.id, "U9")).toBe(true);
      expect(await ledger.alerts.ack(a.id, "U8")).toBe(false);
      expect(await ledger.alerts.get(a.id)).toMatchObject({ acked_by: "U9", acked_at: clock.now(), state: "open" });
      await ledger.alerts.resolve(b.key);
      expect(await ledger.alerts.ack(b.id, "U9")).toBe(false);
      expect(await ledger.alerts.get(999_999)).toBeUndefined();
      await ledger.alerts.setMessage(a.id, { channel: "C1", ts: "1.1" });
      const others = (await ledger.alerts.listOpen()).filter((x) => x.id !== a.id).map((x) => x.id);
      await ledger.alerts.setMessageMany(others, { ts: "2.2", channel: "C1" } );
      expect((await ledger.alerts.byMessage({ channel: "C1", ts: "1.1" })).map((x) => x.id)).toEqual([a.id]);
      expect((await ledger.alerts.byMessage({ ts: "2.2", channel: "C1" })).map((x) => x.id)).toEqual([...others].sort((x, y) => x - y));
      expect((await ledger.alerts.get(a.id))!.message_ref).toEqual({ channel: "C1", ts: "1.1" });
      expect(await ledger.alerts.byMessage({ channel: "C9", ts: "0" })).toEqual([]);
    });

    it("pages: open ones most recently seen first; all of them, open first, then the most recently resolved", async () => {
      const { ledger, clock } = await withServer();
      const keys = ["k1", "k2", "k3", "k4", "k5"];
      for (const key of keys) {
        clock.advance(1000);
        await ledger.alerts.raise(alert({ key: `snapshot_failed:${key}:` }));
      }
      clock.advance(1000);
      await ledger.alerts.resolve("snapshot_failed:k2:");
      clock.advance(1000);
      await ledger.alerts.resolve("snapshot_failed:k4:");
      const short = (rows: Array<{ key: string }>) => rows.map((r) => r.key.split(":")[1]);
      const open = await ledger.alerts.openPage(2, 0);
      expect([short(open.rows), open.total]).toEqual([["k5", "k3"], 3]);
      expect(short((await ledger.alerts.openPage(2, 2)).rows)).toEqual(["k1"]);
      const all = await ledger.alerts.allPage(10, 0);
      expect([short(all.rows), all.total]).toEqual([["k5", "k3", "k1", "k4", "k2"], 5]);
      expect(short((await ledger.alerts.allPage(2, 3)).rows)).toEqual(["k4", "k2"]);
      expect(short(await ledger.alerts.listOpen())).toEqual(["k5", "k3", "k1"]);
    });
  });
}
