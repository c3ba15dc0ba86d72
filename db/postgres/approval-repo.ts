import type { RepoContext } from "./context.ts";
import type { ApprovalRepo, ApprovalRow } from "../ledger.ts";
import type { MessageRef } from "../../src/chat/chat-port.ts";
import { fromJson } from "../json.ts";

type Raw = Omit<ApprovalRow, "message_ref"> & { message_ref: string | null };
const row = (r: Raw): ApprovalRow => ({ ...r, message_ref: fromJson<MessageRef>(r.message_ref) });

export function approvalRepo({ s, now }: RepoContext): ApprovalRepo {
  const get = async (id: number) => {
    const r = await s.one<Raw>("SELECT * FROM approvals WHERE id = $1", [id]);
    return r && row(r);
  };
  return {
    get,
    async insert(operationId, requestedBy, expiresAt) {
      const r = await s.one<Raw>(
        "INSERT INTO approvals (operation_id, state, requested_by, created_at, expires_at) VALUES ($1, 'pending', $2, $3, $4) RETURNING *",
        [operationId, requestedBy, now(), expiresAt],
      );
      return row(r!);
    },
    // The decision is this one guarded UPDATE: of two clicks, or two approvers on two replicas, exactly one changes a row.
    async decide(id, to, by) {
      const at = now();
      return (await s.run("UPDATE approvals SET state = $2, decided_by = $3, decided_at = $4 WHERE id = $1 AND state = 'pending' AND expires_at > $4", [
        id, to, by, at,
      ])) === 1;
    },
    async expireDue() {
      // One guarded UPDATE for all of them. The rows come back as SQLite's do: as they were read, with the new
      // state (decided_at as before, null) and in expiry order.
      const rows = await s.rows<Raw>(
        `WITH moved AS (UPDATE approvals SET state = 'expired', decided_at = $1 WHERE state = 'pending' AND expires_at <= $1 RETURNING *)
         SELECT id, operation_id, state, requested_by, decided_by, created_at, expires_at, NULL::bigint AS decided_at, message_ref
         FROM moved ORDER BY expires_at, id`,
        [now()],
      );
      return rows.map(row);
    },
    async pending() {
      return (await s.rows<Raw>("SELECT * FROM approvals WHERE state = 'pending' AND expires_at > $1 ORDER BY id", [now()])).map(row);
    },
    async pendingFor(snapshotId) {
      const r = await s.one<Raw>(
        `SELECT a.* FROM approvals a JOIN operations o ON o.id = a.operation_id
         WHERE a.state = 'pending' AND a.expires_at > $1 AND o.snapshot_id = $2 ORDER BY a.id LIMIT 1`,
        [now(), snapshotId],
      );
      return r && row(r);
    },
    async setMessage(id, ref) {
      await s.run("UPDATE approvals SET message_ref = $1 WHERE id = $2", [JSON.stringify(ref), id]);
    },
  };
}
