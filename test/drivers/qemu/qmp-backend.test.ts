import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { createQmpBackend } from "../../../src/drivers/qemu/qmp-backend.ts";
import { withQmp } from "../../../src/drivers/qemu/qmp-client.ts";
import { socatLink, socketLink } from "../../../src/drivers/qemu/qmp-link.ts";
import { BackendError, UserError } from "../../../src/errors.ts";
import { tempDir } from "../../helpers/temp-dir.ts";
import { describeQemu, makeImage, silentSocket, snapshotNames, startVm, type QemuVm } from "../../helpers/qemu-vm.ts";
import { context, runner } from "./qemu-fixture.ts";

// qmp: — a running QEMU through the snapshot-save/load/delete jobs, VM state included; QEMU's own words
// when a job fails; a socket that never answers is dropped at the signal.

describeQemu("qemu QMP backend: jobs on a running QEMU", () => {
  const dir = tempDir("snapbot-qemu-qmp-");
  let vm: QemuVm;
  beforeAll(async () => {
    vm = await startVm(dir, makeImage(dir));
  }, 30_000);
  afterAll(() => vm?.stop(), 20_000);
  const backend = () => createQmpBackend("vm", vm.socket, runner, () => socketLink(vm.socket));

  it("saves with VM state, lists it, loads it back (the disk's content with it) and deletes it", async () => {
    const b = backend();
    await b.probe(context());
    await vm.writePattern(0xa1);
    const s1 = await b.create("s1", true, context());
    expect(s1.name).toBe("s1");
    expect(s1.vmStateSize).toBeGreaterThan(0);
    await vm.writePattern(0xb2);
    const s2 = await b.create("s2", true, context());
    // create read the entry from QEMU's own table (query-block); the file, read by qemu-img -U, says the same.
    const onDisk = await b.list(context());
    expect(onDisk.map((s) => s.name)).toEqual(["s1", "s2"]);
    expect(onDisk.map(({ name, createdAt, vmStateSize }) => ({ name, createdAt, vmStateSize }))).toEqual([s1, s2].map(({ name, createdAt, vmStateSize }) => ({ name, createdAt, vmStateSize })));
    await b.apply("s1", context());
    expect(await vm.hasPattern(0xa1)).toBe(true);
    expect(await vm.hasPattern(0xb2)).toBe(false);
    expect(await vm.qmp("query-status")).toMatchObject({ running: true, status: "running" });
    await b.remove("s2", context());
    expect(snapshotNames(vm.image)).toEqual(["s1"]);
    expect(await b.check(context())).toEqual({ ok: true, problems: [] });
    expect(await b.imageFile(context())).toBe(vm.image);
  });

  it("reports a failed job with QEMU's own message, and the VM keeps running", async () => {
    const b = backend();
    await expect(b.apply("nosuch", context())).rejects.toThrow(
      new BackendError("qmp_job_failed", "snapshot-load failed in QEMU: Snapshot 'nosuch' does not exist in one or more devices"),
    );
    expect(await vm.qmp("query-status")).toMatchObject({ running: true }); // QEMU leaves it paused; snapbot resumes it
  });

  it("refuses an existing tag in one line (QEMU's own refusal of snapshot-save, read once, nothing overwritten)", async () => {
    await expect(backend().create("s1", true, context())).rejects.toThrow(new UserError("snapshot_exists", "vm already has a snapshot s1: pick another name, or delete vm/s1 first"));
    const raw = withQmp(socketLink(vm.socket), "QMP test", new AbortController().signal, (s) =>
      s.job("snapshot-save", { tag: "s1", vmstate: "disk0", devices: ["disk0"] }),
    );
    await expect(raw).rejects.toThrow("snapshot-save failed in QEMU: Snapshot 's1' already exists in one or more devices");
    expect(snapshotNames(vm.image)).toEqual(["s1"]);
  });

  it("a disk hot-plugged or removed between two creates of one backend is never missed (the disks are read again)", async () => {
    const b = backend();
    await b.create("one-disk", true, context()); // the backend now knows the VM's disks: disk0
    const second = makeImage(dir, "second.qcow2");
    await vm.qmp("blockdev-add", { driver: "qcow2", "node-name": "disk1", file: { driver: "file", filename: second } });
    await vm.qmp("device_add", { driver: "virtio-blk-pci", drive: "disk1", id: "vd1" });
    await b.create("two-disks", true, context());
    expect(snapshotNames(vm.image)).toContain("two-disks");
    expect(snapshotNames(second)).toEqual(["two-disks"]); // taken again over both disks, not only the one it knew
    await b.remove("two-disks", context());
    await b.remove("one-disk", context());
    // A disk cannot be unplugged from a VM with no guest OS (device_del waits for the guest): the VM is started
    // again on the same socket with its one disk, so the two the backend knew are no longer there.
    await vm.stop();
    vm = await startVm(dir, vm.image);
    await b.create("after-unplug", true, context()); // a disk it knew is gone: saved over what the VM has now
    expect(snapshotNames(vm.image)).toContain("after-unplug");
    expect(snapshotNames(second)).toEqual([]);
    await b.remove("after-unplug", context());
  });

  it("works the same through socat (how it runs on a host reached over SSH)", async () => {
    const b = createQmpBackend("vm", vm.socket, runner, (signal) => socatLink(vm.socket, runner, signal));
    await b.create("via-socat", true, context());
    expect((await b.list(context())).map((s) => s.name)).toContain("via-socat");
    await b.remove("via-socat", context());
    expect(snapshotNames(vm.image)).not.toContain("via-socat");
  });

  it("a socket nobody listens on is a setting to fix", async () => {
    const gone = join(dir, "gone.sock");
    const b = createQmpBackend("vm", gone, runner, () => socketLink(gone));
    await expect(b.probe(context())).rejects.toSatisfy((e: unknown) => e instanceof UserError && e.code === "qmp_unreachable" && /no QEMU answers on .*gone\.sock.*-qmp unix:/.test(e.message));
    const viaSocat = createQmpBackend("vm", gone, runner, (signal) => socatLink(gone, runner, signal));
    await expect(viaSocat.probe(context())).rejects.toSatisfy((e: unknown) => e instanceof UserError && e.code === "qmp_unreachable");
  });

  it("a socket that accepts and never answers is dropped when the signal aborts", async () => {
    const path = join(dir, "hung.sock");
    const hung = await silentSocket(path);
    try {
      const ac = new AbortController();
      const b = createQmpBackend("vm", path, runner, () => socketLink(path));
      const pending = b.list(context(ac.signal));
      await until(() => hung.connections() === 1);
      ac.abort(new Error("timed out"));
      await expect(pending).rejects.toThrow(new BackendError("aborted", `QMP ${path} was stopped (cancelled or timed out) before QEMU answered`));
      await until(() => hung.openNow() === 0);
    } finally {
      await hung.close();
    }
  });
});

async function until(check: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !check(); i++) await new Promise((r) => setTimeout(r, 10));
  expect(check()).toBe(true);
}
