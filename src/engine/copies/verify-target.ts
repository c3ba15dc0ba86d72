import type { Asker, EngineDeps } from "../deps.ts";
import type { LedgerRepos } from "../../../db/ledger.ts";
import type { DriverContext, VerifyResult } from "../../drivers/driver.ts";
import { runOperation, type OperationHandle } from "../operations/run-operation.ts";
import { BackendError, errorMessage, SnapbotError } from "../../errors.ts";
import { isLedgerFull } from "../../../db/health.ts";
import { slicesOf, type Slice } from "./target-slices.ts";
import { scopeOf, unitsOn, type TargetScope, type TargetUnit } from "./target-units.ts";
import { targetVerifyLine, type TargetVerified } from "./target-verify-line.ts";
export type { TargetVerified } from "./target-verify-line.ts";

// verify --target <t> [--slice n/m]: one operation (kind verify_target, on no one server) re-reads every copy (and
// stored snapshot) on a target, or one slice of them, each the way its own verify does. Each verdict is recorded as
// it is read — verified_at, broken with its alert, done again with the alert resolved — so a run that stops part-way
// leaves the ledger true for what it read. The target's own lease keeps two whole-target reads from running at once;
// each unit's lease is held while it is read, so a copy being replaced or pruned is skipped, not raced.

/** Thrown errors (not verdicts) in a row that stop the run: the target is likely unreachable. */
const STOP_AFTER_ERRORS = 3;

export interface TargetVerifyInput {
  /** A storage.targets name, or "local" (storage.path). */
  target: string;
  /** --slice n/m; null: the whole target. */
  slice: Slice | null;
  /**
   * A scheduled round (target-rounds.ts): the run reads what in this slice or an earlier one has not been re-read
   * since `startedAt`, so copies the cuts moved, busy or unreadable ones are read later in the round, and a retry
   * after a timeout continues where it stopped. `commit` runs in the transaction that records the outcome: `t` is its handle.
   */
  round?: { scheduleId: number; startedAt: number; commit: (t: LedgerRepos, v: TargetVerified) => Promise<void> };
}

export const targetLease = (target: string) => `target ${target}`;

export function targetVerifyLabel(target: string, slice: Slice | null): string {
  return `verify --target ${target}${slice ? ` --slice ${slice.n}/${slice.m}` : ""}`;
}

export async function verifyTarget(deps: EngineDeps, input: TargetVerifyInput, asker: Asker): Promise<OperationHandle<TargetVerified>> {
  const scope = scopeOf(deps, input.target);
  const { slice, round } = input;
  return runOperation<TargetVerified>(deps, {
    server: null,
    kind: "verify_target",
    label: targetVerifyLabel(scope.name, slice),
    ...asker,
    leaseKey: targetLease(scope.name),
    args: { target: scope.name, ...(slice ? { slice: `${slice.n}/${slice.m}` } : {}), ...(round ? { schedule: round.scheduleId } : {}) },
    work: async (ctx) => {
      const all = await unitsOn(deps, scope);
      const plan = planRead(all, input);
      const out = await readAll(deps, scope, plan.read, ctx, emptyOutcome(scope, input, all.length, plan));
      const commit = async (t: LedgerRepos) => {
        await round?.commit(t, out);
        return out;
      };
      return { result: targetVerifyLine(out), commit };
    },
  });
}

interface ReadPlan {
  read: TargetUnit[];
  caughtUp: number;
  alreadyRead: number;
}

/** Which units this run reads: all of them, one slice, or (a round) what this slice and earlier ones still owe. */
export function planRead(units: TargetUnit[], input: Pick<TargetVerifyInput, "slice" | "round">): ReadPlan {
  const byPlace = (a: TargetUnit, b: TargetUnit) => (a.place < b.place ? -1 : a.place > b.place ? 1 : 0);
  const { slice, round } = input;
  if (!slice) return { read: [...units].sort(byPlace), caughtUp: 0, alreadyRead: 0 };
  const of = slicesOf(units, slice.m);
  if (!round) return { read: units.filter((u) => of.get(u) === slice.n).sort(byPlace), caughtUp: 0, alreadyRead: 0 };
  const owed = (u: TargetUnit) => (u.verifiedAt ?? 0) < round.startedAt;
  const read = units.filter((u) => of.get(u)! <= slice.n && owed(u)).sort(byPlace);
  return {
    read,
    caughtUp: read.filter((u) => of.get(u)! < slice.n).length,
    alreadyRead: units.filter((u) => of.get(u) === slice.n && !owed(u)).length,
  };
}

function emptyOutcome(scope: TargetScope, input: TargetVerifyInput, held: number, plan: ReadPlan): TargetVerified {
  return {
    target: scope.name,
    slice: input.slice,
    held,
    planned: plan.read.length,
    read: { copy: 0, snapshot: 0 },
    bytes: 0,
    broken: [],
    unreadable: [],
    busy: [],
    caughtUp: plan.caughtUp,
    alreadyRead: plan.alreadyRead,
  };
}

/** Each unit in turn, progress as one line over the whole run; stops only when the target stops answering. */
async function readAll(deps: EngineDeps, scope: TargetScope, units: TargetUnit[], ctx: DriverContext, out: TargetVerified): Promise<TargetVerified> {
  const total = units.reduce((s, u) => s + u.size, 0);
  let before = 0;
  let errors = 0; // thrown in a row
  for (const [i, u] of units.entries()) {
    const message = `${i + 1}/${units.length}: ${u.place}`;
    ctx.progress({ stage: "verifying", bytes: before, totalBytes: total, message });
    const sub = { ...ctx, progress: (p: { bytes?: number }) => ctx.progress({ stage: "verifying", bytes: before + (p.bytes ?? 0), totalBytes: total, message }) };
    const got = await readOne(deps, u, sub, targetVerifyLabel(scope.name, out.slice));
    before += u.size;
    if (got.kind === "error") {
      out.unreadable.push({ place: u.place, error: got.error });
      if (++errors >= STOP_AFTER_ERRORS) throw stopped(scope, out, i + 1, units.length, got.error);
      continue;
    }
    errors = 0;
    if (got.kind === "busy") out.busy.push({ place: u.place, why: got.why });
    if (got.kind !== "read") continue;
    out.read[u.noun]++;
    out.bytes += got.res.checkedBytes;
    if (!got.res.ok) out.broken.push({ place: u.place, noun: u.noun, problems: got.res.problems });
  }
  return out;
}

type Got = { kind: "read"; res: VerifyResult } | { kind: "busy"; why: string } | { kind: "gone" } | { kind: "error"; error: string };

/** One unit under its lease: read, its verdict committed, then announced. A busy one is skipped; an error is not a verdict. */
async function readOne(deps: EngineDeps, u: TargetUnit, ctx: DriverContext, label: string): Promise<Got> {
  let lease;
  try {
    lease = await deps.jobs.lease(u.leaseKey, label);
  } catch (e) {
    if (e instanceof SnapbotError && e.code === "server_busy") return { kind: "busy", why: e.message };
    throw e;
  }
  try {
    if (!(await u.live())) return { kind: "gone" };
    const res = await u.read(ctx);
    await deps.ledger.tx((t) => u.record(t, res));
    // The verdict is recorded: news that cannot be told does not make the unit unreadable.
    await u.announce(res).catch((e: unknown) => ctx.log.warn({ place: u.place, err: errorMessage(e) }, "verify --target: could not announce a verdict"));
    return { kind: "read", res };
  } catch (e) {
    if (ctx.signal.aborted || isLedgerFull(e)) throw e; // a timeout, a cancel, a full ledger: the run's own story
    ctx.log.warn({ place: u.place, err: errorMessage(e) }, "verify --target: could not read");
    return { kind: "error", error: errorMessage(e).split("\n")[0]! };
  } finally {
    deps.jobs.release(lease);
  }
}

function stopped(scope: TargetScope, out: TargetVerified, at: number, of: number, last: string): BackendError {
  const done = out.read.copy + out.read.snapshot;
  return new BackendError(
    "target_unreadable",
    `stopped after ${STOP_AFTER_ERRORS} in a row could not be read (is ${scope.name} reachable?): ${last}; ${done} of ${of} verified before that, ${of - at} not read`,
  );
}
