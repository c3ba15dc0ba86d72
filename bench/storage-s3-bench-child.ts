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

// One side of the S3 bench in a fresh process (its peak RSS is its own): snapbot's archive create into the
// S3 store, or @aws-sdk/lib-storage's multipart Upload of a file, with the same chunk size and concurrency.
// Prints one JSON line.

export interface S3ChildJob {
  op: "snapbot" | "upload";
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
  const client = new S3Client({ endpoint: job.endpoint, region: "us-east-1", forcePathStyle: true, credentials, requestChecksumCalculation: "WHEN_REQUIRED", responseChecksumValidation: "WHEN_REQUIRED" });
  const t = performance.now();
  const cpuBefore = process.cpuUsage();
  const upload = new Upload({
    client,
    params: { Bucket: job.bucket, Key: `${job.prefix}upload.bin`, Body: createReadStream(job.file) },
    partSize: DEFAULT_TUNING.chunkBytes,
    queueSize: DEFAULT_TUNING.inFlight,
  });
  await upload.done();
  const seconds = (performance.now() - t) / 1000;
  const cpu = process.cpuUsage(cpuBefore);
  client.destroy();
  return { seconds, cpuSeconds: (cpu.user + cpu.system) / 1e6, ok: true, maxRssMiB: process.resourceUsage().maxRSS / 1024 };
}

if (/\bstorage-s3-bench-child\.[jt]s$/.test(process.argv[1] ?? "")) {
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = "true";
  const result = await s3BenchChild(JSON.parse(process.argv[2] ?? "{}") as S3ChildJob);
  console.log(JSON.stringify(result));
}
