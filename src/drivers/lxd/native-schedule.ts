import type { DriverContext, NativeSchedule } from "../driver.ts";
import type { LxcClient } from "./lxc-client.ts";
import type { InstanceRef } from "./lxd-settings.ts";

// `schedule --native`: LXD's own scheduler takes the snapshots (snapshots.schedule, .pattern, .expiry on
// the instance); LXD validates the values itself, so its refusal reaches the user in its own words.
// snapbot then only watches: `list` imports what LXD made, freshness alerts, --keep retention.
// One `lxc config set` with all three keys; an empty value removes a key (LXD drops empty config values).

export async function setNativeSchedule(lxc: LxcClient, at: InstanceRef, s: NativeSchedule | null, ctx: DriverContext): Promise<void> {
  const values = { "snapshots.schedule": s?.cron ?? "", "snapshots.pattern": s?.pattern ?? "", "snapshots.expiry": s?.expiry ?? "" };
  await lxc.run(["config", "set", at.ref, ...Object.entries(values).map(([k, v]) => `${k}=${v}`)], {
    what: `${s ? "set" : "remove"} the LXD schedule of ${at.ref}`,
    signal: ctx.signal,
  });
}
