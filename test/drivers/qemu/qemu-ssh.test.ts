import { existsSync, statSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { SnapshotDriver } from "../../../src/drivers/driver.ts";
import { qemuDriver } from "../../../src/drivers/qemu/qemu-module.ts";
import { tempDir } from "../../helpers/temp-dir.ts";
import { describeQemu, hasPattern, makeImage, snapshotNames, startVm, writePattern, type QemuVm } from "../../helpers/qemu-vm.ts";
import { sshdAvailable, startSshd, type Sshd } from "../../helpers/sshd.ts";
import { context, handle, log, request, runner } from "./qemu-fixture.ts";

// host: ssh://… — the same driver with the ssh runner (DESIGN.md §3): qemu-img runs on the hypervisor host,
// QMP goes through socat there, an export is converted there and streamed back. A real sshd on 127.0.0.1.

// Without sshd a workstation skips; CI fails in startSshd (it must run these).
const suite = sshdAvailable() || process.env.CI === "true" ? describeQemu : describe.skip;

suite("qemu driver over SSH (host: ssh://)", () => {
  const dir = tempDir("snapbot-qemu-ssh-");
  const storage = join(dir, "state", "storage");
  let sshd: Sshd;
  let vm: QemuVm;
  const driverFor = (settings: Record<string, unknown>): SnapshotDriver => {
    const parsed = qemuDriver.settings.parse({ driver: "qemu", host: `ssh://root@127.0.0.1:${sshd.port}`, ssh_key: sshd.clientKey, ...settings });
    return qemuDriver.create({ name: "vm", settings: parsed }, { runner, storageDir: storage, fsync: false, log });
  };
  beforeAll(async () => {
    sshd = await startSshd(join(dir, "sshd"));
    vm = await startVm(dir, makeImage(dir, "running.qcow2"));
  }, 30_000);
  afterAll(async () => {
    await vm?.stop();
    await sshd?.stop();
  }, 20_000);

  it("image mode: snapshots, applies and exports on the host; the host key is recorded first", async () => {
    const file = makeImage(dir);
    const driver = driverFor({ image: file });
    writePattern(file, 0xa1);
    const r = await driver.create(request("s1"), context());
    expect(existsSync(join(dir, "state", "known_hosts"))).toBe(true);
    writePattern(file, 0xb2);
    await driver.restore!(handle("s1", { details: r.details }), {}, context());
    expect(hasPattern(file, 0xa1)).toBe(true);
    const out = await driver.export!(handle("s1"), "vmdk", context());
    expect(out.file).toBe(join(storage, "vm", "exports", "s1.vmdk"));
    expect(statSync(out.file).mode & 0o777).toBe(0o600);
    expect(hasPattern(out.file, 0xa1, "vmdk")).toBe(true);
    expect((await driver.hostKeys!(context())).length).toBeGreaterThan(0);
  });

  it("qmp mode: the jobs reach the running QEMU through socat on the host", async () => {
    const driver = driverFor({ qmp: vm.socket });
    await vm.writePattern(0xc3);
    const r = await driver.create(request("q1", true), context());
    await vm.writePattern(0xd4);
    await driver.restore!(handle("q1", { details: r.details }), {}, context());
    expect(await vm.hasPattern(0xc3)).toBe(true);
    expect(await driver.verify!(handle("q1", { details: r.details }), context())).toEqual({ ok: true, problems: [], checkedBytes: 0 });
    await driver.delete(handle("q1"), context());
    expect(snapshotNames(vm.image)).toEqual([]);
  });
});
