-- Schedules (issue 6): freshness thresholds, what the last run did, and retention candidates read lean.
ALTER TABLE schedules ADD COLUMN warn_after_ms INTEGER;      -- snapshot_stale warning age; NULL = 1.5 x the interval
ALTER TABLE schedules ADD COLUMN crit_after_ms INTEGER;      -- snapshot_stale critical age; NULL = 4 x the interval
ALTER TABLE schedules ADD COLUMN last_status TEXT;           -- started | succeeded | failed | skipped
ALTER TABLE schedules ADD COLUMN last_operation_id INTEGER REFERENCES operations(id);
ALTER TABLE schedules ADD COLUMN last_message TEXT;          -- one line: why it failed or was skipped
-- Retention reads (id, name, created_at, state) of a server's snapshots of one origin: an index it reads alone.
CREATE INDEX snapshots_for_retention ON snapshots(server_id, origin, created_at, state, id, name) WHERE state IN ('done','broken');
-- Which of a server's snapshots have children: nothing to read for servers without trees.
CREATE INDEX snapshots_children ON snapshots(server_id, parent_id) WHERE parent_id IS NOT NULL;
