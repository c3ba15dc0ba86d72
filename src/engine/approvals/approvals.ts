import type { ApprovalRow, OperationRow, ServerRow, SnapshotRow } from "../../../db/types.ts";
import type { EngineDeps } from "../deps.ts";
import type { OperationHandle } from "../operations/run-operation.ts";
import { refuseIfHostKeyChanged } from "../host-keys/host-keys.ts";
import { runDeleteSubtree, runRegenHostKeys, runRestore } from "./approved-work.ts";
import { expiredApproval } from "../../replies/approval-replies.ts";
import { durationMs, parseDuration } from "../../duration.ts";
import { errorMessage, UserError } from "../../errors.ts";
import { utc } from "../../replies/format.ts";
import { mention } from "../../replies/mention.ts";
import { createTurns } from "../../turns.ts";
import { BusyError } from "../operations/job-runner.ts";

// Destructive work waits for a second person: the request is recorded (operation awaiting_approval +
// approval pending) and only one guarded UPDATE can decide it; then the work runs under the server's lease.
// Across processes the guarded UPDATE picks the one decision; within one, decisions on the same request also
// take turns (inTurn, below), so a second click is told who decided, as it was when the ledger was synchronous.

export type ApprovalKind = "restore" | "delete" | "hostkeys_regen";

export interface ApprovalRequest {
  kind: ApprovalKind;
  server: ServerRow;
  snapshot?: SnapshotRow; // none for hostkeys_regen
  args: Record<string, unknown>;
  user: string;
  channel?: string | null;
}

export type Decision =
  | { decision: "denied"; approval: ApprovalRow; op: OperationRow }
  | { decision: "approved"; approval: ApprovalRow; op: OperationRow; handle: OperationHandle<string> };

export function createApprovals(deps: EngineDeps) {
  const { ledger, clock } = deps;
  const ttlMs = durationMs(parseDuration(deps.config.approval.ttl));

  function explainClosed(a: ApprovalRow): UserError {
    if (a.state === "pending" || a.state === "expired")
      return new UserError("approval_expired", `approval #${a.id} expired at ${utc(a.expires_at)}: ask again`);
    return new UserError("approval_decided", `approval #${a.id} was already ${a.state} by ${mention(a.decided_by ?? "")} at ${utc(a.decided_at)}`);
  }

  async function context(a: ApprovalRow) {
    const op = (await ledger.operations.get(a.operation_id))!;
    const server = await ledger.servers.get(op.server ?? "");
    const snapshot = op.snapshot_id === null ? undefined : await ledger.snapshots.get(op.snapshot_id);
    if (!server || (op.snapshot_id !== null && !snapshot)) throw new UserError("approval_stale", `approval #${a.id}: its server or snapshot is gone; nothing to do`);
    return { op, server, snapshot };
  }

  // The decision in progress on each request: the next one on the same request starts once it has settled
  // (a decision reads, takes a lease and writes across awaits; two interleaved would meet at the lease).
  const inTurn = createTurns<number>();

  /**
   * The server's lease for an approved request. Refused because another replica is already running this request
   * (two approvers, two replicas, the same moment): once that replica's decision commits, this click is told who
   * decided, as on one replica, rather than that the server is busy.
   */
  async function leaseOrDecided(id: number, server: string, label: string) {
    try {
      return await deps.jobs.lease(server, label);
    } catch (e) {
      if (!(e instanceof BusyError) || e.holder.label !== label) throw e; // held for other work
      for (let i = 0; i < 30; i++) {
        const now = await ledger.approvals.get(id);
        if (now && now.state !== "pending") throw explainClosed(now);
        await new Promise((r) => setTimeout(r, 100));
      }
      throw e;
    }
  }

  return {
    ttlMs,
    async request(r: ApprovalRequest): Promise<{ approval: ApprovalRow; op: OperationRow }> {
      await refuseIfHostKeyChanged(ledger, r.server);
      return ledger.tx(async (t) => {
        const op = await t.operations.insert({
          kind: r.kind,
          server_id: r.server.id,
          snapshot_id: r.snapshot?.id ?? null,
          requested_by: r.user,
          channel: r.channel ?? null,
          args: { ...(r.snapshot ? { snapshot: r.snapshot.name } : {}), ...r.args },
          state: "awaiting_approval",
        });
        return { approval: await t.approvals.insert(op.id, r.user, clock.now() + ttlMs), op };
      });
    },

    /** One decision per request, whoever clicks first; everyone else is told who decided. */
    decide(id: number, user: string, decision: "approve" | "deny"): Promise<Decision> {
      return inTurn(id, () => decideNow(id, user, decision));
    },

    /** Moves overdue requests to expired and says so on their messages; returns how many. */
    async expire(): Promise<number> {
      const due = await ledger.approvals.expireDue();
      for (const a of due) {
        // The row as read (awaiting approval) is what the message shows; the transition in the same transaction.
        const op = await ledger.tx(async (t) => {
          const op = (await t.operations.get(a.operation_id))!;
          if (op.state === "awaiting_approval") await t.operations.transition(op.id, "expired", { error: "nobody approved it in time" });
          return op;
        });
        if (!a.message_ref) continue;
        try {
          await deps.chat.update(a.message_ref, expiredApproval(a, op, deps.config.approval.ttl));
        } catch (e) {
          deps.log.warn({ approval: a.id, err: errorMessage(e) }, "could not update an expired approval request");
        }
      }
      return due.length;
    },
  };

  async function decideNow(id: number, user: string, decision: "approve" | "deny"): Promise<Decision> {
      const a = await ledger.approvals.get(id);
      if (!a) throw new UserError("unknown_approval", `there is no approval #${id}`);
      if (a.state !== "pending" || a.expires_at <= clock.now()) throw explainClosed(a);
      if (a.requested_by === user)
        throw new UserError("self_approval", `you asked for this, so you cannot ${decision} it: another approver must (roles.approvers)`);
      const { op, server, snapshot } = await context(a);
      const to = decision === "approve" ? "approved" : "denied";
      // The lease first: an approved restore must be able to start, and a refusal must decide nothing.
      // restore --to: the destination is written, so its lease is the one held; the source is only read.
      const target = op.kind === "restore" && typeof op.args?.to === "string" ? await ledger.servers.get(op.args.to) : server;
      if (!target) throw new UserError("approval_stale", `approval #${a.id}: server ${String(op.args?.to)} is gone; nothing to do`);
      const label = `${op.kind} ${server.name}${snapshot ? `/${snapshot.name}` : ""}${target === server ? "" : ` --to ${target.name}`}`;
      const lease = decision === "approve" ? await leaseOrDecided(a.id, target.name, label) : null;
      let won: boolean;
      try {
        won = await ledger.tx(async (t) => {
          if (!(await t.approvals.decide(id, to, user))) return false;
          await t.operations.transition(op.id, to === "approved" ? "queued" : "denied", { approved_by: user });
          return true;
        });
      } catch (e) {
        if (lease) deps.jobs.release(lease); // nothing was decided: the lease goes with it
        throw e;
      }
      if (!won) {
        if (lease) deps.jobs.release(lease);
        throw explainClosed((await ledger.approvals.get(id))!);
      }
      const decided = (await ledger.approvals.get(id))!;
      const queued = (await ledger.operations.get(op.id))!;
      if (to === "denied") return { decision: "denied", approval: decided, op: queued };
      const base = { op: queued, lease: lease!, server };
      const handle =
        op.kind === "hostkeys_regen"
          ? await runRegenHostKeys(deps, base)
          : op.kind === "restore"
            ? await runRestore(deps, { ...base, snapshot: snapshot!, target })
            : await runDeleteSubtree(deps, { ...base, snapshot: snapshot! });
      return { decision: "approved", approval: decided, op: queued, handle };
  }
}
export type Approvals = ReturnType<typeof createApprovals>;
