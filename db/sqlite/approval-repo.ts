import type { Db } from "./open-db.ts";
import type { ApprovalRow } from "../types.ts";
import type { MessageRef } from "../../src/chat/chat-port.ts";
import { fromJson } from "../json.ts";

type Raw = Omit<ApprovalRow, "message_ref"> & { message_ref: string | null };
const row = (r: Raw | undefined): ApprovalRow | undefined => r && { ...r, message_ref: fromJson<MessageRef>(r.message_ref) };

export function approvalRepo(db: Db, now: () => number) {
  const byId = db.prepare("SELECT * FROM approvals WHERE id = ?");
  const insert = db.prepare("INSERT INTO approvals (operation_id, state, requested_by, created_at, expires_at) VALUES (?, 'pending', ?, ?, ?)");
  // The decision is this one guarded UPDATE: of two clicks, or two approvers at once, exactly one changes a row.
  const decide = db.prepare(`UPDATE approvals SET state = @to, decided_by = @by, decided_at = @at
    WHERE id = @id AND state = 'pending' AND expires_at > @at`);
  const due = db.prepare("SELECT * FROM approvals WHERE state = 'pending' AND expires_at <= ?");
  const expire = db.prepare("UPDATE approvals SET state = 'expired', decided_at = @at WHERE id = @id AND state = 'pending' AND expires_at <= @at");
  // Still decidable: pending and not yet past its expiry (the sweep that marks it expired may not have run).
  const open = db.prepare("SELECT * FROM approvals WHERE state = 'pending' AND expires_at > ? ORDER BY id");
  const openFor = db.prepare(`SELECT a.* FROM approvals a JOIN operations o ON o.id = a.operation_id
    WHERE a.state = 'pending' AND a.expires_at > ? AND o.snapshot_id = ? ORDER BY a.id LIMIT 1`);

  return {
    get(id: number): ApprovalRow | undefined {
      return row(byId.get(id) as Raw | undefined);
    },
    insert(operationId: number, requestedBy: string, expiresAt: number): ApprovalRow {
      return this.get(Number(insert.run(operationId, requestedBy, now(), expiresAt).lastInsertRowid))!;
    },
    /** True when this call made the decision; false when it was already decided or has expired. */
    decide(id: number, to: "approved" | "denied", by: string): boolean {
      return decide.run({ id, to, by, at: now() }).changes === 1;
    },
    /** Pending requests past their expiry, each moved to expired by a guarded UPDATE; returns those it moved. */
    expireDue(): ApprovalRow[] {
      const at = now();
      return (due.all(at) as Raw[]).filter((r) => expire.run({ id: r.id, at }).changes === 1).map((r) => row({ ...r, state: "expired" })!);
    },
    /** The requests still waiting for a decision, oldest first. */
    pending(): ApprovalRow[] {
      return (open.all(now()) as Raw[]).map((r) => row(r)!);
    },
    /** The first request still waiting for a decision whose operation is about this snapshot, if any. */
    pendingFor(snapshotId: number): ApprovalRow | undefined {
      return row(openFor.get(now(), snapshotId) as Raw | undefined);
    },
    setMessage(id: number, ref: MessageRef): void {
      db.prepare("UPDATE approvals SET message_ref = ? WHERE id = ?").run(JSON.stringify(ref), id);
    },
  };
}
export type ApprovalRepo = ReturnType<typeof approvalRepo>;
