import { describe, expect, it } from "vitest";
import { mkdirSync, readFileSync, writeFileSync, existsSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { testApp } from "../../helpers/test-app.ts";
import { tempDir } from "../../helpers/temp-dir.ts";
import { recordingChat } from "../../helpers/recording-chat.ts";
import { fakeClock } from "../../../src/clock.ts";
import type { Reply } from "../../../src/reply.ts";
import { formatBytes } from "../../../src/duration.ts";
import { generateKey, sshdAvailable, startSshd, type Sshd } from "../../helpers/sshd.ts";

// restore <server>/<snap> --to <other>: the seed's "new server from a snapshot", with two local archive
// servers over different folders / image files. The destination is written, the source only read.

const root = tempDir("snapbot-restore-to-");
let n = 0;
const roles = { admins: ["U0ADMIN"], approvers: ["U0ALICE", "U0BOB"], operators: ["*"] };
const done = (r: Reply) => {
  if (!r.follow) throw new Error(`expected long work, got: ${r.title} ${JSON.stringify(r.lines ?? [])}`);
  return r.follow.done;
};
const approvalId = (r: Reply) => Number(/approve (\d+)/.exec(r.buttons![0]!.command)![1]);
const VERIFIED = "every part is verified again before anything is written: a broken snapshot is never restored";
const unpacked = (dir: string, server: string, snap: string) =>
  formatBytes(JSON.parse(readFileSync(join(dir, "snaps", server, snap, "manifest.json"), "utf8")).uncompressed_size as number);

async function setup() {
  const dir = join(root, `r${++n}`);
  const srcA = join(dir, "a", "site");
  const srcB = join(dir, "b", "site");
  mkdirSync(join(srcA, "conf"), { recursive: true });
  mkdirSync(srcB, { recursive: true });
  const original = randomBytes(300_000);
  writeFileSync(join(srcA, "conf/app.conf"), "version = 1\n");
  writeFileSync(join(srcA, "blob.bin"), original);
  const imgA = join(dir, "disk-a.img");
  const imgB = join(dir, "disk-b.img");
  const image = randomBytes(3 * 1024 * 1024);
  writeFileSync(imgA, image);
  writeFileSync(imgB, Buffer.alloc(image.length));
  const t = await testApp(
    dir,
    {
      roles,
      storage: { path: "snaps" },
      servers: {
        "files-1": { driver: "archive", paths: [srcA], part_size: "1MiB" },
        "files-2": { driver: "archive", paths: [srcB], part_size: "1MiB" },
        "disk-1": { driver: "archive", mode: "raw", device: imgA, part_size: "1MiB" },
        "disk-2": { driver: "archive", mode: "raw", device: imgB, part_size: "1MiB" },
        "web-1": { driver: "lxd", instance: "web-1" },
      },
    },
    fakeClock(Date.now()),
    recordingChat().port,
  );
  return { ...t, dir, srcA, srcB, imgA, imgB, image, original };
}

describe("restore --to another archive server", () => {
  it("tar: extracts files-1's snapshot on files-2 (under --target), byte for byte, after approval; files-1 untouched", async () => {
    const { app, run, dir, srcA, original } = await setup();
    expect((await done(await run("create files-1 s1", "U0OP"))).tone).toBe("success");
    writeFileSync(join(srcA, "conf/app.conf"), "version = 2\n"); // the source moves on after the snapshot
    const into = join(dir, "new-server");
    const request = await run(`restore files-1/s1 --to files-2 --target ${into}`, "U0OP");
    expect(request.title).toMatch(/^Approval needed: restore files-1\/s1 --to files-2 \(asked by U0OP, approval #\d+\)/);
    // files-1's paths, under --target on files-2, and the unpacked size; the result says the same.
    const writes = `${join(into, srcA)} on files-2 from files-1/s1: ${unpacked(dir, "files-1", "s1")} extracted under ${into} (files in the snapshot are overwritten; newer files are kept)`;
    expect(request.fields).toContainEqual(["will change", writes]);
    expect(request.lines).toEqual([VERIFIED, "An approver other than the requester decides."]);
    expect(existsSync(into)).toBe(false); // nothing before approval
    expect((await run(`approve ${approvalId(request)}`, "U0OP")).tone).toBe("error"); // not by the one who asked
    const final = await done(await run(`approve ${approvalId(request)}`, "U0ALICE"));
    expect(final).toMatchObject({ tone: "success", lines: [`restored ${writes}`] });
    expect(readFileSync(join(into, srcA, "blob.bin")).equals(original)).toBe(true);
    expect(readFileSync(join(into, srcA, "conf/app.conf"), "utf8")).toBe("version = 1\n");
    expect(readFileSync(join(srcA, "conf/app.conf"), "utf8")).toBe("version = 2\n"); // source only read
    expect((await app.ledger.operations.list({ limit: 10 })).find((o) => o.kind === "restore")).toMatchObject({ state: "succeeded", approved_by: "U0ALICE", args: expect.objectContaining({ to: "files-2" }) });
    await app.close();
  });

  it("raw: writes disk-1's image over disk-2's device byte for byte; disk-1's device is untouched", async () => {
    const { app, run, imgA, imgB, image } = await setup();
    expect((await done(await run("create disk-1 s1", "U0OP"))).tone).toBe("success");
    const changed = Buffer.from(image);
    changed.fill(7, 0, 4096);
    writeFileSync(imgA, changed);
    // disk-2's own device is written (not disk-1's), with the image's size: 3.00 MiB.
    const writes = `the device ${imgB} on disk-2 from disk-1/s1: 3.00 MiB (the whole device is overwritten)`;
    const dry = await run("restore disk-1/s1 --to disk-2 --dry-run", "U0OP");
    expect(dry.lines).toEqual([`would write ${writes}`, VERIFIED, "it would need an approver other than you", "Nothing was changed."]);
    const request = await run("restore disk-1/s1 --to disk-2", "U0OP");
    expect(request.fields).toContainEqual(["will change", writes]);
    expect(readFileSync(imgB).equals(Buffer.alloc(image.length))).toBe(true);
    const decision = await run(`approve ${approvalId(request)}`, "U0BOB");
    // The destination's lease is held while it runs (the source is only read).
    await expect(app.engine.lease("disk-2", "probe")).rejects.toThrow(/^disk-2 is busy: restore disk-1\/s1 --to disk-2/);
    app.engine.release(await app.engine.lease("disk-1", "probe"));
    expect(await done(decision)).toMatchObject({ tone: "success", lines: [`restored ${writes}`] });
    expect(readFileSync(imgB).equals(image)).toBe(true);
    expect(readFileSync(imgA).equals(changed)).toBe(true);
    await app.close();
  });

  it("refuses a mode mismatch, an unknown destination and a non-archive pair with one clear line, recording nothing", async () => {
    const { app, run } = await setup();
    await done(await run("create files-1 s1", "U0OP"));
    expect(await run("restore files-1/s1 --to disk-2", "U0OP")).toMatchObject({
      tone: "error",
      title: "files-1 is a tar archive and disk-2 a raw one: restore --to needs two servers of the same mode",
    });
    expect(await run("restore files-1/s1 --to nowhere", "U0OP")).toMatchObject({ tone: "error", title: expect.stringMatching(/^unknown server "nowhere" \(known: /) });
    expect(await run("restore files-1/s1 --to web-1", "U0OP")).toMatchObject({
      tone: "error",
      title: "restore --to needs two servers of the same driver: files-1 is archive, web-1 is lxd",
    });
    expect(await app.ledger.operations.list({ limit: 10 })).toHaveLength(1);
    await app.close();
  });
});

// Over SSH: files-1's /etc/ssh restored onto files-2 makes the two present the same host key. Both sshd run
// on this machine, so files-2's "/" is <dir>/b-root (via --target) and its sshd reads its key there.
const sshEnabled = sshdAvailable() || process.env.CI === "true";
describe.runIf(sshEnabled)("restore --to over SSH: shared host keys", () => {
  it("records files-2's host keys after the restore and raises hostkey_regen_needed", async () => {
    const dir = join(root, "ssh");
    const rootA = join(dir, "root-a");
    const bRoot = join(dir, "b-root");
    const rootB = join(bRoot, rootA); // where --target puts rootA's files on files-2
    const keyA = join(rootA, "etc/ssh/ssh_host_ed25519_key");
    const keyB = join(rootB, "etc/ssh/ssh_host_ed25519_key");
    mkdirSync(join(rootA, "etc/ssh"), { recursive: true });
    mkdirSync(join(rootB, "etc/ssh"), { recursive: true });
    generateKey(keyA);
    generateKey(keyB);
    let a: Sshd | undefined;
    let b: Sshd | undefined;
    const chat = recordingChat();
    const t = await testApp(dir, { roles, alerts: { channel: "C0ALERTS" }, servers: {} }, fakeClock(Date.now()), chat.port);
    try {
      a = await startSshd(join(dir, "sshd-a"), { hostKey: keyA });
      b = await startSshd(join(dir, "sshd-b"), { hostKey: keyB });
      const register = (name: string, s: Sshd, r: string) =>
        t.run(`register ${name} archive host=ssh://root@127.0.0.1:${s.port} ssh_key=${s.clientKey} paths=${join(rootA, "etc/ssh")} hostkey_root=${r}`, "U0ADMIN");
      expect((await register("files-1", a, rootA)).tone).toBe("success");
      expect((await register("files-2", b, rootB)).tone).toBe("success");
      expect((await done(await t.run("create files-1 s1", "U0OP"))).tone).toBe("success");
      const request = await t.run(`restore files-1/s1 --to files-2 --target ${bRoot}`, "U0OP");
      // The server written is named: files-2, where files-1's /etc/ssh lands under --target.
      const will = request.fields!.find(([k]) => k === "will change")![1];
      expect(will).toMatch(/^(\S+) on files-2 from files-1\/s1: \d+\.\d+ KiB extracted under (\S+) \(files in the snapshot are overwritten; newer files are kept\)$/);
      expect(will.startsWith(`${join(rootB, "etc/ssh")} on files-2`)).toBe(true);
      const final = await done(await t.run(`approve ${approvalId(request)}`, "U0ALICE"));
      expect(final).toMatchObject({ tone: "success", lines: [`restored ${will}`] });
      expect(readFileSync(keyB).equals(readFileSync(keyA))).toBe(true);
      await new Promise((r) => setTimeout(r, 50));
      const posts = chat.calls.filter((c) => c.kind === "post" && c.channel === "C0ALERTS").map((c) => c.reply);
      expect(posts.map((p) => p.title)).toEqual([expect.stringMatching(/^hostkey_regen_needed: files-2 presents the same SSH host key as files-1 \(ssh-ed25519 SHA256:/)]);
      expect(posts[0]!.buttons).toEqual([{ label: "Regenerate host keys", command: "hostkeys regen files-2", style: "primary" }]);
      // snapbot wrote those keys itself: files-2 is not blocked as if impersonated, and stays reachable.
      expect(await t.app.ledger.hostKeys.pending((await t.app.ledger.servers.get("files-2"))!.id)).toEqual([]);
      expect((await done(await t.run("create files-2 s1", "U0OP"))).tone).toBe("success");
    } finally {
      await t.app.close();
      await a?.stop();
      await b?.stop();
    }
  }, 60_000);
});
