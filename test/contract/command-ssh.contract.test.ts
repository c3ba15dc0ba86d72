import { execFileSync, spawnSync } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { driverContract } from "./driver-contract.ts";
import { startSshd, type Sshd } from "../helpers/sshd.ts";
import { ageKey, type AgeKey } from "../helpers/age-identity.ts";

// The contract against driver: command with host: ssh://… — a real sshd on 127.0.0.1: the steps (cat, cp), the
// workspace ({file} from mktemp -d) and the artefact's cat / dd run in sshd's sessions through the shared SSH
// layer; the parts (encrypted) are stored here.
let dir = "";
let sshd: Sshd | undefined;
let key: AgeKey;
const conf = () => join(dir, "remote-site", "app.conf");
const fifo = () => join(dir, "hang", "stalled-remote-app");
const over = (settings: Record<string, unknown>) => ({ driver: "command", host: `ssh://root@127.0.0.1:${sshd!.port}`, ssh_key: sshd!.clientKey, ...settings });

driverContract({
  kind: "command",
  title: "command (cat / cp over SSH, encrypted)",
  async setup(d) {
    dir = d;
    mkdirSync(join(dir, "remote-site"), { recursive: true });
    mkdirSync(join(dir, "hang"));
    writeFileSync(conf(), "initial\n");
    execFileSync("mkfifo", [fifo()]);
    key = await ageKey(dir, "contract");
    sshd = await startSshd(join(dir, "sshd")); // throws when sshd is missing: never a skip
  },
  teardown: () => sshd?.stop(),
  storage: () => ({ encryption: { recipients: [key.recipient], identity_file: key.file } }),
  server: () => ({ name: "remote-app", config: over({ vars: { conf: conf() }, create: [["cat", "{conf}"]], restore: [["cp", "{file}", "{conf}"]] }) }),
  content: {
    write: (v) => writeFileSync(conf(), v),
    read: () => readFileSync(conf(), "utf8"),
  },
  failing: { server: () => ({ name: "remote-gone", config: over({ create: [["cat", join(dir, "no-such-file")]] }) }) },
  hanging: {
    // versions: [] — the case's timeout is 2 s, and on a loaded machine the `cat --version` probe's ssh session
    // alone could use it up before the step that hangs has started.
    server: (timeout) => ({ name: "remote-hung", config: over({ create: [["cat", fifo()]], versions: [], timeout }) }),
    marker: fifo,
    // As for the archive over SSH: the ssh runner kills the remote process group; disarm unblocks a FIFO left behind.
    disarm: () => void spawnSync("timeout", ["2", "sh", "-c", ': > "$1"', "_", fifo()], { stdio: "ignore" }),
  },
  lacks: ["export", "copy", "clone", "stateful"],
});
