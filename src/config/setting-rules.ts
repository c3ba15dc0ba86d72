import { existsSync } from "node:fs";
import { isAbsolute } from "node:path";
import type { ServerSettings, SettingProblem } from "./setting-problem.ts";
import { isUserError, UserError } from "../errors.ts";
import { parsePartSize } from "../drivers/archive/part-size.ts";
import { isSshHost, sshSettingsProblems } from "../drivers/shared/ssh-settings.ts";

// The ssh rules (host, ssh_key) live with the shared SSH layer, for every driver with host: ssh://….
export { hostProblem, sshKeyFileProblem, sshKeyRequiredProblem } from "../drivers/shared/ssh-settings.ts";

// The rules a server's settings must pass beyond their shape, one function each. The config loader, the
// register command and the code that uses a setting at create all call the same function, so a setting
// refused at create is refused when the file is loaded or the server registered, in the same words.

export type { SettingProblem } from "./setting-problem.ts";

const problem = (code: string, key: string, why: string): SettingProblem => ({ code, key, why });

/** Archive paths are absolute: tar stores them from /, and a relative one would depend on snapbot's cwd. */
export function absolutePathProblem(key: string, path: string): SettingProblem | null {
  return isAbsolute(path) ? null : problem("path_relative", key, `"${path}" is not an absolute path: write it from /, e.g. /srv/data`);
}

/** On this machine a path must exist; on an ssh:// host that is only known there (checked at create). */
export function localPathProblem(key: string, path: string, host: string): SettingProblem | null {
  if (isSshHost(host) || existsSync(path)) return null;
  return problem("path_missing", key, `"${path}" does not exist on this machine: check ${key}`);
}

/** part_size within the bounds the archive driver writes (part-size.ts). */
export function partSizeProblem(value: string | number | undefined): SettingProblem | null {
  try {
    parsePartSize(value);
    return null;
  } catch (e) {
    if (!isUserError(e)) throw e;
    return problem("bad_part_size", "part_size", e.message.replace(/^part_size /, ""));
  }
}

/**
 * Every rule that applies to these (schema-valid) settings, first problem first: the ssh rules for any driver
 * with a `host`, then the driver module's own (archive: absolute, existing paths; part_size in bounds).
 */
export function settingProblems(s: ServerSettings, module?: { settingProblems?(s: ServerSettings): SettingProblem[] }): SettingProblem[] {
  const found: Array<SettingProblem | null> = [];
  if (typeof s.host === "string") found.push(...sshSettingsProblems({ host: s.host, ssh_key: typeof s.ssh_key === "string" ? s.ssh_key : undefined }));
  found.push(...(module?.settingProblems?.(s) ?? []));
  return found.filter((p): p is SettingProblem => p !== null);
}

/**
 * `store:` names a storage target that is configured (storage.targets), whichever driver has the key: a
 * typo would otherwise send every snapshot nowhere, found out at the first create.
 */
export function targetProblems(s: ServerSettings, targets: readonly string[]): SettingProblem[] {
  if (typeof s.store !== "string" || targets.includes(s.store)) return [];
  const known = targets.length ? `targets: ${targets.join(", ")}` : "no storage.targets are configured";
  return [problem("unknown_target", "store", `no storage target "${s.store}" (${known}): add it under storage.targets, or remove store: to keep the snapshots in storage.path`)];
}

/** A problem at create time, as the user sees it: "files-1: …". */
export function problemError(server: string, p: SettingProblem): UserError {
  return new UserError(p.code, `${server}: ${p.why}`);
}

/**
 * `copies:` names storage targets that exist, on a server whose driver stores its snapshots as parts (`stores`:
 * the driver has storedIn). Checked at start-up (the registry's drivers exist then) and by register.
 */
export function copiesProblem(copies: readonly string[], targets: readonly string[], stores: boolean, server: string, kind: string): SettingProblem | null {
  if (copies.length === 0) return null;
  if (!stores) return problem("copies_unsupported", "copies", `${server} (${kind}) keeps its snapshots on its backend: they cannot be copied to storage targets; remove copies:`);
  const known = targets.length ? `targets: ${targets.join(", ")}` : "no storage.targets are configured";
  const unknown = copies.find((t) => !targets.includes(t));
  if (unknown !== undefined) return problem("unknown_target", "copies", `no storage target "${unknown}" (${known}): name one of storage.targets, or add it there`);
  const twice = copies.find((t, i) => copies.indexOf(t) !== i);
  return twice === undefined ? null : problem("repeated_target", "copies", `${twice} is listed twice: name each target once`);
}
