import { describe, expect, it } from "vitest";
import { join } from "node:path";
import { hangingTool, pathSwitch } from "../../helpers/fake-tool.ts";
import { processTree, waitFor } from "../../helpers/process-tree.ts";
import { snapshotNames } from "../../helpers/qemu-vm.ts";
import { tempDir } from "../../helpers/temp-dir.ts";
import { describeLibvirt } from "./libvirt-fixture.ts";
import { done, qemuApp, qemuWalkThrough, text } from "./qemu-walkthrough.ts";

// The CloudCIX walk-through on driver: qemu, domain: (a real libvirtd and a running domain, no guest OS), and
// what only this mode has: a hung virsh is killed at the timeout and reported, virsh's own error is shown.
const root = tempDir("snapbot-walk-libvirt-");

describeLibvirt("qemu libvirt mode through the bot", (dom) => {
  const config = (over: Record<string, unknown> = {}) => ({ driver: "qemu", domain: dom().name, connect: dom().connect, ...over });
  qemuWalkThrough(root, {
    title: "libvirt domain (virsh)",
    config,
    write: (byte) => dom().writePattern(byte),
    has: (byte) => dom().hasPattern(byte),
    table: () => snapshotNames(dom().disk),
    outside: {
      create: (name) => void dom().virsh(["snapshot-create-as", dom().name, name]),
      remove: (name) => void dom().virsh(["snapshot-delete", dom().name, name]),
    },
  });

  describe("virsh failing", () => {
    it("a hung virsh is killed at the server's timeout and the create reported as failed, with an alert", async () => {
      const bin = join(root, "hang-bin");
      hangingTool(bin, "virsh", "*snapshot-create-as*");
      const t = await qemuApp(join(root, "hung"), { vm: config({ timeout: 2 }) });
      const path = pathSwitch(() => bin);
      path.arm();
      try {
        const reply = await t.run("create vm hung1", "U0OP");
        // The hung one (snapshot-create-as), read once per look: the wrapper's quick pass-through calls come and go.
        const hung = () => processTree(bin).filter((p) => p.args.includes("snapshot-create-as"));
        const seen = await waitFor("the hung virsh", () => {
          const now = hung();
          return now.length ? now : undefined;
        });
        const final = await done(reply);
        expect(final).toMatchObject({ tone: "error", title: expect.stringMatching(/^create vm\/hung1 failed/) });
        expect(text(final)).toMatch(/timed out after 2s: the operation was stopped/);
        expect((await t.row("vm", "hung1"))?.state).toBe("failed");
        await waitFor("the snapshot_failed alert", () => t.alerts(/^snapshot_failed: snapshot vm\/hung1 failed/)[0]);
        await waitFor("the hung virsh to be gone", () => (processTree(bin).length === 0 ? true : undefined));
        expect(seen.length).toBeGreaterThan(0);
        expect(snapshotNames(dom().disk)).not.toContain("hung1");
      } finally {
        path.disarm();
        await t.app.close();
      }
    });

    it("virsh's own error is the failure's line: a restore of a snapshot deleted behind snapbot's back", async () => {
      const t = await qemuApp(join(root, "virsh-error"), { vm: config() });
      try {
        expect((await done(await t.run("create vm err1", "U0OP"))).tone).toBe("success");
        dom().virsh(["snapshot-delete", dom().name, "err1"]);
        const final = await t.approved("restore vm/err1");
        expect(final).toMatchObject({ tone: "error", title: expect.stringMatching(/^restore vm\/err1, approved by U0ALICE failed/) });
        expect(text(final)).toMatch(/Domain snapshot not found/i);
      } finally {
        await t.app.close();
      }
    });
  });
}, "walk");
