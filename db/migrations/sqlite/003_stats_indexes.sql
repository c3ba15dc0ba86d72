-- Indexes for the metrics scrape (db/stats-repo.ts), so it stays cheap on a ledger of a million snapshots.

-- Snapshot counts by server and state read only this index (never the table); with the expression last,
-- the newest done snapshot of a server is one index seek (max over server_id = ? AND state = 'done').
CREATE INDEX snapshots_by_server_state ON snapshots(server_id, state, coalesce(finished_at, created_at));
-- Open alerts by kind: only open rows are indexed, and the count reads the index alone.
CREATE INDEX alerts_open_kind ON alerts(kind) WHERE state = 'open';
-- Operations finished since the last scrape, in (finished_at, id) order, without scanning the audit log.
CREATE INDEX operations_by_finish ON operations(finished_at) WHERE finished_at IS NOT NULL;
