import { IllegalTransitionError } from "../src/errors.ts";

// The state machines of DESIGN.md §4, enforced for every change the ledger makes.
// One addition: running → broken, for a writer that died leaving parts without a manifest
// (start-up reconciliation; the seed's "broken" snapshot).

export type SnapshotState = "pending" | "running" | "done" | "failed" | "broken" | "deleting" | "deleted" | "expired";
export type OperationState =
  | "awaiting_approval"
  | "queued"
  | "running"
  | "succeeded"
  | "failed"
  | "denied"
  | "expired"
  | "cancelled";
export type ApprovalState = "pending" | "approved" | "denied" | "expired";
/** A copy of a stored snapshot on a storage target (db/copy-repo.ts). */
export type CopyState = "running" | "done" | "failed" | "broken" | "deleting" | "deleted" | "expired";

type Machine<S extends string> = Record<S, readonly S[]>;

export const snapshotMachine: Machine<SnapshotState> = {
  pending: ["running", "failed"],
  running: ["done", "failed", "broken"],
  done: ["broken", "deleting", "expired"],
  broken: ["deleting", "done"], // done again only when a later verify passes (a part restored by hand)
  failed: ["deleted"], // its files are already gone: the record is cleared directly
  deleting: ["deleted", "expired", "broken"], // expired: removed by retention; a delete that fails part-way leaves it broken
  deleted: [],
  expired: [],
};

/** The states an operation ends in. */
export const OPERATION_FINAL: readonly OperationState[] = ["succeeded", "failed", "denied", "expired", "cancelled"];

/** An operation's times when it is recorded in `state` at `t`: one recorded cancelled (a skipped run) never started. */
export function recordedTimes(state: OperationState, t: number): { started_at: number | null; finished_at: number | null } {
  const final = OPERATION_FINAL.includes(state);
  return { started_at: state === "running" || (final && state !== "cancelled") ? t : null, finished_at: final ? t : null };
}

export const operationMachine: Machine<OperationState> = {
  awaiting_approval: ["queued", "denied", "expired", "cancelled"],
  queued: ["running", "cancelled", "failed"],
  running: ["succeeded", "failed", "cancelled"],
  succeeded: [],
  failed: [],
  denied: [],
  expired: [],
  cancelled: [],
};

// DESIGN.md §4's copy machine, with the snapshot machine's own additions: broken → done (a later verify passes),
// broken → deleting (a broken copy is replaced by a new copy, or removed by the target's retention) and
// deleting → broken (a removal that failed part-way). A failed copy left nothing behind: it is final.
export const copyMachine: Machine<CopyState> = {
  running: ["done", "failed"],
  done: ["broken", "deleting"],
  broken: ["deleting", "done"],
  failed: [],
  deleting: ["deleted", "expired", "broken"],
  deleted: [],
  expired: [],
};

export const approvalMachine: Machine<ApprovalState> = {
  pending: ["approved", "denied", "expired"],
  approved: [],
  denied: [],
  expired: [],
};

export function assertTransition<S extends string>(machine: Machine<S>, entity: string, id: number, from: S, to: S): void {
  if (!machine[from]?.includes(to)) throw new IllegalTransitionError(entity, id, from, to);
}

/** States from which a transition to `to` is legal: used in guarded UPDATEs (… WHERE state IN (…)). */
export function sourcesOf<S extends string>(machine: Machine<S>, to: S): S[] {
  return (Object.keys(machine) as S[]).filter((s) => machine[s].includes(to));
}
