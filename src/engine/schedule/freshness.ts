import type { ServerRow } from "../../../db/types.ts";
import type { SchedulerDeps, ScheduleEntry } from "./scheduler-deps.ts";
import { formatAge, formatSpan } from "../../duration.ts";
import { errorMessage } from "../../errors.ts";

// Freshness, as sanoid monitors it: per schedule a warn and a crit age (by default 1.5x and 4x the
// schedule's interval). When a server's newest good snapshot is older, one snapshot_stale alert (updated
// when it turns critical); resolved when a new snapshot succeeds. Age counts from the newest good snapshot
// or from when the schedule was set, whichever is later: a new schedule gets one interval of grace.

type Level = 0 | 1 | 2;
const WARN_FACTOR = 1.5;
const CRIT_FACTOR = 4;

export function thresholds(e: Pick<ScheduleEntry, "row" | "intervalMs">): { warnMs: number; critMs: number } {
  return { warnMs: e.row.warn_after_ms ?? Math.round(WARN_FACTOR * e.intervalMs), critMs: e.row.crit_after_ms ?? Math.round(CRIT_FACTOR * e.intervalMs) };
}

export function createFreshness(deps: SchedulerDeps, track: <T>(p: Promise<T>) => Promise<T>) {
  const { ledger, alerts, log } = deps;
  const levels = new Map<number, Level>(); // by server id
  const syncing = new Set<number>();

  const levelAt = async (e: ScheduleEntry, now: number): Promise<{ level: Level; ageMs: number }> => {
    const newest = await ledger.retention.newestGood(e.row.server_id);
    const ageMs = now - Math.max(newest ?? 0, e.row.created_at);
    const { warnMs, critMs } = thresholds(e);
    return { level: ageMs > critMs ? 2 : ageMs > warnMs ? 1 : 0, ageMs };
  };

  async function raise(e: ScheduleEntry, server: ServerRow, level: Level, ageMs: number): Promise<void> {
    const { warnMs, critMs } = thresholds(e);
    const newest = await ledger.retention.newestGood(server.id);
    await alerts.raise({
      kind: "snapshot_stale",
      server,
      title: `${server.name}: ${level === 2 ? "CRITICAL" : "warning"}, ${newest === null ? "no good snapshot yet" : `newest good snapshot is ${formatAge(ageMs)} old`}`,
      lines: [
        `schedule "${e.row.cron}": warn after ${formatSpan(warnMs)}, critical after ${formatSpan(critMs)}`,
        e.row.last_status ? `last run: ${e.row.last_status}${e.row.last_message ? ` (${e.row.last_message})` : ""}` : "the schedule has not run yet",
      ],
      buttons: [{ label: "Snapshot now", command: `create ${server.name}` }],
    });
  }

  function escalate(e: ScheduleEntry, server: ServerRow, now: number): void {
    // A --native schedule's snapshots are made by LXD: list the backend first, they may be there.
    const work = async () => {
      if (e.row.native) await deps.engine.sync(server).catch((err: unknown) => log.warn({ server: server.name, err: errorMessage(err) }, "could not list the backend"));
      const { level, ageMs } = await levelAt(e, now);
      if (level <= (levels.get(server.id) ?? 0)) return;
      levels.set(server.id, level);
      e.row = (await ledger.schedules.get(e.row.id)) ?? e.row; // the last run's outcome, for the message
      await raise(e, server, level, ageMs);
    };
    syncing.add(server.id);
    void track(work().finally(() => syncing.delete(server.id)));
  }

  /** A snapshot succeeded: an open stale alert is resolved. */
  async function fresh(e: ScheduleEntry, server: ServerRow): Promise<void> {
    if ((levels.get(server.id) ?? 0) === 0) return;
    levels.set(server.id, 0);
    const newest = await ledger.retention.newestGood(server.id);
    await alerts.resolve("snapshot_stale", server, `a new snapshot succeeded${newest ? ` (${new Date(newest).toISOString()})` : ""}`);
  }

  return {
    /** At start: which servers already have a stale alert open. */
    async load(entries: ScheduleEntry[]): Promise<void> {
      const open = new Set((await ledger.alerts.listOpen()).filter((a) => a.kind === "snapshot_stale").map((a) => a.server_id));
      levels.clear();
      for (const e of entries) if (open.has(e.row.server_id)) levels.set(e.row.server_id, 1);
    },
    async check(entries: ScheduleEntry[], now: number): Promise<void> {
      for (const e of entries) {
        if (syncing.has(e.row.server_id)) continue;
        const { level } = await levelAt(e, now);
        if (level === (levels.get(e.row.server_id) ?? 0)) continue;
        const server = await ledger.servers.get(e.row.server);
        // Read after the awaits: a run that succeeded meanwhile (fresh), or an escalation, may have moved it.
        const was = levels.get(e.row.server_id) ?? 0;
        if (!server || syncing.has(server.id) || level === was) continue;
        if (level > was) escalate(e, server, now);
        else if (level === 0) void track(fresh(e, server));
        else levels.set(server.id, level); // crit back to warn: stays open, no news
      }
    },
    fresh,
  };
}
export type Freshness = ReturnType<typeof createFreshness>;
