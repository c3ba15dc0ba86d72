-- A one-row table the ledger writes to learn whether it can write: after its disk filled up, and before each heartbeat ping.
CREATE TABLE ledger_probe (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  at INTEGER NOT NULL
);
INSERT INTO ledger_probe (id, at) VALUES (1, 0);

-- alerts.kind gains 'ledger_full'. SQLite cannot change a CHECK in place, so the table is rebuilt;
-- SELECT * (not a column list) makes this fail loudly, rather than drop a column, if alerts has changed.
CREATE TABLE alerts_new (
  id          INTEGER PRIMARY KEY,
  kind        TEXT NOT NULL CHECK (kind IN ('snapshot_failed','snapshot_broken','hostkey_regen_needed','hostkey_changed','schedule_missed','snapshot_stale','limit_near','ledger_full')),
  key         TEXT NOT NULL,
  server_id   INTEGER REFERENCES servers(id),
  snapshot_id INTEGER REFERENCES snapshots(id),
  state       TEXT NOT NULL CHECK (state IN ('open','resolved')),
  message     TEXT NOT NULL,
  count       INTEGER NOT NULL DEFAULT 1,
  channel     TEXT,
  message_ref TEXT,
  first_seen  INTEGER NOT NULL,
  last_seen   INTEGER NOT NULL,
  resolved_at INTEGER
);
INSERT INTO alerts_new SELECT * FROM alerts;
DROP TABLE alerts;
ALTER TABLE alerts_new RENAME TO alerts;
CREATE UNIQUE INDEX alerts_open_key ON alerts(key) WHERE state = 'open';
CREATE INDEX alerts_open_kind ON alerts(kind) WHERE state = 'open';
