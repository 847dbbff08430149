-- e911ctl store, migration 3: the runtimes publish makes load each new snapshot (kind Runtime),
-- and the webhook and e-mail targets a location policy notifies besides its SIP URIs.

CREATE TABLE runtime (
  row_id      INTEGER PRIMARY KEY,
  key         TEXT NOT NULL,
  rev_added   INTEGER NOT NULL,
  rev_removed INTEGER,
  name TEXT,
  description TEXT,
  url TEXT,
  token_file TEXT
);
CREATE UNIQUE INDEX runtime_key ON runtime(key) WHERE rev_removed IS NULL;
CREATE INDEX runtime_removed ON runtime(rev_removed) WHERE rev_removed IS NOT NULL;

ALTER TABLE location_policy ADD COLUMN notification_webhooks TEXT;
ALTER TABLE location_policy ADD COLUMN notification_emails TEXT;
