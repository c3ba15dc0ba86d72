-- Alerts (issue 10): why an alert was resolved (shown by `alerts --all` after a restart too), and who
-- acknowledged it and when (`alerts ack <id>`: an acked alert stays open until its condition clears).
ALTER TABLE alerts ADD COLUMN resolved_why TEXT;
ALTER TABLE alerts ADD COLUMN acked_by TEXT;
ALTER TABLE alerts ADD COLUMN acked_at INTEGER;
