import type { DriverContext, HostKey } from "../driver.ts";
import { UserError } from "../../errors.ts";
import type { LxcClient } from "./lxc-client.ts";
import { getInstance } from "./lxd-api.ts";
import { apiPath, seg, type InstanceRef } from "./lxd-settings.ts";
import { parsePublicKey, sortHostKeys } from "../shared/public-key.ts";
import { hostKeyRegenArgs, parseRegenOutput } from "../shared/host-key-regen.ts";

// The SSH host keys an instance presents, read through LXD's file API (works on stopped instances too);
// regenerated inside it with the one script every driver uses (src/drivers/shared/host-key-regen.ts).

const PUB_FILE = /^ssh_host_[a-z0-9]+_key\.pub$/;

export async function readHostKeys(lxc: LxcClient, at: InstanceRef, ctx: DriverContext): Promise<HostKey[]> {
  const call = { what: `read the SSH host keys of ${at.ref}`, signal: ctx.signal };
  const listing = await lxc.find<unknown>(apiPath(at.remote, `/1.0/instances/${seg(at.instance)}/files?path=/etc/ssh`), call, "not_found");
  const files = Array.isArray(listing) ? listing.filter((f): f is string => typeof f === "string" && PUB_FILE.test(f)).sort() : [];
  const keys: HostKey[] = [];
  for (const file of files) {
    const text = await lxc.run(["file", "pull", `${at.ref}/etc/ssh/${file}`, "-"], call);
    const key = parsePublicKey(text);
    if (key) keys.push(key);
    else ctx.log.warn({ file }, "not an SSH public key; ignored");
  }
  return sortHostKeys(keys);
}

/** `server`: the snapbot server this instance is, for the line that says what to type. */
export async function regenerateHostKeys(lxc: LxcClient, at: InstanceRef, server: string, ctx: DriverContext): Promise<HostKey[]> {
  const what = `regenerate the SSH host keys of ${at.ref}`;
  const instance = await getInstance(lxc, at.remote, at.instance, { what, signal: ctx.signal });
  if (instance.status !== "Running")
    throw new UserError("instance_stopped", `${at.ref} is ${instance.status.toLowerCase()}: start it (lxc start ${at.ref}) to regenerate its host keys`);
  ctx.progress({ stage: "regenerating host keys" });
  const out = await lxc.run(["exec", at.ref, "--", "sh", ...hostKeyRegenArgs("/")], { what, signal: ctx.signal });
  const { keys, restarted } = parseRegenOutput(out, { server, where: at.ref });
  ctx.log.info({ instance: at.ref, restarted, keys: keys.map((k) => `${k.type} ${k.fingerprint}`) }, "host keys regenerated");
  return keys;
}
