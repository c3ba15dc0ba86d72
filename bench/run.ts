import { mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { benchLedger } from "./ledger-bench.ts";
import { benchArchive } from "./archive-bench.ts";
import { benchSlack } from "./slack-bench.ts";

// npm run bench [-- ledger|archive|storage|slack|lxd|ssh|scheduler|tree|qemu|copies|slices|app]: each figure is printed beside a baseline measured in the same run.
const dir = process.env.BENCH_DIR ?? join(tmpdir(), "snapbot-bench");
mkdirSync(dir, { recursive: true });
const only = process.argv[2];

function print(title: string, r: Record<string, number | string>): void {
  console.log(`\n## ${title}`);
  const w = Math.max(...Object.keys(r).map((k) => k.length));
  for (const [k, v] of Object.entries(r)) console.log(`  ${k.padEnd(w)}  ${v}`);
}

if (!only || only === "ledger") {
  print("ledger (SQLite)", await benchLedger({ dir }));
  print("ledger (PostgreSQL)", await (await import("./ledger-pg-bench.ts")).benchLedgerPg({ dir }));
  print("ledger (three replicas on PostgreSQL: failover)", await (await import("./failover-bench.ts")).benchFailover({ dir }));
}
if (!only || only === "archive") print("archive", await benchArchive({ sizeMiB: Number(process.env.BENCH_ARCHIVE_MIB ?? 2048), dir }));
if (!only || only === "storage") {
  const storage = await import("./storage-local-bench.ts");
  print("storage: local create vs tar | zstd > file", await storage.benchStorageLocal({ dir, sizeMiB: Number(process.env.BENCH_STORAGE_MIB ?? 2048) }));
}
if (!only || only === "slack") print("slack (ack latency, HTTP mode)", await benchSlack({ dir }));
if (!only || only === "lxd") print("lxd (create through the bot vs lxc snapshot)", await (await import("./lxd-bench.ts")).benchLxd({ dir }));
if (!only || only === "ssh") print("archive over ssh (loopback sshd)", await (await import("./ssh-bench.ts")).benchSsh({ sizeMiB: Number(process.env.BENCH_ARCHIVE_MIB ?? 2048), dir }));
if (!only || only === "scheduler") print("scheduler (10,000 schedules, 1M snapshots)", await (await import("./scheduler-bench.ts")).benchScheduler({ dir }));
if (!only || only === "tree")
  print("list --tree (50-snapshot tree, real SQLite ledger)", await (await import("./tree-bench.ts")).benchTree({ dir }));
if (!only || only === "qemu") {
  const qemu = await import("./qemu-bench.ts");
  print("qemu image (create through the bot vs qemu-img snapshot -c, 1 GiB qcow2)", await qemu.benchQemuImage({ dir }));
  print("qemu qmp (create through the bot vs QMP snapshot-save, running VM)", await qemu.benchQemuQmp({ dir }));
}
if (!only || only === "copies")
  print("copies (copy to a folder target through the engine vs cp -r + sha256sum)", await (await import("./copy-bench.ts")).benchCopies({ sizeMiB: Number(process.env.BENCH_COPY_MIB ?? 1024), dir }));
if (!only || only === "storage") {
  print(
    "storage (S3 target on Ceph RGW: snapbot create vs @aws-sdk/lib-storage Upload of the same bytes)",
    await (await import("./storage-s3-bench.ts")).benchStorageS3({ dir, sizeMiB: Number(process.env.BENCH_STORAGE_MIB ?? 2048) }),
  );
  print(
    "storage: local create, age-encrypted vs not (same source, alternated)",
    await (await import("./storage-encrypt-bench.ts")).benchStorageEncrypt({ dir, sizeMiB: Number(process.env.BENCH_STORAGE_MIB ?? 2048) }),
  );
}
if (!only || only === "slices")
  print("verify --target (slices' balance; the whole target vs sha256sum of its parts)", await (await import("./slices-bench.ts")).benchSlices({ sizeMiB: Number(process.env.BENCH_SLICES_MIB ?? 1024), dir }));
if (!only || only === "app") {
  print("app: PostgreSQL create through the command driver vs pg_dump -Fc | sha256sum", await (await import("./app-bench.ts")).benchAppPg({ dir, sizeMiB: Number(process.env.BENCH_APP_MIB ?? 1024) }));
  print("app: Consul create vs curl …/v1/snapshot | sha256sum", await (await import("./consul-bench.ts")).benchConsul({ dir, sizeMiB: Number(process.env.BENCH_CONSUL_MIB ?? 512) }));
}
