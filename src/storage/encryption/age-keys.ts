import { readFileSync, statSync } from "node:fs";
import { UserError } from "../../errors.ts";

// The keys of storage.encryption: X25519 recipients (age1…, public, in the config) and the identity file
// (AGE-SECRET-KEY-1…, secret, as age-keygen writes it). Checked at start-up and again when used, by one
// function each, so both refuse in the same words. No message ever quotes an identity file's content: a
// mistyped secret key is still mostly the secret key. The check is the keys' shape and their bech32 checksum
// (BIP 173), here rather than through age-encryption, so the config loads without loading the cipher library
// (it is imported when a snapshot is first encrypted or read); the library parses them again when it uses them.

/** age1 + 58 bech32 characters: an X25519 recipient (post-quantum and plugin recipients are longer). */
const X25519_RECIPIENT = /^age1[02-9ac-hj-np-z]{58}$/;
const X25519_IDENTITY = /^AGE-SECRET-KEY-1[02-9AC-HJ-NP-Z]{58}$/;

/** Why this is not an X25519 recipient, or null when it is one (the library parses it, checksum and all). */
export function recipientProblem(recipient: string): string | null {
  const hint = "age1 followed by 58 letters and digits, as age-keygen prints it (age-keygen -y <identity file>)";
  if (!X25519_RECIPIENT.test(recipient)) return `${JSON.stringify(clip(recipient))} is not an age X25519 recipient: expected ${hint}`;
  if (!bech32Checks(recipient))
    return `${JSON.stringify(clip(recipient))} is not a valid age recipient (its checksum does not match): copy it again from age-keygen -y`;
  return null;
}

/**
 * The identities in an age identity file (one per line; # comments and blank lines allowed). Refuses, with a
 * UserError naming the file and what to do, one that is missing, unreadable, readable by group or others
 * (as ssh refuses a private key), or that holds anything but X25519 identities.
 */
export function readIdentityFile(path: string, key = "storage.encryption.identity_file"): string[] {
  let text: string;
  try {
    const st = statSync(path);
    if (!st.isFile()) throw refuse(key, `${path} is not a file: point it at the age identity file (age-keygen -o ${path})`);
    const mode = (st.mode & 0o777).toString(8).padStart(4, "0");
    if ((st.mode & 0o077) !== 0) throw refuse(key, `${path} is readable by others (mode ${mode}): it must be 0600 (chmod 600 ${path})`);
    text = readFileSync(path, "utf8");
  } catch (e) {
    if (e instanceof UserError) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "ENOENT") throw refuse(key, `${path} does not exist: create it with age-keygen -o ${path} (then chmod 600 it), or fix the path`);
    if (code === "EACCES") throw refuse(key, `${path} cannot be read by snapbot's user (permission denied): chown it to that user, mode 0600`);
    throw refuse(key, `${path} cannot be read (${code ?? "error"}): check the file`);
  }
  return identitiesIn(text, path, key);
}

/** The same checks, as one line for the config loader (null: the file is fine). */
export function identityFileProblem(path: string, key?: string): string | null {
  try {
    readIdentityFile(path, key);
    return null;
  } catch (e) {
    if (e instanceof UserError) return e.message;
    throw e;
  }
}

function identitiesIn(text: string, path: string, key: string): string[] {
  const found: string[] = [];
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (line === "" || line.startsWith("#")) continue;
    if (!X25519_IDENTITY.test(line) || !bech32Checks(line))
      throw refuse(key, `${path} line ${i + 1} is not an age X25519 identity (AGE-SECRET-KEY-1…): it must be a file age-keygen wrote`);
    found.push(line);
  }
  if (found.length === 0) throw refuse(key, `${path} holds no age identity (AGE-SECRET-KEY-1…): write one with age-keygen -o ${path}`);
  return found;
}

const CHARSET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l";
const GENERATOR = [0x3b6a57b2, 0x26508e6d, 0x1ea119fa, 0x3d4233dd, 0x2a1462b3];

/** BIP 173: the human-readable part and the data, through the checksum polynomial, give 1. Catches any typo of up to 4 characters. */
function bech32Checks(key: string): boolean {
  const text = key.toLowerCase();
  const sep = text.lastIndexOf("1");
  const hrp = [...text.slice(0, sep)].map((c) => c.charCodeAt(0));
  const data = [...text.slice(sep + 1)].map((c) => CHARSET.indexOf(c));
  if (sep < 1 || data.includes(-1)) return false;
  let chk = 1;
  for (const v of [...hrp.map((c) => c >> 5), 0, ...hrp.map((c) => c & 31), ...data]) {
    const top = chk >>> 25;
    chk = ((chk & 0x1ffffff) << 5) ^ v;
    for (let i = 0; i < 5; i++) if ((top >>> i) & 1) chk ^= GENERATOR[i]!;
  }
  return chk === 1;
}

function refuse(key: string, why: string): UserError {
  return new UserError("bad_identity_file", `${key}: ${why}`);
}

function clip(s: string): string {
  return s.length > 80 ? `${s.slice(0, 80)}…` : s;
}
