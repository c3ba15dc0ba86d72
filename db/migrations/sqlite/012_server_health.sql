-- `servers` shows each server's open alerts: one index seek per server, not a scan of the alerts table.
CREATE INDEX alerts_open_by_server ON alerts(server_id) WHERE state = 'open';
