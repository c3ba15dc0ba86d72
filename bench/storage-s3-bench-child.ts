import { createReadStream } from "node:fs";
import { S3Client } from "@aws-sdk/client-s3";
import { Upload } from "@aws-sdk/lib-storage";
import pino from "pino";
import { measureDriver, type ChildResult } from "./measure.ts";
import { createArchiveDriver } from "../src/drivers/archive/archive-driver.ts";
import { createS3PartStore } from "../src/storage/s3-part-store.ts";
import { DEFAULT_TUNING } from "../src/storage/s3-client.ts";
import { createLocalRunner } from "../src/transport/local-runner.ts";
import { s3TargetSchema } from "../src/config/storage-schema.ts";
import { streamToParts } from "../src/storage/stream-to-parts.ts";
import { writeManifest } from "../src/storage/manifest.ts";
import { DEFAULT_PART_SIZE } from "../src/drivers/archive/part-size.ts";

const STREAM_BUFFER = 1024 * 1024; // what create-archive.ts reads its pipe with

// One side of the S3 bench in a fresh process (its peak RSS is its own): snapbot's archive create into the
// S3 store, or @aws-sdk/lib-storage's multipart Upload of a file, with the same chunk size and concurrency.
// Prints one JSON line.

export interface S3ChildJob {
  /**
   * snapbot: the archive create (tar | zstd → S3 store); store: snapbot's storage layer alone fed the file Upload
   * reads (parts, hashes, checksummed requests, README and manifest last); upload: lib-storage's Upload of the
   * file; upload-sha256: the same asked to send each chunk's SHA-256 (ChecksumAlgorithm), as snapbot must.
   */
  op: "snapbot" | "store" | "upload" | "upload-sha256";
  src: string; // the folder snapbot archives
  file: string; // the bytes Upload sends (the same tar | zstd -1 stream, made once)
  endpoint: string;
  bucket: string;
  prefix: string;
  accessKey: string;
  secretKey: string;
}

export async function s3BenchChild(job: S3ChildJob): Promise<ChildResult> {
  const log = pino({ level: "silent" });
  const credentials = { accessKeyId: job.accessKey, secretAccessKey: job.secretKey };
  if (job.op === "snapbot") {
    const settings = s3TargetSchema.parse({ endpoint: job.endpoint, bucket: job.bucket, prefix: job.prefix, access_key_env: "A", secret_key_env: "B", force_path_style: true });
    const store = createS3PartStore({ target: "bench", settings, credentials, log, ownEntry: (e) => e === "README.txt" });
    const driver = createArchiveDriver(
      { name: "bench", driver: "archive", mode: "tar", paths: [job.src], exclude: [], host: "local", compression: "zstd", limit: 50 },
      { runner: createLocalRunner(log), storageDir: "/nonexistent", fsync: false, log, store },
    );
    const r = await measureDriver(driver, log, "create");
    store.destroy();
    return r;
  }
  if (job.op === "store") return storeFile(job, log, credentials);
  const client = new S3Client({ endpoint: job.endpoint, region: "us-east-1", forcePathStyle: true, credentials, requestChecksumCalculation: "WHEN_REQUIRED", responseChecksumValidation: "WHEN_REQUIRED" });
  const t = performance.now();
  const cpuBefore = process.cpuUsage();
  const upload = new Upload({
    client,
    params: { Bucket: job.bucket, Key: `${job.prefix}upload.bin`, Body: createReadStream(job.file), ...(job.op === "upload-sha256" ? { ChecksumAlgorithm: "SHA256" as const } : {}) },
    partSize: DEFAULT_TUNING.chunkBytes,
    queueSize: DEFAULT_TUNING.inFlight,
  });
  await upload.done();
  const seconds = (performance.now() - t) / 1000;
  const cpu = process.cpuUsage(cpuBefore);
  client.destroy();
  return { seconds, cpuSeconds: (cpu.user + cpu.system) / 1e6, ok: true, maxRssMiB: process.resourceUsage().maxRSS / 1024 };
}

/** What every create does after its source: the stream into parts on the S3 store, then README.txt and the manifest. */
async function storeFile(job: S3ChildJob, log: pino.Logger, credentials: { accessKeyId: string; secretAccessKey: string }): Promise<ChildResult> {
  const settings = s3TargetSchema.parse({ endpoint: job.endpoint, bucket: job.bucket, prefix: job.prefix, access_key_env: "A", secret_key_env: "B", force_path_style: true });
  const store = createS3PartStore({ target: "bench", settings, credentials, log, ownEntry: (e) => e === "README.txt" });
  const key = { server: "bench", name: "s1" };
  const t = performance.now();
  const cpuBefore = process.cpuUsage();
  await store.create(key);
  const input = createReadStream(job.file, { highWaterMark: STREAM_BUFFER });
  const stored = await streamToParts(store, key, input, { partSize: DEFAULT_PART_SIZE, highWaterMark: STREAM_BUFFER }).done;
  const now = new Date().toISOString();
  await store.putFile(key, "README.txt", `bench\n${stored.parts.map((p) => `${p.sha256}  ${p.file}`).join("\n")}\n`);
  await writeManifest(store, key, { server: key.server, snapshot: key.name, created_at: now, finished_at: now, part_size: DEFAULT_PART_SIZE, parts: stored.parts, total: stored.total });
  const seconds = (performance.now() - t) / 1000;
  const cpu = process.cpuUsage(cpuBefore);
  store.destroy();
  return { seconds, cpuSeconds: (cpu.user + cpu.system) / 1e6, bytes: stored.total.size, ok: true, maxRssMiB: process.resourceUsage().maxRSS / 1024 };
}

if (/\bstorage-s3-bench-child\.[jt]s$/.test(process.argv[1] ?? "")) {
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = "true";
  const result = await s3BenchChild(JSON.parse(process.argv[2] ?? "{}") as S3ChildJob);
  console.log(JSON.stringify(result));
}
