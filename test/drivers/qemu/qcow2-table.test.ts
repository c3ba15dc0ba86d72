import { copyFileSync, openSync, readFileSync, truncateSync, writeFileSync, writeSync, closeSync } from "node:fs";
import { afterAll, beforeAll, expect, it } from "vitest";
import { readQcow2Snapshots } from "../../../src/drivers/qemu/qcow2-table.ts";
import { createImageBackend } from "../../../src/drivers/qemu/image-backend.ts";
import { createQmpBackend } from "../../../src/drivers/qemu/qmp-backend.ts";
import { readSnapshotTable } from "../../../src/drivers/qemu/qemu-img.ts";
import { socketLink } from "../../../src/drivers/qemu/qmp-link.ts";
import { UserError } from "../../../src/errors.ts";
import type { Runner } from "../../../src/transport/runner.ts";
import { tempDir } from "../../helpers/temp-dir.ts";
import { describeQemu, makeImage, sh, snapshotNames, startVm, writePattern, type QemuVm } from "../../helpers/qemu-vm.ts";
import { context, runner } from "./qemu-fixture.ts";

// create's fast path: a local image's snapshot table read from its qcow2 header says what `qemu-img info`
// says, gives null (so qemu-img is asked) for anything it is unsure of, and saves create its two qemu-img
// processes: one `qemu-img snapshot -c` is all an image-mode create runs, nothing at all a QMP one.

const byQemuImg = (file: string) => readSnapshotTable(runner, file, { shared: true, signal: context().signal });

/** The local runner, with every command it runs written down. */
function recording(): { runner: Runner; argv: string[] } {
  const argv: string[] = [];
  return {
    argv,
    runner: { ...runner, run: (cmd, args, o) => (argv.push([cmd, ...args].join(" ")), runner.run(cmd, args, o)) },
  };
}

describeQemu("qemu: the qcow2 snapshot table read from the file", () => {
  const dir = tempDir("snapbot-qcow2-table-");
  let vm: QemuVm;
  beforeAll(async () => {
    vm = await startVm(dir, makeImage(dir, "running.qcow2"));
  }, 30_000);
  afterAll(() => vm?.stop(), 20_000);

  it("reads what qemu-img info reads: names of any length, dates, after a delete, on v3 and v2 (compat=0.10) images", async () => {
    for (const compat of ["1.1", "0.10"]) {
      const file = `${dir}/t-${compat}.qcow2`;
      sh("qemu-img", ["create", "-q", "-f", "qcow2", "-o", `compat=${compat}`, file, "16M"]);
      expect(await readQcow2Snapshots(file)).toEqual([]);
      const names = ["a", "s2", "nightly-2026-11-01", "x".repeat(61), "b7", "s.6_x-y", "c", "d", "e", "f", "g"];
      for (const [i, name] of names.entries()) {
        writePattern(file, 0x10 + i);
        sh("qemu-img", ["snapshot", "-c", name, file]);
        // Fresh tables end at the file's end, without the last entry's padding: read after every create.
        expect(await readQcow2Snapshots(file)).toEqual(await byQemuImg(file));
      }
      sh("qemu-img", ["snapshot", "-d", "nightly-2026-11-01", file]);
      const table = await readQcow2Snapshots(file);
      expect(table).toEqual(await byQemuImg(file));
      expect(table!.map((s) => s.name)).toEqual(names.filter((n) => n !== "nightly-2026-11-01"));
    }
  });

  it("reads a running VM's snapshot with its VM state as qemu-img info -U does", async () => {
    await vm.qmp("human-monitor-command", { "command-line": "savevm with-state" });
    const table = await readQcow2Snapshots(vm.image);
    expect(table).toEqual(await byQemuImg(vm.image));
    expect(table![0]!.vmStateSize).toBeGreaterThan(0);
  });

  it("is null, so qemu-img is asked, for a file that is not there, not qcow2, of an unknown version, or cut short", async () => {
    expect(await readQcow2Snapshots(`${dir}/none.qcow2`)).toBeNull();
    const raw = `${dir}/r.raw`;
    sh("qemu-img", ["create", "-q", "-f", "raw", raw, "1M"]);
    expect(await readQcow2Snapshots(raw)).toBeNull();
    const good = makeImage(dir, "cut.qcow2");
    for (const n of ["s1", "s2", "s3"]) sh("qemu-img", ["snapshot", "-c", n, good]);
    const size = readFileSync(good).length;
    const cut = `${dir}/cut-short.qcow2`;
    copyFileSync(good, cut);
    truncateSync(cut, size - 40); // the last entry's name and most of its head are gone
    expect(await readQcow2Snapshots(cut)).toBeNull();
    const v9 = `${dir}/v9.qcow2`;
    copyFileSync(good, v9);
    const fd = openSync(v9, "r+");
    writeSync(fd, Buffer.from([0, 0, 0, 9]), 0, 4, 4);
    closeSync(fd);
    expect(await readQcow2Snapshots(v9)).toBeNull();
    writeFileSync(`${dir}/short`, "QFI");
    expect(await readQcow2Snapshots(`${dir}/short`)).toBeNull();
  });

  it("an image-mode create runs one qemu-img snapshot -c and nothing else; a taken tag is refused without any", async () => {
    const file = makeImage(dir, "one-command.qcow2");
    const r = recording();
    const b = createImageBackend("vm", file, r.runner, { local: true });
    const s1 = await b.create("s1", false, context());
    expect(r.argv).toEqual([`qemu-img snapshot -c s1 ${file}`]);
    expect([s1]).toEqual(await byQemuImg(file));
    await expect(b.create("s1", false, context())).rejects.toSatisfy((e: unknown) => e instanceof UserError && e.code === "snapshot_exists");
    expect(r.argv).toHaveLength(1);
    // A file qemu-img must read (here: not qcow2) still goes to qemu-img, with its words.
    const raw = `${dir}/r2.raw`;
    sh("qemu-img", ["create", "-q", "-f", "raw", raw, "1M"]);
    await expect(createImageBackend("vm", raw, r.runner, { local: true }).create("s1", false, context())).rejects.toThrow(/is a raw image, not qcow2/);
    expect(r.argv.at(-1)).toBe(`qemu-img info --output=json ${raw}`);
  });

  it("a QMP create on a local disk runs no qemu-img at all, and records what qemu-img -U reads", async () => {
    const r = recording();
    const b = createQmpBackend("vm", vm.socket, r.runner, () => socketLink(vm.socket), { local: true });
    const s = await b.create("by-qmp", true, context());
    expect(r.argv).toEqual([]);
    expect((await byQemuImg(vm.image)).find((e) => e.name === "by-qmp")).toEqual(s);
    await expect(b.create("by-qmp", true, context())).rejects.toSatisfy((e: unknown) => e instanceof UserError && e.code === "snapshot_exists");
    expect(snapshotNames(vm.image).filter((n) => n === "by-qmp")).toHaveLength(1);
  });
});
