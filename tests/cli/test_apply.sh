#!/usr/bin/env bash
# apply / export / diagnostics end to end.
source "$(dirname "$0")/lib.sh" "$@"

cat >"$WORK/good.yaml" <<'YAML'
kind: PstnUsage
name: Emergency
---
kind: Trunk
name: provider
host: 127.0.0.1
port: 5070
accepts_pidf_lo: true
---
kind: VoiceRoute
name: emergency
number_pattern: '^\+?911$'
pstn_usages: [Emergency]
trunks: [provider]
---
kind: Location
id: b1-f1
location: B1 Floor 1
house_number: 1
street_name: Main
city: Redmond
state: WA
postal_code: 98052
country: US
---
kind: LocationPolicy
identity: global
enhanced_emergency_services: true
pstn_usage: Emergency
emergency_dial_string: 911
notification_uris: [sip:desk@contoso.example]
---
kind: Subnet
subnet: 10.10.1.0/24
location: b1-f1
YAML

run apply -f "$WORK/good.yaml" --dry-run
expect_rc 0 "dry run"
expect_out "+ location 'b1-f1'"
expect_out "~ policy 'global'"
expect_out "nothing written"
[ ! -e "$E911_DB" ] || [ "$(sqlite3 "$E911_DB" 'select max(rev) from revision')" = 1 ] || fail "dry run wrote"

run apply -f "$WORK/good.yaml"
expect_rc 0 "apply"
expect_out "as revision 2"
run apply -f "$WORK/good.yaml"
expect_rc 0 "apply again"
expect_out "no changes"
[ "$(sqlite3 "$E911_DB" 'select max(rev) from revision')" = 2 ] || fail "second apply made a revision"

# export | apply is a no-op, and export is stable.
run export -o "$WORK/export.yaml"
expect_rc 0 "export"
run apply -f "$WORK/export.yaml"
expect_out "no changes"
"$E911" export >"$WORK/export2.yaml"
diff <(tail -n +2 "$WORK/export.yaml") <(tail -n +2 "$WORK/export2.yaml") >/dev/null || fail "export is not stable"

# Every problem of a bad file, with file:line:col, the line and a caret; exit 3; nothing written.
cat >"$WORK/bad.yaml" <<'YAML'
kind: Location
id: b1-f2
state: Washington
contry: US
---
kind: Subnet
subnet: 10.10.2.0/24
location: b1-f9
YAML
before=$(db_state)
run apply -f "$WORK/bad.yaml"
expect_rc 3 "bad file"
expect_err "$WORK/bad.yaml:3:8: error[E104]: 'state': 'Washington' is 10 characters, more than the 2 allowed"
expect_err " 3 | state: Washington"
expect_err "   |        ^"
expect_err "$WORK/bad.yaml:4:1: error[E004]: unknown field 'contry' in Location"
expect_err "hint: did you mean 'country'?"
[ "$(db_state)" = "$before" ] || fail "bad apply changed the database"

# A reference to a missing object is located in the file too.
cat >"$WORK/ref.yaml" <<'YAML'
kind: Subnet
subnet: 10.10.2.0/24
location: b1-f9
YAML
run apply -f "$WORK/ref.yaml"
expect_rc 3 "dangling reference"
expect_err "$WORK/ref.yaml:3:11: error[E204]: 'location' names location 'b1-f9', which does not exist"
expect_err "did you mean 'b1-f1'?"
[ "$(db_state)" = "$before" ] || fail "bad reference changed the database"

# JSON errors are data on stdout.
run apply -f "$WORK/bad.yaml" --format json
expect_rc 3 "json diagnostics"
python3 -c 'import json,sys; d=json.loads(sys.argv[1]); assert d["schema"]=="e911ctl.apply/v1" and d["errors"]==2 and d["diagnostics"][0]["line"]==3' "$out" \
  || fail "json diagnostics"

# Prune removes what the files no longer name; global is reset, never removed.
cat >"$WORK/small.yaml" <<'YAML'
kind: Location
id: b1-f1
location: B1 Floor 1
house_number: 1
street_name: Main
city: Redmond
state: WA
postal_code: 98052
country: US
---
kind: Subnet
subnet: 10.10.1.0/24
location: b1-f1
---
kind: Location
id: b1-f3
city: Redmond
YAML
run apply -f "$WORK/small.yaml" --prune
expect_rc 0 "prune"
expect_out "+ location 'b1-f3'"
run policy show global --format json
expect_rc 0
finish
