import type { z } from "zod";
import type { lxdServerSchema } from "../../config/schema.ts";

// A server's lxd settings after validation (defaults applied), plus the server name it is registered as.
export type LxdSettings = z.infer<typeof lxdServerSchema>;
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
