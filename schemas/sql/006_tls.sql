-- e911ctl store, migration 6: SIP over TLS (issue 14): a trunk's TLS name and its fallback to
-- TCP for emergency calls (RFC 6881 SP-31), and the CA that signs an https:// runtime.

ALTER TABLE trunk ADD COLUMN tls_server_name TEXT;
ALTER TABLE trunk ADD COLUMN tls_fallback INTEGER;
ALTER TABLE trunk ADD COLUMN tls_fallback_port INTEGER;
ALTER TABLE runtime ADD COLUMN ca_file TEXT;
