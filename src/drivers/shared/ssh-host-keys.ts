import type { DriverContext, HostKey } from "../driver.ts";
import { BackendError, UserError } from "../../errors.ts";
import type { Runner } from "../../transport/runner.ts";
import type { SshHost } from "../../transport/ssh-host.ts";
import { recordedHostKeys, replaceHostKeys, scanHostKeys } from "../../transport/known-hosts.ts";
import { parsePublicKey } from "./public-key.ts";
import { hostKeyRegenArgs, parseRegenOutput } from "./host-key-regen.ts";
import { sshEndpoints } from "../../transport/endpoints.ts";

// Host keys of a server reached over SSH (any driver, through withSsh). Reading them is `ssh-keyscan` from
// snapbot's machine; regenerating them runs the one script of host-key-regen.ts over the ssh runner, whose
// StrictHostKeyChecking=yes means it only runs when the server still presents the recorded key. The new
// public keys come back over that same verified connection and replace the known_hosts entry.

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
      const out = await ssh.runner.run("sh", hostKeyRegenArgs(hostkeyRoot), { signal: ctx.signal });
      const { keys, restarted } = parseRegenOutput(out.stdout, { server, where: `${server} (${ssh.target.url})` });
      ctx.log.info({ restarted, keys: keys.map((k) => `${k.type} ${k.fingerprint}`) }, "host keys regenerated");
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
