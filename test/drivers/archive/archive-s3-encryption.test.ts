import { randomBytes } from "node:crypto";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { GetObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Reply } from "../../../src/reply.ts";
import { cephEnabled, type CephEnv } from "../../helpers/ceph.ts";
import { useCeph } from "../../helpers/ceph-env.ts";
import { adminClient, createBucket, FAST_TUNING, keysIn, S3_ENV, s3Env } from "../../helpers/s3-target.ts";
import { ageKey, type AgeKey } from "../../helpers/age-identity.ts";
import { testApp } from "../../helpers/test-app.ts";
import { tempDir } from "../../helpers/temp-dir.ts";

// A sensitive archive server whose store is an S3 bucket (Ceph's RADOS Gateway on loopback): the stream is
// encrypted before it is cut into parts, so every object in the bucket is ciphertext (a marker written into the
// sources is in none of them), plain verify re-hashes the objects without the key, verify --full decrypts them
// where they are, and a restore reads them back through age.

const MARKER = "SNAPBOT-S3-PLAINTEXT-MARKER-3d7a";
const done = (r: Reply) => (r.follow ? r.follow.done : Promise.resolve(r));

describe.runIf(cephEnabled())("a sensitive archive server with store: offsite on Ceph RGW", () => {
  const root = tempDir("snapbot-s3-age-");
  const site = join(root, "site");
  let ceph: CephEnv;
  let admin: S3Client;
  let bucket = "";
  let key: AgeKey;
  let t: Awaited<ReturnType<typeof testApp>>;

  beforeAll(async () => {
    ceph = await useCeph();
    admin = adminClient(ceph);
    bucket = await createBucket(admin, "sealed");
    key = await ageKey(root, "snapbot");
    mkdirSync(join(site, "conf"), { recursive: true });
    writeFileSync(join(site, "conf", "secrets.env"), `TOKEN=${MARKER}\n`);
    writeFileSync(join(site, "blob.bin"), randomBytes(7 * 1024 * 1024)); // two parts of 6 MiB: a multipart upload each
    const s3 = { endpoint: ceph.endpoint, bucket, prefix: "prod/", access_key_env: S3_ENV.access, secret_key_env: S3_ENV.secret, force_path_style: true };
    const file = {
      roles: { admins: ["U0ADMIN"], approvers: ["U0ALICE"], operators: ["*"] },
      storage: { path: "snaps", targets: { offsite: { s3 } }, encryption: { recipients: [key.recipient], identity_file: key.file } },
      servers: { "vault-1": { driver: "archive", paths: [site], store: "offsite", part_size: "6MiB", sensitive: true } },
    };
    t = await testApp(root, file, undefined, undefined, { env: s3Env(ceph), s3Tuning: FAST_TUNING });
  }, 180_000);
  afterAll(async () => {
    await t?.app.close();
    admin?.destroy();
  });

  it("every object in the bucket is free of the marker; the parts are one age stream", async () => {
    expect((await done(await t.run("create vault-1 s1", "U0OP"))).tone).toBe("success");
    const keys = await keysIn(admin, bucket, "prod/vault-1/s1/");
    expect(keys).toEqual(["prod/vault-1/s1/.parts/part-000000", "prod/vault-1/s1/.parts/part-000001", "prod/vault-1/s1/README.txt", "prod/vault-1/s1/manifest.json"]);
    for (const k of keys) {
      const body = Buffer.from(await (await admin.send(new GetObjectCommand({ Bucket: bucket, Key: k }))).Body!.transformToByteArray());
      expect(body.includes(MARKER), k).toBe(false);
      if (k.endsWith("part-000000")) expect(body.subarray(0, 21).toString()).toBe("age-encryption.org/v1");
      if (k.endsWith("manifest.json")) expect(JSON.parse(body.toString()).encryption).toEqual({ format: "age-encryption.org/v1", recipients: [key.recipient] });
    }
  });

  it("verify re-hashes the objects; verify --full decrypts and lists them where they are; restore reads them through age", async () => {
    expect((await done(await t.run("verify vault-1/s1"))).tone).toBe("success");
    const full = await done(await t.run("verify vault-1/s1 --full"));
    expect(full).toMatchObject({ tone: "success", lines: [expect.stringMatching(/^decrypted \(age's MAC checked on every chunk\), decompressed and listed by tar/)] });
    writeFileSync(join(site, "conf", "secrets.env"), "TOKEN=changed\n");
    const request = await t.run("restore vault-1/s1", "U0OP");
    const approval = Number(/approve (\d+)/.exec(request.buttons?.[0]?.command ?? "")?.[1]);
    expect((await done(await t.run(`approve ${approval}`, "U0ALICE"))).tone).toBe("success");
    expect(readFileSync(join(site, "conf", "secrets.env"), "utf8")).toBe(`TOKEN=${MARKER}\n`);
  });
});
