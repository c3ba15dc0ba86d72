import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { TargetFactory } from "../../helpers/copy-targets.ts";
import { fakeBackend, fakeDriverModule } from "../../helpers/fake-driver.ts";
import { tempDir } from "../../helpers/temp-dir.ts";
import { testApp } from "../../helpers/test-app.ts";
import { fakeClock } from "../../../src/clock.ts";
import { done, restoreFromCopy, world, type WorldOptions } from "./copy-cases.ts";

// The copy cases that go wrong or take time: a target that refuses writes or fills up (the copy fails, nothing
// is left there, copy_failed until a later good copy), each mistake answered in one line, and retention on the
// target (its own keep, with a fake clock) independent of the local one.

const DAY = 86_400_000;

export function copyFaultCases(f: TargetFactory): void {
  describe(`copies to a ${f.name} target: failures, mistakes, retention`, () => {
    const root = tempDir("snapbot-copy-faults-");
    let n = 0;
    const fresh = (o: WorldOptions = {}) => world(f, root, `f${++n}`, o);
    beforeAll(() => f.setup(join(root, "factory")));
    afterAll(() => f.teardown?.());

    for (const fault of ["refusing", "full"] as const)
      it(`a target that is ${fault === "full" ? "full" : "refusing writes"}: the copy fails, nothing is left there, copy_failed until a later copy succeeds`, async () => {
        const label = `fault-${fault}-${++n}`;
        const bad = fault === "full" ? await f.full(label, 1024 * 1024) : await f.refusing(label);
        const w = await world(f, root, label, { target: bad.config });
        await w.created("s1");
        const failed = await done(await w.run("copy files/s1 offsite", "U0OP"));
        expect(failed).toMatchObject({ tone: "error", title: "copy files/s1 to offsite failed (operation #2, asked by U0OP)" });
        expect(failed.lines![0]).toMatch(bad.why);
        expect(failed.buttons).toEqual([{ label: "Retry", command: "copy files/s1 offsite" }]);
        expect(await f.objects(label, "files", "s1")).toEqual([]); // never half a copy
        const s1 = (await w.app.ledger.snapshots.find((await w.app.ledger.servers.get("files"))!.id, "s1"))!;
        expect(await w.app.ledger.copies.ofSnapshot(s1.id)).toEqual([expect.objectContaining({ state: "failed", error: expect.stringMatching(bad.why) })]);
        expect(s1.state).toBe("done"); // the local snapshot is untouched
        await w.app.alerts.flush();
        expect(await w.openAlerts()).toEqual([["copy_failed", "copy_failed:files:s1@offsite"]]);
        expect((await w.run("copies files/s1")).table!.rows[0]!.slice(0, 2)).toEqual(["offsite", "failed"]);

        await bad.release();
        await w.created("s2");
        await w.copied("s2"); // a later good copy of that server to that target
        await w.app.alerts.flush();
        expect(await w.openAlerts()).toEqual([]);
        await w.copied("s1");
        await w.app.close();
      });

    it("each mistake is one line: unknown target, no copy, a copy still being written, a driver that cannot store", async () => {
      const w = await fresh({ servers: { f1: { driver: "fake" } }, drivers: [fakeDriverModule(fakeBackend())] });
      await w.created("s1");
      const line = async (text: string) => {
        const r = await w.run(text, "U0OP");
        expect(r.follow, text).toBeUndefined();
        expect(r.tone, text).toBe("error");
        return r.title;
      };
      expect(await line("copy files/s1 nowhere")).toBe(
        "files (archive) cannot copy snapshots to another server: name a storage target instead (targets: offsite); usage: copy <server>/<snap> <target> | copy <server>/<snap> [<remote>[:<name>]]",
      );
      expect(await line("verify files/s1 --from nowhere")).toBe('no storage target "nowhere" (targets: offsite): add it under storage.targets in snapbot.yml');
      expect(await line("restore files/s1 --from nowhere")).toBe('no storage target "nowhere" (targets: offsite): add it under storage.targets in snapbot.yml');
      expect(await line("verify files/s1 --from offsite")).toBe("files/s1 has no copy on offsite: see copies files/s1");
      expect(await line("restore files/s1 --from offsite")).toBe("files/s1 has no copy on offsite: see copies files/s1");
      expect((await w.run("copies files/s1")).lines).toEqual([expect.stringMatching(/^local: done/), "copy it with copy files/s1 <target> (targets: offsite)"]);

      const copying = await w.run("copy files/s1 offsite", "U0OP"); // still being written while these are asked
      expect(await line("restore files/s1 --from offsite")).toBe(
        "the copy of files/s1 on offsite is running: it is still being written (operation #2); try again when it is done",
      );
      expect(await line("delete files/s1")).toBe("files/s1 is being copied to offsite (operation #2): delete it once the copy is done");
      expect(await line("copy files/s1 offsite")).toBe("files/s1 is being copied to offsite already (operation #2): see copies files/s1");
      expect((await done(copying)).tone).toBe("success");

      await done(await w.run("create f1 x1", "U0OP"));
      expect(await line("copy f1/x1 offsite")).toBe("f1 (fake) keeps its snapshots on its backend: they cannot be copied to a storage target");
      expect(await line("verify f1/x1 --from offsite")).toBe("f1 (fake) keeps its snapshots on its backend: it has no copies on storage targets; drop --from");
      expect(await line("restore f1/x1 --from offsite")).toBe("f1 (fake) keeps its snapshots on its backend: it has no copies on storage targets; drop --from");
      expect((await w.app.ledger.operations.list({ limit: 10 })).filter((o) => o.state === "failed")).toEqual([]); // refused before anything ran
      await w.app.close();
    });

    it("start-up and register refuse copies: that name no target, or a driver that keeps its snapshots on its backend", async () => {
      const dir = join(root, `startup-${++n}`);
      const storage = { path: "snaps", targets: { offsite: f.config(`startup-${n}`) } };
      const src = join(dir, "src");
      const env = { env: f.env?.() }; // the target's credentials: only the copies: key may be what is refused
      await expect(testApp(dir, { storage, servers: { files: { driver: "archive", paths: [src], copies: ["nowhere"] } } }, undefined, undefined, env)).rejects.toThrow(
        'test: servers.files.copies: no storage target "nowhere" (targets: offsite): name one of storage.targets, or add it there',
      );
      await expect(testApp(join(dir, "b"), { storage, servers: { web: { driver: "lxd", copies: ["offsite"] } } }, undefined, undefined, env)).rejects.toThrow(
        "test: servers.web.copies: web (lxd) keeps its snapshots on its backend: they cannot be copied to storage targets; remove copies:",
      );
      const w = await fresh();
      expect((await w.run(`register more archive paths=${w.src} copies=offsite,nowhere`, "U0ADMIN")).title).toBe(
        'register more archive: copies: no storage target "nowhere" (targets: offsite): name one of storage.targets, or add it there',
      );
      expect((await w.run(`register more archive paths=${w.src} copies=offsite`, "U0ADMIN")).tone).toBe("success");
      expect((await done(await w.run("create more m1", "U0OP"))).lines).toContainEqual(expect.stringMatching(/^copied to offsite and read back/));
      await w.app.close();
    });

    it("the target's keep prunes its copies (expired, objects gone) and never a local snapshot; the local keep never removes a copy", async () => {
      const clock = fakeClock(Date.UTC(2026, 1, 28, 23, 59, 0));
      const w = await fresh({ clock, keep: "last=2", copies: true });
      expect((await w.run('schedule files "@daily" --keep last=1', "U0OP")).tone).toBe("success");
      const names: string[] = [];
      for (let day = 1; day <= 4; day++) {
        clock.set(Date.UTC(2026, 2, day, 0, 0, 30));
        await w.app.scheduler.tick();
        await w.app.scheduler.settle();
        await w.app.engine.idle();
        const newest = (await w.app.ledger.snapshots.list((await w.app.ledger.servers.get("files"))!.id, { limit: 1, offset: 0 })).rows[0]!;
        names.push(newest.name);
        expect((await w.copyRow(newest.name))?.state, `day ${day}`).toBe("done");
      }
      const state = async (name: string) => (await w.app.ledger.snapshots.find((await w.app.ledger.servers.get("files"))!.id, name))!.state;
      const each = <T,>(f: (s: string) => Promise<T>) => Promise.all(names.map(f));
      // The local keep (last=1) ran after each scheduled run: the local snapshots went, their copies stayed.
      expect(await each(state)).toEqual(["expired", "expired", "expired", "done"]);
      expect(await each(async (s) => (await w.copyRow(s))?.state)).toEqual(["done", "done", "done", "done"]);

      const dry = await w.run("prune files --dry-run", "U0OP");
      expect(dry.lines).toContainEqual("on offsite (last=2): would remove 2 copy(ies), keep 2");
      expect(dry.lines).toContainEqual(`  remove the copy of ${names[0]} on offsite: not kept by last=2`);
      expect(await each(async (s) => (await w.copyRow(s))?.state)).toEqual(["done", "done", "done", "done"]); // a dry run removes nothing

      expect(await w.app.scheduler.retention.pass()).toBe(2); // the retention pass: the target's keep over its copies
      const copyState = async (s: string) => (await w.app.ledger.copies.ofSnapshot((await w.app.ledger.snapshots.find((await w.app.ledger.servers.get("files"))!.id, s))!.id))[0]!.state;
      expect(await each(copyState)).toEqual(["expired", "expired", "done", "done"]);
      expect(await f.objects(w.label, "files", names[0]!)).toEqual([]);
      expect((await f.objects(w.label, "files", names[2]!)).length).toBeGreaterThan(2);
      expect(await state(names[3]!)).toBe("done"); // the target's keep never touched the local snapshot
      expect((await w.app.ledger.operations.list({ limit: 2 })).map((o) => [o.kind, o.requested_by, o.args?.target])).toEqual([
        ["prune", "scheduler", "offsite"],
        ["prune", "scheduler", "offsite"],
      ]);

      // The local one expired long ago; its copy, kept by the target, still restores.
      const out = join(w.dir, "out");
      await restoreFromCopy(w, names[2]!, out);
      expect((await w.run(`restore files/${names[0]} --from offsite`, "U0OP")).title).toBe(`files/${names[0]} has no copy on offsite: see copies files/${names[0]}`);
      const pruned = await w.run("prune files", "U0OP");
      expect(pruned.lines).toContainEqual("on offsite (last=2): no copy to remove");
      clock.advance(DAY);
      await w.app.close();
    });
  });
}
