import type { ScheduleRow } from "../../../db/ledger.ts";
import type { ServerRow } from "../../../db/types.ts";
import type { EngineDeps, Asker } from "../deps.ts";
import type { Scheduler } from "./scheduler.ts";
import type { KeepPolicy } from "../../retention/keep-policy.ts";
import { capabilityOf } from "../operations/snapshot-handle.ts";
import { parseCron } from "../../schedule/cron.ts";
import { checkPattern } from "../../schedule/pattern.ts";
import { parseExpiry } from "../../duration.ts";
import { UserError } from "../../errors.ts";
import { createTurns, type Turns } from "../../turns.ts";

// Setting and removing a server's schedule: everything is checked before anything changes; a --native
// schedule is written to the backend first (LXD may refuse it), then the ledger, then the live scheduler.

export interface ScheduleInput {
  cron: string;
  pattern: string | null;
  expiry: string | null;
  keep: KeepPolicy | null;
  native: boolean;
  warnMs: number | null;
  critMs: number | null;
}

type Deps = Pick<EngineDeps, "ledger" | "drivers" | "log"> & { scheduler: Scheduler };

const ctxOf = (deps: Deps) => ({ signal: AbortSignal.timeout(60_000), progress: () => {}, log: deps.log });

export async function setSchedule(deps: Deps, server: ServerRow, input: ScheduleInput, asker: Asker): Promise<{ schedule: ScheduleRow; replaced: ScheduleRow | undefined }> {
  parseCron(input.cron);
  if (input.pattern) checkPattern(input.pattern);
  if (input.expiry) parseExpiry(input.expiry);
  if (input.warnMs !== null && input.critMs !== null && input.warnMs >= input.critMs)
    throw new UserError("bad_threshold", `--warn must be shorter than --crit (got ${input.warnMs / 60_000}M and ${input.critMs / 60_000}M), e.g. --warn 36H --crit 4d`);
  const driver = deps.drivers.get(server);
  return scheduleTurn(deps.scheduler, `server ${server.id}`, async () => {
    const previous = await deps.ledger.schedules.forServer(server.id);
    if (input.native) {
      const native = capabilityOf(driver, "nativeSchedule", server);
      await native.call(driver, { cron: input.cron, pattern: input.pattern, expiry: input.expiry }, ctxOf(deps));
    } else if (previous?.native) {
      await capabilityOf(driver, "nativeSchedule", server).call(driver, null, ctxOf(deps));
    }
    const out = await deps.ledger.tx(async (t) => {
      const r = await t.schedules.set({
        server_id: server.id,
        cron: input.cron,
        pattern: input.pattern,
        expiry: input.expiry,
        keep: input.keep,
        native: input.native,
        warn_after_ms: input.warnMs,
        crit_after_ms: input.critMs,
        created_by: asker.user,
      });
      await t.operations.insert({ kind: "schedule", server_id: server.id, requested_by: asker.user, channel: asker.channel ?? null, args: { ...input }, state: "succeeded", result: r.replaced ? `replaced "${r.replaced.cron}"` : "scheduled" });
      return r;
    });
    deps.scheduler.upsert(out.schedule);
    return out;
  });
}

export async function removeSchedule(deps: Deps, server: ServerRow, asker: Asker): Promise<ScheduleRow> {
  const none = () => new UserError("no_schedule", `${server.name} has no schedule: type schedules to see them`);
  return scheduleTurn(deps.scheduler, `server ${server.id}`, async () => {
    const existing = await deps.ledger.schedules.forServer(server.id);
    if (!existing) throw none();
    if (existing.native) {
      const driver = deps.drivers.get(server);
      await capabilityOf(driver, "nativeSchedule", server).call(driver, null, ctxOf(deps));
    }
    await deps.ledger.tx(async (t) => {
      // Guarded: removed meanwhile (another replica), it is not removed, nor recorded, twice.
      if (!(await t.schedules.remove(server.id))) throw none();
      await t.operations.insert({ kind: "unschedule", server_id: server.id, requested_by: asker.user, channel: asker.channel ?? null, args: { cron: existing.cron }, state: "succeeded", result: "unscheduled" });
    });
    deps.scheduler.remove(server.id);
    return existing;
  });
}

// Changes of one schedule (a server's, a target's) take turns: each reads the ledger, may call the backend, writes,
// then updates the live scheduler; two interleaved could leave the scheduler holding the one the ledger replaced.
const turns = new WeakMap<object, Turns<string>>();

/** Runs fn once the earlier changes of `key` on this scheduler have settled. */
export function scheduleTurn<T>(scheduler: object, key: string, fn: () => Promise<T>): Promise<T> {
  let inTurn = turns.get(scheduler);
  if (!inTurn) turns.set(scheduler, (inTurn = createTurns<string>()));
  return inTurn(key, fn);
}
