import { createHash, randomBytes } from "node:crypto";
import { PutBucketPolicyCommand, type S3Client } from "@aws-sdk/client-s3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { storedManifestSchema } from "../../src/storage/manifest.ts";
import { partFile } from "../../src/storage/part-store.ts";
import { verifyParts } from "../../src/storage/verify-parts.ts";
import type { DriverContext } from "../../src/drivers/driver.ts";
import type { S3PartStore } from "../../src/storage/s3-part-store.ts";
import { cephEnabled, freePort, radosgwAdmin, CEPH_USER, type CephEnv } from "../helpers/ceph.ts";
import { useCeph } from "../helpers/ceph-env.ts";
import { startTcpProxy, type TcpProxy } from "../helpers/tcp-proxy.ts";
import { adminClient, capturedLog, createBucket, keysIn, s3Settings, s3Store, uploadsIn, writeSnapshot, type CapturedLog } from "../helpers/s3-target.ts";
import { pino } from "pino";

// Faults between snapbot and a real gateway, each one clear line and nothing half-written: no manifest after
// any failure. The proxy (tcp-proxy.ts) cuts, stalls or damages the bytes; Ceph itself refuses credentials,
// a missing bucket, a bucket policy and a full quota.

const MiB = 1024 * 1024;
const sha = (b: Buffer) => createHash("sha256").update(b).digest("hex");
const ctx = (signal = new AbortController().signal) => ({ signal, progress: () => {}, log: pino({ level: "silent" }) }) as DriverContext;

describe.runIf(cephEnabled())("S3 part store faults (Ceph RGW behind a TCP proxy)", () => {
  let ceph: CephEnv;
  let admin: S3Client;
  let bucket = "";
  let proxy: TcpProxy;
  let logged: CapturedLog;
  let store: S3PartStore;
  let n = 0;
  const key = () => ({ server: "files-1", name: `f${++n}` });
  beforeAll(async () => {
    ceph = await useCeph();
    admin = adminClient(ceph);
    bucket = await createBucket(admin, "faults");
    proxy = await startTcpProxy({ port: Number(new URL(ceph.endpoint).port) });
    logged = capturedLog();
    store = s3Store(ceph, s3Settings(proxy.url, bucket), { log: logged.log });
  }, 180_000);
  afterAll(async () => {
    store?.destroy();
    admin?.destroy();
    await proxy?.close();
  });

  /** Nothing counts as written: no manifest object, no upload left open once removed. */
  async function nothingComplete(k: { server: string; name: string }) {
    expect(await keysIn(admin, bucket, `${k.server}/${k.name}/`)).not.toContain(`${k.server}/${k.name}/manifest.json`);
    expect(await store.leftover(k)).not.toBe("complete");
  }

  it("a connection cut mid part is retried and the part still stores whole", async () => {
    const k = key();
    const data = randomBytes(12 * MiB);
    proxy.set({ kind: "cut", afterBytes: 7 * MiB }, { times: 1 }); // inside the second 5 MiB chunk
    const m = await writeSnapshot(store, k, data, 16 * MiB);
    expect(proxy.fired()).toBe(1);
    expect(logged.text()).toMatch(/S3 request failed; trying again/);
    expect((await verifyParts(store, k, storedManifestSchema, ctx())).ok).toBe(true);
    expect(m.total.sha256).toBe(sha(data));
  });

  it("a connection cut on every try fails after the retries, with no manifest and no upload left", async () => {
    const k = key();
    proxy.set({ kind: "cut", afterBytes: 2 * MiB });
    const failure = await writeSnapshot(store, k, randomBytes(12 * MiB), 16 * MiB).catch((e: Error) => e);
    proxy.set({ kind: "pass" });
    expect(failure).toMatchObject({ code: "s3_disconnected", message: expect.stringMatching(/^storage target offsite: the connection to http:\/\/127\.0\.0\.1:\d+ broke during upload of files-1\/f2 \.parts\/part-000000.*\(3 attempts\)$/) });
    await nothingComplete(k);
    expect(await keysIn(admin, bucket, `${k.server}/${k.name}/`)).toEqual([]); // streamToParts removed what was there
    expect(await uploadsIn(admin, bucket, `${k.server}/${k.name}/`)).toEqual([]);
  });

  // Over http RGW refuses it on the signed payload hash (x-amz-content-sha256) before Content-MD5; both are SHA/MD5 of the body.
  it("a part whose bytes arrive damaged is refused by the store: once is retried, always fails", async () => {
    const once = key();
    proxy.set({ kind: "corrupt", atByte: 300_000 }, { times: 1 });
    await writeSnapshot(store, once, randomBytes(MiB), 2 * MiB); // one PUT
    expect(proxy.fired()).toBe(1);
    expect((await verifyParts(store, once, storedManifestSchema, ctx())).ok).toBe(true);

    const always = key();
    proxy.set({ kind: "corrupt", atByte: 300_000 });
    const failure = await writeSnapshot(store, always, randomBytes(MiB), 2 * MiB).catch((e: Error) => e);
    proxy.set({ kind: "pass" });
    expect(failure).toMatchObject({ code: "s3_checksum", message: expect.stringMatching(/the store rejected upload of files-1\/f4 \.parts\/part-000000: the bytes it received do not match the checksum snapbot sent \((BadDigest|XAmzContentSHA256Mismatch)\) \(3 attempts\)/) });
    await nothingComplete(always);
  });

  it("a stall is cut at the idle timeout and, still stalled, fails; the operation's signal stops it at once", async () => {
    const k = key();
    const impatient = s3Store(ceph, s3Settings(proxy.url, bucket), { log: logged.log, tuning: { idleTimeoutMs: 1500 } });
    proxy.set({ kind: "stall", afterBytes: MiB });
    const started = Date.now();
    const failure = await writeSnapshot(impatient, k, randomBytes(3 * MiB), 4 * MiB).catch((e: Error) => e);
    impatient.destroy();
    expect(failure).toMatchObject({ code: "s3_timeout", message: expect.stringMatching(/stopped answering during upload of files-1\/f5 .*\(3 attempts\)/) });
    expect(Date.now() - started).toBeGreaterThan(3 * 1500); // three idle timeouts passed: no result was made up
    await nothingComplete(k);

    const cancelled = key();
    const ac = new AbortController();
    const writing = writeSnapshot(store, cancelled, randomBytes(3 * MiB), 4 * MiB, ac.signal).catch((e: Error) => e);
    await new Promise((r) => setTimeout(r, 300));
    ac.abort(new Error("timed out after 2s: the operation was stopped"));
    expect(await writing).toMatchObject({ message: "timed out after 2s: the operation was stopped" });
    proxy.set({ kind: "pass" });
    await nothingComplete(cancelled);
  });

  it("a read cut mid part resumes from where it broke (Range, pinned by If-Match) and hashes whole", async () => {
    const k = key();
    const data = randomBytes(6 * MiB);
    await writeSnapshot(store, k, data, 8 * MiB);
    proxy.set({ kind: "cut", afterBytes: 4 * MiB, direction: "down" }, { times: 1 });
    const got: Buffer[] = [];
    for await (const c of store.readChunks(k, partFile(0))) got.push(Buffer.from(c));
    expect(proxy.fired()).toBe(1);
    expect(sha(Buffer.concat(got))).toBe(sha(data));
  });

  it("an unreachable endpoint, wrong credentials and a missing bucket are each one line saying what to check", async () => {
    const closed = s3Store(ceph, s3Settings(`http://127.0.0.1:${await freePort()}`, bucket));
    await expect(closed.create(key())).rejects.toMatchObject({
      code: "s3_unreachable",
      message: expect.stringMatching(/^storage target offsite: cannot reach http:\/\/127\.0\.0\.1:\d+ \(ECONNREFUSED\) \(3 attempts\): check storage\.targets\.offsite\.s3\.endpoint/),
    });
    const wrong = s3Store(ceph, s3Settings(ceph.endpoint, bucket), { credentials: { accessKeyId: CEPH_USER.accessKey, secretAccessKey: "not-the-secret" }, log: logged.log });
    await expect(wrong.create(key())).rejects.toMatchObject({
      code: "s3_auth",
      message: expect.stringMatching(/refused snapbot's credentials \(403 SignatureDoesNotMatch\): check the keys in SNAPBOT_TEST_S3_ACCESS and SNAPBOT_TEST_S3_SECRET$/),
    });
    const unknown = s3Store(ceph, s3Settings(ceph.endpoint, bucket), { credentials: { accessKeyId: "NOSUCHKEY", secretAccessKey: "x" } });
    await expect(unknown.create(key())).rejects.toMatchObject({ code: "s3_auth", message: expect.stringMatching(/403 InvalidAccessKeyId/) });
    const missing = s3Store(ceph, s3Settings(ceph.endpoint, "no-such-bucket-here"));
    await expect(missing.create(key())).rejects.toMatchObject({
      code: "s3_no_bucket",
      message: expect.stringMatching(/bucket no-such-bucket-here does not exist on http:.*: create it, or fix storage\.targets\.offsite\.s3\.bucket$/),
    });
    [closed, wrong, unknown, missing].forEach((s) => s.destroy());
  });

  it("a bucket refusing writes (a policy; a full quota) fails the part, and no manifest follows", async () => {
    const locked = await createBucket(admin, "locked");
    const policy = { Version: "2012-10-17", Statement: [{ Effect: "Deny", Principal: "*", Action: "s3:PutObject", Resource: `arn:aws:s3:::${locked}/*` }] };
    await admin.send(new PutBucketPolicyCommand({ Bucket: locked, Policy: JSON.stringify(policy) }));
    const denied = s3Store(ceph, s3Settings(ceph.endpoint, locked));
    const k = key();
    const failure = await writeSnapshot(denied, k, randomBytes(64 * 1024), 32 * 1024).catch((e: Error) => e);
    expect(failure).toMatchObject({ code: "s3_denied", message: expect.stringMatching(/denied upload of files-1\/\S+ \.parts\/part-00000\d in bucket .*\(403 AccessDenied\): the bucket policy/) });
    expect(await keysIn(admin, locked)).toEqual([]);

    const small = await createBucket(admin, "quota");
    radosgwAdmin(ceph, ["quota", "set", "--quota-scope=bucket", `--bucket=${small}`, "--max-size=2M"]);
    radosgwAdmin(ceph, ["quota", "enable", "--quota-scope=bucket", `--bucket=${small}`]);
    const full = s3Store(ceph, s3Settings(ceph.endpoint, small));
    const k2 = key();
    const refused = await writeSnapshot(full, k2, randomBytes(4 * MiB), MiB).catch((e: Error) => e);
    // The gateway checks the quota against usage stats it updates in the background: on a loaded machine every
    // part can get in before the stats catch up, and the refusal then comes at README.txt or the manifest.
    // Either way the snapshot fails with the quota line and no manifest is left.
    expect(refused).toMatchObject({ code: "s3_full" });
    // The whole line in the failure report (toMatchObject cuts it short), should the gateway refuse elsewhere.
    expect((refused as Error).message).toMatch(
      /bucket \S+ refused upload of files-1\/\S+ (\.parts\/part-00000\d|README\.txt|manifest\.json): its quota is exceeded \(QuotaExceeded\): free space there or raise the quota/,
    );
    expect(await keysIn(admin, small, `${k2.server}/${k2.name}/`)).not.toContain(`${k2.server}/${k2.name}/manifest.json`);
    [denied, full].forEach((s) => s.destroy());
  });

  it("a manifest is refused for a snapshot one of whose parts failed, even if the caller asks", async () => {
    const k = key();
    await store.create(k);
    const ok = await store.openPart(k, partFile(0));
    await ok.write([Buffer.from("fine")]);
    await ok.close({ size: 4, sha256: sha(Buffer.from("fine")) });
    const bad = await store.openPart(k, partFile(1));
    await bad.write([Buffer.from("abandoned")]);
    await bad.abort();
    const manifest = JSON.stringify({ parts: [{ file: partFile(0), size: 4 }] });
    await expect(store.writeManifest(k, manifest)).rejects.toMatchObject({ code: "parts_incomplete" });
    await nothingComplete(k);
    await store.remove(k);
  });

  it("never logs or shows the credentials, whatever failed", () => {
    const text = logged.text();
    expect(text.length).toBeGreaterThan(0);
    expect(text).not.toContain(ceph.secretKey);
    expect(text).not.toContain(ceph.accessKey);
    expect(text).not.toContain("not-the-secret");
  });
});
