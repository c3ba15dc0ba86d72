import { readFileSync, statSync } from "node:fs";
import { Decrypter, Encrypter } from "age-encryption";
import { UserError } from "../../errors.ts";

// The keys of storage.encryption: X25519 recipients (age1…, public, in the config) and the identity file
// (AGE-SECRET-KEY-1…, secret, as age-keygen writes it). Checked at start-up and again when used, by one
// function each, so both refuse in the same words. No message ever quotes an identity file's content: a
// mistyped secret key is still mostly the secret key.

/** age1 + 58 bech32 characters: an X25519 recipient (post-quantum and plugin recipients are longer). */
const X25519_RECIPIENT = /^age1[02-9ac-hj-np-z]{58}$/;
const X25519_IDENTITY = /^AGE-SECRET-KEY-1[02-9AC-HJ-NP-Z]{58}$/;

/** Why this is not an X25519 recipient, or null when it is one (the library parses it, checksum and all). */
export function recipientProblem(recipient: string): string | null {
  const hint = "age1 followed by 58 letters and digits, as age-keygen prints it (age-keygen -y <identity file>)";
  if (!X25519_RECIPIENT.test(recipient)) return `${JSON.stringify(clip(recipient))} is not an age X25519 recipient: expected ${hint}`;
  try {
    new Encrypter().addRecipient(recipient);
    return null;
  } catch {
    return `${JSON.stringify(clip(recipient))} is not a valid age recipient (its checksum does not match): copy it again from age-keygen -y`;
  }
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
    if (!X25519_IDENTITY.test(line) || !parses(line))
      throw refuse(key, `${path} line ${i + 1} is not an age X25519 identity (AGE-SECRET-KEY-1…): it must be a file age-keygen wrote`);
    found.push(line);
  }
  if (found.length === 0) throw refuse(key, `${path} holds no age identity (AGE-SECRET-KEY-1…): write one with age-keygen -o ${path}`);
  return found;
}

function parses(identity: string): boolean {
  try {
    new Decrypter().addIdentity(identity);
    return true;
  } catch {
    return false; // its message may quote the key
  }
}

function refuse(key: string, why: string): UserError {
  return new UserError("bad_identity_file", `${key}: ${why}`);
}

function clip(s: string): string {
  return s.length > 80 ? `${s.slice(0, 80)}…` : s;
}
