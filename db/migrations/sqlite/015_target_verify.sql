-- Rolling verification of whole storage targets (issue 12 item 5: verify --target <t> --slice n/m, schedulable).
-- One live schedule per target (a storage.targets name, or "local" for storage.path). Each run reads the next
-- slice of `slices`; next_slice and round_started_at persist the round, so a restart continues where it was.
-- A target is not a server (it has no servers row), so this is a table of its own beside schedules.
CREATE TABLE target_schedules (
  id                INTEGER PRIMARY KEY,
  target            TEXT NOT NULL,
  cron              TEXT NOT NULL,
  slices            INTEGER NOT NULL CHECK (slices BETWEEN 1 AND 1000),
  next_slice        INTEGER NOT NULL DEFAULT 1 CHECK (next_slice BETWEEN 1 AND slices),
  round_started_at  INTEGER,                     -- when the round's first run began; NULL between rounds
  created_by        TEXT,
  created_at        INTEGER NOT NULL,
  last_run_at       INTEGER,                     -- the scheduled minute of the last run
  last_status       TEXT,                        -- started | succeeded | failed | skipped
  last_operation_id INTEGER REFERENCES operations(id),
  last_message      TEXT,                        -- one line: what the last run read, or why it failed
  removed_at        INTEGER
);
CREATE UNIQUE INDEX target_schedules_live ON target_schedules(target) WHERE removed_at IS NULL;
