import type { TargetScheduleRow } from "../../../db/sqlite/target-schedule-repo.ts";
import type { EngineDeps, Asker } from "../deps.ts";
import type { Scheduler } from "./scheduler.ts";
import { parseCron } from "../../schedule/cron.ts";
import { scopeOf } from "../copies/target-units.ts";
import { UserError } from "../../errors.ts";

// schedule --target <t> "<cron>" [--slices m] and unschedule --target <t>: a target's rolling verification. Checked
// first (the target, the cron), then the ledger (with its audit entry, on no one server), then the live scheduler.

type Deps = Pick<EngineDeps, "ledger" | "targets"> & { scheduler: Scheduler };

export interface TargetScheduleInput {
  target: string;
  cron: string;
  slices: number;
}

export function setTargetSchedule(deps: Deps, input: TargetScheduleInput, asker: Asker): { schedule: TargetScheduleRow; replaced: TargetScheduleRow | undefined } {
  const { name } = scopeOf(deps, input.target);
  parseCron(input.cron);
  const out = deps.ledger.tx(() => {
    const r = deps.ledger.targetSchedules.set({ target: name, cron: input.cron, slices: input.slices, created_by: asker.user });
    const result = r.replaced ? `replaced "${r.replaced.cron}" (${r.replaced.slices} slices)` : "scheduled";
    const who = { requested_by: asker.user, channel: asker.channel ?? null };
    deps.ledger.operations.insert({ kind: "schedule", server_id: null, ...who, args: { ...input, target: name }, state: "succeeded", result });
    return r;
  });
  deps.scheduler.rounds.upsert(out.schedule);
  return out;
}

/** The ledger's schedule only: a target removed from snapbot.yml since can still be unscheduled. */
export function removeTargetSchedule(deps: Deps, target: string, asker: Asker): TargetScheduleRow {
  const existing = deps.ledger.targetSchedules.forTarget(target);
  if (!existing) throw new UserError("no_schedule", `${target} has no verification schedule: type schedules to see them`);
  deps.ledger.tx(() => {
    deps.ledger.targetSchedules.remove(target);
    const args = { target, cron: existing.cron, slices: existing.slices };
    const who = { requested_by: asker.user, channel: asker.channel ?? null };
    deps.ledger.operations.insert({ kind: "unschedule", server_id: null, ...who, args, state: "succeeded", result: "unscheduled" });
  });
  deps.scheduler.rounds.remove(target);
  return existing;
}
