import { chmod, mkdir, open } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import type { Logger } from "pino";
import { problemError, sshKeyFileProblem, sshKeyRequiredProblem } from "../config/setting-rules.ts";
import { trustOnFirstUse } from "./known-hosts.ts";
import type { Runner } from "./runner.ts";
import { createSshRunner } from "./ssh-runner.ts";
import { parseSshTarget, type SshTarget } from "./ssh-target.ts";

// A server reached over SSH: the ssh Runner for it, plus the one-time host-key step that must happen before
// its first command. snapbot's known_hosts lives beside the storage folder (<storage>/../known_hosts).
// The key is recorded once (trust on first use); after that ssh runs with StrictHostKeyChecking=yes, so a
// changed key fails every command with ssh_hostkey_changed until an admin accepts it.

export interface SshHost {
  target: SshTarget;
  runner: Runner;
  knownHostsFile: string;
  /** Records the host key if none is recorded yet; run before the first command (cheap after the first time). */
  ensureTrusted(): Promise<void>;
}

export interface SshHostOptions {
  server: string;
  host: string;
  sshKey: string | undefined;
  storageDir: string;
  /** The local runner: ssh-keyscan and ssh-keygen run on snapbot's machine. */
  local: Runner;
  log?: Logger;
}

export function knownHostsFileFor(storageDir: string): string {
  return join(dirname(resolve(storageDir)), "known_hosts");
}

export function createSshHost(o: SshHostOptions): SshHost {
  const target = parseSshTarget(o.host);
  const missing = sshKeyRequiredProblem(target.url, o.sshKey);
  if (missing || !o.sshKey) throw problemError(o.server, missing!);
  const keyFile = resolve(o.sshKey);
  const knownHostsFile = knownHostsFileFor(o.storageDir);
  const runner = createSshRunner({ target, keyFile, knownHostsFile, log: o.log });
  let trusted: Promise<void> | null = null;
  return {
    target,
    runner,
    knownHostsFile,
    ensureTrusted() {
      trusted ??= (async () => {
        const noFile = sshKeyFileProblem(keyFile);
        if (noFile) throw problemError(o.server, noFile);
        await ensurePrivateFile(knownHostsFile);
        const r = await trustOnFirstUse(o.local, knownHostsFile, target);
        if (r.added) o.log?.info({ host: target.url, fingerprints: r.fingerprints.map((f) => `${f.type} ${f.fingerprint}`) }, "host key recorded (first use)");
      })().catch((e: unknown) => {
        trusted = null; // an unreachable server is asked again next time
        throw e;
      });
      return trusted;
    },
  };
}

/** known_hosts exists and is 0600 (ssh reads it; nobody else needs to). */
async function ensurePrivateFile(file: string): Promise<void> {
  await mkdir(dirname(file), { recursive: true, mode: 0o700 });
  const fh = await open(file, "a", 0o600);
  await fh.close();
  await chmod(file, 0o600);
}
