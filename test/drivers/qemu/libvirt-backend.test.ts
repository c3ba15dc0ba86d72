import { execFileSync } from "node:child_process";
import { chmodSync, closeSync, existsSync, openSync, readFileSync, readSync, writeFileSync, writeSync } from "node:fs";
import { join } from "node:path";
import pino from "pino";
import { afterAll, beforeAll, expect, it } from "vitest";
import type { DriverContext } from "../../../src/drivers/driver.ts";
import { createLibvirtBackend } from "../../../src/drivers/qemu/libvirt-backend.ts";
import type { QemuBackend, QemuSnapshot } from "../../../src/drivers/qemu/qemu-backend.ts";
import { BackendError, UserError } from "../../../src/errors.ts";
import { trustOnFirstUse } from "../../../src/transport/known-hosts.ts";
import { createLocalRunner } from "../../../src/transport/local-runner.ts";
import { createSshRunner } from "../../../src/transport/ssh-runner.ts";
import { parseSshTarget } from "../../../src/transport/ssh-target.ts";
import type { Runner } from "../../../src/transport/runner.ts";
import { alive, track } from "../../helpers/cleanup.ts";
import { defineDomain, type LibvirtDomain } from "../../helpers/libvirt-env.ts";
import { describeLibvirt } from "./libvirt-fixture.ts";
import { startSshd, type Sshd } from "../../helpers/sshd.ts";
import { tempDir } from "../../helpers/temp-dir.ts";

// The libvirt mode on a real running domain (libvirtd, QEMU, virsh): the CloudCIX walk-through with the
// disk's content proven by qemu-io patterns, libvirt's own tree metadata, and the failure paths.

const log = pino({ level: "silent" });
const runner = createLocalRunner(log);
const ctx = (signal = new AbortController().signal): DriverContext => ({ signal, log, progress: () => {} });
const tree = (snaps: QemuSnapshot[]) => Object.fromEntries(snaps.map((s) => [s.name, s.parent]));
type QemuImgInfo = { snapshots: Array<{ name: string; "vm-state-size": number }> };
const current = (snaps: QemuSnapshot[]) => snaps.filter((s) => s.current).map((s) => s.name);

describeLibvirt("libvirt backend: a running domain", (dom) => {
  let b: QemuBackend;
  beforeAll(() => {
    b = createLibvirtBackend({ domain: dom().name, connect: dom().connect }, runner);
  });

  it("walks the CloudCIX tree: apply brings the content back, libvirt re-parents on delete", async () => {
    await b.probe(ctx());
    expect(await b.list(ctx())).toEqual([]);
    await dom().writePattern(0xaa);
    const s1 = await b.create("s1", true, ctx());
    expect(s1).toMatchObject({ name: "s1", parent: null, current: true });
    expect(s1.vmStateSize).toBeGreaterThan(0); // a running domain's snapshot holds its memory
    await dom().writePattern(0xbb);
    expect(await b.create("s2", true, ctx())).toMatchObject({ name: "s2", parent: "s1", current: true });

    await b.apply("s1", ctx());
    expect(await dom().hasPattern(0xaa)).toBe(true);
    expect(await dom().hasPattern(0xbb)).toBe(false);
    expect(current(await b.list(ctx()))).toEqual(["s1"]);

    await b.create("s3", true, ctx());
    const listed = await b.list(ctx());
    expect(tree(listed)).toEqual({ s1: null, s2: "s1", s3: "s1" });
    expect(current(listed)).toEqual(["s3"]);
    expect(dom().virsh(["snapshot-info", dom().name, "s3"])).toMatch(/^Parent:\s+s1$/m); // libvirt's own metadata
    const info = JSON.parse(execFileSync("qemu-img", ["info", "-U", "--output=json", dom().disk], { encoding: "utf8" })) as QemuImgInfo;
    for (const s of listed) expect(s.vmStateSize).toBe(info.snapshots.find((q) => q.name === s.name)!["vm-state-size"]);

    await b.remove("s1", ctx());
    expect(tree(await b.list(ctx()))).toEqual({ s2: null, s3: null });
    expect(await dom().hasPattern(0xaa)).toBe(true); // the running disk is untouched by the delete
  });

  it("refuses an existing name with one line and leaves the snapshot as it was", async () => {
    const before = await b.list(ctx());
    const err = await b.create("s2", true, ctx()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UserError);
    expect((err as Error).message).toBe(
      `domain ${dom().name} already has a snapshot named s2: choose another name, or delete that one first`,
    );
    expect(await b.list(ctx())).toEqual(before);
  });

  it("deletes a deep subtree leaves first, one snapshot at a time (never --children)", async () => {
    for (const s of await b.list(ctx())) await b.remove(s.name, ctx());
    await b.create("t1", true, ctx());
    await b.create("t2", true, ctx());
    await b.apply("t1", ctx());
    await b.create("t3", true, ctx());
    await b.create("t4", true, ctx());
    expect(tree(await b.list(ctx()))).toEqual({ t1: null, t2: "t1", t3: "t1", t4: "t3" });
    const order: string[] = [];
    for (let snaps = await b.list(ctx()); snaps.length > 0; snaps = await b.list(ctx())) {
      const leaf = snaps.find((s) => !snaps.some((c) => c.parent === s.name))!;
      await b.remove(leaf.name, ctx());
      order.push(leaf.name);
    }
    expect(order.indexOf("t4")).toBeLessThan(order.indexOf("t3"));
    expect(order.at(-1)).toBe("t1");
    expect(dom().virsh(["snapshot-list", dom().name, "--name"]).trim()).toBe("");
    expect(dom().virsh(["domstate", dom().name]).trim()).toBe("running");
  });

  it("checks and names the domain's disk (qemu-img check -U while it runs)", async () => {
    expect(await b.imageFile(ctx())).toBe(dom().disk);
    expect(await b.check(ctx())).toEqual({ ok: true, problems: [] });
  });

  it("reads snapshots made with virsh itself, with libvirt's parents and names with spaces", async () => {
    dom().virsh(["snapshot-create-as", dom().name, "made outside"]);
    dom().virsh(["snapshot-create-as", dom().name, "u2"]);
    const snaps = await b.list(ctx());
    expect(tree(snaps)).toMatchObject({ "made outside": null, u2: "made outside" });
    expect(current(snaps)).toEqual(["u2"]);
    const info = dom().virsh(["snapshot-dumpxml", dom().name, "made outside"]);
    expect(snaps.find((s) => s.name === "made outside")!.createdAt).toBe(Number(/<creationTime>(\d+)</.exec(info)![1]) * 1000);
  });

  it("carries virsh's own error message into the failure", async () => {
    const err = await b.apply("nope", ctx()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BackendError);
    expect(err).toMatchObject({ code: "snapshot_missing" });
    expect((err as Error).message).toBe(
      `revert of domain ${dom().name} to nope failed: virsh: Domain snapshot not found: no domain snapshot with matching name 'nope'`,
    );
  });

  it("kills a hung virsh at the signal, with what it was doing in the failure", async () => {
    const { hung, pids } = hungVirsh();
    const stuck = createLibvirtBackend({ domain: dom().name, connect: dom().connect }, hung);
    const ac = new AbortController();
    const listing = stuck.list(ctx(ac.signal)).catch((e: unknown) => e);
    const { found: [shell, sleeper], release } = await pids();
    ac.abort();
    const err = await listing;
    expect(err).toBeInstanceOf(BackendError);
    expect((err as Error).message).toBe(`snapshot list of domain ${dom().name}: virsh was cancelled and stopped`);
    await until(() => !alive(shell!) && !alive(sleeper!)); // the fake virsh and the sleep it started
    release();
  });
});

describeLibvirt("libvirt backend: probe", (dom) => {
  it("names the missing domain and the settings to check, in one line", async () => {
    const err = await createLibvirtBackend({ domain: "no-such-vm", connect: dom().connect }, runner).probe(ctx()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UserError);
    expect((err as Error).message).toBe("no libvirt domain no-such-vm on qemu:///system: check domain: and connect:");
  });

  it("reports an unreachable libvirtd in its own words, as could-not-check (not a refusal)", async () => {
    const connect = "qemu+unix:///system?socket=/nonexistent/libvirt-sock";
    const err = await createLibvirtBackend({ domain: dom().name, connect }, runner).probe(ctx()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BackendError);
    expect(err).toMatchObject({ code: "libvirt_unreachable" });
    expect((err as Error).message).toContain("Failed to connect socket to '/nonexistent/libvirt-sock': No such file or directory");
  });

  it("works on a shut-off domain: a disk-only snapshot with no VM state, applied without starting it", async () => {
    const b = createLibvirtBackend({ domain: dom().name, connect: dom().connect }, runner);
    dom().virsh(["destroy", dom().name]);
    await b.probe(ctx());
    expect(await b.create("off1", false, ctx())).toMatchObject({ name: "off1", vmStateSize: 0, parent: null, current: true });
    await b.apply("off1", ctx());
    expect(dom().virsh(["domstate", dom().name]).trim()).toBe("shut off");
  });
});

describeLibvirt("libvirt backend: on the hypervisor host over SSH", (dom) => {
  let sshd: Sshd;
  let b: QemuBackend;
  beforeAll(async () => {
    const dir = tempDir("snapbot-libvirt-ssh-");
    sshd = await startSshd(join(dir, "sshd"));
    const target = parseSshTarget(`ssh://root@127.0.0.1:${sshd.port}`);
    const knownHostsFile = join(dir, "known_hosts");
    await trustOnFirstUse(runner, knownHostsFile, target);
    const remote = createSshRunner({ target, keyFile: sshd.clientKey, knownHostsFile, connectTimeoutS: 5, log });
    b = createLibvirtBackend({ domain: dom().name, connect: dom().connect }, remote);
  }, 30_000);
  afterAll(() => sshd?.stop());

  it("runs virsh and qemu-img through the SSH runner, with libvirt's words on failure", async () => {
    await b.probe(ctx());
    await dom().writePattern(0xcc);
    expect(await b.create("r1", true, ctx())).toMatchObject({ name: "r1", parent: null, current: true });
    await dom().writePattern(0xdd);
    await b.apply("r1", ctx());
    expect(await dom().hasPattern(0xcc)).toBe(true);
    const [r1] = await b.list(ctx());
    expect(r1!.vmStateSize).toBeGreaterThan(0); // read with qemu-img info -U on the host
    expect(await b.check(ctx())).toEqual({ ok: true, problems: [] });
    const said = expect.stringContaining("no domain snapshot with matching name 'nope'");
    await expect(b.remove("nope", ctx())).rejects.toMatchObject({ code: "snapshot_missing", message: said });
    await b.remove("r1", ctx());
    expect(await b.list(ctx())).toEqual([]);
  });
});

describeLibvirt("libvirt backend: a corrupted disk", () => {
  let broken: LibvirtDomain;
  beforeAll(async () => {
    broken = await defineDomain("corrupt", { start: false, prepare: corruptL1 });
  }, 60_000);
  afterAll(() => broken?.remove());

  it("check fails with qemu-img's count of corruptions", async () => {
    const b = createLibvirtBackend({ domain: broken.name, connect: broken.connect }, runner);
    const r = await b.check(ctx());
    expect(r.ok).toBe(false);
    expect(r.problems).toHaveLength(1);
    expect(r.problems[0]).toMatch(new RegExp(`^qemu-img check found \\d+ corruptions in ${broken.disk}$`));
  });
});

/** Writes data, then points the first L1 entry half a cluster off: qemu-img check reports corruptions. */
function corruptL1(disk: string): void {
  execFileSync("qemu-io", ["-c", "write -P 0xab 0 64k", disk], { stdio: "ignore" });
  const fd = openSync(disk, "r+");
  try {
    const header = Buffer.alloc(48);
    readSync(fd, header, 0, 48, 0);
    const l1 = Number(header.readBigUInt64BE(40));
    const entry = Buffer.alloc(8);
    readSync(fd, entry, 0, 8, l1);
    const offset = (entry.readBigUInt64BE(0) & ~(1n << 63n)) + 512n;
    entry.writeBigUInt64BE(offset, 0);
    writeSync(fd, entry, 0, 8, l1);
  } finally {
    closeSync(fd);
  }
}

/** A Runner whose PATH starts with a real `virsh` that starts a sleep and waits on it (a virsh hung on libvirtd). */
function hungVirsh(): { hung: Runner; pids: () => Promise<{ found: number[]; release: () => void }> } {
  const dir = tempDir("snapbot-hung-virsh-");
  const pidFile = join(dir, "pids");
  writeFileSync(join(dir, "virsh"), `#!/bin/sh\nsleep 600 &\necho "$$ $!" > ${pidFile}.tmp\nmv ${pidFile}.tmp ${pidFile}\nwait\n`);
  chmodSync(join(dir, "virsh"), 0o755);
  const hung: Runner = {
    ...runner,
    run: (cmd, args, opts) => runner.run(cmd, args, { ...opts, env: { ...opts?.env, PATH: `${dir}:${process.env.PATH}` } }),
  };
  const pids = async () => {
    await until(() => existsSync(pidFile));
    const found = readFileSync(pidFile, "utf8").trim().split(" ").map(Number);
    // If the runner fails to stop them, the end of the test run does; released once they are seen gone.
    const releases = found.map((pid) => track({ kind: "pid", pid }));
    return { found, release: () => releases.forEach((r) => r()) };
  };
  return { hung, pids };
}

async function until(cond: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !cond(); i++) await new Promise((r) => setTimeout(r, 50));
  expect(cond()).toBe(true);
}
