import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { driverContract } from "./driver-contract.ts";
import { cephInstalled, type CephEnv } from "../helpers/ceph.ts";
import { useCeph } from "../helpers/ceph-env.ts";
import { adminClient, createBucket, s3Env, S3_ENV } from "../helpers/s3-target.ts";

// The contract against the archive driver with `store: offsite`: the same walk-through and failures, with every
// part, README and manifest in a bucket on Ceph's RADOS Gateway instead of storage.path. Under CI=true a
// missing Ceph fails setup (never a skip); elsewhere the file is skipped.
let dir = "";
let ceph: CephEnv;
let bucket = "";
const site = () => join(dir, "site");
const fifo = () => join(dir, "hang", "stalled-device");
const offsite = (config: Record<string, unknown>) => ({ ...config, store: "offsite" });

if (cephInstalled() || process.env.CI === "true")
  driverContract({
    kind: "archive",
    title: "archive (tar, store: offsite on Ceph RGW)",
    async setup(d) {
      dir = d;
      ceph = await useCeph();
      const admin = adminClient(ceph);
      bucket = await createBucket(admin, "contract");
      admin.destroy();
      mkdirSync(join(site(), "conf"), { recursive: true });
      mkdirSync(join(dir, "hang"));
      execFileSync("mkfifo", [fifo()]);
    },
    storage: () => ({
      targets: {
        offsite: {
          s3: { endpoint: ceph.endpoint, bucket, prefix: "contract/", access_key_env: S3_ENV.access, secret_key_env: S3_ENV.secret, force_path_style: true },
        },
      },
    }),
    env: () => s3Env(ceph),
    server: () => ({ name: "files-1", config: offsite({ driver: "archive", paths: [site()] }) }),
    content: {
      write: (v) => writeFileSync(join(site(), "conf", "app.conf"), v),
      read: () => readFileSync(join(site(), "conf", "app.conf"), "utf8"),
    },
    failing: { server: () => ({ name: "files-gone", config: offsite({ driver: "archive", paths: [join(dir, "no-such-folder")] }) }) },
    hanging: {
      server: (timeout) => ({ name: "files-hung", config: offsite({ driver: "archive", mode: "raw", device: fifo(), timeout }) }),
      marker: fifo,
    },
    lacks: ["copy", "clone", "stateful"],
  });
