import { describe, expect, it } from "vitest";
import { join } from "node:path";
import { describeQemu, hasPattern, makeImage, sh, snapshotNames, startVm, writePattern } from "../../helpers/qemu-vm.ts";
import { tempDir } from "../../helpers/temp-dir.ts";
import { done, qemuApp, qemuWalkThrough, text } from "./qemu-walkthrough.ts";

// The CloudCIX walk-through on driver: qemu, image: (a stopped VM's qcow2, real qemu-img), and what only this
// mode has: an image a running VM holds is refused, untouched.
const root = tempDir("snapbot-walk-image-");
const image = makeImage(root);
const ok = (args: string[]) => {
  const r = sh("qemu-img", args);
  if (r.status !== 0) throw new Error(r.out);
};

describeQemu("qemu image mode through the bot", () => {
  qemuWalkThrough(root, {
    title: "offline image (qemu-img)",
    config: () => ({ driver: "qemu", image }),
    write: (byte) => writePattern(image, byte),
    has: (byte) => hasPattern(image, byte),
    table: () => snapshotNames(image),
    outside: { create: (name) => ok(["snapshot", "-c", name, image]), remove: (name) => ok(["snapshot", "-d", name, image]) },
  });

  describe("an image held by a running VM", () => {
    it("is refused with a line that says so and how to configure qmp: or domain:, and is left untouched", async () => {
      const dir = join(root, "locked");
      const file = makeImage(tempDir("snapbot-locked-"));
      writePattern(file, 0x5a);
      ok(["snapshot", "-c", "before", file]);
      const t = await qemuApp(dir, { vm: { driver: "qemu", image: file } });
      const vm = await startVm(join(file, ".."), file);
      try {
        const final = await done(await t.run("create vm s1", "U0OP"));
        expect(final).toMatchObject({ tone: "error", title: expect.stringMatching(/^create vm\/s1 failed/) });
        expect(text(final)).toContain(`${file} is in use by a running VM, so vm will not touch it: configure qmp: (its QMP socket) or domain: (its libvirt domain) for vm instead of image:`);
        expect(t.row("vm", "s1")?.state).toBe("failed");
        expect(snapshotNames(file)).toEqual(["before"]);
        expect(await vm.hasPattern(0x5a)).toBe(true);
      } finally {
        await vm.stop();
        t.app.close();
      }
      expect(hasPattern(file, 0x5a)).toBe(true);
    });
  });
});
