import { describe, expect, it } from "vitest";
import { closeSync, existsSync, openSync, readFileSync, rmSync, writeSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { Readable } from "node:stream";
import pino from "pino";
import { createLocalPartStore } from "../../src/storage/local-part-store.ts";
import { streamToParts } from "../../src/storage/stream-to-parts.ts";
import { writeManifest } from "../../src/storage/manifest.ts";
import { copyStored } from "../../src/storage/copy-stored.ts";
import type { DriverContext, Progress } from "../../src/drivers/driver.ts";
import { BackendError } from "../../src/errors.ts";
import { mountTmpfs } from "../helpers/cleanup.ts";
import { rejection } from "../helpers/outcomes.ts";
import { tempDir } from "../helpers/temp-dir.ts";

// One stored snapshot from one store to another (src/storage/copy-stored.ts), on real folders: the bytes and
// the manifest's own text arrive unchanged; a source that does not match its manifest, a missing part, a cancel
// or a full target stop the copy before any manifest is written there.

const root = tempDir("snapbot-copy-stored-");
const log = pino({ level: "silent" });
const key = { server: "web", name: "s1" };
let n = 0;

async function source(bytes = 5 * 64 * 1024 + 123) {
  const dir = join(root, `src-${++n}`);
  const store = createLocalPartStore(dir, { fsync: false, ownEntry: (e) => e === "README.txt" });
  await store.create(key);
  const write = streamToParts(store, key, Readable.from([randomBytes(bytes)]), { partSize: 64 * 1024, highWaterMark: 16 * 1024 });
  const out = await write.done;
  const at = new Date(0).toISOString();
  await store.putFile(key, "README.txt", "read me\n");
  await writeManifest(store, key, { server: "web", snapshot: "s1", created_at: at, finished_at: at, part_size: 64 * 1024, parts: out.parts, total: out.total });
  return { store, dir, parts: out.parts };
}

function target(dir = join(root, `dst-${++n}`)) {
  return { store: createLocalPartStore(dir, { fsync: false, ownEntry: (e) => e === "README.txt" }), dir };
}

function ctx(signal = new AbortController().signal): DriverContext & { seen: Progress[] } {
  const seen: Progress[] = [];
  return { signal, log, seen, progress: (p) => seen.push(p) };
}

describe("copyStored", () => {
  it("copies every part, the side files and the manifest's own text, manifest last", async () => {
    const src = await source();
    const dst = target();
    await dst.store.create(key);
    const c = ctx();
    const out = await copyStored({ store: src.store, key }, { store: dst.store, key }, ["README.txt", "metadata.json"], c);
    expect(out.bytes).toBe(5 * 64 * 1024 + 123);
    expect(out.manifest.parts).toHaveLength(6);
    for (const p of src.parts) expect(readFileSync(join(dst.dir, "web/s1", p.file)).equals(readFileSync(join(src.dir, "web/s1", p.file)))).toBe(true);
    expect(readFileSync(join(dst.dir, "web/s1/manifest.json"), "utf8")).toBe(readFileSync(join(src.dir, "web/s1/manifest.json"), "utf8"));
    expect(readFileSync(join(dst.dir, "web/s1/README.txt"), "utf8")).toBe("read me\n");
    expect(existsSync(join(dst.dir, "web/s1/metadata.json"))).toBe(false); // a side file the source lacks is not made up
    expect(c.seen.at(-1)).toEqual({ stage: "copying", bytes: out.bytes, totalBytes: out.bytes });
  });

  it("a source part that no longer matches its manifest stops the copy: no manifest on the target", async () => {
    const src = await source();
    const fd = openSync(join(src.dir, "web/s1", src.parts[3]!.file), "r+");
    writeSync(fd, Buffer.from([1, 2, 3]), 0, 3, 10);
    closeSync(fd);
    const dst = target();
    await dst.store.create(key);
    const e = await rejection(copyStored({ store: src.store, key }, { store: dst.store, key }, [], ctx()));
    expect(e).toBeInstanceOf(BackendError);
    expect((e as BackendError).code).toBe("source_corrupt");
    expect((e as Error).message).toMatch(/^web\/s1's part-000003 does not match its manifest where it is stored \(65536 bytes, sha256 [0-9a-f]{12}…\): the copy was stopped; run verify web\/s1$/);
    expect(await dst.store.readManifest(key)).toBeNull();
  });

  it("a missing source part, or a missing manifest, is the source's problem in one line", async () => {
    const src = await source();
    rmSync(join(src.dir, "web/s1", src.parts[1]!.file));
    const dst = target();
    await dst.store.create(key);
    const e = await rejection(copyStored({ store: src.store, key }, { store: dst.store, key }, [], ctx()));
    expect((e as BackendError).code).toBe("source_unreadable");
    expect((e as Error).message).toMatch(/^cannot read web\/s1 where it is stored \(.*\/web\/s1\): ENOENT: .*; run verify web\/s1$/);
    expect(await dst.store.readManifest(key)).toBeNull();
    rmSync(join(src.dir, "web/s1/manifest.json"));
    const none = await rejection(copyStored({ store: src.store, key }, { store: target().store, key }, [], ctx()));
    expect((none as Error).message).toMatch(/^web\/s1 has no manifest.json where it is stored .*: nothing to copy; run verify web\/s1$/);
  });

  it("a cancel stops it part-way, and no manifest is written", async () => {
    const src = await source(40 * 64 * 1024);
    const dst = target();
    await dst.store.create(key);
    const ac = new AbortController();
    const c = ctx(ac.signal);
    const real = dst.store.openPart.bind(dst.store);
    let opened = 0;
    dst.store.openPart = async (k, f) => (++opened === 3 && ac.abort(new Error("cancelled by a test")), real(k, f));
    const e = await rejection(copyStored({ store: src.store, key }, { store: dst.store, key }, [], c));
    expect((e as BackendError).code).toBe("aborted");
    expect(opened).toBe(3);
    expect(await dst.store.readManifest(key)).toBeNull();
  });

  it("a target that fills up says so, naming where", async () => {
    const src = await source(3 * 1024 * 1024);
    const mnt = join(root, "tiny");
    const tmpfs = mountTmpfs(mnt, 1);
    try {
      const dst = target(mnt);
      await dst.store.create(key);
      const e = await rejection(copyStored({ store: src.store, key }, { store: dst.store, key }, [], ctx()));
      expect((e as BackendError).code).toBe("target_full");
      expect((e as Error).message).toBe(`the target is full (${mnt}/web/s1): free space there, or give the target a keep: that removes old copies`);
    } finally {
      tmpfs.unmount();
    }
  });

  it("a read-only target folder is named with the real reason, not Node's ENOENT for a recursive mkdir", async () => {
    const mnt = join(root, "ro");
    const tmpfs = mountTmpfs(mnt, 1);
    try {
      const { execFileSync } = await import("node:child_process");
      execFileSync("mount", ["-o", "remount,ro", mnt]);
      const e = await rejection(target(join(mnt, "deep")).store.create(key));
      expect((e as NodeJS.ErrnoException).code).toBe("EROFS");
    } finally {
      tmpfs.unmount();
    }
  });
});
