import { join } from "node:path";
import { driverContract } from "./driver-contract.ts";
import { hangingTool, pathSwitch } from "../helpers/fake-tool.ts";
import { hasPattern, makeImage, writePattern } from "../helpers/qemu-vm.ts";

// The contract against driver: qemu, image: — a stopped VM's qcow2 file, real qemu-img. Content is a qemu-io
// pattern in the first 64 KiB (one byte per value). A hang is a `qemu-img` earlier on PATH that sleeps on
// `snapshot -c` and passes the rest on to the real one.
let image = "";
let hangBin = "";
const BYTES: Record<string, number> = { "contract-A": 0xaa, "contract-B": 0xbb };
const qemu = (over: Record<string, unknown> = {}) => ({ driver: "qemu", image, ...over });

driverContract({
  kind: "qemu",
  title: "qemu (offline image, qemu-img)",
  setup(dir) {
    image = makeImage(dir); // throws when qemu-img is missing: never a skip
    hangBin = join(dir, "hang-bin");
    hangingTool(hangBin, "qemu-img", '*"snapshot -c"*');
  },
  server: () => ({ name: "vm-img", config: qemu() }),
  content: {
    write: (v) => writePattern(image, BYTES[v]!),
    read: () => Object.keys(BYTES).find((v) => hasPattern(image, BYTES[v]!)) ?? "neither pattern",
  },
  failing: { server: () => ({ name: "vm-gone", config: qemu({ image: join(image, "..", "no-such.qcow2") }) }) },
  hanging: {
    server: (timeout) => ({ name: "vm-hung", config: qemu({ timeout }) }),
    marker: () => hangBin,
    ...pathSwitch(() => hangBin),
  },
  // A stopped VM has no running state: features.stateful is false in image mode.
  lacks: ["copy", "clone", "stateful"],
});
