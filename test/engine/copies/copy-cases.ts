import { closeSync, mkdirSync, openSync, readFileSync, writeFileSync, writeSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { TargetFactory } from "../../helpers/copy-targets.ts";
import { testApp } from "../../helpers/test-app.ts";
import { recordingChat } from "../../helpers/recording-chat.ts";
import { tempDir } from "../../helpers/temp-dir.ts";
import type { Clock } from "../../../src/clock.ts";
import type { Reply } from "../../../src/reply.ts";
import type { DriverModule } from "../../../src/drivers/driver.ts";

// Copies of stored snapshots on a storage target (issue 12 item 2), typed as users type them, through the real
// commands, engine, ledger and archive driver, against whatever target the factory gives: a folder here, the S3
// store on Ceph's RADOS Gateway with the same cases. copy-fault-cases.ts holds the failures and retention.

export const roles = { admins: ["U0ADMIN"], approvers: ["U0ALICE"], operators: ["*"] };
export const done = (r: Reply) => {
  if (!r.follow) throw new Error(`expected long work, got: ${r.title} ${(r.lines ?? []).join(" / ")}`);
  return r.follow.done;
};
export const approvalOf = (r: Reply) => /approve (\d+)/.exec(r.buttons?.[0]?.command ?? "")?.[1] ?? `(no approval: ${r.title})`;

export interface WorldOptions {
  keep?: string;
  copies?: boolean;
  clock?: Clock;
  server?: Record<string, unknown>;
  servers?: Record<string, unknown>;
  drivers?: DriverModule[];
  target?: Record<string, unknown>;
}

/** A fresh app: an archive server `files` over a small tree (text and 3 MiB of random bytes, 1 MiB parts), target `offsite`. */
export async function world(f: TargetFactory, root: string, label: string, o: WorldOptions = {}) {
  const dir = join(root, label);
  const src = join(dir, "src");
  mkdirSync(join(src, "etc"), { recursive: true });
  writeFileSync(join(src, "etc/app.conf"), "version = 1\n");
  writeFileSync(join(src, "blob.bin"), randomBytes(3 * 1024 * 1024));
  const chat = recordingChat();
  const target = { ...(o.target ?? f.config(label)), ...(o.keep ? { keep: o.keep } : {}) };
  const files = { driver: "archive", paths: [src], part_size: "1MiB", ...(o.copies ? { copies: ["offsite"] } : {}), ...o.server };
  const file = { roles, alerts: { channel: "C0ALERTS" }, storage: { path: "snaps", targets: { offsite: target } }, servers: { files, ...o.servers } };
  const t = await testApp(dir, file, o.clock, chat.port, { env: f.env?.(), drivers: o.drivers });
  const copyRow = async (snap: string) => {
    const s = (await t.app.ledger.snapshots.find((await t.app.ledger.servers.get("files"))!.id, snap))!;
    return t.app.ledger.copies.live(s.id, "offsite");
  };
  const openAlerts = async () => (await t.app.ledger.alerts.listOpen()).map((a) => [a.kind, a.key]);
  const created = async (name: string) => {
    const r = await done(await t.run(`create files ${name}`, "U0OP"));
    expect(r.tone, r.lines?.join("\n")).toBe("success");
    return r;
  };
  const copied = async (name: string) => {
    const r = await done(await t.run(`copy files/${name} offsite`, "U0OP"));
    expect(r.tone, r.lines?.join("\n")).toBe("success");
    return r;
  };
  return { ...t, dir, src, label, chat, copyRow, openAlerts, created, copied };
}

/** Restores files/<snap> from the copy under <dir>/out-<n>, approved by a second person; returns that folder. */
export async function restoreFromCopy(w: Awaited<ReturnType<typeof world>>, snap: string, out: string) {
  const request = await w.run(`restore files/${snap} --from offsite --target ${out}`, "U0OP");
  expect(request.title).toMatch(new RegExp(`^Approval needed: restore files/${snap} from the copy on offsite \\(asked by U0OP, approval #\\d+\\)$`));
  const final = await done(await w.run(`approve ${approvalOf(request)}`, "U0ALICE"));
  expect(final.tone, final.lines?.join("\n")).toBe("success");
  return final;
}

export function copyCases(f: TargetFactory): void {
  describe(`copies to a ${f.name} target`, () => {
    const root = tempDir("snapbot-copies-");
    let n = 0;
    const fresh = (o: WorldOptions = {}) => world(f, root, `c${++n}`, o);
    beforeAll(() => f.setup(join(root, "factory")));
    afterAll(() => f.teardown?.());

    it("copy puts every part, README.txt and the manifest on the target, reads it back, and copies lists it", async () => {
      const w = await fresh();
      await w.created("s1");
      const local = (await w.app.ledger.snapshots.find((await w.app.ledger.servers.get("files"))!.id, "s1"))!;
      const first = await w.run("copy files/s1 offsite", "U0OP");
      expect(first).toMatchObject({ visibility: "channel", tone: "progress", title: "copy files/s1 to offsite (operation #2, asked by U0OP)" });
      const seen: string[] = [];
      first.follow!.subscribe((u) => seen.push(u.lines?.[0] ?? ""));
      const final = await done(first);
      expect(final).toMatchObject({ tone: "success", title: "files/s1 copied to offsite (operation #2, asked by U0OP)" });
      const parts = local.checksums!.length;
      expect(final.lines![0]).toMatch(new RegExp(`^copied to offsite and read back: [\\d.]+ MiB in ${parts} part\\(s\\), every part's SHA-256 matches`));
      expect(seen.some((l) => /^copying… \d+%/.test(l))).toBe(true); // progress in place, then the read-back
      expect(seen.some((l) => /^verifying… \d+%/.test(l))).toBe(true);
      const names = local.checksums!.map((p) => p.file);
      expect(await f.objects(w.label, "files", "s1")).toEqual([...names, "README.txt", "manifest.json"].sort());
      expect(await w.copyRow("s1")).toMatchObject({ state: "done", size: local.size, checksum: local.checksum, parts, created_by: "U0OP", verified_at: expect.any(Number) });

      const listed = await w.run("copies files/s1");
      expect(listed.title).toBe("files/s1: 1 copy(ies) on storage targets");
      expect(listed.lines).toEqual([expect.stringMatching(/^local: done, last verified \d+m?s ago$/)]);
      expect(listed.table!.columns).toEqual(["target", "state", "size", "copied", "last verified", "where"]);
      expect(listed.table!.rows).toEqual([["offsite", "done", expect.stringMatching(/MiB$/), expect.stringMatching(/ago\)$/), expect.stringMatching(/ago$/), (await w.copyRow("s1"))!.location]]);
      expect(listed.buttons).toEqual([{ label: "Verify on offsite", command: "verify files/s1 --from offsite" }]);

      expect((await w.run("show files/s1")).fields).toContainEqual(["copies", expect.stringMatching(/^offsite: done, verified \d+m?s ago$/)]);
      const verified = await done(await w.run("verify files/s1 --from offsite"));
      expect(verified.title).toMatch(/^the copy of files\/s1 on offsite verified: [\d.]+ MiB checked in \d+m?s, every part matches \(operation #3\)$/);
      expect((await w.app.ledger.operations.list({ limit: 5 })).map((o) => [o.kind, o.state, o.args])).toEqual([
        ["verify", "succeeded", { snapshot: "s1", from: "offsite" }],
        ["copy", "succeeded", { snapshot: "s1", target: "offsite" }],
        ["create", "succeeded", expect.anything()],
      ]);
      expect((await w.run("copy files/s1 offsite")).title).toMatch(/^files\/s1 is on offsite already \(done, last verified \d+m?s ago\): see copies files\/s1$/);
      await w.app.close();
    });

    it("restore --from reads the copy after the local snapshot is deleted: the content comes back, and the copy stays", async () => {
      const w = await fresh();
      await w.created("s1");
      await w.copied("s1");
      expect((await done(await w.run("delete files/s1", "U0OP"))).title).toMatch(/^files\/s1 deleted/);
      expect((await w.copyRow("s1"))?.state).toBe("done"); // deleting the local one never deletes its copy
      expect((await f.objects(w.label, "files", "s1")).length).toBeGreaterThan(2);
      expect((await w.run("restore files/s1 --target /tmp/x")).title).toBe(
        "files/s1 is deleted: only done snapshots can be restored; its copy on offsite can be: restore files/s1 --from offsite",
      );
      const dry = await w.run(`restore files/s1 --from offsite --target ${join(w.dir, "out")} --dry-run`, "U0OP");
      expect(dry.title).toMatch(/^Dry run: restore files\/s1 \(deleted, .*\) from the copy on offsite$/);
      const listed = await w.run("copies files/s1");
      expect(listed.lines![0]).toMatch(/^local: deleted \d+m?s ago by U0OP; its copies stay until each target's own keep removes them$/);
      expect(listed.buttons).toContainEqual({ label: "Restore from offsite", command: "restore files/s1 --from offsite" });

      const out = join(w.dir, "out");
      writeFileSync(join(w.src, "etc/app.conf"), "version = 2 (after the snapshot)\n");
      const final = await restoreFromCopy(w, "s1", out);
      expect(final.title).toMatch(/^restore files\/s1 from the copy on offsite done in/);
      expect(final.lines![0]).toMatch(/^restored .* on files: .*, from the copy on offsite$/);
      expect(readFileSync(join(out, w.src, "etc/app.conf"), "utf8")).toBe("version = 1\n");
      expect(readFileSync(join(out, w.src, "blob.bin")).equals(readFileSync(join(w.src, "blob.bin")))).toBe(true);
      expect((await w.app.ledger.operations.list({ limit: 1 }))[0]).toMatchObject({ kind: "restore", state: "succeeded", approved_by: "U0ALICE", args: expect.objectContaining({ from: "offsite" }) });
      await w.app.close();
    });

    it("restore --from reads the copy when the local snapshot is corrupt: local refused, the copy restores", async () => {
      const w = await fresh();
      await w.created("s1");
      await w.copied("s1");
      const part = join(w.dir, "snaps/files/s1/.parts/part-000001");
      const fd = openSync(part, "r+");
      writeSync(fd, Buffer.from([0x5a, 0xa5, 0x5a]), 0, 3, 4096);
      closeSync(fd);
      expect((await done(await w.run("verify files/s1"))).title).toMatch(/^files\/s1 is broken/);
      expect((await w.run("restore files/s1")).title).toBe(
        "files/s1 is broken: it will never be used to restore; its copy on offsite can be: restore files/s1 --from offsite",
      );
      const out = join(w.dir, "out");
      await restoreFromCopy(w, "s1", out);
      expect(readFileSync(join(out, w.src, "blob.bin")).equals(readFileSync(join(w.src, "blob.bin")))).toBe(true);
      expect((await w.copyRow("s1"))?.state).toBe("done");
      await w.app.close();
    });

    it("copies: [offsite] copies each new snapshot once it is done, and the create's own message tells how the copy went", async () => {
      const w = await fresh({ copies: true });
      const first = await w.run("create files a1", "U0OP");
      const versions: Reply[] = [];
      first.follow!.subscribe((u) => versions.push(u));
      const final = await done(first);
      expect(final.title).toMatch(/^files\/a1 done: /);
      expect(final.lines).toEqual([expect.stringMatching(/^checksum /), expect.stringMatching(/^copied to offsite and read back: .* \(operation #2\)$/)]);
      expect(versions.some((v) => v.tone === "progress" && /^copy to offsite \(operation #2\): (copying|verifying)…/.test(v.lines![0]!))).toBe(true);
      expect(await w.copyRow("a1")).toMatchObject({ state: "done", created_by: "U0OP" });
      expect(await w.app.ledger.operations.get(2)).toMatchObject({ kind: "copy", state: "succeeded", args: { snapshot: "a1", target: "offsite", auto: true } });
      await w.app.close();
    });

    it("a part altered or removed on the target: verify --from says broken with copy_failed, restore refuses it; copying again replaces it", async () => {
      const w = await fresh();
      await w.created("s1");
      await w.copied("s1");
      await f.tamper(w.label, "files", "s1", ".parts/part-000001");
      const broken = await done(await w.run("verify files/s1 --from offsite"));
      expect(broken).toMatchObject({ tone: "error", title: "the copy of files/s1 on offsite is broken (operation #3): it will not be used to restore" });
      expect(broken.lines).toContainEqual(expect.stringMatching(/^part-000001 is corrupt: sha256 /));
      expect(broken.buttons).toEqual([{ label: "Copy again", command: "copy files/s1 offsite" }]);
      expect(await w.copyRow("s1")).toMatchObject({ state: "broken", error: expect.stringMatching(/part-000001 is corrupt/) });
      await w.app.alerts.flush();
      expect(await w.openAlerts()).toEqual([["copy_failed", "copy_failed:files:s1@offsite"]]);
      expect(w.chat.calls.find((c) => c.channel === "C0ALERTS")?.reply.title).toMatch(/the copy of files\/s1 on offsite is broken: it will not be used to restore/);
      expect((await w.run("alerts")).table?.rows.map((r) => r.join(" "))).toContainEqual(expect.stringMatching(/copy_failed.*files\/s1@offsite/));
      expect((await w.run(`restore files/s1 --from offsite --target ${join(w.dir, "out")}`)).title).toBe(
        "the copy of files/s1 on offsite is broken: it will not be used to restore; verify files/s1 --from offsite says why",
      );

      const again = await w.copied("s1");
      expect(again.title).toBe("files/s1 copied to offsite (operation #4, asked by U0OP)");
      expect(await w.copyRow("s1")).toMatchObject({ state: "done" });
      const rows = (await w.app.ledger.copies.ofSnapshot((await w.copyRow("s1"))!.snapshot_id)).map((c) => [c.state, c.error]);
      expect(rows).toEqual([["done", null], ["deleted", "broken; replaced by a new copy"]]);
      expect((await done(await w.run("verify files/s1 --from offsite"))).tone).toBe("success");
      await w.app.alerts.flush();
      expect(await w.openAlerts()).toEqual([]);
      expect((await w.app.ledger.alerts.allPage(5, 0)).rows[0]).toMatchObject({ kind: "copy_failed", state: "resolved", resolved_why: "a later copy succeeded: files/s1" });

      await f.drop(w.label, "files", "s1", ".parts/part-000000");
      const missing = await done(await w.run("verify files/s1 --from offsite"));
      expect(missing.lines).toContainEqual("part-000000 is missing");
      expect((await w.copyRow("s1"))?.state).toBe("broken");
      await w.app.close();
    });
  });
}
