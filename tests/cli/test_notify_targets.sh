#!/usr/bin/env bash
# A location policy tells the security desk by webhooks and e-mail as well as SIP (issue 13, the
# store's side): the fields are set from the command line and YAML, checked (E111, E112), exported
# and applied back, shown in the dry run's notify step, carried by the published snapshot, and
# they satisfy Kari's Law (E502) on their own.
source "$(dirname "$0")/lib.sh" "$@"
CHECK=$(dirname "$E911")/tests/check_output
[ -x "$CHECK" ] || { fail "check_output not built"; finish; }

run apply -f "$ROOT/samples/enterprise"; expect_rc 0 "apply samples"

# Set from the command line; a list option takes several values.
run policy set global --notification-webhooks https://alerts.contoso.example/e911,http://127.0.0.1:8080/hook \
  --notification-emails security@contoso.example
expect_rc 0 "policy set webhooks and e-mails"
run policy show global --format json
expect_out '"notification_webhooks": ['
expect_out '"https://alerts.contoso.example/e911"'
expect_out '"security@contoso.example"'

# Refused with the rule and the reason, and nothing written.
before=$(db_state)
run policy set global --notification-webhooks http://alerts.contoso.example/e911
expect_rc 3 "a plain-http webhook to another machine"
expect_err "error[E111]"
expect_err "use https://"
run policy set global --notification-webhooks https://bot:secret@alerts.contoso.example/
expect_rc 3 "a webhook with a password"
expect_err "error[E111]"
run policy set global --notification-emails mailto:security@contoso.example
expect_rc 3 "an e-mail target written as a URI"
expect_err "error[E112]"
expect_err "write the address alone: 'security@contoso.example'"
run policy set global --notification-emails security
expect_rc 3 "an e-mail target without @"
expect_err "error[E112]"
[ "$(db_state)" = "$before" ] || fail "a refused policy set changed the store"

# YAML: positions of each bad value.
cat >"$WORK/bad.yaml" <<'EOF'
kind: LocationPolicy
identity: Lab
notification_webhooks: ['http://10.0.0.9/hook']
notification_emails: ['desk@@contoso.example']
EOF
run apply -f "$WORK/bad.yaml"
expect_rc 3 "apply of bad targets"
expect_err "bad.yaml:3:25: error[E111]"
expect_err "bad.yaml:4:23: error[E112]"

# The dry run names every target in its notify step, and its JSON lists them.
run call dry-run --from sip:alice@contoso.example --dial 911 --ip 10.20.1.20
expect_rc 0 "dry run"
notify=$(grep '^notify' <<<"$out" || true)
grep -qF "webhook https://alerts.contoso.example/e911" <<<"$notify" || fail "the notify step does not name the webhook: $notify"
grep -qF "e-mail security@contoso.example" <<<"$notify" || fail "the notify step does not name the e-mail target: $notify"
run call dry-run --from sip:alice@contoso.example --dial 911 --ip 10.20.1.20 --format json
"$CHECK" <<<"$out" || fail "call dry-run --format json breaks its output schema"
echo "$out" >"$WORK/doc.json"
python3 - "$WORK/doc.json" <<'PY' || fail "call dry-run --format json: wrong targets"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["notify_webhooks"] == ["https://alerts.contoso.example/e911", "http://127.0.0.1:8080/hook"], d["notify_webhooks"]
assert d["notify_emails"] == ["security@contoso.example"], d["notify_emails"]
PY

# The published snapshot carries them: a dry run on it says the same.
run publish -o "$WORK/snap"; expect_rc 0 "publish"
run call dry-run --from sip:alice@contoso.example --dial 911 --ip 10.20.1.20 --snapshot "$WORK/snap" --format json
echo "$out" >"$WORK/doc.json"
python3 - "$WORK/doc.json" <<'PY' || fail "the published snapshot lost the targets"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["notify_webhooks"] == ["https://alerts.contoso.example/e911", "http://127.0.0.1:8080/hook"] and d["notify_emails"] == ["security@contoso.example"], d
PY

# Export and apply carry them unchanged.
run export -o "$WORK/all.yaml"; expect_rc 0 "export"
grep -q "notification_webhooks:" "$WORK/all.yaml" || fail "export lacks notification_webhooks"
E911_DB=$WORK/copy.db run apply -f "$WORK/all.yaml"; expect_rc 0 "apply the export to a new store"
E911_DB=$WORK/copy.db run policy show global --format json
expect_out '"http://127.0.0.1:8080/hook"'
run apply -f "$WORK/all.yaml"; expect_rc 0 "apply the export back"
expect_out "no changes"

# Kari's Law: a policy in use told only by webhook or only by e-mail passes E502.
run policy set global --unset notification_uris,notification_emails,conference_uri,conference_mode
expect_rc 0 "global told by webhook alone"
run validate
grep -q "E502" <<<"$out$err" && fail "E502 for a policy with a webhook"
run policy set global --unset notification_webhooks --notification-emails security@contoso.example
expect_rc 0 "global told by e-mail alone"
run policy set global --unset notification_emails
expect_rc 3 "global told by nobody"
expect_err "E502"
finish
