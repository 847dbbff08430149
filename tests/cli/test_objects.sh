#!/usr/bin/env bash
# The noun-verb commands, revisions and the refusals an operator relies on.
source "$(dirname "$0")/lib.sh" "$@"

run policy list
expect_rc 5 "read of a missing database"
expect_err "no database at"

run location set b1 --location "B1 Floor 1" --house-number 1 --street-name Main --city Redmond --state WA --country US
expect_rc 0 "create location"
expect_out "location 'b1' created (revision 2)"
run location set b1 --floor 1
expect_out "location 'b1' updated (revision 3)"
run location set b1 --floor 1
expect_out "location 'b1' unchanged"
run location set b1 --state Washington
expect_rc 3 "bad field"
expect_err "location 'b1': error[E104]: --state: 'Washington' is 10 characters, more than the 2 allowed"

run subnet set 10.1.0.0/16 --location b1
expect_rc 0 "subnet"
run location remove b1
expect_rc 3 "remove a used location"
expect_err "location 'b1' is still used by subnet '10.1.0.0/16'"
run location show b2
expect_rc 1 "unknown name"
expect_err "did you mean 'b1'?"
run policy remove global
expect_rc 3 "remove global"
expect_err "hint: reset it to its defaults with 'e911ctl policy reset global'"
run locaton list
expect_rc 2 "unknown command"
expect_err "did you mean 'location'?"

run port set 00-25-90-AA-00-01 Gi1/0/1 --location b1 --port-id-subtype 5
expect_rc 0 "port"
run port show 00-25-90-AA-00-01 Gi1/0/1 --format json
python3 -c 'import json,sys; d=json.loads(sys.argv[1]); assert d["schema"]=="e911ctl.port.show/v1" and d["object"]["port_id_subtype"]==5' "$out" || fail "port json"
run location show b1 --format yaml
expect_out "schema: e911ctl.location.show/v1"
expect_out "subnet '10.1.0.0/16'"

run usage set Emergency
run policy set Executives --pstn-usage Emergency --notification-uris sip:a@x.example,sip:b@x.example \
  --emergency-numbers '[{dial_string: "911", dial_mask: "112;999"}]'
expect_rc 0 "policy with lists"
run policy show Executives --format json
python3 -c 'import json,sys; o=json.loads(sys.argv[1])["object"]; assert o["notification_uris"]==["sip:a@x.example","sip:b@x.example"] and o["emergency_numbers"][0]["dial_mask"]=="112;999"' "$out" || fail "policy lists"
run user set sip:alice@contoso.example --display-name Alice --line-uri tel:+14255550101
run policy grant Executives --user sip:alice@contoso.example
expect_rc 0 "grant"
run user show sip:alice@contoso.example --format json
python3 -c 'import json,sys; assert json.loads(sys.argv[1])["object"]["location_policy"]=="Executives"' "$out" || fail "grant"
run usage remove Emergency
expect_rc 3 "remove a used usage"
expect_err "usage 'Emergency' is still used by policy 'Executives'"

# Revisions: history, diff, rollback.
run history --format json
head=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["items"][0]["revision"])' "$out")
run diff 2 3
expect_out "~ location 'b1'"
expect_out "floor: (none) -> 1"
run rollback 2
expect_rc 0 "rollback"
expect_out "- subnet '10.1.0.0/16'"
run location show b1 --format json
python3 -c 'import json,sys; assert "floor" not in json.loads(sys.argv[1])["object"]' "$out" || fail "rollback did not restore b1"
run diff 2
expect_out "no differences"
run history
expect_out "e911ctl rollback 2"
finish
