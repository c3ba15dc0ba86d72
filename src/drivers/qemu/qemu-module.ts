import type { DriverDeps, DriverModule, DriverServer, SnapshotDriver } from "../driver.ts";
import { withSsh } from "../shared/with-ssh.ts";
import { whereText } from "../shared/ssh-settings.ts";
import { createImageBackend } from "./image-backend.ts";
import { createLibvirtBackend } from "./libvirt-backend.ts";
import type { QemuBackend } from "./qemu-backend.ts";
import { createQemuDriver, QEMU_FEATURES } from "./qemu-driver.ts";
import { qemuConnect, qemuMode, qemuSettingsSchema, type QemuSettings } from "./qemu-settings.ts";
import { createQmpBackend } from "./qmp-backend.ts";
import { socatLink, socketLink } from "./qmp-link.ts";

// driver: qemu as the platform knows it (DESIGN.md §1a): its settings, features and factory. Over
// `host: ssh://…` every mode runs on the hypervisor host through the shared SSH layer: qemu-img and virsh
// through the ssh runner, QMP through `socat` there.

// Every method that runs a command on the VM's host: the host key is recorded before the first of them.
const TALKS = ["create", "delete", "restore", "verify", "leftover", "listBackend", "export", "probe"] as const;

export const qemuDriver: DriverModule<QemuSettings> = {
  kind: "qemu",
  summary: "KVM/QEMU VMs: internal qcow2 snapshots (a stopped VM's image, a running QEMU's QMP socket, or a libvirt domain)",
  settings: qemuSettingsSchema,
  describe: (s) => [s.image ?? (s.qmp ? `qmp ${s.qmp}` : `domain ${s.domain}`), whereText(s)].filter(Boolean).join(" "),
  features: { ...QEMU_FEATURES, exportFormats: [...QEMU_FEATURES.exportFormats] },
  create: (server, deps) => withSsh(server.name, server.settings, deps, (d) => buildDriver(server, d), TALKS),
};

function buildDriver(server: DriverServer<QemuSettings>, deps: DriverDeps): SnapshotDriver {
  const s = server.settings;
  const mode = qemuMode(s);
  const remote = s.host !== "local";
  const backend = buildBackend(server.name, s, deps, remote);
  return createQemuDriver(backend, {
    server: server.name,
    mode,
    log: deps.log,
    export: { storageDir: deps.storageDir, runner: deps.runner, remote, shared: mode !== "image" },
  });
}

function buildBackend(name: string, s: QemuSettings, deps: DriverDeps, remote: boolean): QemuBackend {
  if (s.image !== undefined) return createImageBackend(name, s.image, deps.runner, { local: !remote });
  if (s.qmp !== undefined) {
    const socket = s.qmp;
    const link = (signal: AbortSignal) => (remote ? socatLink(socket, deps.runner, signal) : socketLink(socket));
    return createQmpBackend(name, socket, deps.runner, link, { local: !remote });
  }
  return createLibvirtBackend({ domain: s.domain!, connect: qemuConnect(s) }, deps.runner);
}
