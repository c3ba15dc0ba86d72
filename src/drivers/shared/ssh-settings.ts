import { statSync } from "node:fs";
import { resolve } from "node:path";
import { z } from "zod";
import type { SettingProblem } from "../../config/setting-problem.ts";
import { isUserError } from "../../errors.ts";
import { parseSshTarget } from "../../transport/ssh-target.ts";

// The settings of any driver whose commands may run on another machine (withSsh): one zod fragment for a
// driver's schema (`...sshSettingsFields`), and the rules beyond the shape, which the config loader,
// register and the ssh layer at first use all call (through setting-rules.ts), so they say it in one way.

export const sshSettingsFields = {
  /** "local", or ssh://user@host[:port]. */
  host: z.string().default("local"),
  /** The private key file snapbot logs in with (an ssh:// host needs one: never a password). */
  ssh_key: z.string().optional(),
  /** Where the server's /etc/ssh lives for hostkeys regen (ssh-keygen -A -f <root>): "/" on a real server. */
  hostkey_root: z.string().startsWith("/").optional(),
};

/** The fragment's settings after validation (host defaulted to "local"). */
export interface SshSettings {
  host: string;
  ssh_key?: string;
  hostkey_root?: string;
}

const problem = (code: string, key: string, why: string): SettingProblem => ({ code, key, why });
export const isSshHost = (host: string | undefined) => host !== undefined && host !== "local";

/** `host` is "local" or an ssh:// address snapbot can log in to. */
export function hostProblem(host: string): SettingProblem | null {
  if (!isSshHost(host)) return null;
  try {
    parseSshTarget(host);
    return null;
  } catch (e) {
    if (!isUserError(e)) throw e;
    return problem("invalid_ssh_target", "host", `${e.message.replace(/\.$/, "")} (or host: local for this machine)`);
  }
}

/** An ssh:// host needs ssh_key: snapbot logs in with a key file, never a password. */
export function sshKeyRequiredProblem(host: string, sshKey: string | undefined): SettingProblem | null {
  if (!isSshHost(host) || sshKey) return null;
  return problem("ssh_key_missing", "ssh_key", `${host} is reached over SSH but has no ssh_key: set ssh_key to the private key file snapbot logs in with`);
}

/** The ssh_key file exists on this machine (relative paths from snapbot's working folder, as ssh -i takes them). */
export function sshKeyFileProblem(sshKey: string | undefined): SettingProblem | null {
  if (!sshKey) return null;
  const file = resolve(sshKey);
  if (statSync(file, { throwIfNoEntry: false })?.isFile()) return null;
  return problem("ssh_key_missing", "ssh_key", `the key file ${file} does not exist on this machine: set ssh_key to the private key file snapbot logs in with`);
}

/** Every ssh rule for these settings, in order: a valid host, a key for an ssh:// one, and that file exists. */
export function sshSettingsProblems(s: { host: string; ssh_key?: string }): SettingProblem[] {
  const found = [hostProblem(s.host), sshKeyRequiredProblem(s.host, s.ssh_key), isSshHost(s.host) ? sshKeyFileProblem(s.ssh_key) : null];
  return found.filter((p): p is SettingProblem => p !== null);
}

/**
 * The same rules as zod issues, for a driver schema's `.superRefine(refineSshSettings)`: the loader reports
 * an issue as `servers.<name>.<key>: <why>`, the words settingProblems gives (whichever runs first).
 */
export function refineSshSettings(s: { host: string; ssh_key?: string }, ctx: z.RefinementCtx): void {
  for (const p of [hostProblem(s.host), sshKeyRequiredProblem(s.host, s.ssh_key)])
    if (p) ctx.addIssue({ code: "custom", path: [p.key], message: p.why });
}

/** "on ssh://root@files-1:22" for a server on another machine; "" on this one (for `servers`). */
export function whereText(s: { host?: string }): string {
  return isSshHost(s.host) ? `on ${s.host}` : "";
}
