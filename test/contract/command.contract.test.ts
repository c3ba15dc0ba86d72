import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { driverContract } from "./driver-contract.ts";
import { ageKey, type AgeKey } from "../helpers/age-identity.ts";

// The contract against driver: command with an application that is a file: `cat` is its dump (stdout), `cp {file}`
// its restore; sensitive (the default), so every snapshot is age-encrypted and restored decrypted. A hang is cat of a
// FIFO nobody writes.
let dir = "";
let key: AgeKey;
const conf = () => join(dir, "site", "app.conf");
const fifo = () => join(dir, "hang", "stalled-app");

driverContract({
  kind: "command",
  title: "command (cat / cp, encrypted)",
  async setup(d) {
    dir = d;
    mkdirSync(join(dir, "site"), { recursive: true });
    mkdirSync(join(dir, "hang"));
    writeFileSync(conf(), "initial\n");
    execFileSync("mkfifo", [fifo()]);
    key = await ageKey(dir, "contract");
  },
  storage: () => ({ encryption: { recipients: [key.recipient], identity_file: key.file } }),
  server: () => ({ name: "app-1", config: { driver: "command", vars: { conf: conf() }, create: [["cat", "{conf}"]], restore: [["cp", "{file}", "{conf}"]] } }),
  content: {
    write: (v) => writeFileSync(conf(), v),
    read: () => readFileSync(conf(), "utf8"),
  },
  failing: { server: () => ({ name: "app-gone", config: { driver: "command", create: [["cat", join(dir, "no-such-file")]] } }) },
  hanging: {
    server: (timeout) => ({ name: "app-hung", config: { driver: "command", create: [["cat", fifo()]], timeout } }),
    marker: fifo,
  },
  lacks: ["export", "copy", "clone", "stateful"],
});
