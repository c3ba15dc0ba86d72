import type { CreateResult, DriverDeps, SnapshotDriver } from "../driver.ts";
import { LXD_FEATURES } from "./lxd-features.ts";
import { checkName } from "../../names.ts";
import { createLxcClient } from "./lxc-client.ts";
import { instanceRef, type LxdServer } from "./lxd-settings.ts";
import { createSnapshot, deleteSnapshot, listBackendSnapshots, snapshotPresent } from "./lxd-snapshots.ts";
import { describeSnapshotRestore, restoreSnapshot } from "./lxd-snapshots.ts";
import { copySnapshot } from "./lxd-copy.ts";
import { cloneSnapshot } from "./lxd-clone.ts";
import { readHostKeys, regenerateHostKeys } from "./host-keys.ts";
import { setNativeSchedule } from "./native-schedule.ts";
import { findInstance } from "./lxd-api.ts";
import { listKeptCopies, removeKeptCopy } from "./kept-copies.ts";
import { UserError } from "../../errors.ts";
import { parseKeep } from "../../retention/keep-policy.ts";

// The LXD driver: snapshots live in LXD (`lxc snapshot`), copies go to an LXD remote (the seed's snapshot
// server), clones are new instances. Every call is `lxc` through the Runner; answers are LXD's JSON.

export function createLxdDriver(settings: LxdServer, deps: DriverDeps): SnapshotDriver {
  const lxc = createLxcClient(settings, deps.runner);
  const at = instanceRef(settings);
  // Results of a create() that LXD's own operation confirmed (status Success): that is the check, and a
  // second round-trip would add an lxc call (~15 ms) to every create for nothing. Any other result asks LXD.
  const readBack = new WeakSet<CreateResult>();
  // The snapshot server's remote, where copies go by default and where snapshot_server_keep applies.
  const copiesOn = () => {
    if (!settings.snapshot_server) throw new UserError("no_snapshot_server", `${settings.name} has no snapshot_server in the config: there are no copies to look at`);
    return settings.snapshot_server.split(":", 1)[0]!;
  };
  const keep = settings.snapshot_server_keep === undefined ? null : parseKeep(settings.snapshot_server_keep);
  return {
    kind: "lxd",
    features: LXD_FEATURES,
    async create(req, ctx) {
      const result = await createSnapshot(lxc, at, req, ctx);
      readBack.add(result);
      return result;
    },
    delete: (snap, ctx) => deleteSnapshot(lxc, at, snap, ctx),
    check: async (snap, result) => (readBack.has(result) ? { ok: true, problems: [], checkedBytes: result.size ?? 0 } : snapshotPresent(lxc, at, snap)),
    verify: (snap, ctx) => snapshotPresent(lxc, at, snap, ctx.signal),
    // Start-up reconciliation: a create or delete cut short left the snapshot in LXD or not.
    async probe(ctx) {
      const found = await findInstance(lxc, at.remote, at.instance, { what: `look up ${at.ref}`, signal: ctx.signal });
      if (!found) throw new UserError("instance_missing", `there is no LXD instance "${at.ref}": check instance (lxc list shows the instances), or create it first`);
    },
    leftover: async (snap) => ((await snapshotPresent(lxc, at, snap)).ok ? "complete" : "nothing"),
    restore: (snap, opts, ctx) => restoreSnapshot(lxc, at, snap, opts, ctx),
    describeRestore: (snap, opts) => describeSnapshotRestore(lxc, at, snap, opts),
    listBackend: (ctx) => listBackendSnapshots(lxc, at, ctx),
    copy: (snap, target, ctx) => copySnapshot(lxc, at, snap, target, ctx),
    // copy web-1/s1 [<remote>[:<name>]]: by default the snapshot server, under the instance's own name.
    copyTarget(given) {
      const to = given ?? settings.snapshot_server;
      if (!to) throw new UserError("missing_argument", `${settings.name} has no snapshot_server in the config: name the target`);
      const [remote, name] = to.split(":", 2) as [string, string | undefined];
      return { remote: checkName("server", remote), name: name ? checkName("server", name) : at.instance };
    },
    copyRetention: () => (keep ? { where: copiesOn(), keep } : null),
    listCopies: (ctx) => listKeptCopies(lxc, at, copiesOn(), ctx),
    removeCopy: (copy, ctx) => removeKeptCopy(lxc, at, copiesOn(), copy, ctx),
    clone: (snap, newServer, ctx) => cloneSnapshot(lxc, settings, at, snap, newServer, ctx),
    hostKeys: (ctx) => readHostKeys(lxc, at, ctx),
    regenHostKeys: (ctx) => regenerateHostKeys(lxc, at, settings.name, ctx),
    // One instance of one daemon, whatever the server is called.
    endpoints: async () => [`lxd:${settings.lxd_dir ?? ""}:${at.remote ?? ""}:${at.instance}`],
    nativeSchedule: (schedule, ctx) => setNativeSchedule(lxc, at, schedule, ctx),
  };
}
