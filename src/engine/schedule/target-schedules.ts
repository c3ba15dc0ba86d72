import type { TargetScheduleRow } from "../../../db/ledger.ts";
import type { EngineDeps, Asker } from "../deps.ts";
import type { Scheduler } from "./scheduler.ts";
import { parseCron } from "../../schedule/cron.ts";
import { scopeOf } from "../copies/target-units.ts";
import { UserError } from "../../errors.ts";
import { scheduleTurn } from "./schedules.ts";

// schedule --target <t> "<cron>" [--slices m] and unschedule --target <t>: a target's rolling verification. Checked
// first (the target, the cron), then the ledger (with its audit entry, on no one server), then the live scheduler.

type Deps = Pick<EngineDeps, "ledger" | "targets"> & { scheduler: Scheduler };

export interface TargetScheduleInput {
  target: string;
  cron: string;
  slices: number;
}

export async function setTargetSchedule(deps: Deps, input: TargetScheduleInput, asker: Asker): Promise<{ schedule: TargetScheduleRow; replaced: TargetScheduleRow | undefined }> {
  const { name } = scopeOf(deps, input.target);
  parseCron(input.cron);
  return scheduleTurn(deps.scheduler, `target ${name}`, async () => {
    const out = await deps.ledger.tx(async (t) => {
      const r = await t.targetSchedules.set({ target: name, cron: input.cron, slices: input.slices, created_by: asker.user });
      const result = r.replaced ? `replaced "${r.replaced.cron}" (${r.replaced.slices} slices)` : "scheduled";
      const who = { requested_by: asker.user, channel: asker.channel ?? null };
      await t.operations.insert({ kind: "schedule", server_id: null, ...who, args: { ...input, target: name }, state: "succeeded", result });
      return r;
    });
    deps.scheduler.rounds.upsert(out.schedule);
    return out;
  });
}

/** The ledger's schedule only: a target removed from snapbot.yml since can still be unscheduled. */
export async function removeTargetSchedule(deps: Deps, target: string, asker: Asker): Promise<TargetScheduleRow> {
  const none = () => new UserError("no_schedule", `${target} has no verification schedule: type schedules to see them`);
  return scheduleTurn(deps.scheduler, `target ${target}`, async () => {
    const existing = await deps.ledger.targetSchedules.forTarget(target);
    if (!existing) throw none();
    await deps.ledger.tx(async (t) => {
      // Guarded: removed meanwhile (another replica), it is not removed, nor recorded, twice.
      if (!(await t.targetSchedules.remove(target))) throw none();
      const args = { target, cron: existing.cron, slices: existing.slices };
      const who = { requested_by: asker.user, channel: asker.channel ?? null };
      await t.operations.insert({ kind: "unschedule", server_id: null, ...who, args, state: "succeeded", result: "unscheduled" });
    });
    deps.scheduler.rounds.remove(target);
    return existing;
  });
}
