import { describe, expect, it } from "vitest";
import type { SnapshotRow } from "../../../db/ledger.ts";
import { copyMachine, type CopyState } from "../../../db/states.ts";
import { IllegalTransitionError, SnapbotError } from "../../../src/errors.ts";
import { rejectsWithCode, walkCopy, type fixtures } from "./fixture.ts";

// Copies on storage targets (ported from test/db/copy-repo.test.ts): their own machine with guarded transitions,
// one live copy per place on a target.

export function copyContract({ withServer }: ReturnType<typeof fixtures>): void {
  async function copies() {
    const f = await withServer();
    const snap = await f.ledger.snapshots.insert({ server_id: f.server.id, name: "s1", created_by: "U1" });
    const newCopy = (target = "offsite", s: SnapshotRow = snap) =>
      f.ledger.copies.insert({ snapshot_id: s.id, server_id: f.server.id, name: s.name, target, created_by: "U1", snapshot_created_at: s.created_at });
    return { ...f, snap, newCopy };
  }

  describe("copies in the ledger", () => {
    const paths: CopyState[][] = [["done"], ["failed"], ["done", "broken", "done"], ["done", "broken", "deleting", "deleted"], ["done", "deleting", "expired"], ["done", "deleting", "broken"]];
    it.each(paths.map((p) => [p.join(" → "), p] as const))("walks running → %s", async (_name, path) => {
      const { ledger, newCopy, clock, snap, server } = await copies();
      const c = await newCopy();
      expect(c).toEqual({
        id: c.id, snapshot_id: snap.id, server_id: server.id, server: "demo", name: "s1", target: "offsite", state: "running", location: null, size: null,
        checksum: null, parts: null, error: null, operation_id: null, created_by: "U1", created_at: clock.now(), snapshot_created_at: snap.created_at,
        finished_at: null, verified_at: null, deleted_at: null, deleted_by: null,
      });
      for (const to of path) expect((await ledger.copies.transition(c.id, to)).state).toBe(to);
    });

    it("refuses every transition the machine does not list, and changes nothing", async () => {
      const { ledger, newCopy, snap } = await copies();
      const all = Object.keys(copyMachine) as CopyState[];
      let refused = 0;
      for (const from of all)
        for (const to of all) {
          if (copyMachine[from].includes(to)) continue;
          const c = await newCopy(`t-${from}-${to}`, snap);
          await walkCopy(ledger, c.id, from);
          await expect(ledger.copies.transition(c.id, to)).rejects.toThrow(IllegalTransitionError);
          expect((await ledger.copies.get(c.id))!.state).toBe(from);
          refused++;
        }
      expect(refused).toBeGreaterThan(30);
      await rejectsWithCode(ledger.copies.transition(999_999, "done"), "unknown_copy");
    });

    it("a transition sets its fields and returns the row; annotate changes no state", async () => {
      const { ledger, newCopy } = await copies();
      const c = await newCopy();
      await ledger.copies.annotate(c.id, { location: "s3://b/demo/s1", operation_id: null });
      await ledger.copies.annotate(c.id, {});
      const done = await ledger.copies.transition(c.id, "done", { size: 2 ** 33, checksum: "sha256:ff", parts: 3, finished_at: 77 });
      expect(done).toMatchObject({ state: "done", location: "s3://b/demo/s1", size: 2 ** 33, parts: 3, finished_at: 77, server: "demo" });
      await ledger.copies.annotate(c.id, { verified_at: 99, error: "slow" });
      expect(await ledger.copies.get(c.id)).toEqual({ ...done, verified_at: 99, error: "slow" });
    });

    it("one live copy per place on a target; a failed or removed one frees it, another target is another place", async () => {
      const { ledger, newCopy, snap, server } = await copies();
      const first = await newCopy();
      await expect(newCopy()).rejects.toThrow(SnapbotError);
      expect((await newCopy("nas")).target).toBe("nas");
      await ledger.copies.transition(first.id, "failed");
      const second = await newCopy();
      await ledger.copies.transition(second.id, "done");
      // The local snapshot is deleted and a new one takes its name: its copy would need the same place.
      await ledger.snapshots.transition(snap.id, "failed");
      const again = await ledger.snapshots.insert({ server_id: server.id, name: "s1", created_by: "U1" });
      const refused = await rejectsWithCode(newCopy("offsite", again), "copy_exists");
      expect(refused.message).toMatch(/already holds a copy named s1/);
      expect((await ledger.copies.liveAt(server.id, "s1", "offsite"))!.snapshot_id).toBe(snap.id);
      expect(await ledger.copies.live(again.id, "offsite")).toBeUndefined();
      expect((await ledger.copies.live(snap.id, "offsite"))!.id).toBe(second.id);
      expect((await ledger.copies.ofSnapshot(snap.id)).map((c) => [c.target, c.state])).toEqual([["offsite", "done"], ["nas", "running"], ["offsite", "failed"]]);
    });

    it("copy_exists inside a transaction leaves the transaction usable", async () => {
      const { ledger, newCopy, snap, server } = await copies();
      await newCopy();
      const id = await ledger.tx(async (t) => {
        await rejectsWithCode(t.copies.insert({ snapshot_id: snap.id, server_id: server.id, name: "s1", target: "offsite", created_by: "U1", snapshot_created_at: 0 }), "copy_exists");
        return (await t.copies.insert({ snapshot_id: snap.id, server_id: server.id, name: "s1", target: "nas", created_by: "U1", snapshot_created_at: 0 })).id;
      });
      expect((await ledger.copies.get(id))!.target).toBe("nas");
    });

    it("retention candidates are one server's done and broken copies on one target, by the snapshot's own time", async () => {
      const { ledger, newCopy, server } = await copies();
      const times = [30, 10, 20];
      const made = [];
      for (const [i, t] of times.entries()) {
        const s = await ledger.snapshots.insert({ server_id: server.id, name: `d${i}`, created_by: "U1", created_at: Date.UTC(2026, 0, t) });
        made.push(await newCopy("offsite", s));
      }
      await ledger.copies.transition(made[0]!.id, "done");
      await ledger.copies.transition(made[1]!.id, "done");
      await ledger.copies.transition((await ledger.copies.transition(made[2]!.id, "done")).id, "broken");
      await newCopy("nas", await ledger.snapshots.insert({ server_id: server.id, name: "other", created_by: "U1" })); // running, elsewhere
      const candidates = await ledger.copies.candidates("offsite", server.id);
      expect(candidates.map((c) => [c.name, c.state])).toEqual([["d1", "done"], ["d2", "broken"], ["d0", "done"]]);
      expect(candidates[0]).toEqual({ id: made[1]!.id, snapshot_id: made[1]!.snapshot_id, name: "d1", createdAt: Date.UTC(2026, 0, 10), state: "done" });
      expect(await ledger.copies.serversOn("offsite")).toEqual(["demo"]);
      expect(await ledger.copies.serversOn("nas")).toEqual([]);
      expect((await ledger.copies.unfinished()).map((c) => c.target)).toEqual(["nas"]);
      expect((await ledger.copies.onTarget("offsite")).map((c) => c.name)).toEqual(["d0", "d1", "d2"]);
      expect(await ledger.copies.onTarget("nas")).toEqual([]);
    });

    it("two writers racing for the same copy transition: exactly one wins", async () => {
      const { ledger, newCopy, replica } = await copies();
      const other = await replica();
      const c = await newCopy();
      const results = await Promise.allSettled([ledger.copies.transition(c.id, "done"), other.copies.transition(c.id, "failed")]);
      expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(1);
      const winner = (results.find((r) => r.status === "fulfilled") as PromiseFulfilledResult<{ state: CopyState }>).value.state;
      expect((await ledger.copies.get(c.id))!.state).toBe(winner);
    });
  });
}
