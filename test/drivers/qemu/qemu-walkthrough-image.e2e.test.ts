import { describe, expect, it } from "vitest";
import { join } from "node:path";
import { describeQemu, hasPattern, makeImage, sh, snapshotNames, startVm, writePattern } from "../../helpers/qemu-vm.ts";
import { tempDir } from "../../helpers/temp-dir.ts";
import { fakeClock } from "../../../src/clock.ts";
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

  describe("at the limit, on a real image", () => {
    const HOUR = 3_600_000;
    it("prunes the oldest expired leaf from the image for room, and refuses when the expired one has children", async () => {
      const leafImage = makeImage(tempDir("snapbot-limit-leaf-"));
      const parentImage = makeImage(tempDir("snapbot-limit-parent-"));
      const clock = fakeClock(Date.now());
      const t = await qemuApp(join(root, "limit"), { vm: { driver: "qemu", image: leafImage, limit: 2 }, vm2: { driver: "qemu", image: parentImage, limit: 2 } }, clock);
      try {
        const create = async (args: string) => done(await t.run(`create ${args}`, "U0OP"));
        expect((await create("vm s1")).tone).toBe("success");
        expect((await create("vm s2 --expiry 1H")).tone).toBe("success"); // a leaf under s1
        expect((await create("vm2 a1 --expiry 1H")).tone).toBe("success"); // a root...
        expect((await create("vm2 a2")).tone).toBe("success"); // ...with a child: a1 is a parent
        clock.advance(2 * HOUR);

        const made = await create("vm s3"); // at the limit: s2, expired and a leaf, makes room
        expect(made.tone).toBe("success");
        expect(snapshotNames(leafImage)).toEqual(["s1", "s3"]);
        expect((await t.row("vm", "s2"))?.state).toBe("deleted");

        const asked = await t.run("create vm2 a3", "U0OP"); // a1 expired, but its data is a2's base
        const refused = asked.follow ? await asked.follow.done : asked;
        expect(refused.tone).toBe("error");
        expect(text(refused)).toContain("vm2 has 2 snapshots, its limit is 2, and the expired ones (a1) have children, which are not pruned for room");
        expect(snapshotNames(parentImage)).toEqual(["a1", "a2"]); // nothing pruned, nothing made
        expect((await t.row("vm2", "a3"))?.state).not.toBe("done");
      } finally {
        await t.app.close();
      }
    });
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
        expect((await t.row("vm", "s1"))?.state).toBe("failed");
        expect(snapshotNames(file)).toEqual(["before"]);
        expect(await vm.hasPattern(0x5a)).toBe(true);
      } finally {
        await vm.stop();
        await t.app.close();
      }
      expect(hasPattern(file, 0x5a)).toBe(true);
    });
  });
});
