import { DeleteBucketPolicyCommand, DeleteObjectCommand, GetObjectCommand, ListObjectsV2Command, PutBucketPolicyCommand, PutObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import type { TargetFactory } from "./copy-targets.ts";
import { radosgwAdmin, type CephEnv } from "./ceph.ts";
import { useCeph } from "./ceph-env.ts";
import { adminClient, createBucket, s3Env, s3Settings } from "./s3-target.ts";

// storage.targets.<t>: { s3: … } on the run's Ceph RADOS Gateway, as the copy cases (test/engine/copies/) drive a
// target: one bucket per file, a key prefix per label; looking, tampering and deleting go through an admin client
// behind snapbot's back; "refusing" is a bucket policy denying PutObject, "full" a bucket quota.

export function s3CopyTarget(): TargetFactory {
  let ceph: CephEnv;
  let admin: S3Client;
  let bucket = "";
  const base = (label: string, server: string, snap: string) => `${label}/${server}/${snap}/`;
  return {
    name: "S3 on Ceph's RADOS Gateway",
    async setup() {
      ceph = await useCeph();
      admin = adminClient(ceph);
      bucket = await createBucket(admin, "copies");
    },
    teardown: () => admin?.destroy(),
    config: (label) => ({ s3: s3Settings(ceph.endpoint, bucket, `${label}/`) }),
    env: () => s3Env(ceph),
    async objects(label, server, snap) {
      const prefix = base(label, server, snap);
      const out = await admin.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix }));
      return (out.Contents ?? []).map((o) => o.Key!.slice(prefix.length)).sort();
    },
    async tamper(label, server, snap, file) {
      const Key = base(label, server, snap) + file;
      const got = await admin.send(new GetObjectCommand({ Bucket: bucket, Key }));
      const body = Buffer.from(await got.Body!.transformToByteArray());
      body[100] = body[100]! ^ 0xff;
      await admin.send(new PutObjectCommand({ Bucket: bucket, Key, Body: body }));
    },
    async drop(label, server, snap, file) {
      await admin.send(new DeleteObjectCommand({ Bucket: bucket, Key: base(label, server, snap) + file }));
    },
    async refusing() {
      const locked = await createBucket(admin, "refusing");
      const policy = { Version: "2012-10-17", Statement: [{ Effect: "Deny", Principal: "*", Action: "s3:PutObject", Resource: `arn:aws:s3:::${locked}/*` }] };
      await admin.send(new PutBucketPolicyCommand({ Bucket: locked, Policy: JSON.stringify(policy) }));
      return { config: { s3: s3Settings(ceph.endpoint, locked) }, why: /403 AccessDenied/, release: async () => void (await admin.send(new DeleteBucketPolicyCommand({ Bucket: locked }))) };
    },
    async full(_label, bytes) {
      const small = await createBucket(admin, "full");
      radosgwAdmin(ceph, ["quota", "set", "--quota-scope=bucket", `--bucket=${small}`, `--max-size=${bytes}`]);
      radosgwAdmin(ceph, ["quota", "enable", "--quota-scope=bucket", `--bucket=${small}`]);
      return { config: { s3: s3Settings(ceph.endpoint, small) }, why: /quota is exceeded/, release: () => void radosgwAdmin(ceph, ["quota", "disable", "--quota-scope=bucket", `--bucket=${small}`]) };
    },
  };
}
