import { createHash, randomBytes } from "node:crypto";
import { DeleteObjectCommand, GetObjectCommand, PutObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { storedManifestSchema } from "../../src/storage/manifest.ts";
import { partFile } from "../../src/storage/part-store.ts";
import { verifyParts } from "../../src/storage/verify-parts.ts";
import type { S3PartStore } from "../../src/storage/s3-part-store.ts";
import { signedWith } from "../../src/storage/s3-part-sink.ts";
import type { DriverContext } from "../../src/drivers/driver.ts";
import { cephEnabled, type CephEnv } from "../helpers/ceph.ts";
import { useCeph } from "../helpers/ceph-env.ts";
import { adminClient, createBucket, keysIn, s3Settings, s3Store, uploadsIn, writeSnapshot } from "../helpers/s3-target.ts";

// The S3 PartStore against Ceph's RADOS Gateway (real S3 semantics): the same stream → parts → manifest path
// the archive driver uses, read back and verified, and the layout, listing, leftovers and guarded remove.

const MiB = 1024 * 1024;
const ctx = (signal = new AbortController().signal): DriverContext => ({ signal, progress: () => {}, log: pino({ level: "silent" }) }) as DriverContext;

const sha = (b: Buffer) => createHash("sha256").update(b).digest("hex");

describe.runIf(cephEnabled())("S3 part store on Ceph's RADOS Gateway", () => {
  let ceph: CephEnv;
  let admin: S3Client;
  let bucket = "";
  let store: S3PartStore;
  beforeAll(async () => {
    ceph = await useCeph();
    admin = adminClient(ceph);
    bucket = await createBucket(admin, "store");
    store = s3Store(ceph, s3Settings(ceph.endpoint, bucket, "prod/"));
  }, 180_000);
  afterAll(() => {
    store?.destroy();
    admin?.destroy();
  });

  it("stores parts (one PUT each, or multipart above the chunk size) and the manifest last, and reads them back verified", async () => {
    const key = { server: "files-1", name: "s1" };
    const data = randomBytes(23 * MiB);
    const m = await writeSnapshot(store, key, data, 12 * MiB); // 12 MiB parts: multipart of 5 MiB chunks, then an 11 MiB one
    expect(m.parts.map((p) => p.size)).toEqual([12 * MiB, 11 * MiB]);
    expect(store.where(key)).toBe(`s3://${bucket}/prod/files-1/s1`);
    expect(await keysIn(admin, bucket)).toEqual(["prod/files-1/s1/.parts/part-000000", "prod/files-1/s1/.parts/part-000001", "prod/files-1/s1/README.txt", "prod/files-1/s1/manifest.json"]);
    expect(await uploadsIn(admin, bucket)).toEqual([]);
    expect(storedManifestSchema.parse(JSON.parse((await store.readManifest(key))!)).total.sha256).toBe(sha(data));
    expect(await store.stat(key, partFile(0))).toBe(12 * MiB);
    expect(await store.stat(key, partFile(7))).toBeNull();
    expect(await store.listParts(key)).toEqual([partFile(0), partFile(1)]);
    expect(await verifyParts(store, key, storedManifestSchema, ctx())).toEqual({ ok: true, problems: [], checkedBytes: data.length });
    const back: Buffer[] = [];
    for (const p of m.parts) for await (const c of store.read(key, p.file)) back.push(c as Buffer);
    expect(sha(Buffer.concat(back))).toBe(sha(data));
    expect(await store.leftover(key)).toBe("complete");
  });

  it("create claims the place: refused when objects are there; leftover tells nothing / partial / complete", async () => {
    const key = { server: "files-1", name: "claimed" };
    expect(await store.leftover(key)).toBe("nothing");
    await store.create(key);
    const sink = await store.openPart(key, partFile(0));
    await sink.write([Buffer.from("half a part")]);
    await sink.close({ size: 11, sha256: sha(Buffer.from("half a part")) });
    expect(await store.leftover(key)).toBe("partial");
    await expect(store.create(key)).rejects.toMatchObject({ code: "snapshot_exists", message: expect.stringMatching(/files-1\/claimed already exists in storage \(s3:\/\/.*\/prod\/files-1\/claimed\)/) });
    await store.remove(key);
    expect(await store.leftover(key)).toBe("nothing");
  });

  it("lists the snapshots under the prefix by server and name, ignoring names snapbot could not have written", async () => {
    await admin.send(new PutObjectCommand({ Bucket: bucket, Key: "prod/bad name/x/manifest.json", Body: "{}" }));
    await admin.send(new PutObjectCommand({ Bucket: bucket, Key: "elsewhere/files-1/s9/manifest.json", Body: "{}" }));
    const data = randomBytes(64 * 1024);
    await writeSnapshot(store, { server: "db-2", name: "a" }, data, 16 * 1024);
    expect(await store.list()).toEqual([
      { server: "db-2", name: "a" },
      { server: "files-1", name: "s1" },
    ]);
  });

  it("remove deletes only snapbot's own objects, manifest first, aborts stale uploads, and is idempotent", async () => {
    const key = { server: "db-2", name: "stale" };
    await store.create(key);
    const sink = await store.openPart(key, partFile(0));
    await sink.write([randomBytes(6 * MiB)]); // one chunk up, a multipart upload left open by a writer that "died"
    await new Promise((r) => setTimeout(r, 500));
    expect(await uploadsIn(admin, bucket, "prod/db-2/stale/")).toEqual(["prod/db-2/stale/.parts/part-000000"]);
    expect(await store.leftover(key)).toBe("partial");
    await store.remove(key);
    expect(await uploadsIn(admin, bucket, "prod/db-2/stale/")).toEqual([]);
    await store.remove(key); // again: nothing there, no error

    const planted = { server: "db-2", name: "a" };
    await admin.send(new PutObjectCommand({ Bucket: bucket, Key: "prod/db-2/a/notes.txt", Body: "someone's own file" }));
    await expect(store.remove(planted)).rejects.toMatchObject({ code: "unsafe_delete", message: expect.stringMatching(/holds objects snapbot did not write \(notes\.txt\)/) });
    expect(await keysIn(admin, bucket, "prod/db-2/a/")).toContain("prod/db-2/a/manifest.json"); // nothing deleted
    await expect(store.remove({ ...planted, location: `s3://${bucket}/prod/db-2/other` })).rejects.toMatchObject({ code: "unsafe_delete" });
  });

  it("verify finds a part deleted and a part altered behind snapbot's back", async () => {
    const key = { server: "files-1", name: "tampered" };
    await writeSnapshot(store, key, randomBytes(3 * MiB), MiB);
    await admin.send(new DeleteObjectCommand({ Bucket: bucket, Key: "prod/files-1/tampered/.parts/part-000001" }));
    const original = Buffer.from(await (await admin.send(new GetObjectCommand({ Bucket: bucket, Key: "prod/files-1/tampered/.parts/part-000002" }))).Body!.transformToByteArray());
    original[1000] = original[1000]! ^ 0x01;
    await admin.send(new PutObjectCommand({ Bucket: bucket, Key: "prod/files-1/tampered/.parts/part-000002", Body: original }));
    const r = await verifyParts(store, key, storedManifestSchema, ctx());
    expect(r.ok).toBe(false);
    expect(r.problems).toEqual(["part-000001 is missing", expect.stringMatching(/^part-000002 is corrupt: sha256 [0-9a-f]{12}…, manifest says/)]);
  });

  // Pinned so that the README's claim follows the gateway: if a Ceph upgrade starts checking the SHA-256
  // header, this fails and the README's "what is checked" is updated.
  it("what this gateway checks: a wrong Content-MD5 or signed payload SHA-256 is refused, a wrong x-amz-checksum-sha256 is not (Ceph 16)", async () => {
    const Body = Buffer.from("a part's bytes");
    const wrongSha = createHash("sha256").update("other bytes").digest("base64");
    const wrongMd5 = createHash("md5").update("other bytes").digest("base64");
    await expect(admin.send(new PutObjectCommand({ Bucket: bucket, Key: "probe/md5", Body, ContentMD5: wrongMd5 }))).rejects.toMatchObject({ name: "BadDigest" });
    await admin.send(new PutObjectCommand({ Bucket: bucket, Key: "probe/sha", Body, ChecksumSHA256: wrongSha }));
    // The signed payload hash (x-amz-content-sha256, which snapbot sets to its own SHA-256) is checked.
    await expect(admin.send(signedWith(wrongSha, new PutObjectCommand({ Bucket: bucket, Key: "probe/signed", Body })))).rejects.toMatchObject({ name: "XAmzContentSHA256Mismatch" });
    expect(await keysIn(admin, bucket, "probe/")).toEqual(["probe/sha"]);
  });

  it("reads a snapshot recorded under another prefix from its recorded location", async () => {
    const other = s3Store(ceph, s3Settings(ceph.endpoint, bucket, "moved/"));
    const key = { server: "files-1", name: "s1", location: `s3://${bucket}/prod/files-1/s1` };
    expect(other.where(key)).toBe(`s3://${bucket}/prod/files-1/s1`);
    expect(await other.leftover(key)).toBe("complete");
    other.destroy();
  });
});
