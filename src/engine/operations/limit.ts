import type { ServerRow } from "../../../db/types.ts";
import type { EngineDeps, Asker } from "../deps.ts";
import type { DriverContext } from "../../drivers/driver.ts";
import type { OperationHandle } from "./run-operation.ts";
import type { SnapshotRow } from "../../../db/types.ts";
import { syncBackend } from "./backend-sync.ts";
import { keptParents } from "../schedule/retention.ts";
import { errorMessage, UserError } from "../../errors.ts";
import { limitSettingOf } from "../../drivers/shared/common-settings.ts";

// Backends that keep snapshots themselves (LXD, qemu) have a per-server limit (`limit`, default 50, Hyper-V's
// checkpoint limit): at the limit a create first prunes the oldest expired leaf, or is refused; at 90% a
// limit_near alert. A snapshot with live children is never pruned for room (in a tree its data is its
// children's base) unless the server's schedule says --keep …,parents=prune.

/** The driver says whether its servers have a limit (features.limit), not whether it can list the backend. */
export const hasLimit = (deps: Pick<EngineDeps, "drivers">, server: ServerRow): boolean =>
  deps.drivers.get(server).features?.limit === true;
const limitOf = (server: ServerRow) => limitSettingOf(server.settings);
const liveCount = (deps: EngineDeps, server: ServerRow) => deps.ledger.snapshots.liveCount(server.id);

export interface Room {
  pruned: string | null;
}

/** Before a create: the ledger brought up to date with the backend, then room made or the create refused. */
export async function makeRoom(
  deps: EngineDeps,
  server: ServerRow,
  asker: Asker,
  ctx: DriverContext,
  remove: (snap: SnapshotRow) => OperationHandle<SnapshotRow> | Promise<OperationHandle<SnapshotRow>>,
): Promise<Room> {
  if (!hasLimit(deps, server)) return { pruned: null };
  const limit = limitOf(server);
  // Far from the limit, the ledger's count is enough (list keeps it in step with the backend); listing
  // the backend costs about as much as the snapshot itself, so it is paid only where the count matters.
  if ((await liveCount(deps, server)) < Math.floor(0.8 * limit)) return { pruned: null };
  try {
    await syncBackend(deps, server, ctx);
  } catch (e) {
    // The backend cannot even list (instance gone, remote down): the create will fail on the same
    // error, and that failure is recorded, reported and alerted like any other.
    deps.log.warn({ server: server.name, err: errorMessage(e) }, "could not list the backend before a create");
    return { pruned: null };
  }
  const live = await liveCount(deps, server);
  if (live < limit) return { pruned: null };
  const oldest = await prunableForRoom(deps, server);
  if (!oldest) throw await atLimit(deps, server, live, limit);
  deps.log.info({ server: server.name, snapshot: oldest.name, user: asker.user }, "at the limit: pruning the oldest expired snapshot");
  await (await remove((await deps.ledger.snapshots.get(oldest.id))!)).job.done;
  return { pruned: oldest.name };
}

/** The expired snapshot to prune for room: the one expired longest ago that has no live children (or any, with parents=prune). */
async function prunableForRoom(deps: EngineDeps, server: ServerRow) {
  const expired = await deps.ledger.snapshots.expiredOf(server.id, deps.clock.now());
  if (expired.length === 0) return undefined;
  const parents = await keptParents(deps.ledger, server.id);
  return expired.find((s) => !parents.has(s.id));
}

async function atLimit(deps: EngineDeps, server: ServerRow, live: number, limit: number): Promise<UserError> {
  const expired = await deps.ledger.snapshots.expiredOf(server.id, deps.clock.now());
  const head = `${server.name} has ${live} snapshots, its limit is ${limit}`;
  const fix = `delete one first (list ${server.name}) or raise limit: for it in the config`;
  if (expired.length === 0) return new UserError("limit_reached", `${head}, and none has expired: ${fix}`);
  const names = expired.slice(0, 5).map((s) => s.name).join(", ") + (expired.length > 5 ? ` and ${expired.length - 5} more` : "");
  return new UserError(
    "limit_reached",
    `${head}, and the expired ones (${names}) have children, which are not pruned for room: ` +
      `${fix}, or add parents=prune to its schedule's --keep`,
  );
}

/** After a create: a limit_near alert once a server holds 90% of its limit. */
export async function warnNearLimit(deps: EngineDeps, server: ServerRow): Promise<void> {
  if (!hasLimit(deps, server)) return;
  const limit = limitOf(server);
  const live = await liveCount(deps, server);
  if (live < Math.ceil(0.9 * limit)) return;
  await deps.alerts.raise({
    kind: "limit_near",
    server,
    title: `${server.name} holds ${live} of its ${limit} snapshots`,
    lines: [`at ${limit} new snapshots are refused unless an expired one can be pruned: delete old ones, set an expiry, or raise limit:`],
    buttons: [{ label: "List snapshots", command: `list ${server.name}` }],
  });
}
