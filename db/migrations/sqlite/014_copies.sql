-- Copies of stored snapshots on storage targets (issue 12; DESIGN.md §4 copy states). A copy is a row of its own,
-- not a detail of its snapshot: it outlives the local snapshot (deleted or expired locally, the copy stays until
-- the target's own retention removes it) and has its own state machine (db/states.ts copyMachine).
-- server_id, name and snapshot_created_at repeat the snapshot's facts so that the target's retention and the
-- "same name already on the target" check read this table alone.
CREATE TABLE copies (
  id                  INTEGER PRIMARY KEY,
  snapshot_id         INTEGER NOT NULL REFERENCES snapshots(id),
  server_id           INTEGER NOT NULL REFERENCES servers(id),
  name                TEXT NOT NULL,               -- the snapshot's name: with the server, its key on the target
  target              TEXT NOT NULL,               -- a storage.targets name
  state               TEXT NOT NULL CHECK (state IN ('running','done','failed','broken','deleting','deleted','expired')),
  location            TEXT,                        -- where it is (a folder, an s3:// URL): set once its place is claimed
  size                INTEGER,
  checksum            TEXT,                        -- "sha256:<hex>" of the whole stored stream, as the manifest says
  parts               INTEGER,
  error               TEXT,
  operation_id        INTEGER REFERENCES operations(id),
  created_by          TEXT,
  created_at          INTEGER NOT NULL,
  snapshot_created_at INTEGER NOT NULL,            -- the snapshot's own time: the target's retention periods use it
  finished_at         INTEGER,
  verified_at         INTEGER,
  deleted_at          INTEGER,
  deleted_by          TEXT
);
-- One live copy per snapshot name and target: two copies never share a place on the target.
CREATE UNIQUE INDEX copies_live_place ON copies(server_id, name, target) WHERE state IN ('running','done','broken','deleting');
CREATE INDEX copies_by_snapshot ON copies(snapshot_id, id DESC);
-- The target's retention: one server's done and broken copies on one target, in time order.
CREATE INDEX copies_for_retention ON copies(target, server_id, snapshot_created_at, id) WHERE state IN ('done','broken');
CREATE INDEX copies_unfinished ON copies(state) WHERE state IN ('running','deleting');

-- alerts.kind gains 'copy_failed' (a copy failed, or no longer verifies). SQLite cannot change a CHECK in place,
-- so the table is rebuilt with the columns 008 and 009 left it with (named: a column added since fails loudly).
CREATE TABLE alerts_new (
  id           INTEGER PRIMARY KEY,
  kind         TEXT NOT NULL CHECK (kind IN ('snapshot_failed','snapshot_broken','hostkey_regen_needed','hostkey_changed','schedule_missed','snapshot_stale','limit_near','ledger_full','copy_failed')),
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
