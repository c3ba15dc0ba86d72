import { createHash } from "node:crypto";
import type { DriverContext, HostKey } from "../driver.ts";
import { BackendError, UserError } from "../../errors.ts";
import type { LxcClient } from "./lxc-client.ts";
import { getInstance } from "./lxd-api.ts";
import { apiPath, seg, type InstanceRef } from "./lxd-settings.ts";

// The SSH host keys an instance presents, read through LXD's file API (works on stopped instances too),
// with fingerprints computed here exactly as `ssh-keygen -l` prints them.

const PUB_FILE = /^ssh_host_[a-z0-9]+_key\.pub$/;
// OpenSSH's own preference, so the key a client most likely sees comes first in replies.
const ORDER = ["ssh-ed25519", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521", "ssh-rsa"];
const rank = (k: HostKey) => (ORDER.includes(k.type) ? ORDER.indexOf(k.type) : ORDER.length);

// A constant: no user text ever reaches the shell. Keys are only removed once ssh-keygen is known to be
// there to make new ones; sshd is restarted by whichever service manager runs it, if any does.
export const REGEN_SCRIPT = `set -e
command -v ssh-keygen >/dev/null 2>&1 || { echo "ssh-keygen is not installed in this instance" >&2; exit 127; }
mkdir -p /etc/ssh
rm -f /etc/ssh/ssh_host_*key*
ssh-keygen -A >&2
restarted=none
if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
  for u in ssh sshd; do
    if systemctl is-active --quiet "$u"; then systemctl restart "$u"; restarted="systemctl $u"; fi
  done
elif command -v rc-service >/dev/null 2>&1; then
  if rc-service sshd status >/dev/null 2>&1; then rc-service sshd restart >&2; restarted="rc-service sshd"; fi
elif command -v service >/dev/null 2>&1; then
  for u in ssh sshd; do
    if service "$u" status >/dev/null 2>&1; then service "$u" restart >&2; restarted="service $u"; fi
  done
fi
echo "sshd restarted: $restarted"
`;

export async function readHostKeys(lxc: LxcClient, at: InstanceRef, ctx: DriverContext): Promise<HostKey[]> {
  const call = { what: `read the SSH host keys of ${at.ref}`, signal: ctx.signal };
  const listing = await lxc.find<unknown>(apiPath(at.remote, `/1.0/instances/${seg(at.instance)}/files?path=/etc/ssh`), call, "not_found");
  const files = Array.isArray(listing) ? listing.filter((f): f is string => typeof f === "string" && PUB_FILE.test(f)).sort() : [];
  const keys: HostKey[] = [];
  for (const file of files) {
    const text = await lxc.run(["file", "pull", `${at.ref}/etc/ssh/${file}`, "-"], call);
    const key = parsePublicKey(text);
    if (key) keys.push(key);
    else ctx.log.warn({ file }, "not an SSH public key; ignored");
  }
  return keys.sort((a, b) => rank(a) - rank(b) || a.type.localeCompare(b.type));
}

export async function regenerateHostKeys(lxc: LxcClient, at: InstanceRef, ctx: DriverContext): Promise<HostKey[]> {
  const what = `regenerate the SSH host keys of ${at.ref}`;
  const instance = await getInstance(lxc, at.remote, at.instance, { what, signal: ctx.signal });
  if (instance.status !== "Running")
    throw new UserError("instance_stopped", `${at.ref} is ${instance.status.toLowerCase()}: start it (lxc start ${at.ref}) to regenerate its host keys`);
  ctx.progress({ stage: "regenerating host keys" });
  const out = await lxc.run(["exec", at.ref, "--", "sh", "-c", REGEN_SCRIPT], { what, signal: ctx.signal });
  ctx.log.info({ instance: at.ref, result: out.trim() }, "host keys regenerated");
  const keys = await readHostKeys(lxc, at, ctx);
  if (!keys.length) throw new BackendError("hostkeys_missing", `${what}: ssh-keygen -A ran but ${at.ref} has no /etc/ssh/ssh_host_*_key.pub`);
  return keys;
}

/** A `.pub` line → its type and SHA256 fingerprint; undefined when the blob does not match its type. */
export function parsePublicKey(text: string): HostKey | undefined {
  const line = text.split("\n").map((l) => l.trim()).find((l) => l && !l.startsWith("#"));
  const [type, b64] = line?.split(/\s+/) ?? [];
  if (!type || !b64 || !/^[A-Za-z0-9+/]+={0,2}$/.test(b64)) return undefined;
  const blob = Buffer.from(b64, "base64");
  if (blob.length < 4) return undefined;
  const len = blob.readUInt32BE(0);
  if (4 + len > blob.length || blob.subarray(4, 4 + len).toString("latin1") !== type) return undefined;
  return { type, fingerprint: fingerprintOf(blob), publicKey: line! };
}

/** OpenSSH's "SHA256:<base64 without padding>" of the key blob. */
export function fingerprintOf(blob: Buffer): string {
  return `SHA256:${createHash("sha256").update(blob).digest("base64").replace(/=+$/, "")}`;
}
