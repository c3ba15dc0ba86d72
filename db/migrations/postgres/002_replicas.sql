-- Several replicas on one database (issue 14): who is alive, who holds which server, and which process
-- started each operation, so a dead replica's work is found and settled while the others keep running.

-- The database's clock, in ms: every replica compares heartbeats against the same time.
CREATE FUNCTION snapbot_now_ms() RETURNS bigint AS $$ SELECT (extract(epoch FROM clock_timestamp()) * 1000)::bigint $$ LANGUAGE sql VOLATILE;

CREATE TABLE replicas (
  id          text PRIMARY KEY,              -- host/pid/random, new for every process
  host        text NOT NULL,
  pid         integer NOT NULL,
  started_at  bigint NOT NULL,
  alive_until bigint NOT NULL                -- snapbot_now_ms() + ttl at the last heartbeat
);

-- A lease is held while its replica is alive: one heartbeat renews every lease of a replica at once.
CREATE TABLE leases (
  key          text PRIMARY KEY,             -- a server's name, or a storage target's copy key
  replica      text NOT NULL,
  label        text NOT NULL,                -- what holds it, for "demo is busy: restore demo/s1 …"
  operation_id bigint,
  since        bigint NOT NULL
);
CREATE INDEX leases_by_replica ON leases(replica);

ALTER TABLE operations ADD COLUMN replica text;
