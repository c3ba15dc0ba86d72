-- History (issue 10): a deleted or expired snapshot keeps its creation facts (finished_at is no longer
-- overwritten by the delete); when it went and who asked are recorded beside them.
ALTER TABLE snapshots ADD COLUMN deleted_at INTEGER;   -- when it became deleted or expired
ALTER TABLE snapshots ADD COLUMN deleted_by TEXT;      -- who asked: a user, "scheduler" (retention), or "outside snapbot"
-- Rows deleted before this migration had finished_at overwritten by their delete: move it to deleted_at,
-- take who from the delete/prune operation, and the creation's own end from its create operation.
UPDATE snapshots SET deleted_at = finished_at WHERE state IN ('deleted', 'expired');
UPDATE snapshots SET deleted_by = coalesce(
  (SELECT o.requested_by FROM operations o
    WHERE o.snapshot_id = snapshots.id AND o.kind IN ('delete', 'prune') AND o.state = 'succeeded' ORDER BY o.id DESC LIMIT 1),
  CASE WHEN error = 'deleted outside snapbot' THEN 'outside snapbot' END)
  WHERE state IN ('deleted', 'expired');
UPDATE snapshots SET finished_at = CASE WHEN origin = 'external' THEN created_at ELSE
  (SELECT o.finished_at FROM operations o WHERE o.snapshot_id = snapshots.id AND o.kind = 'create' ORDER BY o.id DESC LIMIT 1) END
  WHERE state IN ('deleted', 'expired');
