import { join } from "node:path";
import { driverContract } from "./driver-contract.ts";
import { hangingTool, pathSwitch } from "../helpers/fake-tool.ts";
import { defineDomain, type LibvirtDomain } from "../helpers/libvirt-env.ts";

// The contract against driver: qemu, domain: — a real libvirtd and a running domain (no guest OS). Content is a
// qemu-io pattern written into the running disk through the monitor. A hang is a `virsh` earlier on PATH that
// sleeps on snapshot-create-as and passes the rest on to the real one.
let dom: LibvirtDomain | undefined;
let hangBin = "";
const BYTES: Record<string, number> = { "contract-A": 0xaa, "contract-B": 0xbb };
const qemu = (over: Record<string, unknown> = {}) => ({ driver: "qemu", domain: dom!.name, connect: dom!.connect, ...over });

driverContract({
  kind: "qemu",
  title: "qemu (libvirt domain, virsh)",
  async setup(dir) {
    dom = await defineDomain("contract"); // throws when libvirt is missing: never a skip
    hangBin = join(dir, "hang-bin");
    hangingTool(hangBin, "virsh", "*snapshot-create-as*");
  },
  teardown: () => dom?.remove(),
  server: () => ({ name: "vm-virt", config: qemu() }),
  content: {
    write: (v) => dom!.writePattern(BYTES[v]!),
    read: async () => {
      for (const [v, byte] of Object.entries(BYTES)) if (await dom!.hasPattern(byte)) return v;
      return "neither pattern";
    },
  },
  failing: { server: () => ({ name: "vm-ghost", config: qemu({ domain: "snapbot-no-such-domain" }) }) },
  hanging: {
    server: (timeout) => ({ name: "vm-hung", config: qemu({ timeout }) }),
    marker: () => hangBin,
    ...pathSwitch(() => hangBin),
  },
  lacks: ["copy", "clone"],
});
