import type { DriverContext, HostKey } from "../driver.ts";
import { BackendError, UserError } from "../../errors.ts";
import type { Runner } from "../../transport/runner.ts";
import type { SshHost } from "../../transport/ssh-host.ts";
import { recordedHostKeys, replaceHostKeys, scanHostKeys } from "../../transport/known-hosts.ts";
import { parsePublicKey } from "../lxd/host-keys.ts";
import { sshEndpoints } from "../../transport/endpoints.ts";

// Host keys of an archive server reached over SSH. Reading them is `ssh-keyscan` from snapbot's machine;
// regenerating them runs one fixed script (chosen by the server's /etc/os-release) over the ssh runner,
// whose StrictHostKeyChecking=yes means it only runs when the server still presents the recorded key. The
// new public keys come back over that same verified connection and replace the known_hosts entry.

export type OsFamily = "debian" | "rhel" | "unknown";

// "$1" is hostkey_root: "/" on a real server (where sshd is restarted), another folder in tests (nothing is
// restarted: that sshd is not the system's service). A failed restart does not fail the regeneration.
const PRELUDE = `set -e
command -v ssh-keygen >/dev/null 2>&1 || { echo "ssh-keygen is not installed on this server" >&2; exit 127; }
dir="\${1%/}/etc/ssh"
mkdir -p "$dir"
rm -f "$dir"/ssh_host_*key*
keygen() { if [ "$1" = / ]; then ssh-keygen -A >&2; else ssh-keygen -A -f "$1" >&2; fi; }
restart() { [ "$1" = / ] || { echo "#restarted: no (hostkey_root is not /)"; return 0; }; shift; if sh -c "$*" >/dev/null 2>&1; then echo "#restarted: yes"; else echo "#restarted: failed ($*)"; fi; }
`;
const KEYS = `for f in "$dir"/ssh_host_*_key.pub; do [ -e "$f" ] && cat "$f"; done
`;

export const REGEN_SCRIPTS: Record<OsFamily, string> = {
  debian: `${PRELUDE}keygen "$1"
restart "$1" "systemctl restart ssh || service ssh restart"
${KEYS}`,
  // RHEL/CentOS: sshd-keygen makes the keys when sshd (re)starts; ssh-keygen -A only if it did not.
  rhel: `${PRELUDE}restart "$1" "systemctl restart sshd"
ls "$dir"/ssh_host_*_key.pub >/dev/null 2>&1 || { keygen "$1"; restart "$1" "systemctl restart sshd"; }
${KEYS}`,
  unknown: `${PRELUDE}keygen "$1"
restart "$1" "systemctl restart sshd || systemctl restart ssh || service sshd restart || service ssh restart"
${KEYS}`,
};

export function osFamily(osRelease: string): OsFamily {
  const field = (k: string) => new RegExp(`^${k}=["']?([^"'\\n]*)`, "m").exec(osRelease)?.[1]?.toLowerCase() ?? "";
  const ids = `${field("ID")} ${field("ID_LIKE")}`.split(/\s+/);
  if (ids.some((i) => i === "debian" || i === "ubuntu")) return "debian";
  if (ids.some((i) => ["rhel", "centos", "fedora", "rocky", "almalinux"].includes(i))) return "rhel";
  return "unknown";
}

/** known_hosts lines → host keys (the name field dropped). */
function keysOf(lines: string[]): HostKey[] {
  return lines.map((l) => parsePublicKey(l.split(/\s+/).slice(1).join(" "))).filter((k): k is HostKey => k !== undefined);
}

const blobOf = (k: HostKey) => k.publicKey.split(/\s+/).slice(0, 2).join(" ");

export function sshHostKeys(ssh: SshHost, local: Runner, server: string, hostkeyRoot: string) {
  const lineOf = (k: HostKey) => `${ssh.target.knownHostsName} ${blobOf(k)}`;
  const presented = async () => keysOf(await scanHostKeys(local, ssh.target));
  return {
    /** What the server presents now, unchecked (for the hostkey_changed alert). */
    presented,
    /** The keys the server presents, after checking one of them is the recorded one (recorded on first use). */
    async current(_ctx: DriverContext): Promise<HostKey[]> {
      await ssh.ensureTrusted();
      const keys = await presented();
      const recorded = new Set(keysOf(await recordedHostKeys(local, ssh.knownHostsFile, ssh.target)).map(blobOf));
      if (!keys.some((k) => recorded.has(blobOf(k))))
        throw new BackendError("ssh_hostkey_changed", `${server} (${ssh.target.url}) presented a different host key (${keys.map((k) => `${k.type} ${k.fingerprint}`).join(", ")}) than the one snapbot recorded`);
      return keys;
    },
    async regenerate(ctx: DriverContext): Promise<HostKey[]> {
      if ((await recordedHostKeys(local, ssh.knownHostsFile, ssh.target)).length === 0)
        throw new UserError("hostkey_unknown", `${server} has no host key recorded yet: run hostkeys scan first`);
      ctx.progress({ stage: "regenerating host keys" });
      const osRelease = await ssh.runner.run("cat", ["/etc/os-release"], { signal: ctx.signal }).then(
        (r) => r.stdout,
        () => "",
      );
      const family = osFamily(osRelease);
      const out = await ssh.runner.run("sh", ["-c", REGEN_SCRIPTS[family], "sh", hostkeyRoot], { signal: ctx.signal });
      const lines = out.stdout.split("\n").map((l) => l.trim()).filter(Boolean);
      const keys = lines.filter((l) => !l.startsWith("#")).map((l) => parsePublicKey(l)).filter((k): k is HostKey => k !== undefined);
      ctx.log.info({ family, status: lines.filter((l) => l.startsWith("#")) }, "host keys regenerated");
      if (keys.length === 0) throw new BackendError("hostkeys_missing", `${server}: ssh-keygen ran but no ${hostkeyRoot.replace(/\/$/, "")}/etc/ssh/ssh_host_*_key.pub was found`);
      await replaceHostKeys(local, ssh.knownHostsFile, ssh.target, keys.map(lineOf));
      return keys;
    },
    /** host:port as resolved: another server reached at one of these is this same machine. */
    endpoints: () => sshEndpoints(ssh.target.host, ssh.target.port),
    /** An admin accepted these keys: they replace the known_hosts entry. */
    async accept(keys: HostKey[]): Promise<void> {
      await replaceHostKeys(local, ssh.knownHostsFile, ssh.target, keys.map(lineOf));
    },
  };
}
