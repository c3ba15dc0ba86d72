import { createHash } from "node:crypto";
import { cp, readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ArchiveSettings } from "../../../src/drivers/archive/archive-settings.ts";
import { createArchiveDriver } from "../../../src/drivers/archive/archive-driver.ts";
import type { DriverContext, SnapshotDriver, SnapshotHandle } from "../../../src/drivers/driver.ts";
import { createLocalRunner } from "../../../src/transport/local-runner.ts";
import { trackedTempDir } from "../../helpers/cleanup.ts";

// test/fixtures/stored/ holds a snapshot written by snapbot before the storage pipeline moved to src/storage/
// (commit 7475b4e: tar of /tmp/h2src/etc, zstd, 4 KiB parts): what is on disk today must still verify, be
// found complete by storage scan, and restore byte for byte.

const log = pino({ level: "silent" });
const ctx: DriverContext = { signal: new AbortController().signal, log, progress: () => {} };
const FIXTURE = join(import.meta.dirname, "../../fixtures/stored");
let root: string;
let removeRoot = () => {};
let driver: SnapshotDriver;
let snap: SnapshotHandle;

/** The blob the fixture was made from: SHA-256 of "blob-0", "blob-1"… concatenated, 20000 bytes. */
function blob(): Buffer {
  const out: Buffer[] = [];
  for (let i = 0; out.length * 32 < 20000; i++) out.push(createHash("sha256").update(`blob-${i}`).digest());
  return Buffer.concat(out).subarray(0, 20000);
}

beforeAll(async () => {
  ({ dir: root, remove: removeRoot } = trackedTempDir("snapbot-stored-before-"));
  const storageDir = join(root, "storage");
  await cp(FIXTURE, storageDir, { recursive: true });
  const settings: ArchiveSettings & { name: string } = {
    name: "files-1",
    driver: "archive",
    mode: "tar",
    paths: ["/tmp/h2src/etc"],
    exclude: [],
    host: "local",
    compression: "zstd",
    limit: 50,
  };
  driver = createArchiveDriver(settings, { runner: createLocalRunner(log), storageDir, fsync: false, log });
  snap = { server: "files-1", name: "before-11", location: join(storageDir, "files-1", "before-11"), createdAt: 0 };
});
afterAll(() => removeRoot());

describe("a snapshot stored before issue 11", () => {
  it("verifies, every byte re-hashed", async () => {
    const manifest = JSON.parse(await readFile(join(snap.location!, "manifest.json"), "utf8"));
    expect(manifest.parts).toHaveLength(5);
    expect(await driver.verify!(snap, ctx)).toEqual({ ok: true, problems: [], checkedBytes: manifest.total.size });
    expect(await driver.leftover!(snap)).toBe("complete");
  });

  it("is found complete by storage scan, with its details", async () => {
    const [found, ...more] = await driver.scanStorage!(ctx);
    expect(more).toEqual([]);
    expect(found).toMatchObject({
      server: "files-1",
      name: "before-11",
      status: "complete",
      problem: null,
      location: snap.location,
      details: { format: "snapbot-archive/1", mode: "tar", compression: "zstd", part_size: 4096 },
    });
  });

  it("restores byte for byte under --target", async () => {
    const target = join(root, "restored");
    await driver.restore!(snap, { target }, ctx);
    const app = join(target, "tmp/h2src/etc/app");
    expect(await readFile(join(app, "app.conf"), "utf8")).toBe("listen 8080\nname old-format\n");
    expect((await readFile(join(app, "blob.bin"))).equals(blob())).toBe(true);
    expect((await stat(join(app, "empty"))).size).toBe(0);
  });
});
