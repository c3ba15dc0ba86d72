import { z } from "zod";
import { durationMs, parseDuration } from "../../duration.ts";

// The settings of `driver: qemu` (DESIGN.md §3), owned by the driver's folder and composed into the config
// schema by the platform. A VM is reached one way: its qcow2 file while it is stopped (`image:`), the QMP
// socket of the running QEMU (`qmp:`), or a libvirt domain (`domain:`, `connect:`).

// The common keys, with the wording and checks of the other drivers' schemas (src/config/schema.ts).
const TIMEOUT = "a duration like 30M, 2H, 3d or 4w (M minutes, H hours, d days, w weeks), or a number of seconds";
const timeout = z.union([z.number(), z.string()], `expected ${TIMEOUT}`).superRefine((v, ctx) => {
  if (typeof v === "number" ? v > 0 : fixedDuration(v)) return;
  ctx.addIssue({ code: "custom", message: `expected ${TIMEOUT}, got ${JSON.stringify(v)}` });
});
function fixedDuration(text: string): boolean {
  try {
    durationMs(parseDuration(text));
    return true;
  } catch {
    return false;
  }
}
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
    host: z.string().default("local"),
    ssh_key: z.string().optional(),
    /** Where the host's /etc/ssh lives for hostkeys regen: "/" on a real server, a folder in tests. */
    hostkey_root: z.string().startsWith("/").optional(),
    channel: z.string().min(1).optional(),
    limit: z.number().int().positive().default(50),
    timeout: timeout.optional(),
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
