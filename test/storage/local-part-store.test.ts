import { spawn } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { once } from "node:events";
import { readdir, readFile, rm, stat, truncate, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { join } from "node:path";
import { Readable } from "node:stream";
import { buffer } from "node:stream/consumers";
import { pathToFileURL } from "node:url";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { DriverContext } from "../../src/drivers/driver.ts";
import { createLocalPartStore, type LocalPartStore } from "../../src/storage/local-part-store.ts";
import { storedManifestSchema, writeManifest, type StoredManifest } from "../../src/storage/manifest.ts";
import type { SnapshotKey } from "../../src/storage/part-store.ts";
import { partsInOrder } from "../../src/storage/parts-in-order.ts";
import { scanStorage } from "../../src/storage/storage-scan.ts";
import { streamToParts, type StoredStream } from "../../src/storage/stream-to-parts.ts";
import { verifyParts } from "../../src/storage/verify-parts.ts";
import { trackedTempDir } from "../helpers/cleanup.ts";

// The storage pipeline on the local folder store, with no driver: a stream cut into parts with their
// SHA-256, the manifest last (its absence is what a crash leaves, and storage scan says so), verify naming
// the one part that is wrong, and a failed stream leaving nothing behind.

const KiB = 1024;
const PART = 64 * KiB;
const log = pino({ level: "silent" });
const sha256 = (b: Buffer) => createHash("sha256").update(b).digest("hex");
const ctx: DriverContext = { signal: new AbortController().signal, log, progress: () => {} };
const noDetails = () => ({});
let root: string;
let removeRoot = () => {};
let counter = 0;

beforeAll(() => void ({ dir: root, remove: removeRoot } = trackedTempDir("snapbot-store-")));
afterAll(() => removeRoot());

function fresh(): { store: LocalPartStore; dir: string } {
  const dir = join(root, `storage-${++counter}`);
  return { store: createLocalPartStore(dir, { fsync: true }), dir };
}

/** `data` in chunks of awkward sizes, as a pipe would hand them over. */
function chunks(data: Buffer, size = 10_007): Readable {
  const out: Buffer[] = [];
  for (let at = 0; at < data.length; at += size) out.push(data.subarray(at, at + size));
  return Readable.from(out);
}

function manifestOf(key: SnapshotKey, s: StoredStream): StoredManifest {
  const at = new Date(Date.UTC(2026, 0, 1)).toISOString();
  return { server: key.server, snapshot: key.name, created_at: at, finished_at: at, part_size: PART, parts: s.parts, total: s.total };
}

async function complete(store: LocalPartStore, key: SnapshotKey, data: Buffer): Promise<StoredStream> {
  await store.create(key);
  const stored = await streamToParts(store, key, chunks(data), { partSize: PART, highWaterMark: 16 * KiB }).done;
  await writeManifest(store, key, manifestOf(key, stored));
  return stored;
}

describe("local part store", () => {
  it("cuts a stream into parts with their own SHA-256, reads it back whole, and verifies it", async () => {
    const { store, dir } = fresh();
    const key = { server: "web-1", name: "s1" };
    const data = randomBytes(5 * PART + 123);
    const stored = await complete(store, key, data);
    expect(stored.parts.map((p) => p.file)).toEqual([0, 1, 2, 3, 4, 5].map((i) => `.parts/part-00000${i}`));
    stored.parts.forEach((p, i) => {
      const bytes = data.subarray(i * PART, (i + 1) * PART);
      expect(p).toMatchObject({ size: bytes.length, sha256: sha256(bytes) });
    });
    expect(stored.total).toMatchObject({ size: data.length, sha256: sha256(data) });
    const folder = join(dir, "web-1", "s1");
    expect(store.where(key)).toBe(folder);
    // The files on disk, not the store's word:
    for (const p of stored.parts) expect(sha256(await readFile(join(folder, p.file)))).toBe(p.sha256);
    const back = await buffer(partsInOrder(store, key, manifestOf(key, stored), () => {}, () => {}));
    expect(back.equals(data)).toBe(true);
    expect(await verifyParts(store, key, storedManifestSchema, ctx)).toEqual({ ok: true, problems: [], checkedBytes: data.length });
    expect(await store.leftover(key)).toBe("complete");
  });

  it("makes folders 0700 and files 0600, the manifest included", async () => {
    const { store, dir } = fresh();
    const key = { server: "web-1", name: "s1" };
    await complete(store, key, randomBytes(2 * PART + 1));
    await store.putFile(key, "README.txt", "hello\n");
    const folder = join(dir, "web-1", "s1");
    const mode = async (p: string) => (await stat(p)).mode & 0o777;
    for (const d of [dir, join(dir, "web-1"), folder, join(folder, ".parts")]) expect(await mode(d), d).toBe(0o700);
    const files = ["manifest.json", "README.txt", ...(await readdir(join(folder, ".parts"))).map((f) => `.parts/${f}`)];
    expect(files).toHaveLength(5);
    for (const f of files) expect(await mode(join(folder, f)), f).toBe(0o600);
  });

  it("refuses to create over a snapshot that is there, and leaves it alone", async () => {
    const { store } = fresh();
    const key = { server: "web-1", name: "s1" };
    await complete(store, key, randomBytes(PART));
    await expect(store.create(key)).rejects.toMatchObject({ code: "snapshot_exists" });
    expect((await verifyParts(store, key, storedManifestSchema, ctx)).ok).toBe(true);
  });

  it("a process killed after its parts but before the manifest leaves a partial snapshot that storage scan reports", async () => {
    const { store, dir } = fresh();
    const child = join(root, `crash-${counter}.mts`); // .mts: an ES module outside the package (top-level await)
    const src = (f: string) => JSON.stringify(pathToFileURL(join(import.meta.dirname, "../../src/storage", f)).href);
    await writeFile(
      child,
      [
        `import { Readable } from "node:stream";`,
        `import { createLocalPartStore } from ${src("local-part-store.ts")};`,
        `import { streamToParts } from ${src("stream-to-parts.ts")};`,
        `const store = createLocalPartStore(${JSON.stringify(dir)}, { fsync: true });`,
        `const key = { server: "web-1", name: "s1" };`,
        `await store.create(key);`,
        `const input = Readable.from([Buffer.alloc(${3 * PART}, 7)]);`,
        `await streamToParts(store, key, input, { partSize: ${PART}, highWaterMark: ${PART} }).done;`,
        `process.kill(process.pid, "SIGKILL"); // the crash: every part durable, no manifest yet`,
      ].join("\n"),
    );
    const tsx = pathToFileURL(createRequire(import.meta.url).resolve("tsx")).href;
    const proc = spawn(process.execPath, ["--import", tsx, child], { stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    proc.stderr.on("data", (c) => (stderr += c));
    const [, signal] = await once(proc, "exit");
    expect(signal, stderr).toBe("SIGKILL");
    const key = { server: "web-1", name: "s1" };
    expect(await store.listParts(key)).toEqual([".parts/part-000000", ".parts/part-000001", ".parts/part-000002"]);
    expect(await store.leftover(key)).toBe("partial");
    const [found, ...more] = await scanStorage(store, storedManifestSchema, noDetails);
    expect(more).toEqual([]);
    expect(found).toMatchObject({ server: "web-1", name: "s1", status: "partial", problem: "no manifest.json: the write never completed" });
    const verified = await verifyParts(store, key, storedManifestSchema, ctx);
    expect(verified).toEqual({ ok: false, problems: ["manifest.json is missing"], checkedBytes: 0 });
    await store.remove(key); // a partial snapshot holds only what snapbot writes: it can be removed
    expect(await store.leftover(key)).toBe("nothing");
  });

  it("a stream cut part-way leaves no manifest and no parts", async () => {
    const { store, dir } = fresh();
    const key = { server: "web-1", name: "s1" };
    await store.create(key);
    let sent = 0;
    const cut = new Readable({
      read() {
        if (sent >= 2 * PART + PART / 2) return this.destroy(new Error("ssh: connection reset"));
        sent += 8 * KiB;
        this.push(randomBytes(8 * KiB));
      },
    });
    const failures: unknown[] = [];
    const write = streamToParts(store, key, cut, { partSize: PART, highWaterMark: 16 * KiB, onFailure: (e) => failures.push(e) });
    await expect(write.done).rejects.toThrow("ssh: connection reset");
    expect(failures).toHaveLength(1);
    expect(write.bytes()).toBeGreaterThan(2 * PART); // parts were written before the cut
    expect(await store.leftover(key)).toBe("nothing");
    expect(await readdir(join(dir, "web-1"))).toEqual([]);
    expect(await scanStorage(store, storedManifestSchema, noDetails)).toEqual([]);
  });

  describe("verify names the one part that is wrong", () => {
    const key = { server: "web-1", name: "s1" };
    async function damaged(damage: (part1: string) => Promise<void>): Promise<string[]> {
      const { store, dir } = fresh();
      await complete(store, key, randomBytes(3 * PART + 5));
      await damage(join(dir, "web-1", "s1", ".parts", "part-000001"));
      return (await verifyParts(store, key, storedManifestSchema, ctx)).problems;
    }

    it("a missing part", async () => {
      expect(await damaged((p) => rm(p))).toEqual(["part-000001 is missing"]);
    });

    it("a short part", async () => {
      expect(await damaged((p) => truncate(p, 1000))).toEqual([`part-000001 has 1000 bytes, manifest says ${PART}`]);
    });

    it("a corrupt part of the right size (and the whole stream with it)", async () => {
      const problems = await damaged(async (p) => {
        const bytes = await readFile(p);
        bytes[PART / 2] = bytes[PART / 2]! ^ 0xff;
        await writeFile(p, bytes);
      });
      expect(problems).toHaveLength(2);
      expect(problems[0]).toMatch(/^part-000001 is corrupt: sha256 [0-9a-f]{12}…, manifest says [0-9a-f]{12}…$/);
      expect(problems[1]).toMatch(/^the whole stream does not match: /);
    });

    it("a part the manifest does not list", async () => {
      const stray = (p: string) => writeFile(p.replace("000001", "000009"), "x", { mode: 0o600 });
      expect(await damaged(stray)).toEqual(["part-000009 is not in the manifest"]);
    });

    it("and storage scan calls a snapshot with a short part invalid, without hashing", async () => {
      const { store, dir } = fresh();
      await complete(store, key, randomBytes(2 * PART + 5));
      await truncate(join(dir, "web-1", "s1", ".parts", "part-000000"), 10);
      const [found] = await scanStorage(store, storedManifestSchema, noDetails);
      expect(found).toMatchObject({ status: "invalid", problem: `part-000000 has 10 bytes, manifest says ${PART}` });
    });
  });

  it("refuses to remove a folder holding files snapbot never writes", async () => {
    const { store, dir } = fresh();
    const key = { server: "web-1", name: "s1" };
    await complete(store, key, randomBytes(PART));
    await writeFile(join(dir, "web-1", "s1", "notes.txt"), "mine");
    await expect(store.remove(key)).rejects.toMatchObject({ code: "unsafe_delete" });
    expect(await store.leftover(key)).toBe("complete");
  });
});
