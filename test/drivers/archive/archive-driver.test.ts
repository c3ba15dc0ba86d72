import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, stat, symlink, truncate, writeFile } from "node:fs/promises";
import { existsSync } from "node:fs";
import { join, relative } from "node:path";
import { execa } from "execa";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ArchiveSettings } from "../../../src/drivers/archive/archive-settings.ts";
import { archiveStore, createArchiveDriver } from "../../../src/drivers/archive/archive-driver.ts";
import { parsePartSize } from "../../../src/drivers/archive/part-size.ts";
import type { CreateResult, DriverContext, Progress, SnapshotDriver, SnapshotHandle } from "../../../src/drivers/driver.ts";
import { BackendError, UserError } from "../../../src/errors.ts";
import { createLocalRunner } from "../../../src/transport/local-runner.ts";
import { rejection } from "../../helpers/outcomes.ts";
import { mountTmpfs, trackedTempDir } from "../../helpers/cleanup.ts";

const log = pino({ level: "silent" });
let root: string;
let src: string; // a small tree: text, random bytes, an empty file, nested folders
let counter = 0;

let removeRoot = () => {};
beforeAll(async () => {
  ({ dir: root, remove: removeRoot } = trackedTempDir("snapbot-archive-"));
  src = join(root, "src");
  await mkdir(join(src, "etc", "deep", "er"), { recursive: true });
  await writeFile(join(src, "etc", "hosts"), "127.0.0.1 localhost\n".repeat(1000));
  await writeFile(join(src, "etc", "deep", "er", "random.bin"), randomBytes(300 * 1024));
  await writeFile(join(src, "empty"), "");
});
afterAll(() => removeRoot());

function settings(over: Partial<ArchiveSettings> = {}): ArchiveSettings & { name: string } {
  return { name: "demo", driver: "archive", mode: "tar", paths: [src], exclude: [], host: "local", compression: "auto", limit: 50, ...over };
}

interface Setup {
  driver: SnapshotDriver;
  storage: string;
}

async function setup(over: Partial<ArchiveSettings> = {}, storage?: string): Promise<Setup> {
  const dir = storage ?? join(root, `storage-${++counter}`);
  const driver = createArchiveDriver(settings(over), { runner: createLocalRunner(log), storageDir: dir, fsync: true, log });
  return { driver, storage: dir };
}

function context(signal = new AbortController().signal): DriverContext & { events: Progress[] } {
  const events: Progress[] = [];
  return { signal, log, events, progress: (p) => events.push(p) };
}

function handle(s: Setup, name = "s1", location: string | null = join(s.storage, "demo", name)): SnapshotHandle {
  return { server: "demo", name, location, createdAt: 0 };
}

async function create(s: Setup, name = "s1", ctx = context()): Promise<CreateResult> {
  return s.driver.create({ server: "demo", name, createdAt: Date.UTC(2026, 0, 1), stateful: false }, ctx);
}

/** Restores the way README.txt tells a human to: cat the parts, decompress, untar. */
async function extract(folder: string, decompress = "zstd -d"): Promise<string> {
  const out = await mkdtemp(join(root, "out-"));
  await execa("bash", ["-c", `set -o pipefail; cat "$1"/.parts/part-* | ${decompress} | tar -xf - -C "$2"`, "_", folder, out]);
  return out;
}

async function listFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries.filter((e) => e.isFile()).map((e) => relative(dir, join(e.parentPath, e.name))).sort();
}

async function expectSameTree(original: string, restoredRoot: string): Promise<void> {
  const restored = join(restoredRoot, original.slice(1));
  const files = await listFiles(original);
  expect(await listFiles(restored)).toEqual(files);
  for (const f of files) expect((await readFile(join(restored, f))).equals(await readFile(join(original, f))), f).toBe(true);
}

async function sha256sum(files: string[]): Promise<string[]> {
  const { stdout } = await execa("sha256sum", files);
  return stdout.split("\n").map((l) => l.split(" ")[0]!);
}

describe("create", () => {
  it("round trip: the parts, cat | zstd -d | tar -x, give back every file byte for byte", async () => {
    const s = await setup();
    const ctx = context();
    const r = await create(s, "s1", ctx);
    const folder = join(s.storage, "demo", "s1");
    expect(r.location).toBe(folder);
    expect(await listFiles(folder)).toEqual([".parts/part-000000", "README.txt", "manifest.json"]);
    await expectSameTree(src, await extract(folder));
    const manifest = JSON.parse(await readFile(join(folder, "manifest.json"), "utf8"));
    expect(manifest).toMatchObject({
      format: "snapbot-archive/1",
      server: "demo",
      snapshot: "s1",
      mode: "tar",
      source: { host: "local", paths: [src], exclude: [] },
      compression: "zstd",
      created_at: "2026-01-01T00:00:00.000Z",
      part_size: 1024 ** 3,
      parts: r.parts,
      total: { size: r.size },
    });
    expect(r.checksum).toBe(`sha256:${manifest.total.sha256}`);
    expect(ctx.events.at(-1)).toEqual({ stage: "archiving", bytes: r.size });
    const readme = await readFile(join(folder, "README.txt"), "utf8");
    expect(readme).toContain(`expected SHA-256: ${manifest.total.sha256}`);
    // No MD5 unless asked for (readme_md5): the costliest hash, and SHA-256 is there for checking by hand.
    expect(manifest.total.md5).toBeUndefined();
    expect(readme).not.toMatch(/md5/i);
  });

  it("with readme_md5, README.txt also gives the real MD5 of the concatenated parts, as Memset's does", async () => {
    const s = await setup({ readme_md5: true });
    const r = await create(s, "s1", context());
    const folder = r.location!;
    const manifest = JSON.parse(await readFile(join(folder, "manifest.json"), "utf8"));
    const md5 = execFileSync("sh", ["-c", "cat .parts/part-* | md5sum"], { cwd: folder, encoding: "utf8" }).split(" ")[0];
    expect(manifest.total.md5).toBe(md5);
    expect(await readFile(join(folder, "README.txt"), "utf8")).toContain(`expected MD5:     ${md5}`);
  });

  it("writes, verifies and deletes through the PartStore it is given instead of storage.path", async () => {
    const storageDir = join(root, `storage-${++counter}`);
    const elsewhere = join(root, `store-${counter}`);
    const deps = { runner: createLocalRunner(log), storageDir, fsync: false, log };
    const driver = createArchiveDriver(settings(), { ...deps, store: archiveStore({ storageDir: elsewhere, fsync: false }) });
    const r = await driver.create({ server: "demo", name: "s1", createdAt: 0, stateful: false }, context());
    expect(r.location).toBe(join(elsewhere, "demo", "s1"));
    expect(existsSync(storageDir)).toBe(false);
    await expectSameTree(src, await extract(r.location!));
    const snap = { server: "demo", name: "s1", location: r.location, createdAt: 0 };
    expect((await driver.verify!(snap, context())).ok).toBe(true);
    await driver.delete(snap, context());
    expect(await readdir(join(elsewhere, "demo"))).toEqual([]);
  });

  it("cuts the stream into part_size parts whose sizes and hashes match sha256sum", async () => {
    const big = join(root, "big");
    await mkdir(big, { recursive: true });
    await writeFile(join(big, "r.bin"), randomBytes(600 * 1024));
    const s = await setup({ paths: [big], part_size: "64KiB" });
    const r = await create(s);
    const folder = join(s.storage, "demo", "s1");
    expect(r.parts.length).toBeGreaterThanOrEqual(10);
    for (const p of r.parts.slice(0, -1)) expect(p.size).toBe(65536);
    expect(r.parts.at(-1)!.size).toBeLessThanOrEqual(65536);
    const paths = r.parts.map((p) => join(folder, p.file));
    for (const [i, p] of paths.entries()) expect((await stat(p)).size).toBe(r.parts[i]!.size);
    expect(await sha256sum(paths)).toEqual(r.parts.map((p) => p.sha256));
    const { stdout } = await execa("bash", ["-c", 'cat "$1"/.parts/part-* | sha256sum', "_", folder]);
    expect(`sha256:${stdout.split(" ")[0]}`).toBe(r.checksum);
    expect(r.size).toBe(r.parts.reduce((n, p) => n + p.size, 0));
    const { stdout: checked } = await execa("bash", ["-c", "grep -E '^[0-9a-f]{64}  ' README.txt | sha256sum -c", "_"], { cwd: folder });
    expect(checked.split("\n")).toHaveLength(r.parts.length);
    await expectSameTree(big, await extract(folder));
  });

  it("creates folders 0700 and files 0600 at open, whatever the umask", async () => {
    const s = await setup({ part_size: "64KiB" });
    const old = process.umask(0);
    try {
      await create(s);
    } finally {
      process.umask(old);
    }
    const folder = join(s.storage, "demo", "s1");
    const mode = async (p: string) => (await stat(p)).mode & 0o777;
    for (const d of [s.storage, join(s.storage, "demo"), folder, join(folder, ".parts")]) expect(await mode(d), d).toBe(0o700);
    for (const f of await listFiles(folder)) expect(await mode(join(folder, f)), f).toBe(0o600);
  });

  it("uses gzip when asked", async () => {
    const s = await setup({ compression: "gzip" });
    const r = await create(s);
    expect(r.details?.compression).toBe("gzip");
    const folder = join(s.storage, "demo", "s1");
    expect(JSON.parse(await readFile(join(folder, "manifest.json"), "utf8")).compression).toBe("gzip");
    await expectSameTree(src, await extract(folder, "gzip -d"));
  });

  it("falls back to gzip when zstd is not installed (auto), and refuses an explicit zstd", async () => {
    const bin = join(root, "bin-no-zstd");
    await mkdir(bin, { recursive: true });
    for (const tool of ["tar", "gzip", "realpath", "cat", "dd"]) await symlink((await execa("which", [tool])).stdout, join(bin, tool)).catch(() => {});
    const path = process.env.PATH;
    process.env.PATH = bin;
    try {
      const auto = await setup({ compression: "auto" });
      expect((await create(auto)).details?.compression).toBe("gzip");
      const zstd = await setup({ compression: "zstd" });
      const e = await rejection(create(zstd));
      expect(e).toBeInstanceOf(BackendError);
      expect(e.code).toBe("compression_missing");
      expect(e.message).toBe("zstd not installed for demo: install zstd or set compression: gzip");
      expect(existsSync(zstd.storage)).toBe(false);
    } finally {
      process.env.PATH = path;
    }
  });

  it("archives a raw device or image file (mode raw)", async () => {
    const image = join(root, "disk.img");
    await writeFile(image, Buffer.concat([randomBytes(200 * 1024), Buffer.alloc(300 * 1024)]));
    const s = await setup({ mode: "raw", paths: [], device: image, part_size: "64KiB" });
    await create(s);
    const folder = join(s.storage, "demo", "s1");
    const { stdout } = await execa("bash", ["-c", 'cat "$1"/.parts/part-* | zstd -d | sha256sum', "_", folder]);
    expect(stdout.split(" ")[0]).toBe((await sha256sum([image]))[0]);
  });

  it("refuses a configured path that does not exist, before writing anything", async () => {
    const s = await setup({ paths: [src, "/srv/snapbot-nope"] });
    const e = await rejection(create(s));
    expect(e).toBeInstanceOf(UserError);
    expect(e.code).toBe("path_missing");
    expect(e.message).toBe('"/srv/snapbot-nope" does not exist on demo: fix paths in the config for demo');
    expect(existsSync(s.storage)).toBe(false);
  });

  it("refuses a snapshot name that already exists without touching it", async () => {
    const s = await setup();
    const first = await create(s);
    const e = await rejection(create(s));
    expect(e.code).toBe("snapshot_exists");
    expect((await s.driver.verify!(handle(s), context())).ok).toBe(true);
    expect(first.parts).toHaveLength(1);
  });

  it("leaves out exclude patterns, and its own storage folder when that lies inside a source", async () => {
    const tree = join(root, "with-storage");
    await mkdir(join(tree, "cache"), { recursive: true });
    await mkdir(join(tree, "keep", "cache"), { recursive: true });
    await writeFile(join(tree, "cache", "x"), "x");
    await writeFile(join(tree, "keep", "cache", "y"), "y");
    await writeFile(join(tree, "keep", "z.log"), "z");
    await writeFile(join(tree, "keep", "z.txt"), "z");
    const s = await setup({ paths: [tree], exclude: [join(tree, "cache"), "*.log"] }, join(tree, "snapshots"));
    await create(s);
    const out = await extract(join(s.storage, "demo", "s1"));
    expect(await listFiles(join(out, tree.slice(1)))).toEqual(["keep/cache/y", "keep/z.txt"]);
  });

  it("refuses to start when already cancelled, writing nothing", async () => {
    const s = await setup();
    const ac = new AbortController();
    ac.abort();
    const e = await rejection(create(s, "s1", context(ac.signal)));
    expect(e.code).toBe("command_aborted");
    expect(existsSync(s.storage)).toBe(false);
  });

  it("treats hostile path names as data", async () => {
    const hostile = join(root, "hostile");
    const names = ["a;rm -rf x", "$(touch pwned)", "-rf", "`touch pwned2`", "b c\nd"];
    for (const n of names) {
      await mkdir(join(hostile, n), { recursive: true });
      await writeFile(join(hostile, n, "f"), n);
    }
    // A top-level folder whose path relative to / starts with "-": only `--` keeps tar from parsing it.
    const dash = `/-snapbot-test-${process.pid}`;
    const atRoot = await mkdir(dash).then(() => true, () => false);
    try {
      if (atRoot) await writeFile(join(dash, "f"), "dash");
      const paths = [...names.map((n) => join(hostile, n)), ...(atRoot ? [dash] : [])];
      const s = await setup({ paths, exclude: ["--files-from=/etc/passwd"] });
      await create(s);
      const out = await extract(join(s.storage, "demo", "s1"));
      for (const n of names) expect(await readFile(join(out, hostile.slice(1), n, "f"), "utf8")).toBe(n);
      if (atRoot) expect(await readFile(join(out, dash.slice(1), "f"), "utf8")).toBe("dash");
      for (const stray of ["pwned", "pwned2"]) {
        expect(existsSync(join(process.cwd(), stray))).toBe(false);
        expect(existsSync(join(hostile, stray))).toBe(false);
      }
    } finally {
      if (atRoot) await rm(dash, { recursive: true, force: true });
    }
  });

  it("names the failing stage when tar fails mid-stream, and removes the folder", async () => {
    // A real executable standing in for tar: it writes some data, then fails as tar does on a vanished path.
    const bin = join(root, "bin-failing-tar");
    await mkdir(bin, { recursive: true });
    const fake = join(bin, "tar");
    await writeFile(fake, '#!/bin/sh\nhead -c 300000 /dev/urandom\necho "tar: srv/data: Cannot stat: No such file or directory" >&2\nexit 2\n');
    await chmod(fake, 0o755);
    const path = process.env.PATH;
    process.env.PATH = `${bin}:${path}`;
    try {
      const s = await setup({ part_size: "64KiB" });
      const e = await rejection(create(s));
      expect(e).toBeInstanceOf(BackendError);
      expect(e.message).toBe("tar failed (exit 2): tar: srv/data: Cannot stat: No such file or directory");
      expect(existsSync(join(s.storage, "demo", "s1"))).toBe(false);
    } finally {
      process.env.PATH = path;
    }
  });

  it("stops tar and zstd, removes the folder and throws when aborted mid-create", async () => {
    // 20 GiB of holes: tar reads zeros for many seconds while writing almost nothing.
    const sparseDir = join(root, "sparse");
    await mkdir(sparseDir, { recursive: true });
    await writeFile(join(sparseDir, "holes"), "");
    await truncate(join(sparseDir, "holes"), 20 * 1024 ** 3);
    const s = await setup({ paths: [sparseDir] });
    const ac = new AbortController();
    const folder = join(s.storage, "demo", "s1");
    const started = Date.now();
    const poll = setInterval(() => existsSync(join(folder, ".parts")) && Date.now() - started > 300 && ac.abort(), 20);
    try {
      const e = await rejection(create(s, "s1", context(ac.signal)));
      expect(e).toBeInstanceOf(BackendError);
      expect(e.code).toBe("command_aborted");
    } finally {
      clearInterval(poll);
    }
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(existsSync(folder)).toBe(false);
    expect(await processesMentioning(sparseDir.slice(1))).toEqual([]); // tar's argv names the folder
  }, 20_000);
});

async function processesMentioning(text: string): Promise<string[]> {
  const found: string[] = [];
  for (const pid of await readdir("/proc")) {
    if (!/^\d+$/.test(pid)) continue;
    const cmdline = await readFile(`/proc/${pid}/cmdline`, "utf8").catch(() => "");
    if (cmdline.includes(text)) found.push(`${pid}: ${cmdline.replaceAll("\0", " ")}`);
  }
  return found;
}

describe("disk full", () => {
  let mnt: string;
  let mounted = false;
  let mountError = "";
  let tmp: { dir: string; remove(): void };
  let tmpfs: { unmount(): void } | undefined;
  beforeAll(async () => {
    tmp = trackedTempDir("snapbot-tmpfs-");
    mnt = tmp.dir;
    try {
      tmpfs = mountTmpfs(mnt, 2);
      mounted = true;
    } catch (e) {
      mountError = (e as Error).message;
    }
  });
  afterAll(async () => {
    tmpfs?.unmount();
    tmp.remove();
  });

  it("fails with disk_full, removes the folder and leaves no manifest", async (t) => {
    if (!mounted) {
      if (process.env.CI === "true") throw new Error(`cannot mount a tmpfs for the disk-full test: ${mountError}`);
      t.skip(`mounting a tmpfs needs root (${mountError.split("\n")[0]})`);
    }
    const data = join(root, "incompressible");
    await mkdir(data, { recursive: true });
    await writeFile(join(data, "r.bin"), randomBytes(5 * 1024 * 1024));
    const storage = join(mnt, "snapshots");
    const s = await setup({ paths: [data], part_size: "256KiB" }, storage);
    const e = await rejection(create(s));
    expect(e).toBeInstanceOf(BackendError);
    expect(e.code).toBe("disk_full");
    expect(e.message).toBe(`storage full while writing demo/s1 (${storage}): free space or change storage.path`);
    expect(existsSync(join(storage, "demo", "s1"))).toBe(false);
    expect(await s.driver.leftover!(handle(s))).toBe("nothing");
    expect(await readdir(join(storage, "demo"))).toEqual([]);
  });
});

describe("check, verify, leftover, delete", () => {
  async function made(over: Partial<ArchiveSettings> = { part_size: "64KiB" }) {
    const big = join(root, "verify-src");
    if (!existsSync(big)) {
      await mkdir(big, { recursive: true });
      await writeFile(join(big, "r.bin"), randomBytes(400 * 1024));
    }
    const s = await setup({ paths: [big], ...over });
    const result = await create(s);
    return { s, result, folder: join(s.storage, "demo", "s1") };
  }

  it("verify re-reads every part: ok, with progress", async () => {
    const { s, result } = await made();
    const ctx = context();
    const v = await s.driver.verify!(handle(s), ctx);
    expect(v).toEqual({ ok: true, problems: [], checkedBytes: result.size });
    expect(ctx.events.at(-1)).toEqual({ stage: "verifying", bytes: result.size, totalBytes: result.size });
    expect(await s.driver.check!(handle(s), result)).toMatchObject({ ok: true, problems: [] });
  });

  it("verify reports a corrupted part and the whole-stream mismatch", async () => {
    const { s, result, folder } = await made();
    const part = join(folder, ".parts", "part-000001");
    const bytes = await readFile(part);
    bytes[1000] = bytes[1000]! ^ 0xff;
    await writeFile(part, bytes);
    const v = await s.driver.verify!(handle(s), context());
    expect(v.ok).toBe(false);
    expect(v.problems).toHaveLength(2);
    expect(v.problems[0]).toMatch(/^part-000001 is corrupt: sha256 [0-9a-f]{12}…, manifest says [0-9a-f]{12}…$/);
    expect(v.problems[1]).toMatch(/^the whole stream does not match/);
    expect(v.checkedBytes).toBe(result.size);
  });

  it("verify and check report a missing part, a truncated part and an extra part", async () => {
    const { s, result, folder } = await made();
    await rm(join(folder, ".parts", "part-000002"));
    await truncate(join(folder, ".parts", "part-000003"), 100);
    await writeFile(join(folder, ".parts", "part-000099"), "x");
    const v = await s.driver.verify!(handle(s), context());
    expect(v.ok).toBe(false);
    expect(v.problems).toEqual(["part-000099 is not in the manifest", "part-000002 is missing", "part-000003 has 100 bytes, manifest says 65536"]);
    const c = await s.driver.check!(handle(s), result);
    expect(c.ok).toBe(false);
    expect(c.problems).toEqual(["part-000002 is missing", "part-000003 has 100 bytes, manifest says 65536"]);
  });

  it("check notices a manifest that does not match the create result", async () => {
    const { s, result } = await made();
    const c = await s.driver.check!(handle(s), { ...result, checksum: `sha256:${"0".repeat(64)}` });
    expect(c.ok).toBe(false);
    expect(c.problems[0]).toMatch(/^manifest.json total .* differs from what was written$/);
  });

  it("a missing or broken manifest is a problem, and the snapshot counts as partial", async () => {
    const { s, result, folder } = await made();
    await writeFile(join(folder, "manifest.json"), "{ not json");
    expect((await s.driver.verify!(handle(s), context())).problems).toEqual(["manifest.json is not valid JSON"]);
    await rm(join(folder, "manifest.json"));
    expect(await s.driver.verify!(handle(s), context())).toEqual({ ok: false, problems: ["manifest.json is missing"], checkedBytes: 0 });
    expect((await s.driver.check!(handle(s), result)).problems).toEqual(["manifest.json is missing"]);
    expect(await s.driver.leftover!(handle(s))).toBe("partial");
  });

  it("leftover: nothing, then complete, then partial when only parts remain", async () => {
    const s = await setup();
    expect(await s.driver.leftover!(handle(s))).toBe("nothing");
    expect(await s.driver.leftover!(handle(s, "s1", null))).toBe("nothing");
    await create(s);
    expect(await s.driver.leftover!(handle(s))).toBe("complete");
    expect(await s.driver.leftover!(handle(s, "s1", null))).toBe("complete");
    await rm(join(s.storage, "demo", "s1", "manifest.json"));
    expect(await s.driver.leftover!(handle(s))).toBe("partial");
  });

  it("delete removes the folder and is idempotent", async () => {
    const { s, folder } = await made();
    await s.driver.delete(handle(s), context());
    expect(existsSync(folder)).toBe(false);
    await s.driver.delete(handle(s), context());
    expect(existsSync(join(s.storage, "demo"))).toBe(true);
  });

  it("delete refuses anything outside <storage>/<server>/", async () => {
    const { s, folder } = await made();
    const victim = join(root, "victim");
    await mkdir(join(victim, "s1"), { recursive: true });
    await writeFile(join(victim, "s1", "keep"), "precious");
    const attempts: SnapshotHandle[] = [
      handle(s, "s1", join(victim, "s1")),
      handle(s, "s1", join(s.storage, "demo", "..", "..", "victim", "s1")),
      { server: "demo", name: "..", location: null, createdAt: 0 },
      { server: "..", name: "victim", location: null, createdAt: 0 },
    ];
    for (const h of attempts) await expect(s.driver.delete(h, context())).rejects.toBeInstanceOf(UserError);
    // A symlink planted where a snapshot folder should be, and a folder holding foreign files.
    await symlink(join(victim, "s1"), join(s.storage, "demo", "s2"));
    await expect(s.driver.delete(handle(s, "s2"), context())).rejects.toThrow(/refusing to delete/);
    await writeFile(join(folder, "notes.txt"), "mine");
    await expect(s.driver.delete(handle(s), context())).rejects.toThrow(/holds files snapbot did not write \(notes.txt\)/);
    expect(await readFile(join(victim, "s1", "keep"), "utf8")).toBe("precious");
    expect(existsSync(folder)).toBe(true);
  });
});

describe("part_size", () => {
  it("parses binary and decimal sizes and refuses nonsense", () => {
    expect(parsePartSize(undefined)).toBe(1024 ** 3);
    expect(parsePartSize("1GiB")).toBe(1024 ** 3);
    expect(parsePartSize("512MiB")).toBe(512 * 1024 ** 2);
    expect(parsePartSize("64KiB")).toBe(65536);
    expect(parsePartSize("64k")).toBe(65536);
    expect(parsePartSize("1.5G")).toBe(1.5 * 1024 ** 3);
    expect(parsePartSize("2GB")).toBe(2e9);
    expect(parsePartSize(1048576)).toBe(1048576);
    expect(parsePartSize("8192")).toBe(8192);
    for (const bad of ["", "1X", "-5", "10", "1.5", 1.5, "2TiB"]) expect(() => parsePartSize(bad as string), String(bad)).toThrow(UserError);
  });

  it("fails at driver creation, not at the first snapshot", async () => {
    await expect(setup({ part_size: "lots" })).rejects.toThrow('part_size "lots" is not a size');
  });
});
