-- alerts.kind gains 'hook_failed' (a pre-hook stopped a create, or a post-hook failed; issue 13 item 3), and
-- 'restore_failed', the contract's other kind still missing (DESIGN.md §4), so the first code raising it needs
-- no rebuild of its own. SQLite cannot change a CHECK in place: the table is rebuilt as 014 left it.
CREATE TABLE alerts_new (
  id           INTEGER PRIMARY KEY,
  kind         TEXT NOT NULL CHECK (kind IN ('snapshot_failed','snapshot_broken','hostkey_regen_needed','hostkey_changed','schedule_missed','snapshot_stale','limit_near','ledger_full','copy_failed','hook_failed','restore_failed')),
  key          TEXT NOT NULL,
  server_id    INTEGER REFERENCES servers(id),
  snapshot_id  INTEGER REFERENCES snapshots(id),
  state        TEXT NOT NULL CHECK (state IN ('open','resolved')),
  message      TEXT NOT NULL,
  count        INTEGER NOT NULL DEFAULT 1,
  channel      TEXT,
  message_ref  TEXT,
  first_seen   INTEGER NOT NULL,
  last_seen    INTEGER NOT NULL,
  resolved_at  INTEGER,
  resolved_why TEXT,
  acked_by     TEXT,
  acked_at     INTEGER
);
INSERT INTO alerts_new (id, kind, key, server_id, snapshot_id, state, message, count, channel, message_ref, first_seen, last_seen, resolved_at, resolved_why, acked_by, acked_at)
  SELECT id, kind, key, server_id, snapshot_id, state, message, count, channel, message_ref, first_seen, last_seen, resolved_at, resolved_why, acked_by, acked_at FROM alerts;
DROP TABLE alerts;
ALTER TABLE alerts_new RENAME TO alerts;
CREATE UNIQUE INDEX alerts_open_key ON alerts(key) WHERE state = 'open';
CREATE INDEX alerts_open_kind ON alerts(kind) WHERE state = 'open';
CREATE INDEX alerts_open_by_server ON alerts(server_id) WHERE state = 'open';
