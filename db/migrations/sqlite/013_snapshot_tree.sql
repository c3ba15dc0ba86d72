-- Snapshot trees (drivers with features.trees, qemu): snapshots.parent_id (001) links a snapshot to the one
-- it was taken on top of; this records each server's current position, the snapshot its state now descends
-- from (a new snapshot becomes its child; restore moves it; revert returns to it).
-- A table of its own, not a column on servers: server rows are rewritten from the config at every start
-- (syncFromConfig) and by register, and the position is tree state that only tree operations change; a
-- server without a tree simply has no row. snapshot_id NULL: no current position (every snapshot deleted).
CREATE TABLE server_positions (
  server_id   INTEGER PRIMARY KEY REFERENCES servers(id),
  snapshot_id INTEGER REFERENCES snapshots(id),
  changed_at  INTEGER NOT NULL
);
-- Deleting a snapshot asks whether it is some server's current position.
CREATE INDEX server_positions_by_snapshot ON server_positions(snapshot_id) WHERE snapshot_id IS NOT NULL;
-- The children of one snapshot, live ones only, in creation order (re-parenting on delete, show, subtree walks).
CREATE INDEX snapshots_live_children ON snapshots(parent_id, created_at, id)
  WHERE parent_id IS NOT NULL AND state NOT IN ('deleted','failed','expired');
