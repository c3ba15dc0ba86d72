import type { LxcCall, LxcClient } from "./lxc-client.ts";
import { findProfile, type LxdProfile } from "./lxd-api.ts";
import { onRemote } from "./lxd-settings.ts";

// The seed's "create the profiles on the snapshot server first" step: a copy fails when a profile the
// instance uses is missing there. Missing ones are copied; one that exists with other content is the
// target admin's business: reported, never overwritten.

export interface ProfileSync {
  copied: string[];
  differing: string[]; // one line each: "profile web differs on snap (config limits.memory); not overwritten"
}

export async function syncProfiles(
  lxc: LxcClient,
  from: string | undefined,
  to: string,
  profiles: string[],
  call: LxcCall,
): Promise<ProfileSync> {
  const out: ProfileSync = { copied: [], differing: [] };
  for (const name of profiles) {
    const there = await findProfile(lxc, to, name, call);
    if (!there) {
      await lxc.run(["profile", "copy", onRemote(from, name), onRemote(to, name)], { ...call, what: `copy profile ${name} to ${to}` });
      out.copied.push(name);
      continue;
    }
    const here = await findProfile(lxc, from, name, call);
    const diff = here ? profileDiff(here, there) : [];
    if (diff.length) out.differing.push(`profile ${name} differs on ${to} (${diff.join(", ")}); not overwritten`);
  }
  return out;
}

/** The keys whose values differ, as "config limits.memory" / "device eth0". Descriptions do not count. */
export function profileDiff(a: Pick<LxdProfile, "config" | "devices">, b: Pick<LxdProfile, "config" | "devices">): string[] {
  const keys = (x: object, y: object) => [...new Set([...Object.keys(x), ...Object.keys(y)])].sort();
  const config = keys(a.config, b.config).filter((k) => a.config[k] !== b.config[k]).map((k) => `config ${k}`);
  const devices = keys(a.devices, b.devices)
    .filter((k) => canonical(a.devices[k]) !== canonical(b.devices[k]))
    .map((k) => `device ${k}`);
  return [...config, ...devices];
}

function canonical(device: Record<string, string> | undefined): string {
  return device ? JSON.stringify(Object.entries(device).sort(([x], [y]) => x.localeCompare(y))) : "";
}
