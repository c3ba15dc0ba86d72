import { z } from "zod";
import { commonSettingsFields } from "../shared/common-settings.ts";
import { sshSettingsFields } from "../shared/ssh-settings.ts";

// The settings of `driver: qemu` (DESIGN.md §3), owned by the driver's folder and composed into the config
// schema by the platform. A VM is reached one way: its qcow2 file while it is stopped (`image:`), the QMP
// socket of the running QEMU (`qmp:`), or a libvirt domain (`domain:`, `connect:`).

const absolute = (what: string) => z.string().startsWith("/", `an absolute path to ${what}`);

export const QEMU_MODES = ["image", "qmp", "domain"] as const;
export type QemuMode = (typeof QEMU_MODES)[number];

const ONE_MODE =
  "exactly one of image (the qcow2 file of a stopped VM), qmp (the QMP socket of a running QEMU) or domain (a libvirt domain)";

export const qemuSettingsSchema = z
  .object({
    driver: z.literal("qemu"),
    image: absolute("the VM's qcow2 file, e.g. /var/lib/vms/db.qcow2").optional(),
    qmp: absolute("the QMP socket of the running QEMU, e.g. /run/vm-app.qmp").optional(),
    domain: z.string().min(1).optional(),
    connect: z.string().min(1).optional(),
    ...sshSettingsFields,
    ...commonSettingsFields,
  })
  .strict()
  .superRefine((s, ctx) => {
    const given = QEMU_MODES.filter((m) => s[m] !== undefined);
    // Named at image when none is given, so the line points at a key to write (register: "image: exactly one of…").
    if (given.length !== 1) ctx.addIssue({ code: "custom", path: [given[1] ?? "image"], message: ONE_MODE });
    if (s.connect !== undefined && s.domain === undefined)
      ctx.addIssue({ code: "custom", path: ["connect"], message: "connect is the libvirt URI of a domain: set domain too, or remove connect" });
  });

export type QemuSettings = z.infer<typeof qemuSettingsSchema>;

/** Which of the three ways the settings name. */
export function qemuMode(s: QemuSettings): QemuMode {
  return s.image !== undefined ? "image" : s.qmp !== undefined ? "qmp" : "domain";
}

/** The libvirt URI of a `domain:` server (a default, not a schema default, so image and qmp servers carry none). */
export function qemuConnect(s: QemuSettings): string {
  return s.connect ?? "qemu:///system";
}
