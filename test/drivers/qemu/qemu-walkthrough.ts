import { createHash } from "node:crypto";
import { mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Reply } from "../../../src/reply.ts";
import { hasPattern, sh } from "../../helpers/qemu-vm.ts";
import { recordingChat } from "../../helpers/recording-chat.ts";
import { testApp } from "../../helpers/test-app.ts";
import type { Clock } from "../../../src/clock.ts";
import { waitFor } from "../../helpers/process-tree.ts";

// The CloudCIX walk-through (issue 11) through the whole bot — the command layer, engine, ledger and the real
// qemu driver — on one of its three modes. Content is proven with qemu-io patterns in the first 64 KiB of the
// VM's disk: A (0xaa) before s1, B (0xbb) before s2. The server has limit: 3, so the limit is met on the way.

export interface QemuModeCase {
  title: string;
  /** driver: qemu settings of the server `vm` (image:, qmp: or domain:). */
  config(): Record<string, unknown>;
  write(byte: number): Promise<void> | void;
  has(byte: number): Promise<boolean> | boolean;
  /** The tags in the image's snapshot table (qemu-img info -U), as the backend itself holds them. */
  table(): string[] | Promise<string[]>;
  /** Snapshots made and removed without snapbot: qemu-img snapshot -c/-d, HMP savevm/delvm, virsh. */
  outside: { create(name: string): void | Promise<void>; remove(name: string): void | Promise<void> };
}

const A = 0xaa;
const B = 0xbb;
const C = 0xcc;
export const ROLES = { admins: ["U0ADMIN"], approvers: ["U0ALICE"], operators: ["*"] };


export const done = (r: Reply) => {
  if (!r.follow) throw new Error(`expected long work, got: ${r.title} ${(r.lines ?? []).join(" / ")}`);
  return r.follow.done;
};
export const approvalOf = (r: Reply) => Number(/approve (\d+)/.exec(r.buttons?.[0]?.command ?? "")?.[1] ?? NaN);
export const text = (r: Reply) =>
  [r.title, ...(r.lines ?? []), ...(r.monospace ?? []), ...(r.fields ?? []).map(([k, v]) => `${k}: ${v}`), ...(r.table?.rows ?? []).map((row) => row.join(" "))].join("\n");
/** The snapshot with ● in list --tree (the server's current position), if any. */
const currentOf = (tree: string) => /●\s*(\S+)/.exec(tree)?.[1];

/** A fresh app on `servers` (its own ledger) with a recording chat for the alerts. */
export async function qemuApp(dir: string, servers: Record<string, Record<string, unknown>>, clock?: Clock) {
  mkdirSync(dir, { recursive: true });
  const chat = recordingChat();
  const file = { roles: ROLES, alerts: { channel: "C0ALERTS" }, storage: { path: "snaps" }, servers };
  const t = await testApp(dir, file, clock, chat.port);
  const rows = async (server: string) => {
    const id = (await t.app.ledger.servers.get(server))!.id;
    return (await t.app.ledger.snapshots.list(id, { all: true, limit: 100, offset: 0 })).rows;
  };
  const row = async (server: string, name: string) => (await rows(server)).filter((r) => r.name === name).at(-1);
  const alerts = (kind: RegExp) => chat.calls.filter((c) => c.channel === "C0ALERTS" && kind.test(c.reply.title));
  const approved = async (command: string) => {
    const request = await t.run(command, "U0OP");
    expect(request.title).toMatch(/^Approval needed: /);
    expect(await t.run(`approve ${approvalOf(request)}`, "U0OP")).toMatchObject({ tone: "error" }); // not by the requester
    return done(await t.run(`approve ${approvalOf(request)}`, "U0ALICE"));
  };
  return { ...t, chat, rows, row, alerts, approved, storage: join(dir, "snaps") };
}

export function qemuWalkThrough(root: string, m: QemuModeCase): void {
  describe(`CloudCIX walk-through: ${m.title}`, () => {
    let t: Awaited<ReturnType<typeof qemuApp>>;
    const created = async (name: string) => {
      const final = await done(await t.run(`create vm ${name}`, "U0OP"));
      expect(final).toMatchObject({ tone: "success", title: expect.stringMatching(new RegExp(`^vm/${name} done: `)) });
      expect((await t.row("vm", name))?.state).toBe("done");
    };
    beforeAll(async () => {
      t = await qemuApp(join(root, "walk"), { vm: { ...m.config(), limit: 3 } });
    });
    afterAll(() => t?.app.close());

    it("write A, create vm s1, write B, create vm s2: both in the image's table", async () => {
      await m.write(A);
      await created("s1");
      await m.write(B);
      await created("s2");
      expect(await m.table()).toEqual(["s1", "s2"]);
      expect(await m.has(B)).toBe(true);
    });

    it("restore vm/s1 waits for a second person, then A is back", async () => {
      const request = await t.run("restore vm/s1", "U0OP");
      expect(request.title).toMatch(/^Approval needed: restore vm\/s1/);
      expect(JSON.stringify(request)).toContain("the VM's disk and state go back to vm/s1"); // describeRestore: what is overwritten
      expect(await t.run(`approve ${approvalOf(request)}`, "U0OP")).toMatchObject({ tone: "error" });
      expect(await m.has(B)).toBe(true); // nothing before approval
      const final = await done(await t.run(`approve ${approvalOf(request)}`, "U0ALICE"));
      expect(final).toMatchObject({ tone: "success", title: expect.stringMatching(/approved by U0ALICE\)$/) });
      expect(await m.has(A)).toBe(true);
      expect(await m.has(B)).toBe(false);
    });

    it("create vm s3 reaches the limit (3): limit_near is raised and a 4th create is refused with its line", async () => {
      await created("s3");
      await waitFor("the limit_near alert", () => t.alerts(/^limit_near: vm holds 3 of its 3 snapshots/)[0]);
      const refused = await t.run("create vm s4", "U0OP");
      const said = refused.follow ? await refused.follow.done : refused;
      expect(said.tone).toBe("error");
      expect(text(said)).toContain("vm has 3 snapshots, its limit is 3, and none has expired: delete one first (list vm) or raise limit: for it in the config");
      expect(await m.table()).toEqual(["s1", "s2", "s3"]); // nothing was made
      expect((await t.row("vm", "s4"))?.state).not.toBe("done");
    });

    it("s3 is a child of s1 like s2, and the current position: list vm --tree draws s1→{s2,s3} with ● on s3", async () => {
      const tree = text(await t.run("list vm --tree"));
      const lines = tree.split("\n");
      const at = (name: string) => lines.findIndex((l) => new RegExp(`\\b${name}\\b`).test(l));
      expect(at("s1")).toBeGreaterThanOrEqual(0);
      expect(at("s2")).toBeGreaterThan(at("s1"));
      expect(at("s3")).toBeGreaterThan(at("s1"));
      expect(lines[at("s3")]).toContain("●");
      expect(lines.filter((l) => l.includes("●"))).toHaveLength(1);
    });

    it("show vm/s1 gives its parent, children and VM-state size", async () => {
      const show = text(await t.run("show vm/s1"));
      expect(show).toContain("parent: none (a root)");
      expect(show).toContain("children: s2, s3");
      expect(show).toMatch(/^vm state: (none \(disk only\)|\d)/m); // the image mode has no running state to save
      expect(text(await t.run("show vm/s3"))).toMatch(/^parent: s1$[\s\S]*^current: yes/m);
    });

    it("verify vm/s1 passes: in the table with its recorded date and size, qemu-img check clean", async () => {
      expect((await done(await t.run("verify vm/s1"))).tone).toBe("success");
      expect(await t.row("vm", "s1")).toMatchObject({ state: "done", verified_at: expect.any(Number) });
    });

    it("export vm/s1 --format vmdk writes a standalone, checksummed image that holds A", async () => {
      const final = await done(await t.run("export vm/s1 --format vmdk", "U0OP"));
      expect(final.tone).toBe("success");
      const file = join(t.storage, "vm", "exports", "s1.vmdk");
      expect(sh("qemu-img", ["check", "-f", "vmdk", file]).status).toBe(0);
      expect(hasPattern(file, A, "vmdk")).toBe(true);
      expect(hasPattern(file, B, "vmdk")).toBe(false);
      const sha = createHash("sha256").update(readFileSync(file)).digest("hex");
      expect(text(final)).toContain(sha.slice(0, 12));
    });

    it("delete vm/s1 removes it from the image; s2 and s3 stay, the running disk is untouched", async () => {
      expect((await done(await t.run("delete vm/s1", "U0OP"))).tone).toBe("success");
      expect(await m.table()).toEqual(["s2", "s3"]);
      expect((await t.row("vm", "s1"))?.state).toBe("deleted");
      expect(await m.has(A)).toBe(true);
    });

    it("after delete vm/s1, s2 and s3 are re-parented to s1's parent (roots)", async () => {
      const show = (name: string) => t.run(`show vm/${name}`).then(text);
      expect(await show("s2")).toContain("parent: none (a root)");
      expect(await show("s3")).toContain("parent: none (a root)");
    });

    it("revert vm discards the changes since the current snapshot", async () => {
      expect((await t.approved("restore vm/s2")).tone).toBe("success");
      expect(await m.has(B)).toBe(true);
      await created("s4"); // a child of s2
      await m.write(C);
      const reply = await t.run("revert vm", "U0OP");
      const final = reply.title.startsWith("Approval needed") ? await done(await t.run(`approve ${approvalOf(reply)}`, "U0ALICE")) : await done(reply);
      expect(final.tone).toBe("success");
      expect(await m.has(B)).toBe(true);
      expect(await m.has(C)).toBe(false);
    });

    it("delete vm/s2 --subtree lists what it removes, needs approval, and removes s2 and s4 leaves first", async () => {
      const dry = text(await t.run("delete vm/s2 --subtree --dry-run", "U0OP"));
      expect(dry).toContain("s2");
      expect(dry).toContain("s4");
      expect((await t.approved("delete vm/s2 --subtree")).tone).toBe("success");
      expect(await m.table()).toEqual(["s3"]);
      expect([(await t.row("vm", "s2"))?.state, (await t.row("vm", "s4"))?.state]).toEqual(["deleted", "deleted"]);
    });

    it("verify of a snapshot removed outside snapbot makes it broken, with an alert", async () => {
      await created("gone1");
      await m.outside.remove("gone1");
      const final = await done(await t.run("verify vm/gone1"));
      expect(final.tone).toBe("error");
      expect(text(final)).toContain("vm/gone1 is no longer in the image's snapshot table");
      expect((await t.row("vm", "gone1"))?.state).toBe("broken");
      await waitFor("the snapshot_broken alert", () => t.alerts(/^snapshot_broken: vm\/gone1 is broken/)[0]);
    });

    it("a snapshot made outside snapbot is imported by list as external; one removed outside is marked deleted", async () => {
      await created("base1"); // the current position, which an imported snapshot goes under
      expect(currentOf(text(await t.run("list vm --tree")))).toBe("base1");
      await m.outside.create("ext1");
      const listed = await t.run("list vm");
      expect(listed.table?.rows).toContainEqual(expect.arrayContaining(["ext1", "done"]));
      expect(await t.row("vm", "ext1")).toMatchObject({ origin: "external", state: "done" });
      expect((await t.row("vm", "gone1"))?.state).toBe("deleted");
      // In the tree: under the current position (libvirt: the parent libvirt recorded, which is the same snapshot).
      expect(text(await t.run("show vm/ext1"))).toMatch(/^parent: base1( \(made outside snapbot; placed .+\))?$/m);
    });
  });
}
