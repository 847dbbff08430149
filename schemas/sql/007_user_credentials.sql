-- e911ctl store, migration 7: users' digest secrets (issue 14), kept as HA1 hashes only:
-- H(user:realm:password) under SHA-256 (RFC 8760) and MD5, never the password.

ALTER TABLE sip_user ADD COLUMN ha1_sha256 TEXT;
ALTER TABLE sip_user ADD COLUMN ha1_md5 TEXT;
