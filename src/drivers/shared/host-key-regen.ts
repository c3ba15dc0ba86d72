import type { HostKey } from "../driver.ts";
import { BackendError, UserError } from "../../errors.ts";
import { parsePublicKey, sortHostKeys } from "./public-key.ts";

// The one script that regenerates a machine's SSH host keys, whatever reaches it (`ssh` for a server with
// host: ssh://…, `lxc exec` for an LXD instance), and the one parser of what it prints.
//
// A constant: no user text ever reaches the shell; the only input is "$1", the hostkey_root ("/" on a real
// machine, another folder in tests, where nothing is restarted: that sshd is not the system's service).
// Keys are only removed once ssh-keygen is known to be there to make new ones (otherwise it says so on
// stdout and exits 0, so every transport reports it the same way). sshd is restarted by whichever service
// manager runs it, if any does; a failed restart does not fail the regeneration (the keys are new on disk
// and the next sshd start serves them), it is reported on the "#restarted:" line. Then the new .pub lines.
export const HOST_KEY_REGEN_SCRIPT = `root="\${1:-/}"
command -v ssh-keygen >/dev/null 2>&1 || { echo "#missing: ssh-keygen"; exit 0; }
set -e
dir="\${root%/}/etc/ssh"
mkdir -p "$dir"
rm -f "$dir"/ssh_host_*key*
if [ "$root" = / ]; then ssh-keygen -A >&2; else ssh-keygen -A -f "$root" >&2; fi
restarted="none (no running sshd service found)"
restart() { if "$@" >&2; then restarted="$*"; else restarted="failed ($*)"; fi; }
if [ "$root" != / ]; then
  restarted="no (hostkey_root is not /)"
elif command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
  for u in ssh sshd; do if systemctl is-active --quiet "$u"; then restart systemctl restart "$u"; break; fi; done
elif command -v rc-service >/dev/null 2>&1; then
  if rc-service sshd status >/dev/null 2>&1; then restart rc-service sshd restart; fi
elif command -v service >/dev/null 2>&1; then
  for u in ssh sshd; do if service "$u" status >/dev/null 2>&1; then restart service "$u" restart; break; fi; done
fi
echo "#restarted: $restarted"
for f in "$dir"/ssh_host_*_key.pub; do if [ -e "$f" ]; then cat "$f"; fi; done
`;

/** The arguments of `sh` that run the script (through a Runner, or after `lxc exec <instance> -- sh`). */
export function hostKeyRegenArgs(hostkeyRoot = "/"): string[] {
  return ["-c", HOST_KEY_REGEN_SCRIPT, "sh", hostkeyRoot];
}

export interface RegenOutcome {
  /** The new public keys, in OpenSSH's preference order. */
  keys: HostKey[];
  /** How sshd was restarted: "systemctl restart ssh", "none (…)", "no (hostkey_root is not /)", "failed (…)". */
  restarted: string;
}

/** Who ran the script, for the messages: the server's name and how it reads in a sentence. */
export interface RegenTarget {
  server: string;
  where: string; // "files-2 (ssh://root@10.0.0.7:22)", "web-2"
}

/** What the script printed → the new keys and the restart line, or the one-line reason it did nothing. */
export function parseRegenOutput(stdout: string, t: RegenTarget): RegenOutcome {
  const lines = stdout.split("\n").map((l) => l.trim()).filter(Boolean);
  if (lines.includes("#missing: ssh-keygen"))
    throw new UserError(
      "ssh_keygen_missing",
      `${t.where} has no ssh-keygen, so its host keys were left as they were: install OpenSSH there, then type hostkeys regen ${t.server}`,
    );
  const restarted = lines.find((l) => l.startsWith("#restarted: "))?.slice("#restarted: ".length);
  if (restarted === undefined)
    throw new BackendError("hostkeys_regen_incomplete", `${t.where}: the host-key regeneration stopped before it reported its result`, {
      stderrTail: stdout.slice(-300),
    });
  const keys = lines
    .filter((l) => !l.startsWith("#"))
    .map((l) => parsePublicKey(l))
    .filter((k): k is HostKey => k !== undefined);
  if (keys.length === 0)
    throw new BackendError("hostkeys_missing", `${t.where}: ssh-keygen -A ran but no ssh_host_*_key.pub was found in its /etc/ssh`);
  return { keys: sortHostKeys(keys), restarted };
}
