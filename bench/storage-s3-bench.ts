import { statSync } from "node:fs";
import { mkdir, rm } from "node:fs/promises";
import { join } from "node:path";
import { DeleteObjectCommand, ListObjectsV2Command, CreateBucketCommand, S3Client } from "@aws-sdk/client-s3";
import { execa } from "execa";
import { ensureTestTree } from "./archive-bench.ts";
import { median, medianOf, round, siblingArgv, type ChildResult } from "./measure.ts";
import type { S3ChildJob } from "./storage-s3-bench-child.ts";
import { radosgwAdmin, startCeph } from "../test/helpers/ceph.ts";

// snapbot's archive create into an S3 target against @aws-sdk/lib-storage's multipart Upload of the same
// bytes from a file, on Ceph's RADOS Gateway on loopback, in the same run and alternated (so the gateway's
// warm-up and the machine's drift hit both alike). snapbot's side also runs tar and zstd and hashes every
// byte (per part, whole stream, per request); Upload only reads a file. Medians of RUNS; each side in its
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
    const snap: ChildResult[] = [];
    const up: ChildResult[] = [];
    for (let i = 0; i < RUNS; i++) {
      up.push(await child(job("upload", i)));
      await empty(client, bucket, ceph);
      snap.push(await child(job("snapbot", i)));
      await empty(client, bucket, ceph);
    }
    client.destroy();
    const [s, u] = [medianOf(snap, "seconds"), medianOf(up, "seconds")];
    return {
      "source MiB": opts.sizeMiB,
      "stored MiB": round(statSync(file).size / MiB),
      "lib-storage Upload of the file s": round(u),
      "snapbot create to S3 s": round(s),
      "ratio snapbot/Upload": round(s / u),
      "snapbot MiB/s (stored bytes)": round(statSync(file).size / MiB / s),
      "snapbot peak RSS MiB": round(Math.max(...snap.map((r) => r.maxRssMiB as number))),
      "Upload peak RSS MiB": round(Math.max(...up.map((r) => r.maxRssMiB as number))),
      "snapbot CPU s / Upload CPU s": `${round(medianOf(snap, "cpuSeconds"))} / ${round(medianOf(up, "cpuSeconds"))}`,
      "runs (median of)": RUNS,
      "Upload runs s": up.map((r) => round(r.seconds as number)).join(" "),
      "snapbot runs s": snap.map((r) => round(r.seconds as number)).join(" "),
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
