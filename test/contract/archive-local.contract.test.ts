import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { driverContract } from "./driver-contract.ts";

// The contract against the archive driver on a local folder (tar, zstd, real files). A hang is dd reading a
// FIFO nobody writes (mode raw): tar stores a FIFO as an entry without reading it, so tar itself cannot hang.
let dir = "";
const site = () => join(dir, "site");
const fifo = () => join(dir, "hang", "stalled-device");

driverContract({
  kind: "archive",
  title: "archive (tar, local folder)",
  setup(d) {
    dir = d;
    mkdirSync(join(site(), "conf"), { recursive: true });
    mkdirSync(join(dir, "hang"));
    execFileSync("mkfifo", [fifo()]);
  },
  server: () => ({ name: "files-1", config: { driver: "archive", paths: [site()] } }),
  content: {
    write: (v) => writeFileSync(join(site(), "conf", "app.conf"), v),
    read: () => readFileSync(join(site(), "conf", "app.conf"), "utf8"),
  },
  failing: { server: () => ({ name: "files-gone", config: { driver: "archive", paths: [join(dir, "no-such-folder")] } }) },
  hanging: {
    server: (timeout) => ({ name: "files-hung", config: { driver: "archive", mode: "raw", device: fifo(), timeout } }),
    marker: fifo,
  },
  lacks: ["copy", "clone", "stateful"],
});
