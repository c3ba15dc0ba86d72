import { execFileSync, spawnSync } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { driverContract } from "./driver-contract.ts";
import { startSshd, type Sshd } from "../helpers/sshd.ts";

// The contract against the archive driver over SSH: a real sshd on 127.0.0.1 (the "server" is this machine,
// so its folders are checked here). tar/dd and zstd run in sshd's sessions; only the storage is local.
let dir = "";
let sshd: Sshd | undefined;
const site = () => join(dir, "remote-site");
const fifo = () => join(dir, "hang", "stalled-remote-device");
const over = (settings: Record<string, unknown>) => ({ driver: "archive", host: `ssh://root@127.0.0.1:${sshd!.port}`, ssh_key: sshd!.clientKey, ...settings });

driverContract({
  kind: "archive",
  title: "archive (tar, over SSH)",
  async setup(d) {
    dir = d;
    mkdirSync(join(site(), "conf"), { recursive: true });
    mkdirSync(join(dir, "hang"));
    execFileSync("mkfifo", [fifo()]);
    sshd = await startSshd(join(dir, "sshd")); // throws when sshd is missing: never a skip
  },
  teardown: () => sshd?.stop(),
  server: () => ({ name: "remote-1", config: over({ paths: [site()] }) }),
  content: {
    write: (v) => writeFileSync(join(site(), "conf", "app.conf"), v),
    read: () => readFileSync(join(site(), "conf", "app.conf"), "utf8"),
  },
  failing: { server: () => ({ name: "remote-gone", config: over({ paths: [join(dir, "no-such-folder")] }) }) },
  hanging: {
    server: (timeout) => ({ name: "remote-hung", config: over({ mode: "raw", device: fifo(), timeout }) }),
    marker: fifo,
    // sshd does not signal a tty-less command when the connection closes, and dd blocked on a FIFO never
    // writes: the ssh runner kills the remote process group itself (ssh-runner.ts remoteStop), and the
    // contract checks the remote dd is gone too. disarm() only unblocks a FIFO left by a failed run.
    disarm: () => void spawnSync("timeout", ["2", "sh", "-c", ': > "$1"', "_", fifo()], { stdio: "ignore" }),
  },
  lacks: ["copy", "clone", "stateful"],
});
