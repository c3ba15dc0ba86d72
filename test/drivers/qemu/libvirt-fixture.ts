import { afterAll, beforeAll, describe, it } from "vitest";
import { defineDomain, libvirtInstalled, type LibvirtDomain } from "../../helpers/libvirt-env.ts";

/**
 * A describe block with a domain started in beforeAll and removed in afterAll. Without libvirt it is skipped
 * with a message on a workstation, and fails under CI=true: CI must prove the libvirt mode.
 */
export function describeLibvirt(title: string, body: (dom: () => LibvirtDomain) => void, label = "t"): void {
  if (!libvirtInstalled()) {
    const hint = "apt-get install -y qemu-system-x86 qemu-utils libvirt-daemon-system libvirt-clients";
    if (process.env.CI === "true") {
      describe(title, () => it("needs libvirt installed", () => {
        throw new Error(`virsh/libvirtd/qemu are not installed: CI must run the libvirt tests (${hint})`);
      }));
    } else {
      console.warn(`skipping "${title}": libvirt is not installed (${hint})`);
      describe.skip(title, () => body(() => undefined as never));
    }
    return;
  }
  describe(title, () => {
    let dom: LibvirtDomain | undefined;
    beforeAll(async () => {
      dom = await defineDomain(label);
    }, 90_000);
    afterAll(() => dom?.remove(), 60_000);
    body(() => dom!);
  });
}
