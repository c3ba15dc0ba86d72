import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { z } from "zod";
import { describe, expect, it } from "vitest";
import { settingProblems } from "../../../src/config/setting-rules.ts";
import type { ServerSettings } from "../../../src/config/schema.ts";
import { refineSshSettings, sshSettingsFields, sshSettingsProblems } from "../../../src/drivers/shared/ssh-settings.ts";
import { tempDir } from "../../helpers/temp-dir.ts";

// The ssh settings fragment a driver's schema spreads in (host, ssh_key, hostkey_root), and its rules: the
// same words whether a driver's schema refines with them or the loader/register call settingProblems.
const dir = tempDir("snapbot-ssh-settings-");
const demo = z.object({ driver: z.literal("demo"), ...sshSettingsFields }).strict().superRefine(refineSshSettings);

describe("ssh settings of any driver", () => {
  it("defaults to this machine, and keeps hostkey_root absolute", () => {
    expect(demo.parse({ driver: "demo" })).toEqual({ driver: "demo", host: "local" });
    expect(demo.safeParse({ driver: "demo", hostkey_root: "etc" }).success).toBe(false);
  });

  it("an ssh:// host without ssh_key: the same line from the schema and from settingProblems", () => {
    const why = "ssh://root@10.0.0.7 is reached over SSH but has no ssh_key: set ssh_key to the private key file snapbot logs in with";
    const parsed = demo.safeParse({ driver: "demo", host: "ssh://root@10.0.0.7" });
    expect(parsed.success ? [] : parsed.error.issues.map((i) => [i.path.join("."), i.message])).toEqual([["ssh_key", why]]);
    expect(sshSettingsProblems({ host: "ssh://root@10.0.0.7" })).toEqual([{ code: "ssh_key_missing", key: "ssh_key", why }]);
    // settingProblems applies the same rules to any server settings with a host (qemu here, not only archive).
    const qemu = { driver: "qemu", image: "/vm.qcow2", host: "ssh://root@10.0.0.7", limit: 50 } as ServerSettings;
    expect(settingProblems(qemu).map((p) => p.code)).toEqual(["ssh_key_missing"]);
  });

  it("a bad host, and a key file that is not there, each named", () => {
    expect(sshSettingsProblems({ host: "ftp://x", ssh_key: "/k" }).map((p) => p.code)).toContain("invalid_ssh_target");
    const nope = join(dir, "nope");
    const missing = `the key file ${nope} does not exist on this machine: set ssh_key to the private key file snapbot logs in with`;
    expect(sshSettingsProblems({ host: "ssh://root@h", ssh_key: nope })).toEqual([
      { code: "ssh_key_missing", key: "ssh_key", why: missing },
    ]);
    writeFileSync(join(dir, "key"), "k", { mode: 0o600 });
    expect(sshSettingsProblems({ host: "ssh://root@h", ssh_key: join(dir, "key") })).toEqual([]);
    expect(sshSettingsProblems({ host: "local" })).toEqual([]);
  });
});
