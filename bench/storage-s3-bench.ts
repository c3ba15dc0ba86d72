import { statSync } from "node:fs";
import { mkdir, rm } from "node:fs/promises";
import { join } from "node:path";
import { DeleteObjectCommand, ListObjectsV2Command, CreateBucketCommand, S3Client } from "@aws-sdk/client-s3";
import { execa } from "execa";
import { ensureTestTree } from "./archive-bench.ts";
import { median, medianOf, round, siblingArgv, type ChildResult } from "./measure.ts";
import type { S3ChildJob } from "./storage-s3-bench-child.ts";
import { radosgwAdmin, startCeph } from "../test/helpers/ceph.ts";

// snapbot's storage layer on an S3 target against @aws-sdk/lib-storage's multipart Upload of the same bytes
// from a file, on Ceph's RADOS Gateway on loopback, in the same run and alternated (so the gateway's warm-up
// and the machine's drift hit every side alike). Like for like: snapbot's store fed that file (what every
// create runs after its source: parts, SHA-256 per part and of the whole, MD5, each request's SHA-256 and
// Content-MD5, README.txt and the manifest last) against Upload sending each chunk's SHA-256 as snapbot must;
// plain Upload and the whole archive create (tar and zstd on the same two cores as Ceph) are shown beside it. Medians of RUNS; each side in its
// own process for its peak RSS. The memstore OSD holds what is stored in RAM: objects are deleted and the
// gateway's garbage collected between runs.

const RUNS = 3;
const MiB = 2 ** 20;

export async function benchStorageS3(opts: { dir: string; sizeMiB: number }): Promise<Record<string, number | string>> {
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true"; // the SDK's notice about Node 22, not a figure
  const src = join(opts.dir, `archive-src-${opts.sizeMiB}MiB`);
  await ensureTestTree(src, opts.sizeMiB);
  const file = join(opts.dir, "storage-s3-stream.zst");
  await mkdir(opts.dir, { recursive: true });
  await execa("bash", ["-c", 'set -o pipefail; tar -cf - -C "$1" . | zstd -1 -T0 -q > "$2"', "_", src, file]);
  const ceph = await startCeph({ memstoreBytes: Math.max(2 * 1024 ** 3, 3 * statSync(file).size) });
  try {
    const client = new S3Client({ endpoint: ceph.endpoint, region: "us-east-1", forcePathStyle: true, credentials: { accessKeyId: ceph.accessKey, secretAccessKey: ceph.secretKey } });
    const bucket = "bench";
    await client.send(new CreateBucketCommand({ Bucket: bucket }));
    const job = (op: S3ChildJob["op"], i: number): S3ChildJob => ({ op, src, file, endpoint: ceph.endpoint, bucket, prefix: `${op}-${i}/`, accessKey: ceph.accessKey, secretKey: ceph.secretKey });
    await child(job("upload", -1)); // warm-up: the gateway makes its data pools on the first write
    await empty(client, bucket, ceph);
    const sides = { upload: [] as ChildResult[], "upload-sha256": [] as ChildResult[], store: [] as ChildResult[], snapbot: [] as ChildResult[] };
    const order = Object.keys(sides) as Array<keyof typeof sides>;
    for (let i = 0; i < RUNS; i++)
      for (let k = 0; k < order.length; k++) {
        const op = order[(i + k) % order.length]!; // who goes first rotates
        sides[op].push(await child(job(op, i)));
        await empty(client, bucket, ceph);
      }
    client.destroy();
    const sec = (op: keyof typeof sides) => medianOf(sides[op], "seconds");
    const cpu = (op: keyof typeof sides) => round(medianOf(sides[op], "cpuSeconds"));
    const rss = (op: keyof typeof sides) => round(Math.max(...sides[op].map((r) => r.maxRssMiB as number)));
    const stored = statSync(file).size / MiB;
    return {
      "source MiB": opts.sizeMiB,
      "stored MiB": round(stored),
      "lib-storage Upload of the file s": round(sec("upload")),
      "lib-storage Upload with ChecksumAlgorithm SHA256 s": round(sec("upload-sha256")),
      "snapbot storage layer fed the same file s": round(sec("store")),
      "ratio snapbot store / Upload with SHA-256 (like for like, target ≤ 1.15)": round(sec("store") / sec("upload-sha256")),
      "ratio snapbot store / plain Upload": round(sec("store") / sec("upload")),
      "snapbot create to S3 (tar | zstd too) s": round(sec("snapbot")),
      "ratio snapbot create / plain Upload": round(sec("snapbot") / sec("upload")),
      "snapbot store MiB/s": round(stored / sec("store")),
      "peak RSS MiB: create, store, Upload, Upload+SHA-256": `${rss("snapbot")}, ${rss("store")}, ${rss("upload")}, ${rss("upload-sha256")}`,
      "CPU s (this process): create, store, Upload, Upload+SHA-256": `${cpu("snapbot")}, ${cpu("store")}, ${cpu("upload")}, ${cpu("upload-sha256")}`,
      "runs (median of)": RUNS,
      ...Object.fromEntries(order.map((op) => [`${op} runs s`, sides[op].map((r) => round(r.seconds as number)).join(" ")])),
    };
  } finally {
    ceph.stop();
    await rm(file, { force: true });
  }
}

/** Every object deleted and the gateway's garbage collected, so the next run starts with the OSD's RAM free. */
async function empty(client: S3Client, Bucket: string, ceph: { conf: string }): Promise<void> {
  const r = await client.send(new ListObjectsV2Command({ Bucket }));
  for (const o of r.Contents ?? []) await client.send(new DeleteObjectCommand({ Bucket, Key: o.Key! }));
  radosgwAdmin(ceph, ["gc", "process", "--include-all"]);
}

async function child(job: S3ChildJob): Promise<ChildResult> {
  const { stdout } = await execa("node", [...siblingArgv("storage-s3-bench-child"), JSON.stringify(job)], { env: { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true" } });
  const r = JSON.parse(stdout.trim().split("\n").at(-1)!) as ChildResult;
  if (!r.ok) throw new Error(`${job.op} failed`);
  return r;
}
