import type { ApprovalState, CopyState, OperationState, SnapshotState } from "./states.ts";

export interface ServerRow {
  id: number;
  name: string;
  driver: string;
  settings: Record<string, unknown>;
  source: "config" | "registered";
  channel: string | null;
  cloned_from: number | null;
  registered_by: string | null;
  created_at: number;
  removed_at: number | null;
}

export interface SnapshotRow {
  id: number;
  server_id: number;
  server: string;
  name: string;
  parent_id: number | null;
  state: SnapshotState;
  origin: "snapbot" | "external" | "schedule";
  location: string | null;
  size: number | null;
  checksum: string | null;
  checksums: Array<{ file: string; size: number; sha256: string }> | null;
  details: Record<string, unknown> | null;
  stateful: boolean;
  note: string | null;
  created_by: string | null;
  created_at: number;
  finished_at: number | null;
  expires_at: number | null;
  verified_at: number | null;
  error: string | null;
  deleted_at: number | null; // when it became deleted or expired (finished_at stays the creation's end)
  deleted_by: string | null; // who asked: a user, "scheduler" (retention) or "outside snapbot"
}

export interface OperationRow {
  id: number;
  kind: string;
  server_id: number | null;
  server: string | null;
  snapshot_id: number | null;
  state: OperationState;
  requested_by: string;
  approved_by: string | null;
  channel: string | null;
  args: Record<string, unknown> | null;
  result: string | null;
  error: string | null;
  created_at: number;
  started_at: number | null;
  finished_at: number | null;
}

export interface ApprovalRow {
  id: number;
  operation_id: number;
  state: ApprovalState;
  requested_by: string;
  decided_by: string | null;
  created_at: number;
  expires_at: number;
  decided_at: number | null;
  message_ref: { channel: string; ts: string } | null;
}

/** A copy of a stored snapshot on a storage target (migration 014). */
export interface CopyRow {
  id: number;
  snapshot_id: number;
  server_id: number;
  server: string;
  name: string; // the snapshot's name
  target: string;
  state: CopyState;
  location: string | null; // set once its place on the target is claimed
  size: number | null;
  checksum: string | null;
  parts: number | null;
  error: string | null;
  operation_id: number | null;
  created_by: string | null;
  created_at: number;
  snapshot_created_at: number;
  finished_at: number | null;
  verified_at: number | null;
  deleted_at: number | null;
  deleted_by: string | null;
}

/** One alert's owed chat work (AlertRepo.due). */
export interface AlertDue {
  id: number;
  channel: string;
  /** Its first message is not posted yet. */
  post: boolean;
  /** Changes its message does not show yet (0: none); what `updated` is given back. */
  update: number;
  /** Its resolution's thread reply is not posted yet. */
  reply: boolean;
}

/** What claimPosts took: the ids this process may post, and those of them a dead process had claimed (it may have posted them). */
export interface PostClaim {
  claimed: number[];
  tookOver: number[];
}
