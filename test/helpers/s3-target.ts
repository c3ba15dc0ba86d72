import { CreateBucketCommand, ListMultipartUploadsCommand, ListObjectsV2Command, S3Client } from "@aws-sdk/client-s3";
import { pino, type Logger } from "pino";
import { Readable, Writable } from "node:stream";
import { writeManifest, type StoredManifest } from "../../src/storage/manifest.ts";
import type { SnapshotKey } from "../../src/storage/part-store.ts";
import { streamToParts } from "../../src/storage/stream-to-parts.ts";
import { s3TargetSchema, type S3TargetSettings } from "../../src/config/storage-schema.ts";
import { createS3PartStore, type S3PartStore } from "../../src/storage/s3-part-store.ts";
import type { S3Tuning } from "../../src/storage/s3-client.ts";
import type { CephEnv } from "./ceph.ts";

// Buckets, stores and an admin client on the shared Ceph gateway (ceph-env.ts), for the storage tests and
// the helpers that build on them (copies). Every file uses buckets of its own: the gateway is shared.

export const S3_ENV = { access: "SNAPBOT_TEST_S3_ACCESS", secret: "SNAPBOT_TEST_S3_SECRET" } as const;
let n = 0;

/** A bucket name no other file of this run uses. */
export function bucketName(tag: string): string {
  return `snapbot-${tag}-${process.pid}-${++n}`.toLowerCase().slice(0, 63);
}

/** The test's own client, outside snapbot: to make buckets, look behind snapbot's back, tamper. */
export function adminClient(ceph: Pick<CephEnv, "endpoint" | "accessKey" | "secretKey">, endpoint = ceph.endpoint): S3Client {
  return new S3Client({
    endpoint,
    region: "us-east-1",
    forcePathStyle: true,
    credentials: { accessKeyId: ceph.accessKey, secretAccessKey: ceph.secretKey },
    requestChecksumCalculation: "WHEN_REQUIRED",
    responseChecksumValidation: "WHEN_REQUIRED",
  });
}

export async function createBucket(admin: S3Client, tag: string): Promise<string> {
  const Bucket = bucketName(tag);
  await admin.send(new CreateBucketCommand({ Bucket }));
  return Bucket;
}

/** The `s3:` settings of a target as snapbot.yml would give them, credentials named by S3_ENV. */
export function s3Settings(endpoint: string, bucket: string, prefix = ""): S3TargetSettings {
  return s3TargetSchema.parse({ endpoint, bucket, prefix, access_key_env: S3_ENV.access, secret_key_env: S3_ENV.secret, force_path_style: true });
}

/** The environment snapbot reads the credentials from. */
export function s3Env(ceph: Pick<CephEnv, "accessKey" | "secretKey">): Record<string, string> {
  return { [S3_ENV.access]: ceph.accessKey, [S3_ENV.secret]: ceph.secretKey };
}

/** Short backoff, so a fault is decided in seconds; 5 MiB chunks (S3's smallest multipart part). */
// Idle 10 s: Ceph's first write makes its pools (~4 s without a byte answered); stall tests shorten it further.
export const FAST_TUNING: Partial<S3Tuning> = { chunkBytes: 5 * 1024 * 1024, attempts: 3, backoffMs: 50, idleTimeoutMs: 10_000, connectTimeoutMs: 2000 };

export interface CapturedLog {
  log: Logger;
  text(): string;
}

/** A pino logger at debug whose every line is kept, to assert on (and that secrets never appear). */
export function capturedLog(): CapturedLog {
  const lines: string[] = [];
  const sink = new Writable({ write: (c, _e, cb) => (lines.push(String(c)), cb()) });
  return { log: pino({ level: "debug" }, sink), text: () => lines.join("") };
}

export function s3Store(
  ceph: Pick<CephEnv, "accessKey" | "secretKey">,
  settings: S3TargetSettings,
  opts: { log?: Logger; tuning?: Partial<S3Tuning>; target?: string; credentials?: { accessKeyId: string; secretAccessKey: string } } = {},
): S3PartStore {
  return createS3PartStore({
    target: opts.target ?? "offsite",
    settings,
    credentials: opts.credentials ?? { accessKeyId: ceph.accessKey, secretAccessKey: ceph.secretKey },
    log: opts.log ?? pino({ level: "silent" }),
    ownEntry: (e) => e === "README.txt" || e === "metadata.json",
    tuning: { ...FAST_TUNING, ...opts.tuning },
  });
}

/** Every key in the bucket under `prefix`, as the test's admin sees it. */
export async function keysIn(admin: S3Client, Bucket: string, Prefix = ""): Promise<string[]> {
  const r = await admin.send(new ListObjectsV2Command({ Bucket, Prefix }));
  return (r.Contents ?? []).map((c) => c.Key!).sort();
}

/** Multipart uploads started and never completed or aborted, under `prefix`. */
export async function uploadsIn(admin: S3Client, Bucket: string, Prefix = ""): Promise<string[]> {
  const r = await admin.send(new ListMultipartUploadsCommand({ Bucket, Prefix }));
  return (r.Uploads ?? []).map((u) => u.Key!).sort();
}

const MiB = 1024 * 1024;

/** Writes `data` as a snapshot the way create does (parts, README, manifest last); returns the manifest. */
export async function writeSnapshot(store: S3PartStore, key: SnapshotKey, data: Buffer, partSize: number, signal?: AbortSignal): Promise<StoredManifest> {
  await store.create(key);
  const input = Readable.from((function* () {
    for (let at = 0; at < data.length; at += 3 * MiB + 17) yield data.subarray(at, at + 3 * MiB + 17); // odd chunks: boundaries inside writes
  })());
  const stored = await streamToParts(store, key, input, { partSize, highWaterMark: MiB, signal }).done;
  const now = new Date().toISOString();
  const manifest = { server: key.server, snapshot: key.name, created_at: now, finished_at: now, part_size: partSize, parts: stored.parts, total: stored.total };
  await store.putFile(key, "README.txt", "by hand: cat .parts/part-* | …\n");
  await writeManifest(store, key, manifest);
  return manifest;
}
