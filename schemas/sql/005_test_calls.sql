-- e911ctl store, migration 5: a location policy's test number (933 when unset) and who answers
-- its test calls: the runtime itself, or the provider's test line (RFC 6881 test calls).

ALTER TABLE location_policy ADD COLUMN test_number TEXT;
ALTER TABLE location_policy ADD COLUMN test_call_answer TEXT;
