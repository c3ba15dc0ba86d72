import { createHash } from "node:crypto";
import type { HostKey } from "../driver.ts";

// SSH public keys as every driver reports them: parsed from a `.pub` line, with the fingerprint computed
// here exactly as `ssh-keygen -l` prints it, in OpenSSH's preference order.

// OpenSSH's own preference, so the key a client most likely sees comes first in replies.
const ORDER = ["ssh-ed25519", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521", "ssh-rsa"];
const rank = (k: HostKey) => (ORDER.includes(k.type) ? ORDER.indexOf(k.type) : ORDER.length);

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

/** Keys in OpenSSH's preference order (then by type), a new array. */
export function sortHostKeys(keys: HostKey[]): HostKey[] {
  return [...keys].sort((a, b) => rank(a) - rank(b) || a.type.localeCompare(b.type));
}
