-- e911ctl store, migration 2: voice policies (New-CsVoicePolicy), which route users' ordinary
-- calls by an ordered list of PSTN usages, and the voice policy granted to each user.

CREATE TABLE voice_policy (
  row_id      INTEGER PRIMARY KEY,
  key         TEXT NOT NULL,
  rev_added   INTEGER NOT NULL,
  rev_removed INTEGER,
  identity TEXT,
  description TEXT,
  pstn_usages TEXT
);
CREATE UNIQUE INDEX voice_policy_key ON voice_policy(key) WHERE rev_removed IS NULL;
CREATE INDEX voice_policy_removed ON voice_policy(rev_removed) WHERE rev_removed IS NOT NULL;

ALTER TABLE sip_user ADD COLUMN voice_policy TEXT;
CREATE INDEX sip_user_voice_policy ON sip_user(voice_policy) WHERE rev_removed IS NULL AND voice_policy IS NOT NULL;
