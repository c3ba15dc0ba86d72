-- The alert outbox in the ledger (issue 14): what each alert's chat message still owes, so a crash or a Slack
-- outage delays a post but never drops it, and the leader (whichever replica it is) finds the work.
ALTER TABLE alerts ADD COLUMN post_due boolean NOT NULL DEFAULT false;  -- its first message is not posted yet
ALTER TABLE alerts ADD COLUMN posting_by text;                          -- the replica posting it now (a claim)
ALTER TABLE alerts ADD COLUMN update_due integer NOT NULL DEFAULT 0;    -- changes its message must show (a counter)
ALTER TABLE alerts ADD COLUMN reply_due boolean NOT NULL DEFAULT false; -- its resolution's thread reply is not posted yet
-- The buttons its message shows (JSON): a click works on any replica, and after a restart.
ALTER TABLE alerts ADD COLUMN buttons text;
CREATE INDEX alerts_outbox ON alerts(id) WHERE post_due OR update_due > 0 OR reply_due;
