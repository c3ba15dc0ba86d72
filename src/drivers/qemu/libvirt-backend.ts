import { UserError } from "../../errors.ts";
import type { Runner } from "../../transport/runner.ts";
import type { QemuBackend } from "./qemu-backend.ts";

// PLACEHOLDER on branch h4 only, so qemu-module.ts compiles here: helper H5 writes the real libvirt backend
// (branch h5, same exported signature). At merge, take h5's version of this file.

export interface LibvirtSettings {
  domain: string;
  connect: string;
}

export function createLibvirtBackend(settings: LibvirtSettings, _runner: Runner): QemuBackend {
  const missing = async (): Promise<never> => {
    throw new UserError("not_available", `domain ${settings.domain}: the libvirt mode is not in this build yet; use image: or qmp:`);
  };
  return { describe: `domain ${settings.domain} (${settings.connect})`, probe: missing, list: missing, create: missing, apply: missing, remove: missing, check: missing, imageFile: missing };
}
