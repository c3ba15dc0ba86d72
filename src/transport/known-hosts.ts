import { appendFile, mkdir, mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { BackendError } from "../errors.ts";
import type { Runner } from "./runner.ts";
import type { SshTarget } from "./ssh-target.ts";

// snapbot keeps its own known_hosts file (never ~/.ssh/known_hosts). A server's key is recorded once, at
// registration (trust on first use, from `ssh-keyscan`); from then on ssh runs with StrictHostKeyChecking=yes,
// and only an explicit replace (an admin accepting a new key, or snapbot regenerating it) changes the entry.
// The runner passed in is the LOCAL one: ssh-keyscan and ssh-keygen run on snapbot's machine.

export interface HostKeyFingerprint {
  /** ED25519, ECDSA, RSA… */
  type: string;
  /** `SHA256:…`, as ssh prints it. */
  fingerprint: string;
  bits: number;
}

const KEY_TYPES = "ed25519,ecdsa,rsa";

/** The server's current host keys, as known_hosts lines filed under the target's known_hosts name. */
export async function scanHostKeys(runner: Runner, target: SshTarget, timeoutS = 5): Promise<string[]> {
  const r = await runner.run("ssh-keyscan", ["-p", String(target.port), "-T", String(timeoutS), "-t", KEY_TYPES, "--", target.host], {
    timeoutMs: (timeoutS + 5) * 1000,
  }).catch((e: unknown) => {
    // ssh-keyscan exits 1 when it got nothing, even for a reachable port.
    if (e instanceof BackendError && e.code === "command_failed") return { stdout: "", stderr: e.stderrTail, exitCode: 1 };
    throw e;
  });
  const lines = keyLines(r.stdout);
  if (lines.length === 0)
    throw new BackendError("ssh_unreachable", `no SSH host key could be read from ${target.url} (is sshd listening there?)`, { stderrTail: r.stderr.trim() });
  return lines;
}

/** Fingerprints (`ssh-keygen -lf`) of known_hosts or public-key lines. */
export async function fingerprints(runner: Runner, lines: string[]): Promise<HostKeyFingerprint[]> {
  if (lines.length === 0) return [];
  const dir = await mkdtemp(join(tmpdir(), "snapbot-keys-"));
  try {
    const file = join(dir, "keys");
    await writeFile(file, `${lines.join("\n")}\n`, { mode: 0o600 });
    const r = await runner.run("ssh-keygen", ["-l", "-f", file]);
    return r.stdout
      .split("\n")
      .map((l) => /^(\d+) (SHA256:\S+) .*\((\S+)\)\s*$/.exec(l))
      .filter((m): m is RegExpExecArray => m !== null)
      .map((m) => ({ bits: Number(m[1]), fingerprint: m[2]!, type: m[3]! }));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** The lines recorded for the target in snapbot's known_hosts (none if the file does not exist). */
export async function recordedHostKeys(runner: Runner, knownHostsFile: string, target: SshTarget): Promise<string[]> {
  if (!(await exists(knownHostsFile))) return [];
  const r = await runner.run("ssh-keygen", ["-F", target.knownHostsName, "-f", knownHostsFile]).catch((e: unknown) => {
    if (e instanceof BackendError && e.code === "command_failed") return { stdout: "" }; // exit 1: not found
    throw e;
  });
  return keyLines(r.stdout);
}

export interface TrustResult {
  /** false when a key was already recorded: first use is over, nothing was changed. */
  added: boolean;
  fingerprints: HostKeyFingerprint[];
}

/** Trust on first use: record the server's keys if none are recorded yet; never overwrite. */
export async function trustOnFirstUse(runner: Runner, knownHostsFile: string, target: SshTarget): Promise<TrustResult> {
  const recorded = await recordedHostKeys(runner, knownHostsFile, target);
  if (recorded.length > 0) return { added: false, fingerprints: await fingerprints(runner, recorded) };
  const scanned = await scanHostKeys(runner, target);
  await append(knownHostsFile, scanned);
  return { added: true, fingerprints: await fingerprints(runner, scanned) };
}

/**
 * Replace the target's entry (`ssh-keygen -R`, then add): an admin accepted a changed key, or snapbot
 * regenerated it. `lines` are the new keys; scanned from the server when not given.
 */
export async function replaceHostKeys(runner: Runner, knownHostsFile: string, target: SshTarget, lines?: string[]): Promise<HostKeyFingerprint[]> {
  const fresh = lines ?? (await scanHostKeys(runner, target));
  if (await exists(knownHostsFile)) {
    await runner.run("ssh-keygen", ["-R", target.knownHostsName, "-f", knownHostsFile]);
    await rm(`${knownHostsFile}.old`, { force: true }); // ssh-keygen's backup: the ledger is the history
  }
  await append(knownHostsFile, fresh);
  return fingerprints(runner, fresh);
}

function keyLines(text: string): string[] {
  return text
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l !== "" && !l.startsWith("#"));
}

async function append(file: string, lines: string[]): Promise<void> {
  await mkdir(dirname(file), { recursive: true, mode: 0o700 });
  let prefix = "";
  if (await exists(file)) {
    const current = await readFile(file, "utf8");
    if (current !== "" && !current.endsWith("\n")) prefix = "\n";
  }
  await appendFile(file, `${prefix}${lines.join("\n")}\n`, { mode: 0o600 });
}

async function exists(file: string): Promise<boolean> {
  return stat(file).then(
    () => true,
    () => false,
  );
}
