import { describe, expect, it } from "vitest";
import type { fixtures } from "./fixture.ts";

// Snapshot trees: children, subtrees in deletion order, each server's current position, re-parenting.

export function treeContract({ withServer }: ReturnType<typeof fixtures>): void {
  describe("snapshot trees", () => {
    async function tree() {
      const f = await withServer();
      const make = async (name: string, parent: number | null) => {
        f.clock.advance(1000);
        return f.ledger.snapshots.insert({ server_id: f.server.id, name, created_by: "U1", parent_id: parent, state: "done" });
      };
      //   root ─ a ─ a1
      //        │   └ a2
      //        └ b
      const root = await make("root", null);
      const a = await make("a", root.id);
      const a1 = await make("a1", a.id);
      const b = await make("b", root.id);
      const a2 = await make("a2", a.id);
      return { ...f, make, root, a, a1, a2, b };
    }

    it("children oldest first, descendants leaves first, only live snapshots", async () => {
      const { ledger, root, a, a1, a2, b } = await tree();
      expect((await ledger.tree.children(root.id)).map((s) => s.name)).toEqual(["a", "b"]);
      expect((await ledger.tree.children(a.id))[0]).toEqual(a1); // whole rows
      expect((await ledger.tree.descendants(root.id)).map((s) => s.name)).toEqual(["a1", "a2", "a", "b"]);
      expect(await ledger.tree.descendants(a2.id)).toEqual([]);
      await ledger.snapshots.transition(b.id, "deleting");
      await ledger.snapshots.transition(b.id, "deleted");
      expect((await ledger.tree.children(root.id)).map((s) => s.name)).toEqual(["a"]);
      expect((await ledger.tree.nodes(a.server_id)).map((n) => n.name).sort()).toEqual(["a", "a1", "a2", "root"]);
      expect((await ledger.tree.nodes(a.server_id)).find((n) => n.name === "a1")).toEqual({ id: a1.id, name: "a1", parent_id: a.id, state: "done", created_at: a1.created_at, origin: "snapbot" });
    });

    it("a parent loop in bad data is walked once; a long chain does not run out of stack", async () => {
      const { ledger, root, a, a1, make } = await tree();
      await ledger.tree.reparent(root.id, a1.id); // root → a → a1 → root
      const names = (await ledger.tree.descendants(a.id)).map((s) => s.name);
      expect(names).toEqual(["b", "root", "a1", "a2"]);
      let parent = (await make("chain-0", null)).id;
      const first = parent;
      for (let i = 1; i < 300; i++) parent = (await make(`chain-${i}`, parent)).id;
      const chain = await ledger.tree.descendants(first);
      expect(chain).toHaveLength(299);
      expect(chain[0]!.name).toBe("chain-299");
    });

    it("the current position: set, read, and not a deleted snapshot", async () => {
      const { ledger, server, a, b } = await tree();
      expect(await ledger.tree.currentId(server.id)).toBeNull();
      expect(await ledger.tree.current(server.id)).toBeUndefined();
      await ledger.tree.setCurrent(server.id, a.id);
      expect((await ledger.tree.current(server.id))!.name).toBe("a");
      await ledger.tree.setCurrent(server.id, b.id);
      expect(await ledger.tree.currentId(server.id)).toBe(b.id);
      await ledger.snapshots.transition(b.id, "deleting");
      await ledger.snapshots.transition(b.id, "deleted");
      expect(await ledger.tree.current(server.id)).toBeUndefined();
      expect(await ledger.tree.currentId(server.id)).toBe(b.id); // as recorded
      await ledger.tree.setCurrent(server.id, null);
      expect(await ledger.tree.currentId(server.id)).toBeNull();
    });

    it("re-parents one snapshot, or a deleted one's live children to its parent", async () => {
      const { ledger, root, a, b } = await tree();
      await ledger.tree.reparent(b.id, a.id);
      expect((await ledger.snapshots.get(b.id))!.parent_id).toBe(a.id);
      expect(await ledger.tree.reparentChildren(a.id, root.id)).toBe(3);
      expect((await ledger.tree.children(root.id)).map((s) => s.name)).toEqual(["a", "a1", "b", "a2"]);
      expect(await ledger.tree.reparentChildren(a.id, null)).toBe(0);
      await ledger.tree.reparent(a.id, null);
      expect((await ledger.snapshots.get(a.id))!.parent_id).toBeNull();
    });
  });
}
