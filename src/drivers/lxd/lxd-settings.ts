import { z } from "zod";
import { NAME_PATTERN } from "../../names.ts";
import { commonSettingsFields, keepSetting } from "../shared/common-settings.ts";

// The settings of `driver: lxd` (DESIGN.md §3), owned by the driver's folder and composed into the config schema.
export const lxdSettingsSchema = z
  .object({
    driver: z.literal("lxd"),
    instance: z.string().regex(NAME_PATTERN, "a name of letters, digits, '.', '_' or '-' (e.g. web-1)").optional(),
    remote: z.string().optional(),
    snapshot_server: z.string().optional(),
    // The snapshot server's own retention for the copies there (restic semantics), independent of the source's.
    snapshot_server_keep: keepSetting.optional(),
    lxd_conf: z.string().optional(),
    lxd_dir: z.string().optional(),
    ...commonSettingsFields,
  })
  .strict();

// A server's lxd settings after validation (defaults applied), plus the server name it is registered as.
export type LxdSettings = z.infer<typeof lxdSettingsSchema>;
export type LxdServer = LxdSettings & { name: string };

/** How lxc names the instance: `web-1`, or `prod:web-1` when it lives on another remote. */
export interface InstanceRef {
  instance: string; // the bare instance name
  remote: string | undefined; // the remote it lives on; undefined for the local daemon
  ref: string; // `[remote:]instance`, for lxc arguments and messages
}

export function instanceRef(settings: LxdServer): InstanceRef {
  const instance = settings.instance ?? settings.name;
  return { instance, remote: settings.remote, ref: onRemote(settings.remote, instance) };
}

/** `remote:thing`, or `thing` on the local daemon. */
export function onRemote(remote: string | undefined, thing: string): string {
  return remote ? `${remote}:${thing}` : thing;
}

/** An API path for `lxc query`, on a remote when given: `snap:/1.0/profiles/web`. */
export function apiPath(remote: string | undefined, path: string): string {
  return onRemote(remote, path);
}

/** A path segment: our names are already safe, but nothing reaches a URL unencoded. */
export const seg = encodeURIComponent;
