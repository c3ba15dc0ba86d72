-- Slack may deliver a request twice (a retry, a replayed button): the first delivery of a key wins.
CREATE TABLE deliveries (
  key     TEXT PRIMARY KEY,  -- "trigger:<trigger_id>" or another stable id of the request
  seen_at INTEGER NOT NULL
);
CREATE INDEX deliveries_by_age ON deliveries(seen_at);
