import { describe, expect, it } from "vitest";
import { join } from "node:path";
import { testApp } from "../../helpers/test-app.ts";
import { tempDir } from "../../helpers/temp-dir.ts";
import { fakeTreeBackend, fakeTreeDriverModule, type FakeTreeBackend } from "../../helpers/fake-tree-driver.ts";
import { fakeClock } from "../../../src/clock.ts";
import type { Reply } from "../../../src/reply.ts";

// The snapshot tree at the command level (CloudCIX's walk-through), on real SQLite and an in-memory hypervisor
// that keeps its own tree the way libvirt does: the ledger and the backend must agree after every step.

const root = tempDir("snapbot-tree-");
let n = 0;
const roles = { admins: ["U0ADMIN"], approvers: ["U0ALICE", "U0BOB"], operators: ["*"] };
const T0 = Date.UTC(2026, 2, 1, 12, 0, 0);
const at = (min: number) => new Date(T0 + min * 60_000).toISOString().replace("T", " ").slice(0, 19) + "Z";
const done = (r: Reply) => r.follow!.done;
const approvalId = (r: Reply) => Number(/approve (\d+)/.exec(r.buttons![0]!.command)![1]);

async function setup(backend: FakeTreeBackend = fakeTreeBackend(), extra: Record<string, unknown> = {}) {
  const dir = join(root, `t${++n}`);
  const clock = fakeClock(T0);
  const servers = { vm: { driver: "faketree" }, ...extra };
  const t = await testApp(dir, { roles, storage: { path: "snaps" }, servers }, clock, undefined, { drivers: [fakeTreeDriverModule(backend)] });
  const vm = (await t.app.ledger.servers.get("vm"))!;
  /** Creates at one-minute steps, so the drawing's creation order and dates are known. */
  const create = async (name: string) => {
    clock.advance(60_000);
    const r = await done(await t.run(`create vm ${name}`, "U0OP"));
    expect(r.tone).toBe("success");
  };
  const approve = async (r: Reply, by = "U0ALICE") => done(await t.run(`approve ${approvalId(r)}`, by));
  const parentOf = async (name: string) => {
    const s = (await t.app.ledger.snapshots.findLive(vm.id, name))!;
    return s.parent_id === null ? null : (await t.app.ledger.snapshots.get(s.parent_id))!.name;
  };
  const current = async () => (await t.app.ledger.tree.current(vm.id))?.name ?? null;
  return { ...t, backend, clock, vm, create, approve, parentOf, current };
}

/** The backend's own view, in the ledger's terms: each snapshot's parent, and the current one. */
function backendTree(b: FakeTreeBackend, server = "vm") {
  const v = b.vm(server);
  return { parents: Object.fromEntries([...v.snaps].map(([k, s]) => [k, s.parent])), current: v.current };
}

describe("the CloudCIX walk-through through the commands", () => {
  it("s1, s2, apply s1 → current s1, s3 → s1→{s2,s3}; list --tree; delete s1 re-parents s2 and s3 to the root", async () => {
    const { app, run, backend, vm, create, approve, parentOf, current } = await setup();
    backend.vm("vm").disk = "A";
    await create("s1");
    backend.vm("vm").disk = "B";
    await create("s2");
    expect([await parentOf("s1"), await parentOf("s2"), await current()]).toEqual([null, "s1", "s2"]);

    const request = await run("restore vm/s1", "U0OP"); // CloudCIX "apply"
    expect(request.title).toMatch(/^Approval needed: restore vm\/s1/);
    expect(await current()).toBe("s2"); // nothing moves before the approval
    expect((await approve(request)).tone).toBe("success");
    expect(backend.vm("vm").disk).toBe("A");
    expect(await current()).toBe("s1");

    await create("s3");
    expect([await parentOf("s2"), await parentOf("s3"), await current()]).toEqual(["s1", "s1", "s3"]);
    expect({ parents: { s1: null, s2: "s1", s3: "s1" }, current: "s3" }).toEqual(backendTree(backend));

    const tree = await run("list vm --tree", "U0OP");
    expect(tree.title).toBe("vm: snapshot tree, 1–3 of 3");
    expect(tree.monospace).toEqual([
      `s1  ${at(1)}`,
      `├─ s2  ${at(2)}`,
      `└─ ● s3  ${at(3)}`,
      "   └─ you are here (the current state, a child of s3)",
    ]);
    const shown = await run("show vm/s1", "U0OP");
    expect(shown.fields).toEqual(expect.arrayContaining([["parent", "none (a root)"], ["children", "s2, s3"], ["vm state", "none (disk only)"]]));
    expect((await run("show vm/s3", "U0OP")).fields).toEqual(expect.arrayContaining([["parent", "s1"], ["children", "none"]]));

    const dry = await run("delete vm/s1 --dry-run", "U0OP");
    expect(dry.lines).toContain("its children s2, s3 would go under the root");
    expect((await done(await run("delete vm/s1", "U0OP"))).tone).toBe("success");
    expect([await parentOf("s2"), await parentOf("s3"), await current()]).toEqual([null, null, "s3"]);
    expect(backendTree(backend)).toEqual({ parents: { s2: null, s3: null }, current: "s3" });
    expect((await run("list vm --tree", "U0OP")).monospace).toEqual([
      `s2  ${at(2)}`,
      `s3  ${at(3)}`.replace("s3", "● s3"),
      "└─ you are here (the current state, a child of s3)",
    ]);
    expect((await app.ledger.snapshots.find(vm.id, "s1"))!.state).toBe("deleted");
    await app.close();
  });

  it("deleting the current snapshot makes its parent current, in the ledger and the backend alike", async () => {
    const { app, run, backend, create, current, parentOf } = await setup();
    await create("s1");
    await create("s2");
    await create("s3");
    await done(await run("delete vm/s2", "U0OP"));
    expect([await parentOf("s3"), await current()]).toEqual(["s1", "s3"]);
    await done(await run("delete vm/s3", "U0OP"));
    expect(await current()).toBe("s1");
    expect(backendTree(backend).current).toBe("s1");
    await create("s4");
    expect(await parentOf("s4")).toBe("s1");
    await app.close();
  });
});

describe("delete --subtree", () => {
  /** s1→{s2→s4, s3}, s3 current. */
  async function deepTree() {
    const t = await setup();
    await t.create("s1");
    await t.create("s2");
    await t.create("s4");
    await t.approve(await t.run("restore vm/s1", "U0OP"));
    await t.create("s3");
    expect([await t.parentOf("s4"), await t.parentOf("s3"), await t.current()]).toEqual(["s2", "s1", "s3"]);
    return t;
  }

  it("dry run lists every snapshot; the requester cannot approve; a second person's approval deletes leaves first", async () => {
    const { app, run, backend, vm, approve, current } = await deepTree();
    const dry = await run("delete vm/s1 --subtree --dry-run", "U0OP");
    expect(dry.lines).toEqual(["would delete 4 snapshot(s) of vm, leaves first: s4, s2, s3, s1", "it would need an approver other than you", "Nothing was changed."]);
    const request = await run("delete vm/s1 --subtree", "U0ALICE");
    expect(request.title).toMatch(/^Approval needed: delete --subtree vm\/s1 \(asked by U0ALICE/);
    expect(request.fields).toContainEqual(["will change", "deleted: 4 snapshot(s) of vm, leaves first: s4, s2, s3, s1"]);
    expect(await run(`approve ${approvalId(request)}`, "U0ALICE")).toMatchObject({ tone: "error", title: expect.stringMatching(/^you asked for this/) });
    expect(backend.deletions).toEqual([]);
    const final = await approve(request, "U0BOB");
    expect(final.lines).toEqual(["deleted 4 snapshot(s), leaves first: s4, s2, s3, s1"]);
    expect(backend.deletions).toEqual(["vm/s4", "vm/s2", "vm/s3", "vm/s1"]); // every child before its parent
    expect(backend.vm("vm").snaps.size).toBe(0);
    expect(await app.ledger.tree.nodes(vm.id)).toEqual([]);
    expect(await current()).toBe(null);
    const ops = (await app.ledger.operations.list({ limit: 50 })).filter((o) => o.kind === "delete");
    expect(ops).toHaveLength(1); // one operation in the audit log
    expect(ops[0]).toMatchObject({ state: "succeeded", requested_by: "U0ALICE", approved_by: "U0BOB" });
    await app.close();
  });

  it("a failure mid-subtree stops there, the ledger matching the backend for what was removed and what was not", async () => {
    const { app, run, backend, vm, approve, parentOf } = await deepTree();
    backend.failDelete.add("s2");
    const final = await approve(await run("delete vm/s1 --subtree", "U0OP"));
    expect(final.tone).toBe("error");
    expect(final.lines!.join("\n")).toMatch(/delete --subtree vm\/s1 stopped at s2: error: Failed to delete snapshot s2: disk is busy; deleted before it: s4/);
    expect(backend.deletions).toEqual(["vm/s4", "vm/s2"]);
    const state = async (name: string) => (await app.ledger.snapshots.find(vm.id, name))!.state;
    expect([await state("s4"), await state("s2"), await state("s3"), await state("s1")]).toEqual(["deleted", "broken", "done", "done"]);
    expect([...backend.vm("vm").snaps.keys()].sort()).toEqual(["s1", "s2", "s3"]);
    expect([await parentOf("s2"), await parentOf("s3")]).toEqual(["s1", "s1"]);
    expect((await app.ledger.snapshots.find(vm.id, "s2"))!.error).toMatch(/^delete failed: .*disk is busy/);
    await app.close();
  });

  it("does nothing when the subtree changed between the request and the approval", async () => {
    const { app, run, backend, create, approve } = await deepTree();
    const request = await run("delete vm/s3 --subtree", "U0OP");
    await create("s5"); // under s3, the current position
    const final = await approve(request);
    expect(final.lines!.join("\n")).toMatch(/the subtree of vm\/s3 changed since it was approved \(now s5, s3\): nothing was deleted; ask again/);
    expect(backend.deletions).toEqual([]);
    await app.close();
  });
});

describe("revert", () => {
  it("asks for approval to go back to the current snapshot, and drops the changes since once approved", async () => {
    const { app, run, backend, create, approve, current } = await setup();
    backend.vm("vm").disk = "A";
    await create("s1");
    backend.vm("vm").disk = "A+changes";
    const dry = await run("revert vm --dry-run", "U0OP");
    expect(dry).toMatchObject({ title: "Dry run: revert vm (back to vm/s1)", lines: expect.arrayContaining(["Nothing was changed."]) });
    const request = await run("revert vm", "U0OP");
    expect(request.title).toMatch(/^Approval needed: revert vm \(back to vm\/s1\) \(asked by U0OP/);
    expect(backend.vm("vm").disk).toBe("A+changes");
    expect((await run("approvals", "U0OP")).table!.rows[0]![1]).toBe("revert vm");
    expect(await run(`approve ${approvalId(request)}`, "U0OP")).toMatchObject({ tone: "error" });
    expect((await approve(request)).tone).toBe("success");
    expect(backend.vm("vm").disk).toBe("A");
    expect(await current()).toBe("s1");
    await app.close();
  });

  it("refuses with one line when there is no current snapshot", async () => {
    const { app, run } = await setup();
    expect(await run("revert vm", "U0OP")).toMatchObject({
      tone: "error",
      title: "vm has no current snapshot to go back to: take one with create vm, or restore one with restore vm/<snap>",
    });
    expect(await app.ledger.operations.list({ limit: 10 })).toHaveLength(0);
    await app.close();
  });
});

describe("servers without a tree (archive)", () => {
  it("refuses revert, list --tree and delete --subtree with one line each, recording nothing", async () => {
    const { app, run } = await setup(undefined, { files: { driver: "archive", paths: ["/etc/hostname"] } });
    await done(await run("create files f1", "U0OP"));
    expect(await run("revert files", "U0OP")).toMatchObject({
      tone: "error",
      title: "files (archive) keeps no snapshot tree, so revert means nothing there: restore a snapshot instead: restore files/<snap> (list files shows them)",
    });
    expect(await run("list files --tree", "U0OP")).toMatchObject({ tone: "error", title: "files (archive) keeps no snapshot tree, so list --tree means nothing there: use list files" });
    expect(await run("delete files/f1 --subtree", "U0OP")).toMatchObject({
      tone: "error",
      title: "files (archive) keeps no snapshot tree, so --subtree means nothing there: delete the snapshot alone with delete files/f1",
    });
    expect((await app.ledger.operations.list({ limit: 10 })).map((o) => o.kind)).toEqual(["create"]);
    await app.close();
  });
});
