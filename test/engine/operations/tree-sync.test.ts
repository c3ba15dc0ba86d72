import { describe, expect, it } from "vitest";
import { join } from "node:path";
import { testApp } from "../../helpers/test-app.ts";
import { tempDir } from "../../helpers/temp-dir.ts";
import { fakeTreeBackend, fakeTreeDriverModule } from "../../helpers/fake-tree-driver.ts";
import { fakeClock } from "../../../src/clock.ts";
import type { Reply } from "../../../src/reply.ts";
import { pino } from "pino";
import { reconcile } from "../../../src/engine/operations/reconcile.ts";

// Snapshots made, applied or deleted outside snapbot (virsh, qemu-img) on a tree server: list brings the ledger
// in line. A backend that keeps the tree (libvirt) is the truth for parents and the current snapshot; one that
// keeps none (qemu-img) leaves the ledger's tree alone and gets new snapshots under the current position.

const root = tempDir("snapbot-tree-sync-");
let n = 0;
const roles = { admins: ["U0ADMIN"], approvers: ["U0ALICE"], operators: ["*"] };
const T0 = Date.UTC(2026, 2, 1, 12, 0, 0);
const done = (r: Reply) => r.follow!.done;

async function setup(reports: "libvirt" | "qemu-img") {
  const backend = fakeTreeBackend();
  backend.reports = reports;
  const clock = fakeClock(T0);
  const t = await testApp(join(root, `s${++n}`), { roles, storage: { path: "snaps" }, servers: { vm: { driver: "faketree" } } }, clock, undefined, {
    drivers: [fakeTreeDriverModule(backend)],
  });
  const vm = (await t.app.ledger.servers.get("vm"))!;
  const create = async (name: string) => {
    clock.advance(60_000);
    expect((await done(await t.run(`create vm ${name}`, "U0OP"))).tone).toBe("success");
  };
  const row = (name: string) => t.app.ledger.snapshots.findLive(vm.id, name);
  const parentOf = async (name: string) => {
    const p = (await row(name))!.parent_id;
    return p === null ? null : (await t.app.ledger.snapshots.get(p))!.name;
  };
  const current = async () => (await t.app.ledger.tree.current(vm.id))?.name ?? null;
  return { ...t, backend, clock, vm, create, row, parentOf, current };
}

describe("a backend that keeps the tree (libvirt)", () => {
  it("imports a snapshot made outside snapbot as external with the backend's parent, and its current", async () => {
    const { app, run, backend, clock, create, row, parentOf, current } = await setup("libvirt");
    await create("s1");
    await create("s2");
    backend.vm("vm").current = "s1"; // virsh snapshot-revert vm s1
    clock.advance(60_000);
    backend.external("vm", "x1", clock.now()); // virsh snapshot-create-as: a child of s1, current now
    const tree = await run("list vm --tree", "U0OP");
    expect(await row("x1")).toMatchObject({ origin: "external", state: "done", details: { vm_state_size: 0 } });
    expect([await parentOf("x1"), await current()]).toEqual(["s1", "x1"]);
    expect((await row("x1"))!.details).not.toHaveProperty("placed");
    expect(tree.monospace!.map((l) => l.replace(/\s+2026.*$/, ""))).toEqual(["s1", "├─ s2", "└─ ● x1", "   └─ you are here (the current state, a child of x1)"]);
    expect(tree.monospace![2]).toMatch(/● x1 .* external$/);
    await app.close();
  });

  it("reconciles the current snapshot and the parents of known snapshots from the backend", async () => {
    const { app, run, backend, create, parentOf, current } = await setup("libvirt");
    await create("s1");
    await create("s2");
    await create("s3");
    backend.vm("vm").current = "s1"; // applied outside snapbot
    await run("list vm", "U0OP");
    expect(await current()).toBe("s1");
    // s2 deleted outside snapbot, and the backend records s3 as a root (not under s1, where the ledger's
    // re-parenting would put it): the backend's parent wins.
    backend.vm("vm").snaps.delete("s2");
    backend.vm("vm").snaps.get("s3")!.parent = null;
    await run("list vm", "U0OP");
    expect(await app.ledger.snapshots.find((await app.ledger.servers.get("vm"))!.id, "s2")).toMatchObject({ state: "deleted", deleted_by: "outside snapbot" });
    expect([await parentOf("s1"), await parentOf("s3")]).toEqual([null, null]);
    backend.vm("vm").current = null; // libvirt: no current snapshot
    await run("list vm --tree", "U0OP");
    expect(await current()).toBe(null);
    await create("s4");
    expect(await parentOf("s4")).toBe(null); // the backend made it a root too (no current): they agree
    expect(backend.vm("vm").snaps.get("s4")!.parent).toBe(null);
    await app.close();
  });
});

describe("a backend that keeps no tree (qemu-img)", () => {
  it("puts a snapshot made outside snapbot under the current position, marked so, and keeps the ledger's tree", async () => {
    const { app, run, backend, clock, create, row, parentOf, current } = await setup("qemu-img");
    await create("s1");
    await create("s2");
    await done(await run(`approve ${/approve (\d+)/.exec((await run("restore vm/s1", "U0OP")).buttons![0]!.command)![1]}`, "U0ALICE"));
    expect(await current()).toBe("s1");
    clock.advance(60_000);
    backend.external("vm", "x1", clock.now()); // qemu-img snapshot -c x1
    await run("list vm", "U0OP");
    expect(await row("x1")).toMatchObject({ origin: "external", details: { vm_state_size: 0, placed: "under the current position", placed_under: "s1" } });
    expect([await parentOf("s2"), await parentOf("x1"), await current()]).toEqual(["s1", "s1", "s1"]);
    const shown = await run("show vm/x1", "U0OP");
    expect(shown.fields).toContainEqual(["parent", "s1 (made outside snapbot; placed under the current position)"]);
    await run("list vm --tree", "U0OP"); // a second sync moves nothing
    expect(await parentOf("x1")).toBe("s1");
    await app.close();
  });
});

describe("retention on a tree", () => {
  it("a prune re-parents the pruned snapshot's children and moves the current position up", async () => {
    const { app, create, vm, parentOf, current, backend } = await setup("libvirt");
    await create("s1");
    await create("s2");
    await create("s3");
    const s2 = (await app.ledger.snapshots.findLive(vm.id, "s2"))!;
    await (await app.engine.delete(vm, s2, { user: "scheduler" }, "retention last=1: older than the last 1")).job.done;
    expect((await app.ledger.snapshots.get(s2.id))!.state).toBe("expired");
    expect([await parentOf("s3"), await current()]).toEqual(["s1", "s3"]);
    const s3 = (await app.ledger.snapshots.findLive(vm.id, "s3"))!;
    await (await app.engine.delete(vm, s3, { user: "scheduler" }, "expired")).job.done;
    expect(await current()).toBe("s1");
    expect(backend.vm("vm").current).toBe("s1");
    await app.close();
  });
});

describe("start-up reconciliation on a tree", () => {
  it("a delete interrupted after the backend removed the snapshot hands its children to its parent", async () => {
    const { app, create, vm, parentOf, current, backend } = await setup("qemu-img");
    await create("s1");
    await create("s2");
    await create("s3");
    const s2 = (await app.ledger.snapshots.findLive(vm.id, "s2"))!;
    await app.ledger.snapshots.transition(s2.id, "deleting"); // the bot died here, after the backend's delete
    backend.vm("vm").snaps.delete("s2");
    const report = await reconcile(app.ledger, app.drivers, pino({ level: "silent" }), () => app.clock.now());
    expect(report.snapshots).toMatchObject([{ ref: "vm/s2", was: "deleting", now: "deleted" }]);
    expect([await parentOf("s3"), await current()]).toEqual(["s1", "s3"]);
    await app.close();
  });
});
