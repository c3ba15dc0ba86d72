import { describe, expect, it } from "vitest";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { testApp } from "../../helpers/test-app.ts";
import { tempDir } from "../../helpers/temp-dir.ts";
import { recordingChat } from "../../helpers/recording-chat.ts";
import { fakeClock } from "../../../src/clock.ts";

// Retention never removes a snapshot that live snapshots name as their parent (a tree's base) unless the
// policy says parents=prune: not by --keep, not past its expiry. Real archive snapshots on a real ledger;
// the tree (snapshots.parent_id, filled by tree drivers) is set through the ledger (tree.reparent).

const root = tempDir("snapbot-retention-parents-");
const T0 = Date.UTC(2026, 0, 1, 0, 0, 30);
const at = (h: number, m = 0) => Date.UTC(2026, 0, 1, h, m);

async function setup(name: string) {
  const src = join(root, "src", name);
  mkdirSync(src, { recursive: true });
  writeFileSync(join(src, "hosts"), "127.0.0.1 localhost\n");
  const clock = fakeClock(T0);
  const { app, run } = await testApp(join(root, name), { storage: { path: "snaps" }, servers: { web: { driver: "archive", paths: [src] } } }, clock, recordingChat().port);
  const server = (await app.ledger.servers.get("web"))!;
  const tickAt = async (ms: number) => {
    clock.set(ms);
    await app.scheduler.tick(ms);
    await app.scheduler.settle();
    await app.engine.idle();
    await app.scheduler.settle();
  };
  const snaps = async () => (await app.ledger.snapshots.list(server.id, { all: true, limit: 100, offset: 0 })).rows.reverse();
  const state = async () => Object.fromEntries((await snaps()).map((s) => [s.name, s.state]));
  const parentOf = async (child: string, parent: string) => {
    const [c, p] = [await app.ledger.snapshots.find(server.id, child), await app.ledger.snapshots.find(server.id, parent)];
    await app.ledger.tree.reparent(c!.id, p!.id);
  };
  return { app, run, tickAt, snaps, state, parentOf };
}

describe("retention and snapshots with children", () => {
  it("--keep keeps a parent (prune --dry-run says has children), prunes the leaf; the parent goes once it is a leaf", async () => {
    const t = await setup("keep");
    await t.run('schedule web "@hourly"');
    for (const h of [1, 2, 3]) await t.tickAt(at(h));
    const [a, b, c] = (await t.snaps()).map((s) => s.name);
    await t.parentOf(b!, a!); // a → b, and c on its own
    await t.run('schedule web "@hourly" --keep last=1');
    const dry = await t.run("prune web --dry-run");
    expect(dry.title).toBe("prune web --dry-run (last=1): would remove 1, keep 2");
    expect(dry.lines).toEqual([`remove ${b}: not kept by last=1`, `keep ${a}: has children (parents=prune lets it go) (would be removed: not kept by last=1)`]);
    const done = await t.run("prune web");
    expect(done.title).toBe("prune web (asked by U1): removed 1, kept 2");
    expect(await t.state()).toEqual({ [a!]: "done", [b!]: "expired", [c!]: "done" });
    expect(existsSync((await t.snaps())[0]!.location!)).toBe(true); // the parent's files are untouched
    expect((await t.run("prune web")).title).toBe("prune web (asked by U1): removed 1, kept 1"); // its child is gone: a leaf now
    expect(await t.state()).toEqual({ [a!]: "expired", [b!]: "expired", [c!]: "done" });
  });

  it("with parents=prune the scheduled run prunes the parent too", async () => {
    const t = await setup("prune");
    await t.run('schedule web "@hourly" --keep last=1,parents=prune');
    await t.tickAt(at(1));
    await t.tickAt(at(2));
    const [a, b] = (await t.snaps()).map((s) => s.name);
    await t.parentOf(b!, a!);
    await t.tickAt(at(3)); // the run's --keep: a and b both go, though a is b's parent
    expect(Object.values(await t.state())).toEqual(["expired", "expired", "done"]);
    expect((await t.snaps())[0]!.name).toBe(a);
  });

  it("keeps a parent past its expiry while its child lives, unless parents=prune", async () => {
    const t = await setup("expiry");
    await t.run('schedule web "0 * * * *" --expiry 30M');
    await t.tickAt(at(1));
    const [base] = (await t.snaps()).map((s) => s.name);
    const child = await t.run("create web child"); // no expiry of its own
    await child.follow!.done;
    await t.parentOf("child", base!);
    await t.tickAt(at(1, 31)); // past base's expiry
    expect(await t.state()).toEqual({ [base!]: "done", child: "done" });
    const dry = await t.run("prune web --dry-run");
    expect(dry.title).toBe("prune web --dry-run (expiry only): would remove 0, keep 1");
    expect(dry.lines).toEqual([`keep ${base}: has children (parents=prune lets it go) (would be removed: past its expiry)`]);
    expect((await t.run("prune web")).lines).toContain(`kept ${base}: has children (parents=prune lets it go) (would be removed: past its expiry)`);
    expect((await t.state())[base!]).toBe("done");
    await t.run('schedule web "0 * * * *" --expiry 30M --keep last=5,parents=prune');
    await t.tickAt(at(1, 32));
    expect(await t.state()).toEqual({ [base!]: "expired", child: "done" });
  });
});
