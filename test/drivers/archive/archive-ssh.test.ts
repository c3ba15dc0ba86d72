import { execFileSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { homedir } from "node:os";
import { join, relative } from "node:path";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ServerRow } from "../../../db/types.ts";
import type { DriverContext, SnapshotDriver, SnapshotHandle } from "../../../src/drivers/driver.ts";
import { createDriverRegistry } from "../../../src/drivers/registry.ts";
import { BUILTIN_DRIVERS } from "../../../src/drivers/index.ts";
import { BackendError, UserError } from "../../../src/errors.ts";
import { createLocalRunner } from "../../../src/transport/local-runner.ts";
import { generateKey, sshdAvailable, startSshd, type Sshd } from "../../helpers/sshd.ts";
import { tempDir } from "../../helpers/temp-dir.ts";
import { rejection } from "../../helpers/outcomes.ts";
import { formatBytes } from "../../../src/duration.ts";

// Archive servers reached over SSH, against a real sshd on 127.0.0.1 (DESIGN.md §5): the same archive driver
// with the ssh runner, so tar/dd and zstd run on the "server" and only compressed bytes cross the connection.
// In CI a missing sshd fails these tests; elsewhere they skip.
const enabled = sshdAvailable() || process.env.CI === "true";
const suite = enabled ? describe : describe.skip;

const log = pino({ level: "silent" });
const local = createLocalRunner(log);
const dir = tempDir("snapbot-archive-ssh-");
const storage = join(dir, "state", "storage");
const knownHosts = join(dir, "state", "known_hosts");
const drivers = createDriverRegistry(BUILTIN_DRIVERS, { runner: local, storageDir: storage, fsync: false, log });
// The source folder and a file in it carry quotes, spaces and $(...): they must reach the server as data.
const tree = join(dir, "remote", `srv dir 'q' "d" $(touch pwned)`);
const hostileFile = `a file "with" 'quotes' $(touch pwned) ;x.txt`;
let sshd: Sshd;
let serverId = 0;

function server(name: string, port: number, settings: Record<string, unknown>): ServerRow {
  return {
    id: ++serverId,
    name,
    driver: "archive",
    settings: { host: `ssh://root@127.0.0.1:${port}`, ssh_key: sshd.clientKey, ...settings },
    source: "config",
    channel: null,
    cloned_from: null,
    registered_by: null,
    created_at: 0,
    removed_at: null,
  };
}

function context(signal = new AbortController().signal): DriverContext {
  return { signal, log, progress: () => {} };
}

function handle(server: string, name: string): SnapshotHandle {
  return { server, name, location: join(storage, server, name), createdAt: 0 };
}

function create(driver: SnapshotDriver, server: string, name: string, ctx = context()) {
  return driver.create({ server, name, createdAt: Date.UTC(2026, 0, 1), stateful: false }, ctx);
}

async function listFiles(root: string): Promise<string[]> {
  const entries = await readdir(root, { recursive: true, withFileTypes: true });
  return entries.filter((e) => e.isFile()).map((e) => relative(root, join(e.parentPath, e.name))).sort();
}

async function expectSameTree(original: string, restored: string): Promise<void> {
  const files = await listFiles(original);
  expect(files.length).toBeGreaterThan(3);
  expect(await listFiles(restored)).toEqual(files);
  for (const f of files) expect((await readFile(join(restored, f))).equals(await readFile(join(original, f))), f).toBe(true);
}

const VERIFIED = "every part is verified again before anything is written: a broken snapshot is never restored";
const KEPT = "(files in the snapshot are overwritten; newer files are kept)";
/** The bytes of the uncompressed stream, counted here from the stored parts. */
const unpackedBytes = (folder: string) => Number(execFileSync("bash", ["-c", 'set -o pipefail; cat "$1"/.parts/part-* | zstd -d | wc -c', "_", folder]).toString().trim());

const sha256 = async (file: string) => createHash("sha256").update(await readFile(file)).digest("hex");

/** SIGKILL a process and every descendant (sshd's session processes and the remote commands under them). */
function killTree(pid: number): void {
  const rows = execFileSync("ps", ["-e", "-o", "pid=,ppid="]).toString().trim().split("\n");
  const children = new Map<number, number[]>();
  for (const r of rows) {
    const [p, pp] = r.trim().split(/\s+/).map(Number);
    children.set(pp!, [...(children.get(pp!) ?? []), p!]);
  }
  const all: number[] = [];
  const walk = (p: number) => {
    all.push(p);
    for (const c of children.get(p) ?? []) walk(c);
  };
  walk(pid);
  for (const p of all) {
    try {
      process.kill(p, "SIGKILL");
    } catch {
      // already gone
    }
  }
}

beforeAll(async () => {
  if (!enabled) return;
  sshd = await startSshd(join(dir, "sshd-a"));
  await mkdir(join(tree, "nested", "deeper"), { recursive: true });
  await writeFile(join(tree, hostileFile), "hostile name, plain data\n");
  await writeFile(join(tree, "nested", "hosts"), "127.0.0.1 localhost\n".repeat(2000));
  await writeFile(join(tree, "nested", "deeper", "random.bin"), randomBytes(512 * 1024));
  await writeFile(join(tree, "empty"), "");
}, 20_000);
afterAll(async () => {
  await sshd?.stop();
});

suite("archive over ssh: configuration", () => {
  it("refuses a remote archive server without ssh_key, clearly", () => {
    const row = server("nokey", 22, { paths: ["/srv"] });
    delete row.settings.ssh_key;
    let err: unknown;
    try {
      drivers.get(row);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(UserError);
    expect((err as UserError).code).toBe("ssh_key_missing");
    expect((err as UserError).message).toMatch(/^nokey: ssh:\/\/.* is reached over SSH but has no ssh_key: set ssh_key/);
  });
});

suite("archive over ssh: tar", () => {
  const name = "files-1";
  const driver = () => drivers.get(server(name, sshd.port, { mode: "tar", paths: [tree], part_size: "128KiB" }));

  it("snapshots a remote folder with hostile names, records the host key once (0600), verifies, restores into --target", async () => {
    const r = await create(driver(), name, "s1");
    expect(r.parts.length).toBeGreaterThan(1);
    expect(r.details).toMatchObject({ mode: "tar", compression: "zstd" });
    // first use recorded the key, in a file only snapbot reads
    expect((await stat(knownHosts)).mode & 0o777).toBe(0o600);
    const lines = (await readFile(knownHosts, "utf8")).trim().split("\n");
    expect(lines).toHaveLength(1);
    expect(lines[0]).toBe(`[127.0.0.1]:${sshd.port} ${sshd.hostPublicKey.split(" ").slice(0, 2).join(" ")}`);

    expect(await driver().verify!(handle(name, "s1"), context())).toMatchObject({ ok: true, problems: [] });

    // tar --totals ran on the server; its count is the stream's real uncompressed size.
    const bytes = unpackedBytes(join(storage, name, "s1"));
    expect(r.details).toMatchObject({ uncompressed_size: bytes });
    const target = join(dir, "restored", `into 'here' $(touch pwned)`);
    const writes = `${join(target, tree)} on ${name}: ${formatBytes(bytes)} extracted under ${target} ${KEPT}`;
    expect(await driver().describeRestore!(handle(name, "s1"), { target })).toEqual({ writes, notes: [VERIFIED], bytes });
    const done = await driver().restore!(handle(name, "s1"), { target }, context());
    expect(done.summary).toBe(`restored ${writes}`);
    await expectSameTree(tree, join(target, tree.slice(1)));
    // nothing was ever run from a name: no "pwned" anywhere the remote shell could have made one
    expect(existsSync(join(homedir(), "pwned"))).toBe(false);
    expect(existsSync(join(dir, "pwned"))).toBe(false);
    expect((await readFile(knownHosts, "utf8")).trim().split("\n")).toHaveLength(1);
  }, 30_000);

  it("restores over the original paths on the server", async () => {
    const changed = join(tree, "nested", "hosts");
    const original = await readFile(changed);
    await writeFile(changed, "overwritten\n");
    await rm(join(tree, hostileFile));
    const done = await driver().restore!(handle(name, "s1"), {}, context());
    expect(done.summary).toBe(`restored ${tree} on ${name}: ${formatBytes(unpackedBytes(join(storage, name, "s1")))} ${KEPT}`);
    expect((await readFile(changed)).equals(original)).toBe(true);
    expect(await readFile(join(tree, hostileFile), "utf8")).toBe("hostile name, plain data\n");
  }, 30_000);
});

suite("archive over ssh: raw", () => {
  const name = "disk-1";
  let image: string;
  const driver = () => drivers.get(server(name, sshd.port, { mode: "raw", device: image, part_size: "1MiB" }));

  beforeAll(async () => {
    if (!enabled) return;
    image = join(dir, "remote", "disk image 'x'.img");
    await writeFile(image, randomBytes(8 * 1024 * 1024));
  });

  it("snapshots an image file and writes it back byte for byte after it was overwritten", async () => {
    const before = await sha256(image);
    const r = await create(driver(), name, "s1");
    expect(r.parts.length).toBeGreaterThanOrEqual(8);
    // dd's count on the server: the image's size, not the compressed bytes that crossed the connection.
    expect(r.details).toMatchObject({ mode: "raw", uncompressed_size: 8 * 1024 * 1024 });
    expect(await driver().verify!(handle(name, "s1"), context())).toMatchObject({ ok: true });
    const writes = `the device ${image} on ${name}: 8.00 MiB (the whole device is overwritten)`;
    expect(await driver().describeRestore!(handle(name, "s1"), {})).toEqual({ writes, notes: [VERIFIED], bytes: 8 * 1024 * 1024 });
    await writeFile(image, randomBytes(8 * 1024 * 1024));
    expect(await sha256(image)).not.toBe(before);
    expect((await driver().restore!(handle(name, "s1"), {}, context())).summary).toBe(`restored ${writes}`);
    expect(await sha256(image)).toBe(before);
  }, 30_000);

  it("a corrupted part makes verify report the snapshot broken, and restore refuses it", async () => {
    const part = join(storage, name, "s1", ".parts", "part-000002");
    const bytes = await readFile(part);
    bytes[4096] = bytes[4096]! ^ 0xff;
    await writeFile(part, bytes);
    const v = await driver().verify!(handle(name, "s1"), context());
    expect(v.ok).toBe(false);
    expect(v.problems[0]).toMatch(/^part-000002 is corrupt/);
    const e = await rejection(driver().restore!(handle(name, "s1"), {}, context()));
    expect(e.code).toBe("snapshot_broken");
  }, 30_000);
});

suite("archive over ssh: interrupted transfer", () => {
  let other: Sshd;
  afterAll(async () => {
    await other?.stop();
  });

  it("sshd killed mid-stream: create rejects and the snapshot folder is removed (no manifest)", async () => {
    other = await startSshd(join(dir, "sshd-b"));
    const big = join(dir, "remote-big");
    await mkdir(big, { recursive: true });
    execFileSync("dd", ["if=/dev/urandom", `of=${join(big, "big.bin")}`, "bs=1M", "count=200", "status=none"]);
    const name = "big-1";
    const row = server(name, other.port, { mode: "tar", paths: [big], part_size: "1MiB" });
    row.settings.ssh_key = other.clientKey;
    const driver = drivers.get(row);
    const parts = join(storage, name, "s1", ".parts");
    const creating = create(driver, name, "s1");
    let killed = false;
    const deadline = Date.now() + 20_000;
    while (Date.now() < deadline) {
      const files = await readdir(parts).catch(() => []);
      if (files.length >= 2) {
        killTree(other.pid);
        killed = true;
        break;
      }
      await new Promise((r) => setTimeout(r, 5));
    }
    expect(killed).toBe(true);
    const e = await rejection(creating);
    expect(e).toBeInstanceOf(BackendError);
    // ssh exits 255; with "Connection closed…" on stderr that is ssh_disconnected, with nothing it is ssh_failed
    expect(["ssh_disconnected", "ssh_failed"]).toContain(e.code);
    expect(existsSync(join(storage, name, "s1"))).toBe(false);
    expect(await driver.leftover!(handle(name, "s1"))).toBe("nothing");
  }, 40_000);
});

suite("archive over ssh: host key guard", () => {
  let keyed: Sshd;
  afterAll(async () => {
    await keyed?.stop();
  });

  it("a host key that changed since the last snapshot fails the next create with ssh_hostkey_changed", async () => {
    const sshdDir = join(dir, "sshd-c");
    keyed = await startSshd(sshdDir);
    const name = "keyed-1";
    const src = join(dir, "remote-small");
    await mkdir(src, { recursive: true });
    await writeFile(join(src, "f"), "x");
    const row = server(name, keyed.port, { mode: "tar", paths: [src] });
    row.settings.ssh_key = keyed.clientKey;
    await create(drivers.get(row), name, "s1");
    const recorded = await readFile(knownHosts, "utf8");
    expect(recorded).toContain(`[127.0.0.1]:${keyed.port} `);

    // Same address, new host key: what a re-imaged or impersonated server looks like.
    await keyed.stop();
    const newKey = join(sshdDir, "new_host_key");
    generateKey(newKey);
    keyed = await startSshd(sshdDir, { hostKey: newKey, port: keyed.port });
    const e = await rejection(create(drivers.get(row), name, "s2"));
    expect(e.code).toBe("ssh_hostkey_changed");
    expect(existsSync(join(storage, name, "s2"))).toBe(false);
    expect(await readFile(knownHosts, "utf8")).toBe(recorded); // never overwritten by snapbot on its own
  }, 30_000);
});
