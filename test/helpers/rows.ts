import type { ServerRow, SnapshotRow } from "../../db/types.ts";

// Ledger rows for the pure reply and Block Kit builders, at a fixed time so the output can be pinned.
export const T = Date.UTC(2026, 10, 22, 3, 0, 0);
export const server: ServerRow = { id: 1, name: "demo", driver: "archive", settings: {}, source: "config", channel: null, cloned_from: null, registered_by: null, created_at: T, removed_at: null };
export const snap = (i: number, over: Partial<SnapshotRow> = {}): SnapshotRow => ({
  id: i, server_id: 1, server: "demo", name: `s${i}`, parent_id: null, state: "done", origin: "snapbot", location: `/d/demo/s${i}`,
  size: 1536, checksum: `sha256:${"ab".repeat(32)}`, checksums: [{ file: ".parts/part-000000", size: 1536, sha256: "ab".repeat(32) }],
  details: null, stateful: false, note: null, created_by: "U1", created_at: T - 3_600_000, finished_at: T - 3_590_000,
  expires_at: null, verified_at: T - 60_000, error: null, deleted_at: null, deleted_by: null, ...over,
});
