import { readFile, readdir } from "node:fs/promises";
import { join } from "node:path";
import { Readable } from "node:stream";
import pino from "pino";
import { describe, expect, it } from "vitest";
import { createLocalPartStore } from "../../../src/storage/local-part-store.ts";
import { storedManifestSchema, type StoredManifest } from "../../../src/storage/manifest.ts";
import { createAtRest } from "../../../src/storage/encryption/at-rest.ts";
import { plainStream, verifiedManifest } from "../../../src/storage/kit/read-stored.ts";
import { storeStream, withNewSnapshot, writeLast } from "../../../src/storage/kit/store-stream.ts";
import type { DriverContext } from "../../../src/drivers/driver.ts";
import { ageKey } from "../../helpers/age-identity.ts";
import { tempDir } from "../../helpers/temp-dir.ts";

// The stored-snapshot kit every stored driver writes and reads through: sealed parts, side files, the manifest
// last, nothing left after a failure, and a verified plaintext stream back (refused when a part is altered).

const log = pino({ level: "silent" });
const ctx = (): DriverContext => ({ signal: new AbortController().signal, progress: () => {}, log });
const MARKER = "PLAINTEXT-MARKER-0123456789";

async function collect(s: Readable): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of s) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString();
}

async function writeOne(dir: string, text: string, atRest: ReturnType<typeof createAtRest>, sealed: boolean) {
  const store = createLocalPartStore(dir, { fsync: false, ownEntry: (e) => e === "metadata.json" });
  const key = { server: "app-1", name: "s1" };
  const sealing = sealed ? await atRest.seal("app-1", 64 * 1024) : null;
  const m = await withNewSnapshot(store, key, log, async () => {
    const out = await storeStream(store, key, Readable.from([Buffer.from(text)]), { partSize: 4096, sealing }).done;
    const manifest: StoredManifest = {
      server: "app-1", snapshot: "s1", created_at: "2026-01-01T00:00:00Z", finished_at: "2026-01-01T00:00:01Z",
      part_size: 4096, parts: out.parts, total: out.total, ...(sealing ? { encryption: sealing.info } : {}),
    };
    await writeLast(store, key, [["metadata.json", "{}\n"]], manifest);
    return manifest;
  });
  return { store, key, m };
}

describe("stored-snapshot kit", () => {
  it("seals the stream (no plaintext in the parts), writes side files before the manifest, and reads back the plaintext", async () => {
    const dir = tempDir("snapbot-kit-");
    const key = await ageKey(dir, "k");
    const atRest = createAtRest({ recipients: [key.recipient], identity_file: key.file });
    const text = `${MARKER}\n`.repeat(2000);
    const { store, key: k } = await writeOne(join(dir, "st"), text, atRest, true);
    const folder = join(dir, "st", "app-1", "s1");
    const parts = await readdir(join(folder, ".parts"));
    expect(parts.length).toBeGreaterThan(1);
    for (const p of parts) expect((await readFile(join(folder, ".parts", p))).includes(MARKER)).toBe(false);
    expect(await readFile(join(folder, "metadata.json"), "utf8")).toBe("{}\n");
    const m = await verifiedManifest(store, { ...k, createdAt: 0, location: null }, storedManifestSchema, atRest, ctx());
    expect(m.encryption?.recipients).toEqual([key.recipient]);
    expect(await collect(plainStream(store, k, m, atRest).stream)).toBe(text);
  });

  it("a failure inside withNewSnapshot leaves nothing behind; an existing snapshot is never removed by a second claim", async () => {
    const dir = join(tempDir("snapbot-kit-"), "st");
    const store = createLocalPartStore(dir, { fsync: false });
    const key = { server: "app-1", name: "s1" };
    const failing = new Readable({ read() { this.destroy(new Error("producer died")); } });
    await expect(withNewSnapshot(store, key, log, () => storeStream(store, key, failing, { partSize: 4096, sealing: null }).done)).rejects.toThrow("producer died");
    expect(await store.leftover(key)).toBe("nothing");
    const atRest = createAtRest(undefined);
    await writeOne(dir, "hello", atRest, false);
    await expect(withNewSnapshot(store, key, log, async () => 1)).rejects.toMatchObject({ code: "snapshot_exists" });
    expect(await store.leftover(key)).toBe("complete");
  });

  it("verifiedManifest refuses a snapshot whose part was changed", async () => {
    const dir = join(tempDir("snapbot-kit-"), "st");
    const { store, key } = await writeOne(dir, "x".repeat(10000), createAtRest(undefined), false);
    const { writeFile } = await import("node:fs/promises");
    await writeFile(join(dir, "app-1", "s1", ".parts", "part-000000"), "y".repeat(4096));
    await expect(verifiedManifest(store, { ...key, createdAt: 0, location: null }, storedManifestSchema, createAtRest(undefined), ctx()))
      .rejects.toMatchObject({ code: "snapshot_broken" });
  });
});
