import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { join } from "node:path";
import { describeQemu, makeImage, snapshotNames, startVm, type QemuVm } from "../../helpers/qemu-vm.ts";
import { tempDir } from "../../helpers/temp-dir.ts";
import { done, qemuApp, qemuWalkThrough, text } from "./qemu-walkthrough.ts";

// The CloudCIX walk-through on driver: qemu, qmp: (a real running QEMU, no guest OS, its QMP socket), and what
// only this mode has: a QMP job that fails is reported with QEMU's own message, and the VM keeps running.
const root = tempDir("snapbot-walk-qmp-");
let vm: QemuVm | undefined;
/** HMP through QMP; HMP errors come back as a successful reply whose text starts "Error:". */
async function hmp(line: string): Promise<void> {
  const said = await vm!.qmp<string>("human-monitor-command", { "command-line": line });
  if (/^Error/m.test(said)) throw new Error(`HMP ${line}: ${said}`);
}

describeQemu("qemu QMP mode through the bot", () => {
  beforeAll(async () => {
    vm = await startVm(root, makeImage(root));
  }, 60_000);
  afterAll(() => vm?.stop());

  qemuWalkThrough(root, {
    title: "running VM (QMP)",
    config: () => ({ driver: "qemu", qmp: vm!.socket }),
    write: (byte) => vm!.writePattern(byte),
    has: (byte) => vm!.hasPattern(byte),
    table: () => snapshotNames(vm!.image),
    outside: { create: (name) => hmp(`savevm ${name}`), remove: (name) => hmp(`delvm ${name}`) },
  });

  describe("a QMP job that fails", () => {
    it("is reported as a failed restore with QEMU's own message; the VM goes on running", async () => {
      const t = await qemuApp(join(root, "job-error"), { vm: { driver: "qemu", qmp: vm!.socket } });
      try {
        expect((await done(await t.run("create vm job1", "U0OP"))).tone).toBe("success");
        await hmp("delvm job1"); // gone from the image behind snapbot's back: snapshot-load of it fails in QEMU
        const final = await t.approved("restore vm/job1");
        expect(final).toMatchObject({ tone: "error", title: expect.stringMatching(/^restore vm\/job1, approved by U0ALICE failed/) });
        expect(text(final)).toContain("snapshot-load failed in QEMU: Snapshot 'job1' does not exist in one or more devices");
        expect(await vm!.qmp("query-status")).toMatchObject({ running: true, status: "running" });
        expect((await t.row("vm", "job1"))?.state).toBe("done"); // the restore failed, the ledger's snapshot row is not changed by it
      } finally {
        await t.app.close();
      }
    });
  });
});
