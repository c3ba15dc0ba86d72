import { statSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { DriverDeps, SnapshotDriver } from "../../../src/drivers/driver.ts";
import { qemuDriver } from "../../../src/drivers/qemu/qemu-module.ts";
import { UserError } from "../../../src/errors.ts";
import { tempDir } from "../../helpers/temp-dir.ts";
import { describeQemu, hasPattern, makeImage, sh, snapshotNames, startVm, writePattern, type QemuVm } from "../../helpers/qemu-vm.ts";
import { context, handle, log, request, runner } from "./qemu-fixture.ts";
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";

// driver: qemu through its module (settings → factory → driver), on a stopped VM's image and on a running
// QEMU: the CloudCIX walk-through with content proven, verify against the image's table, export of one
// snapshot as a standalone image.

function driverFor(settings: Record<string, unknown>, storageDir: string): SnapshotDriver {
  const deps: DriverDeps = { runner, storageDir, fsync: false, log };
  return qemuDriver.create({ name: "vm", settings: qemuDriver.settings.parse({ driver: "qemu", ...settings }) }, deps);
}

describe("qemu settings", () => {
  const parse = (s: Record<string, unknown>) => qemuDriver.settings.safeParse({ driver: "qemu", ...s });
  it("takes exactly one of image, qmp, domain, with the defaults", () => {
    expect(parse({ image: "/vms/a.qcow2" }).data).toEqual({ driver: "qemu", image: "/vms/a.qcow2", host: "local", limit: 50 });
    expect(parse({ domain: "web" }).success).toBe(true);
    const one = "exactly one of image (the qcow2 file of a stopped VM), qmp (the QMP socket of a running QEMU) or domain (a libvirt domain)";
    expect(parse({}).error?.issues.map((i) => i.message)).toEqual([one]);
    expect(parse({ image: "/a.qcow2", qmp: "/q.sock" }).error?.issues.map((i) => i.message)).toEqual([one]);
    expect(parse({ image: "vms/a.qcow2" }).error?.issues[0]?.message).toMatch(/^an absolute path to the VM's qcow2 file/);
    expect(parse({ image: "/a.qcow2", connect: "qemu:///session" }).error?.issues[0]?.message).toMatch(/set domain too/);
    expect(parse({ image: "/a.qcow2", bogus: 1 }).success).toBe(false);
    expect(parse({ image: "/a.qcow2", timeout: "forever" }).error?.issues[0]?.message).toMatch(/^expected a duration like 30M/);
    expect(parse({ image: "/a.qcow2", timeout: "2H", limit: 10 }).success).toBe(true);
  });
  it("says what it can do", () => {
    expect(qemuDriver.features).toEqual({ trees: true, limit: true, stateful: true, exportFormats: ["qcow2", "vmdk", "vhd"] });
  });
});

describeQemu("qemu driver: image mode", () => {
  const dir = tempDir("snapbot-qemu-drv-");
  const store = join(dir, "storage");
  let file: string;
  let driver: SnapshotDriver;
  beforeAll(() => {
    file = makeImage(dir);
    driver = driverFor({ image: file }, store);
  });

  it("walks create → list → apply → verify → delete with the content proven", async () => {
    await driver.probe!(context());
    writePattern(file, 0xa1);
    const r1 = await driver.create(request("s1"), context());
    expect(r1).toMatchObject({ location: null, checksum: null, parts: [], details: { vm_state_size: 0, mode: "image" } });
    const s1 = handle("s1", { details: r1.details });
    writePattern(file, 0xb2);
    await driver.create(request("s2"), context());
    const listed = await driver.listBackend!(context());
    expect(listed.map((s) => [s.name, s.stateful, s.details])).toEqual([["s1", false, { vm_state_size: 0 }], ["s2", false, { vm_state_size: 0 }]]);
    expect(listed[0]).not.toHaveProperty("parent"); // qemu-img keeps no tree: the ledger's
    expect(listed[0]!.createdAt).toBe(r1.details!.date);
    expect(await driver.describeRestore!(s1, {})).toEqual({
      writes: "the VM's disk and state go back to vm/s1; changes since the current snapshot are discarded",
      notes: ["the VM must stay stopped while its image is written"],
      bytes: null,
    });
    expect(await driver.restore!(s1, {}, context())).toEqual({ summary: "vm/s1 applied: the VM's disk and state are back to s1" });
    expect(hasPattern(file, 0xa1)).toBe(true);
    expect(await driver.verify!(s1, context())).toEqual({ ok: true, problems: [], checkedBytes: 0 });
    expect(await driver.leftover!(s1)).toBe("complete");
    await driver.delete(handle("s2"), context());
    expect(snapshotNames(file)).toEqual(["s1"]);
    expect(await driver.leftover!(handle("s2"))).toBe("nothing");
  });

  it("an image server cannot save a running state; a QMP one can", () => {
    expect(driver.features).toMatchObject({ stateful: false, trees: true, limit: true });
    expect(driverFor({ qmp: "/run/vm.qmp" }, store).features).toMatchObject({ stateful: true });
  });

  it("refuses --target and --to with a line that says what to do", async () => {
    await expect(driver.describeRestore!(handle("s1"), { target: "/srv" })).rejects.toThrow(/--target is not possible; drop it/);
    await expect(driver.restore!(handle("s1"), { to: "vm-2" }, context())).rejects.toThrow(new UserError("no_restore_to", "vm (qemu) cannot apply its snapshot to another VM: drop --to, or export vm/s1 and import the image there"));
  });

  it("verify: deleted outside snapbot → not ok; the same tag made again → another snapshot", async () => {
    const r = await driver.create(request("gone"), context());
    sh("qemu-img", ["snapshot", "-d", "gone", file]);
    expect(await driver.verify!(handle("gone", { details: r.details }), context())).toEqual({ ok: false, problems: ["vm/gone is no longer in the image's snapshot table"], checkedBytes: 0 });
    sh("qemu-img", ["snapshot", "-c", "gone", file]);
    const v = await driver.verify!(handle("gone", { details: { ...r.details, date: (r.details!.date as number) - 5000 } }), context());
    expect(v.ok).toBe(false);
    expect(v.problems[0]).toMatch(/^vm\/gone in the image is dated .* as recorded: it is another snapshot of that name$/);
  });

  it("verify fails when qemu-img check finds the image corrupt", async () => {
    const bad = makeImage(dir, "bad.qcow2");
    writePattern(bad, 0x11);
    const d = driverFor({ image: bad }, store);
    const r = await d.create(request("s1"), context());
    corruptRefcounts(bad);
    const v = await d.verify!(handle("s1", { details: r.details }), context());
    expect(v.ok).toBe(false);
    expect(v.problems.join(" ")).toMatch(/qemu-img check found \d+ corruptions/);
  });

  for (const [format, qemuFormat] of [["qcow2", "qcow2"], ["vmdk", "vmdk"], ["vhd", "vpc"]] as const)
    it(`exports one snapshot as a standalone ${format}, checksummed, 0600, with the snapshot's content`, async () => {
      const f = makeImage(dir, `exp-${format}.qcow2`);
      const d = driverFor({ image: f }, store);
      writePattern(f, 0xc3);
      await d.create(request(`e-${format}`), context());
      writePattern(f, 0xd4); // after the snapshot: must not be in the export
      const res = await d.export!(handle(`e-${format}`), format, context());
      expect(res.file).toBe(join(store, "vm", "exports", `e-${format}.${format}`));
      expect(statSync(res.file).mode & 0o777).toBe(0o600);
      expect(res.sha256).toBe(createHash("sha256").update(readFileSync(res.file)).digest("hex"));
      expect(res.size).toBe(statSync(res.file).size);
      expect(JSON.parse(sh("qemu-img", ["info", "--output=json", res.file]).out).format).toBe(qemuFormat);
      expect(hasPattern(res.file, 0xc3, qemuFormat)).toBe(true);
      expect(hasPattern(res.file, 0xd4, qemuFormat)).toBe(false);
    });

  it("export of a snapshot that is gone says so and writes nothing", async () => {
    await expect(driver.export!(handle("nope"), "qcow2", context())).rejects.toThrow(/vm\/nope is no longer in the image's snapshot table: it cannot be exported/);
    expect(() => statSync(join(store, "vm", "exports", "nope.qcow2"))).toThrow();
  });
});

describeQemu("qemu driver: QMP mode on a running VM", () => {
  const dir = tempDir("snapbot-qemu-drvq-");
  const store = join(dir, "storage");
  let vm: QemuVm;
  let driver: SnapshotDriver;
  beforeAll(async () => {
    vm = await startVm(dir, makeImage(dir));
    driver = driverFor({ qmp: vm.socket }, store);
  }, 30_000);
  afterAll(() => vm?.stop(), 20_000);

  it("walks create → apply → verify → export → delete on the running VM", async () => {
    await vm.writePattern(0xa1);
    const r1 = await driver.create(request("s1", true), context());
    expect(r1.details).toMatchObject({ mode: "qmp" });
    expect(r1.details!.vm_state_size as number).toBeGreaterThan(0);
    const s1 = handle("s1", { details: r1.details });
    await vm.writePattern(0xb2);
    await driver.create(request("s2", true), context());
    expect((await driver.listBackend!(context())).map((s) => [s.name, s.stateful])).toEqual([["s1", true], ["s2", true]]);
    await driver.restore!(s1, {}, context());
    expect(await vm.hasPattern(0xa1)).toBe(true);
    expect(await driver.describeRestore!(s1, {})).toMatchObject({ notes: [] });
    expect(await driver.verify!(s1, context())).toEqual({ ok: true, problems: [], checkedBytes: 0 });
    const res = await driver.export!(s1, "qcow2", context()); // reads the VM's image with -U
    expect(hasPattern(res.file, 0xa1)).toBe(true);
    await driver.delete(handle("s2"), context());
    expect(snapshotNames(vm.image)).toEqual(["s1"]);
    expect(await vm.qmp("query-status")).toMatchObject({ running: true });
  });

  it("a job error comes back with QEMU's message", async () => {
    await expect(driver.restore!(handle("missing"), {}, context())).rejects.toThrow("snapshot-load failed in QEMU: Snapshot 'missing' does not exist in one or more devices");
  });

  it("verify of a snapshot deleted outside snapbot is not ok", async () => {
    const r = await driver.create(request("outside", true), context());
    await vm.qmp("human-monitor-command", { "command-line": "delvm outside" });
    expect(await driver.verify!(handle("outside", { details: r.details }), context())).toMatchObject({ ok: false, problems: ["vm/outside is no longer in the image's snapshot table"] });
  });
});

// Overwrites the refcount table pointer's target cluster with garbage: `qemu-img check` reports corruptions.
function corruptRefcounts(file: string): void {
  const header = readFileSync(file).subarray(0, 104);
  const offset = Number(header.readBigUInt64BE(48)); // refcount_table_offset
  sh("qemu-io", ["-f", "raw", "-c", `write -P 0xff ${offset} 512`, file]);
}
