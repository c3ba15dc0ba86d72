import { join } from "node:path";
import { driverContract } from "./driver-contract.ts";
import { makeImage, silentSocket, startVm, type QemuVm } from "../helpers/qemu-vm.ts";

// The contract against driver: qemu, qmp: — a real running QEMU (no guest OS) and its QMP socket. Content is a
// qemu-io pattern written into the running disk through HMP. A hang is a QMP socket that accepts and never
// answers: create runs no child process (the snapshot table of a local image is read from its header), so the
// contract counts the socket's open connections: one while hung, none once the timeout or cancel closed it.
let vm: QemuVm | undefined;
let silent: Awaited<ReturnType<typeof silentSocket>> | undefined;
let silentPath = "";
const BYTES: Record<string, number> = { "contract-A": 0xaa, "contract-B": 0xbb };
const qemu = (over: Record<string, unknown> = {}) => ({ driver: "qemu", qmp: vm!.socket, ...over });

driverContract({
  kind: "qemu",
  title: "qemu (running VM, QMP)",
  async setup(dir) {
    vm = await startVm(dir, makeImage(dir)); // throws when QEMU is missing: never a skip
    silentPath = join(dir, "silent.qmp");
    silent = await silentSocket(silentPath);
  },
  teardown: async () => {
    await silent?.close();
    await vm?.stop();
  },
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
    server: (timeout) => ({ name: "vm-hung", config: qemu({ qmp: silentPath, timeout }) }),
    marker: () => silentPath,
    connections: () => silent!.openNow(),
  },
  lacks: ["copy", "clone"],
});
