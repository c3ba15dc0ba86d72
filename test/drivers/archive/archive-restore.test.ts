import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execa } from "execa";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ArchiveSettings } from "../../../src/drivers/archive/archive-settings.ts";
import { createArchiveDriver } from "../../../src/drivers/archive/archive-driver.ts";
import type { DriverContext, SnapshotDriver, SnapshotHandle } from "../../../src/drivers/driver.ts";
import { formatBytes } from "../../../src/duration.ts";
import { UserError } from "../../../src/errors.ts";
import { createLocalRunner } from "../../../src/transport/local-runner.ts";
import { rejection } from "../../helpers/outcomes.ts";

// What a restore writes, said before (describeRestore: the dry run and the approval request) and after (the
// result), against the real archive driver: tar over real folders, raw over a 32 MiB image file as the device.

const log = pino({ level: "silent" });
const MiB32 = 32 * 1024 * 1024;
const VERIFIED = "every part is verified again before anything is written: a broken snapshot is never restored";
const KEPT = "(files in the snapshot are overwritten; newer files are kept)";
let root: string;
let src: string;
let image: string;
let imageBytes: Buffer;
let n = 0;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "snapbot-archive-restore-"));
  src = join(root, "src");
  await mkdir(join(src, "conf"), { recursive: true });
  await writeFile(join(src, "conf", "app.conf"), "version = 1\n");
  await writeFile(join(src, "blob.bin"), randomBytes(200 * 1024));
  // Mostly zeros, as a fresh disk is: it compresses to a few KiB, so the stored size says nothing about it.
  imageBytes = Buffer.concat([randomBytes(4096), Buffer.alloc(MiB32 - 4096)]);
  image = join(root, "disk.img");
  await writeFile(image, imageBytes);
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

const context = (): DriverContext => ({ signal: new AbortController().signal, log, progress: () => {} });

function setup(over: Partial<ArchiveSettings> = {}) {
  const storage = join(root, `storage-${++n}`);
  const settings: ArchiveSettings & { name: string } = { name: "demo", driver: "archive", mode: "tar", paths: [src], exclude: [], host: "local", compression: "auto", limit: 50, ...over };
  const driver: SnapshotDriver = createArchiveDriver(settings, { runner: createLocalRunner(log), storageDir: storage, fsync: false, log });
  const handle: SnapshotHandle = { server: "demo", name: "s1", location: join(storage, "demo", "s1"), createdAt: 0 };
  const create = () => driver.create({ server: "demo", name: "s1", createdAt: Date.UTC(2026, 0, 1), stateful: false }, context());
  return { driver, storage, handle, create, folder: handle.location! };
}

async function unpackedSize(folder: string): Promise<number> {
  const { stdout } = await execa("bash", ["-c", 'set -o pipefail; cat "$1"/.parts/part-* | zstd -d | wc -c', "_", folder]);
  return Number(stdout.trim());
}

describe("the uncompressed size, recorded at create", () => {
  it("tar: the manifest and the ledger details hold the bytes of the tar stream (tar --totals)", async () => {
    const s = setup();
    const r = await s.create();
    const manifest = JSON.parse(await readFile(join(s.folder, "manifest.json"), "utf8"));
    const bytes = await unpackedSize(s.folder);
    expect(bytes).toBeGreaterThan(200 * 1024);
    expect(manifest.uncompressed_size).toBe(bytes);
    expect(r.details).toMatchObject({ uncompressed_size: bytes });
    expect(manifest.source.resolved).toEqual([src]);
  });

  it("raw: a 32 MiB image is recorded as 32 MiB, though it is stored in a few KiB", async () => {
    const s = setup({ mode: "raw", paths: [], device: image, part_size: "1MiB" });
    const r = await s.create();
    expect(r.size).toBeLessThan(64 * 1024);
    expect(JSON.parse(await readFile(join(s.folder, "manifest.json"), "utf8")).uncompressed_size).toBe(MiB32);
    expect(r.details).toMatchObject({ uncompressed_size: MiB32 });
  });
});

describe("describeRestore and the result say exactly what is written", () => {
  it("tar in place: the snapshot's own paths and the uncompressed size; the result says the same", async () => {
    const s = setup();
    await s.create();
    const bytes = await unpackedSize(s.folder);
    const size = formatBytes(bytes);
    expect(size).toMatch(/^\d+\.\d KiB$/); // the unpacked tar, not the stored parts
    const described = await s.driver.describeRestore!(s.handle, {});
    expect(described).toEqual({ writes: `${src} on demo: ${size} ${KEPT}`, notes: [VERIFIED], bytes });
    await writeFile(join(src, "conf", "app.conf"), "version = 2\n");
    const done = await s.driver.restore!(s.handle, {}, context());
    expect(done.summary).toBe(`restored ${src} on demo: ${size} ${KEPT}`);
    expect(await readFile(join(src, "conf", "app.conf"), "utf8")).toBe("version = 1\n");
  });

  it("tar --target <dir>: names the real paths under the folder, and extracts there", async () => {
    const s = setup();
    await s.create();
    const into = join(root, "restored-here");
    const described = await s.driver.describeRestore!(s.handle, { target: into });
    expect(described.writes).toMatch(new RegExp(`^${join(into, src)} on demo: [\\d.]+ KiB extracted under ${into} \\(files in the snapshot`));
    const done = await s.driver.restore!(s.handle, { target: into }, context());
    expect(done.summary).toBe(`restored ${described.writes}`);
    expect(await readFile(join(into, src, "conf", "app.conf"), "utf8")).toBe("version = 1\n");
  });

  it("tar --target /: says it writes over the root of the server (the snapshot's own places)", async () => {
    const s = setup();
    await s.create();
    const inPlace = await s.driver.describeRestore!(s.handle, {});
    const described = await s.driver.describeRestore!(s.handle, { target: "/" });
    expect(described.writes).toBe(inPlace.writes);
    expect(described.notes).toEqual([VERIFIED, "--target / writes over the root of the server demo: the same places as a restore without --target"]);
    await writeFile(join(src, "conf", "app.conf"), "version = 3\n");
    expect((await s.driver.restore!(s.handle, { target: "/" }, context())).summary).toBe(`restored ${inPlace.writes}`);
    expect(await readFile(join(src, "conf", "app.conf"), "utf8")).toBe("version = 1\n");
  });

  it("raw: the device and 32.0 MiB (not the compressed size); the image comes back byte for byte", async () => {
    const s = setup({ mode: "raw", paths: [], device: image, part_size: "1MiB" });
    await s.create();
    const writes = `the device ${image} on demo: 32.0 MiB (the whole device is overwritten)`;
    expect(await s.driver.describeRestore!(s.handle, {})).toEqual({ writes, notes: [VERIFIED], bytes: MiB32 });
    await writeFile(image, randomBytes(MiB32));
    expect((await s.driver.restore!(s.handle, {}, context())).summary).toBe(`restored ${writes}`);
    expect((await readFile(image)).equals(imageBytes)).toBe(true);
  });

  it("raw --target <dir>: writes the image file <dir>/<snapshot>.img, leaving the device alone", async () => {
    const s = setup({ mode: "raw", paths: [], device: image, part_size: "1MiB" });
    await s.create();
    const into = join(root, "images");
    const file = join(into, "s1.img");
    const writes = `the image file ${file} on demo: 32.0 MiB (a file of that name is replaced; the device is not touched)`;
    expect(await s.driver.describeRestore!(s.handle, { target: into })).toEqual({ writes, notes: [VERIFIED], bytes: MiB32 });
    const changed = randomBytes(MiB32);
    await writeFile(image, changed);
    expect((await s.driver.restore!(s.handle, { target: into }, context())).summary).toBe(`restored ${writes}`);
    expect((await readFile(file)).equals(imageBytes)).toBe(true);
    expect((await readFile(image)).equals(changed)).toBe(true);
    await writeFile(image, imageBytes);
  });

  it("a snapshot made before the size was recorded says so, with the compressed size, not as if it were the size", async () => {
    const s = setup();
    const r = await s.create();
    const file = join(s.folder, "manifest.json");
    const manifest = JSON.parse(await readFile(file, "utf8"));
    delete manifest.uncompressed_size;
    await writeFile(file, JSON.stringify(manifest));
    const described = await s.driver.describeRestore!(s.handle, {});
    expect(described.bytes).toBeNull();
    expect(described.writes).toBe(`${src} on demo: ${formatBytes(r.size!)} compressed (its uncompressed size was not recorded) ${KEPT}`);
  });

  it("refuses a relative --target, another server's snapshot of another mode, and a missing manifest", async () => {
    const s = setup();
    await s.create();
    const relative = await rejection(s.driver.describeRestore!(s.handle, { target: "rel/dir" }));
    expect(relative).toBeInstanceOf(UserError);
    expect(relative.message).toBe('--target must be an absolute folder, e.g. --target /srv/restore (got "rel/dir")');
    const disk = createArchiveDriver(
      { name: "disk-2", driver: "archive", mode: "raw", paths: [], device: image, exclude: [], host: "local", compression: "auto", limit: 50 },
      { runner: createLocalRunner(log), storageDir: s.storage, fsync: false, log },
    );
    expect((await rejection(disk.describeRestore!(s.handle, { to: "disk-2" }))).message).toBe(
      "demo is a tar archive and disk-2 a raw one: restore --to needs two servers of the same mode",
    );
    await rm(join(s.folder, "manifest.json"));
    const missing = await rejection(s.driver.describeRestore!(s.handle, {}));
    expect(missing).toMatchObject({ code: "snapshot_broken", message: "demo/s1 has no readable manifest (manifest.json is missing): it cannot be restored; run verify demo/s1" });
    expect(existsSync(join(s.folder, ".parts"))).toBe(true);
  });
});
