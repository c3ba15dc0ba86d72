-- The alert outbox in the ledger (issue 14): what each alert's chat message still owes, so a crash or a Slack
-- outage delays a post but never drops it, and whichever process sends (the leader) finds the work.
ALTER TABLE alerts ADD COLUMN post_due INTEGER NOT NULL DEFAULT 0;    -- its first message is not posted yet
ALTER TABLE alerts ADD COLUMN posting_by TEXT;                        -- the process posting it now (a claim)
ALTER TABLE alerts ADD COLUMN update_due INTEGER NOT NULL DEFAULT 0;  -- changes its message must show (a counter)
ALTER TABLE alerts ADD COLUMN reply_due INTEGER NOT NULL DEFAULT 0;   -- its resolution's thread reply is not posted yet
-- The buttons its message shows (JSON): a click works on any process, and after a restart.
ALTER TABLE alerts ADD COLUMN buttons TEXT;
CREATE INDEX alerts_outbox ON alerts(id) WHERE post_due = 1 OR update_due > 0 OR reply_due = 1;
