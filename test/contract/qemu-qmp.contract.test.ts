import { join } from "node:path";
import { driverContract } from "./driver-contract.ts";
import { hangingTool, pathSwitch } from "../helpers/fake-tool.ts";
import { makeImage, startVm, type QemuVm } from "../helpers/qemu-vm.ts";

// The contract against driver: qemu, qmp: — a real running QEMU (no guest OS) and its QMP socket. Content is a
// qemu-io pattern written into the running disk through HMP. A hang is a `qemu-img` earlier on PATH that sleeps
// on `info` (create reads the snapshot table with qemu-img info -U before snapshot-save): a child process the
// runner must kill. A silent QMP socket would hang inside snapbot's own process, with no child for `ps` to see.
let vm: QemuVm | undefined;
let hangBin = "";
const BYTES: Record<string, number> = { "contract-A": 0xaa, "contract-B": 0xbb };
const qemu = (over: Record<string, unknown> = {}) => ({ driver: "qemu", qmp: vm!.socket, ...over });

driverContract({
  kind: "qemu",
  title: "qemu (running VM, QMP)",
  async setup(dir) {
    vm = await startVm(dir, makeImage(dir)); // throws when QEMU is missing: never a skip
    hangBin = join(dir, "hang-bin");
    hangingTool(hangBin, "qemu-img", "info*");
  },
  teardown: () => vm?.stop(),
  server: () => ({ name: "vm-qmp", config: qemu() }),
  content: {
    write: (v) => vm!.writePattern(BYTES[v]!),
    read: async () => {
      for (const [v, byte] of Object.entries(BYTES)) if (await vm!.hasPattern(byte)) return v;
      return "neither pattern";
    },
  },
  failing: { server: () => ({ name: "vm-gone", config: qemu({ qmp: join(vm!.socket, "..", "no-such.sock") }) }) },
  hanging: {
    server: (timeout) => ({ name: "vm-hung", config: qemu({ timeout }) }),
    marker: () => hangBin,
    ...pathSwitch(() => hangBin),
  },
  lacks: ["copy", "clone"],
});
