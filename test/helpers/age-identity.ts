import { createHash } from "node:crypto";
import { execFileSync } from "node:child_process";
import { readFileSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { generateX25519Identity, identityToRecipient } from "age-encryption";

// Real age keys for the encryption tests, and the one way to alter a stored snapshot "behind snapbot's back"
// that plain verify cannot see: a ciphertext byte changed and every hash in the manifest rewritten to match.

export interface AgeKey {
  identity: string; // AGE-SECRET-KEY-1…: never expected in any log, ledger or chat message
  recipient: string; // age1…
  file: string; // the identity file, 0600, as age-keygen writes it
}

/** A fresh X25519 key pair, its identity written to `<dir>/<name>.key` in age-keygen's format. */
export async function ageKey(dir: string, name: string, mode = 0o600): Promise<AgeKey> {
  const identity = await generateX25519Identity();
  const recipient = await identityToRecipient(identity);
  const file = join(dir, `${name}.key`);
  writeFileSync(file, `# created: 2026-01-01T00:00:00Z\n# public key: ${recipient}\n${identity}\n`, { mode });
  return { identity, recipient, file };
}

/** Flips one byte of a part and rewrites the part's and the whole stream's hashes in manifest.json and README.txt. */
export function alterAndRehash(folder: string, part: number, offset: number): void {
  const file = join(folder, ".parts", `part-${String(part).padStart(6, "0")}`);
  const bytes = readFileSync(file);
  bytes[offset]! ^= 0x5a;
  writeFileSync(file, bytes);
  const manifestFile = join(folder, "manifest.json");
  const m = JSON.parse(readFileSync(manifestFile, "utf8")) as {
    parts: Array<{ file: string; sha256: string }>;
    total: { sha256: string; md5?: string };
  };
  const whole = createHash("sha256");
  const md5 = createHash("md5");
  let readme = readFileSync(join(folder, "README.txt"), "utf8");
  for (const p of m.parts) {
    const data = readFileSync(join(folder, p.file));
    const sum = createHash("sha256").update(data).digest("hex");
    readme = readme.replace(p.sha256, sum);
    p.sha256 = sum;
    whole.update(data);
    md5.update(data);
  }
  const total = whole.digest("hex");
  readme = readme.replace(m.total.sha256, total);
  m.total.sha256 = total;
  if (m.total.md5) {
    const sum = md5.digest("hex");
    readme = readme.replace(m.total.md5, sum);
    m.total.md5 = sum;
  }
  writeFileSync(manifestFile, `${JSON.stringify(m, null, 2)}\n`);
  writeFileSync(join(folder, "README.txt"), readme);
}

/** Every file under `dir` (recursively) whose bytes contain `needle`. */
export function filesContaining(dir: string, needle: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (!e.isFile()) continue;
    const path = join(e.parentPath, e.name);
    if (readFileSync(path).includes(needle)) out.push(path);
  }
  return out;
}

/** `age -d -i <file>` of the snapshot's parts, concatenated in name order (what README.txt tells a human to do). */
export function ageDecryptParts(folder: string, identityFile: string): Buffer {
  const parts = readdirSync(join(folder, ".parts")).sort().map((p) => join(folder, ".parts", p));
  return execFileSync("bash", ["-c", 'set -o pipefail; cat "${@:2}" | age -d -i "$1"', "_", identityFile, ...parts], { maxBuffer: 1 << 30 });
}
