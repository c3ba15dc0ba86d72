import { closeSync, openSync, renameSync, rmSync, symlinkSync, writeSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { folderTarget } from "../../helpers/copy-targets.ts";
import { tempDir } from "../../helpers/temp-dir.ts";
import { done, world } from "./copy-cases.ts";
import { copiedWorld, SNAPS, targetVerifyCases } from "./target-verify-cases.ts";

// verify --target against a folder target (a mounted share in production): storage.targets.<t>.path. Its schedule's
// cases are in folder-target-rounds.test.ts (a file of their own, so the two run side by side).
targetVerifyCases(folderTarget());

// What only a folder can be made to do here: a read that fails with an error rather than a verdict (a part that is
// a symlink to itself: ELOOP, as an I/O error or a dropped connection would), and the local store itself (--target local).
describe("verify --target: read errors, and the local store", () => {
  const f = folderTarget();
  const root = tempDir("snapbot-verify-target-folder-");
  let n = 0;
  beforeAll(() => f.setup(join(root, "factory")));
  afterAll(() => f.teardown?.());

  /** The copy's first part made unreadable (a symlink to itself in its place); returns how to put it back. */
  let asides = 0;
  const unreadable = (location: string) => {
    const part = join(location, ".parts/part-000000");
    const aside = join(root, `aside-${++asides}`);
    renameSync(part, aside);
    symlinkSync("part-000000", part);
    return () => (rmSync(part), renameSync(aside, part));
  };

  it("a copy that cannot be read is said, not judged; three in a row stop the run; scheduled, the same slice is tried again", async () => {
    const w = await copiedWorld(f, root, `e${++n}`);
    const before = (await w.copyRow("s2"))!;
    const putBack = unreadable(before.location!);
    const one = await w.verifyAt(Date.UTC(2026, 2, 1, 1), "verify --target offsite");
    expect(one.read).toEqual(SNAPS.filter((s) => s !== "s2"));
    expect(one.reply.tone).toBe("error");
    expect(one.reply.title).toMatch(/^offsite: 5 copies, [\d.]+ MiB read, every part matches, 1 could not be read: files\/s2 \(ELOOP: too many symbolic links encountered, stat '.*part-000000'\) \(operation/);
    expect(await w.copyRow("s2")).toMatchObject({ state: "done", verified_at: before.verified_at }); // an error is not a verdict
    putBack();

    const backs: Array<() => void> = [];
    for (const s of ["s1", "s2", "s3"]) backs.push(unreadable((await w.copyRow(s))!.location!)); // read one after the other
    const stopped = await done(await w.run("verify --target offsite", "U0OP"));
    expect(stopped).toMatchObject({ tone: "error", title: expect.stringMatching(/^verify --target offsite failed \(operation #\d+, asked by U0OP\)$/) });
    expect(stopped.lines![0]).toMatch(
      /^stopped after 3 in a row could not be read \(is offsite reachable\?\): ELOOP: too many symbolic links encountered, stat '.*'; 0 of 6 verified before that, 3 not read$/,
    );
    expect((await w.app.ledger.operations.list({ limit: 1 }))[0]).toMatchObject({ kind: "verify_target", state: "failed" });

    backs.forEach((b) => b());

    // Scheduled in 2 slices, with every copy of slice 1 unreadable: that run stops, the round stays at slice 1 and
    // copy_failed is raised on the target; once they can be read, the next run reads slice 1 again and resolves it.
    const first = (await w.verifyAt(Date.UTC(2026, 2, 1, 2), "verify --target offsite --slice 1/2")).read;
    expect(first).toHaveLength(3);
    const again: Array<() => void> = [];
    for (const s of first) again.push(unreadable((await w.copyRow(s))!.location!));
    await w.run('schedule --target offsite "0 3 * * *" --slices 2', "U0OP");
    const tick = async (ms: number) => {
      w.clock.set(ms);
      await w.app.scheduler.tick(ms);
      await w.app.scheduler.settle();
      await w.app.engine.idle();
      await w.app.scheduler.settle();
      await w.app.alerts.flush();
      return (await w.app.ledger.targetSchedules.forTarget("offsite"))!;
    };
    let row = await tick(Date.UTC(2026, 2, 1, 3, 0, 30));
    expect(row).toMatchObject({ last_status: "failed", next_slice: 1, last_message: expect.stringMatching(/^stopped after 3 in a row could not be read/) });
    const alert = (await w.app.ledger.alerts.listOpen()).find((a) => a.key === "copy_failed:@offsite:");
    expect(alert?.message).toMatch(/^the scheduled verification of offsite failed \(operation #\d+\)\nstopped after 3 in a row .*\nthe same slice is read again at the next run \(2026-03-02 03:00:00Z\)$/);
    expect(w.chat.calls.some((c) => c.channel === "C0ALERTS" && /^copy_failed: the scheduled verification of offsite failed/.test(c.reply.title))).toBe(true);
    again.forEach((b) => b());
    row = await tick(Date.UTC(2026, 2, 2, 3, 0, 30));
    expect(row).toMatchObject({ last_status: "succeeded", next_slice: 2, last_message: expect.stringMatching(/^offsite slice 1\/2: 3 copies, .*every part matches$/) });
    expect((await w.copies()).filter((c) => c.verified_at === Date.UTC(2026, 2, 2, 3, 0, 30)).map((c) => c.name).sort()).toEqual(first);
    expect((await w.app.ledger.alerts.listOpen()).filter((a) => a.key === "copy_failed:@offsite:")).toEqual([]);
    expect((await w.run("alerts --all")).table?.rows.map((r) => r.join(" "))).toContainEqual(expect.stringMatching(/copy_failed @offsite .*resolved/));
    await w.app.close();
  });

  it("--target local re-reads the local store (storage.path): each snapshot's verify, broken with snapshot_broken", async () => {
    const w = await copiedWorld(f, root, `l${++n}`);
    const snap = async (s: string) => (await w.app.ledger.snapshots.find((await w.app.ledger.servers.get("files"))!.id, s))!;
    w.clock.set(Date.UTC(2026, 2, 2));
    const all = await done(await w.run("verify --target local", "U0OP"));
    expect(all.title).toMatch(/^local: 6 snapshots, [\d.]+ MiB read, every part matches \(operation #\d+, /);
    expect((await Promise.all(SNAPS.map(snap))).map((s) => s.verified_at)).toEqual(SNAPS.map(() => Date.UTC(2026, 2, 2)));
    expect((await w.copies()).every((c) => c.verified_at! < Date.UTC(2026, 2, 2))).toBe(true); // the copies are offsite's

    const fd = openSync(join((await snap("s4")).location!, ".parts/part-000001"), "r+");
    writeSync(fd, Buffer.from([0x5a]), 0, 1, 2048);
    closeSync(fd);
    let found = "";
    for (let k = 1; k <= 2; k++) {
      const r = await done(await w.run(`verify --target local --slice ${k}/2`, "U0OP"));
      if (r.tone === "error") found = r.title;
    }
    expect(found).toMatch(/^local slice [12]\/2: 3 snapshots, [\d.]+ MiB read, 1 broken: files\/s4 \(operation/);
    expect(await snap("s4")).toMatchObject({ state: "broken", error: expect.stringMatching(/part-000001 is corrupt/) });
    await w.app.alerts.flush();
    expect(await w.openAlerts()).toEqual([["snapshot_broken", "snapshot_broken:files:s4"]]);
    await w.app.close();
  });

  it("an empty target, or one slice of it, has nothing to read and says so", async () => {
    const w = await world(f, root, `z${++n}`);
    expect((await done(await w.run("verify --target offsite", "U0OP"))).title).toMatch(/^offsite: nothing to read \(offsite holds no done or broken copy\) \(operation/);
    expect((await done(await w.run("verify --target local --slice 1/3", "U0OP"))).title).toMatch(/^local slice 1\/3: nothing to read \(storage.path holds no done or broken snapshot\)/);
    await w.app.close();
  });
});
