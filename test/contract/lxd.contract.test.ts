import { execFileSync } from "node:child_process";
import { chmodSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { driverContract } from "./driver-contract.ts";
import { startLxdEnv, type LxdEnv } from "../helpers/lxd-env.ts";

// The contract against real LXD (test/helpers/lxd-env.ts: throwaway daemons, a busybox image). A hang is an
// `lxc` earlier on PATH — a real executable — that sleeps on the snapshot's POST and passes the rest on.
let env: LxdEnv | undefined;
let hangBin = "";
let savedPath: string | undefined;
const lxd = (over: Record<string, unknown> = {}) => ({ driver: "lxd", lxd_dir: env!.localDir, lxd_conf: env!.conf, ...over });
const inside = (script: string) => env!.lxc(["exec", "ct-1", "--", "sh", "-c", script]);

function fakeLxc(dir: string): void {
  mkdirSync(dir, { recursive: true });
  const real = execFileSync("sh", ["-c", "command -v lxc"], { encoding: "utf8" }).trim();
  const script = ["#!/bin/sh", 'case "$*" in *"-X POST"*"/snapshots"*) sleep 3600 ;; esac', `exec ${real} "$@"`, ""].join("\n");
  writeFileSync(join(dir, "lxc"), script);
  chmodSync(join(dir, "lxc"), 0o755);
}

driverContract({
  kind: "lxd",
  title: "lxd (real daemon)",
  async setup(dir) {
    env = await startLxdEnv(); // throws when lxd is missing: never a skip
    env.lxc(["launch", "busybox", "ct-1"]);
    hangBin = join(dir, "hang-bin");
    fakeLxc(hangBin);
  },
  teardown: () => env?.stop(),
  server: () => ({ name: "ct-1", config: lxd() }),
  content: {
    write: (v) => void inside(`echo '${v}' > /root/contract`),
    read: () => inside("cat /root/contract").trim(),
  },
  failing: { server: () => ({ name: "ct-ghost", config: lxd({ instance: "no-such-instance" }) }) },
  hanging: {
    server: (timeout) => ({ name: "ct-hung", config: lxd({ instance: "ct-1", timeout }) }),
    marker: () => hangBin,
    arm: () => {
      savedPath = process.env.PATH;
      process.env.PATH = `${hangBin}:${savedPath ?? ""}`;
    },
    disarm: () => void (process.env.PATH = savedPath),
  },
  // stateful: LXD takes --stateful (CRIU); the busybox test image cannot checkpoint, so it is not exercised here.
  lacks: ["export"],
});
