import { afterAll, beforeAll, expect, it } from "vitest";
import { createImageBackend } from "../../../src/drivers/qemu/image-backend.ts";
import { UserError } from "../../../src/errors.ts";
import { tempDir } from "../../helpers/temp-dir.ts";
import { describeQemu, hasPattern, makeImage, sh, snapshotNames, startVm, writePattern, type QemuVm } from "../../helpers/qemu-vm.ts";
import { context, runner } from "./qemu-fixture.ts";

// image: — qemu-img snapshot on a stopped VM's file; a file a running VM holds is refused, never forced.

describeQemu("qemu image backend: qemu-img on a real qcow2", () => {
  const dir = tempDir("snapbot-qemu-img-");
  let vm: QemuVm;
  let held: string;
  beforeAll(async () => {
    held = makeImage(dir, "held.qcow2");
    writePattern(held, 0x5a);
    sh("qemu-img", ["snapshot", "-c", "before", held]);
    vm = await startVm(dir, held);
  }, 30_000);
  afterAll(() => vm?.stop(), 20_000);

  it("creates, lists, applies and deletes; the content goes back to the snapshot's", async () => {
    const file = makeImage(dir, "walk.qcow2");
    const b = createImageBackend("vm", file, runner);
    writePattern(file, 0xa1);
    const before = Date.now();
    const s1 = await b.create("s1", false, context());
    expect(s1).toMatchObject({ name: "s1", vmStateSize: 0 });
    expect(s1.createdAt).toBeGreaterThanOrEqual(before - 1000);
    writePattern(file, 0xb2);
    await b.create("s2", false, context());
    expect((await b.list(context())).map((s) => s.name)).toEqual(["s1", "s2"]);
    await b.apply("s1", context());
    expect(hasPattern(file, 0xa1)).toBe(true);
    expect(hasPattern(file, 0xb2)).toBe(false);
    await b.remove("s2", context());
    expect(snapshotNames(file)).toEqual(["s1"]);
    await b.remove("s2", context()); // gone already: still removed
    expect(await b.check(context())).toEqual({ ok: true, problems: [] });
    expect(await b.imageFile(context())).toBe(file);
  });

  it("refuses an existing tag (qemu-img itself would make a second one), and --stateful on a stopped VM", async () => {
    const file = makeImage(dir, "dup.qcow2");
    const b = createImageBackend("vm", file, runner);
    await b.create("s1", false, context());
    await expect(b.create("s1", false, context())).rejects.toThrow(new UserError("snapshot_exists", "vm already has a snapshot s1 in its image: pick another name, or delete vm/s1 first"));
    await expect(b.create("s2", true, context())).rejects.toThrow(/no running state to save; drop --stateful, or configure qmp: or domain:/);
    expect(snapshotNames(file)).toEqual(["s1"]);
  });

  it("applying a tag that is not there says so, and changes nothing", async () => {
    const file = makeImage(dir, "miss.qcow2");
    writePattern(file, 0x33);
    const b = createImageBackend("vm", file, runner);
    await expect(b.apply("nope", context())).rejects.toThrow(/vm\/nope is not in the image's snapshot table: list vm shows/);
    expect(hasPattern(file, 0x33)).toBe(true);
  });

  it("refuses every operation on an image a running VM holds, and leaves it untouched", async () => {
    const b = createImageBackend("vm", held, runner);
    const fast = createImageBackend("vm", held, runner, { local: true }); // reads the table itself: the -c still meets the lock
    const inUse = /held\.qcow2 is in use by a running VM, so vm will not touch it: configure qmp: \(its QMP socket\) or domain: \(its libvirt domain\)/;
    for (const attempt of [
      () => b.create("s1", false, context()),
      () => fast.create("s1", false, context()),
      () => b.apply("before", context()),
      () => b.remove("before", context()),
      () => b.list(context()),
      () => b.check(context()),
      () => b.probe(context()),
    ])
      await expect(attempt()).rejects.toSatisfy((e: unknown) => e instanceof UserError && e.code === "image_in_use" && inUse.test(e.message));
    expect(snapshotNames(held)).toEqual(["before"]);
    expect(await vm.hasPattern(0x5a)).toBe(true);
  });

  it("a file that is not there, or not qcow2, is a setting to fix", async () => {
    await expect(createImageBackend("vm", `${dir}/none.qcow2`, runner).probe(context())).rejects.toThrow(/qemu-img failed .*none\.qcow2/);
    const raw = `${dir}/d.raw`;
    sh("qemu-img", ["create", "-q", "-f", "raw", raw, "1M"]);
    await expect(createImageBackend("vm", raw, runner).probe(context())).rejects.toThrow(new UserError("not_qcow2", `${raw} is a raw image, not qcow2: internal snapshots need a qcow2 file`));
  });
});
