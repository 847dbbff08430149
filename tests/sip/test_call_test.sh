#!/usr/bin/env bash
# `e911ctl call test` (issue 13): the CLI as the phone, placing real calls through `e911ctl serve`
# on the published sample enterprise, a sipp UAS standing in for the provider's primary SBC
# (provider-primary, 127.0.0.1:5070 tcp, 10-usages-trunks-routes.yaml):
#   1. 911 from alice, --runtime a SIP address: answered (exit 0), 100/180/200 listed with their
#      times, ACK and BYE sent; the record is not shown, and the output says why;
#   2. with the admin API (--runtime URL, --token-file): the SIP address comes from /v1/status,
#      the record shows the route (provider-primary) and the location, as JSON and as text;
#   3. from an address of a sample subnet (added to lo in the test's network namespace): the
#      location sent is that subnet's;
#      and one on an access point: its location asked of the runtime's location service (HELD)
#      and sent with the call, as a Lync client does;
#   4. 933 and urn:service:test.sos: what the runtime did is reported as it happened, and is what
#      the dry run decides;
#   5. a runtime address where nothing listens: a clear error, exit 4, long before --timeout;
#   6. bad command lines: exit 2.
source "$(dirname "$0")/lib.sh" "$@"
publish_samples || { finish; exit 1; }

ADMIN_PORT=5081
ADMIN=http://127.0.0.1:$ADMIN_PORT
TOKEN=$WORK/admin.token
(umask 077 && head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$TOKEN")
chmod 600 "$TOKEN"
HELD=127.0.0.1:5082
start_serve --snapshot "$E911_DB.snapshot" --domain "$DOMAIN" --admin "127.0.0.1:$ADMIN_PORT" --token-file "$TOKEN" --location-service "$HELD" \
  --held-trusted-client 127.0.0.0/8 --held-trusted-client 10.10.0.0/16 ||
  { finish; exit 1; }
ALICE=sip:alice@$DOMAIN

# js EXPR: EXPR (Python, the JSON document $out as d) printed; nothing when $out is not JSON.
js() { python3 -c 'import json,sys; d=json.loads(sys.stdin.read()); r=eval(sys.argv[1]); print(json.dumps(r) if isinstance(r,(dict,list,bool)) or r is None else r)' "$1" <<<"$out" 2>/dev/null; }
# The messages the phone received, in order ("100 Trying 180 Ringing 200 OK ...").
received_list() { js '" ".join(m["message"] for m in d["messages"] if m["direction"] == "received" and m["transaction"] == "INVITE")'; }

# --- 1. A SIP address alone --------------------------------------------------------------------
phone provider uas_answer.xml 5070 tcp
provider_pid=$sipp_pid
run call test --runtime "127.0.0.1:$SIP_PORT" --from "$ALICE" --dial 911 --format json
[ "$rc" -eq 0 ] || fail "911: exit $rc, not 0: $err $out"
[ "$(js 'd["answered"]')" = true ] || fail "911: not answered: $(js 'd["failure"]')"
[[ $(received_list) == *"180 Ringing"*"200 OK" ]] || fail "911: the responses listed are '$(received_list)', not ... 180 Ringing ... 200 OK"
[ "$(js 'all(isinstance(m["ms"], int) and m["ms"] >= 0 for m in d["messages"])')" = true ] || fail "911: a message without its time"
[ "$(js '[m["message"] for m in d["messages"] if m["direction"] == "sent" and not m["retransmission"]]')" = '["INVITE", "ACK", "BYE"]' ] ||
  fail "911: the phone sent $(js '[m["message"] for m in d["messages"] if m["direction"] == "sent"]'), not INVITE, ACK, BYE"
[ "$(js 'd["hangup"]')" = "BYE answered 200 OK" ] || fail "911: hang-up '$(js 'd["hangup"]')'"
[ "$(js 'd["record"]')" = null ] && [[ $(js 'd["record_note"]') == *"admin API is not known"* ]] ||
  fail "911: without the admin API the record is '$(js 'd["record"]')', note '$(js 'd["record_note"]')'"
CHECK=$(dirname "$E911")/tests/check_output
if [ -x "$CHECK" ]; then "$CHECK" <"$WORK/out" 2>"$WORK/why" || fail "call test breaks its output schema: $(cat "$WORK/why")"; fi
expect_peer provider "$provider_pid"
# The provider got the runtime's INVITE of the call (its own leg: the B2BUA).
[[ $(received provider '^INVITE ' | head -1 | tr -d '\r') == "INVITE sip:+911@127.0.0.1:5070"* ]] ||
  fail "911: the provider got '$(received provider '^INVITE ' | head -1)'"

# --- 2. With the admin API: the route and the location from /v1/calls -------------------------
phone provider2 uas_answer.xml 5070 tcp
provider_pid=$sipp_pid
run call test --runtime "$ADMIN" --token-file "$TOKEN" --from "$ALICE" --dial 911 --format json
[ "$rc" -eq 0 ] || fail "911 with the admin API: exit $rc: $err"
[ "$(js 'd["runtime"]["sip"]')" = "udp:127.0.0.1:$SIP_PORT" ] || fail "the SIP address from /v1/status is '$(js 'd["runtime"]["sip"]')'"
[ "$(js 'd["record"]["call_id"] == d["call_id"]')" = true ] || fail "911: no record of the call's Call-ID: $(js 'd["record_note"]')"
[ "$(js 'd["record"]["kind"]')" = emergency ] || fail "911: the record's kind is '$(js 'd["record"]["kind"]')'"
[[ $(js 'd["record"]["attempts"][0]["target"]') == "trunk 'provider-primary'"* ]] || fail "911: the first attempt is '$(js 'd["record"]["attempts"][0]')'"
[ "$(js 'd["record"]["attempts"][0]["status"]')" = 200 ] || fail "911: the attempt's status is '$(js 'd["record"]["attempts"][0]["status"]')'"
[ -n "$(js 'd["record"]["location_source"]')" ] || fail "911: the record has no location_source"
expect_peer provider2 "$provider_pid"
# The same in text, --sip given.
phone provider3 uas_answer.xml 5070 tcp
provider_pid=$sipp_pid
run call test --runtime "$ADMIN" --sip "127.0.0.1:$SIP_PORT" --token-file "$TOKEN" --from "$ALICE" --dial 911
[ "$rc" -eq 0 ] || fail "911 in text: exit $rc: $err"
grep -qE '^answered: 200 OK after [0-9]+ ms; BYE answered 200 OK$' <<<"$out" || fail "911 in text: no 'answered' line: $out"
grep -qE "^  1\. trunk 'provider-primary' \(route 'emergency-provider'\) .*: 200 " <<<"$out" || fail "911 in text: no route line: $out"
grep -q '^== location sent (' <<<"$out" || fail "911 in text: no location: $out"
expect_peer provider3 "$provider_pid"
# Without a readable token, the call is made and the output says what it cannot show.
phone provider4 uas_answer.xml 5070 tcp
provider_pid=$sipp_pid
run call test --runtime "$ADMIN" --sip "127.0.0.1:$SIP_PORT" --token-file "$WORK/missing.token" --from "$ALICE" --dial 911
[ "$rc" -eq 0 ] || fail "911 without a token: exit $rc: $err"
grep -q "^route, location and notifications: not shown: cannot read the runtime's record of the call: " <<<"$out" ||
  fail "911 without a token: no word of what is not shown: $out"
expect_peer provider4 "$provider_pid"

# --- 3. From an address of a sample subnet: that subnet's location ------------------------------
if [ "$E911_SIP_NETNS" = 1 ] && ip address add 10.10.1.20/32 dev lo 2>/dev/null; then
  run call dry-run --from "$ALICE" --dial 911 --ip 10.10.1.20 --snapshot "$E911_DB.snapshot" --format json
  want=$(js 'd["location"]["location"] if d["location"] else None')
  phone provider5 uas_answer.xml 5070 tcp
  provider_pid=$sipp_pid
  run call test --runtime "$ADMIN" --sip "127.0.0.1:$SIP_PORT" --token-file "$TOKEN" --ip 10.10.1.20 --from "$ALICE" --dial 911 --format json
  [ "$rc" -eq 0 ] || fail "911 from 10.10.1.20: exit $rc: $err"
  [ "$(js 'd["local"].split(":")[0]')" = 10.10.1.20 ] || fail "the phone did not send from 10.10.1.20: $(js 'd["local"]')"
  [ -n "$want" ] && [ "$(js 'd["record"]["location"]["location"]')" = "$want" ] ||
    fail "911 from 10.10.1.20: location '$(js 'd["record"]["location"]')', the dry run says '$want'"
  expect_peer provider5 "$provider_pid"
else
  echo "skip: no network namespace to add 10.10.1.20 to lo in: the call from a subnet address is not tested"
fi

# --- 3b. An access point: the location asked of the location service, sent as PIDF-LO ----------
BSSID=00-1A-2B-3C-4D-02
run call dry-run --from "$ALICE" --dial 911 --bssid "$BSSID" --snapshot "$E911_DB.snapshot" --format json
want=$(js 'd["location"]["location"] if d["location"] else None')
phone provider-wap uas_answer.xml 5070 tcp
provider_pid=$sipp_pid
run call test --runtime "$ADMIN" --sip "127.0.0.1:$SIP_PORT" --token-file "$TOKEN" --bssid "$BSSID" --location-service "$HELD" \
  --from "$ALICE" --dial 911 --format json
[ "$rc" -eq 0 ] || fail "911 from $BSSID: exit $rc: $err"
[ "$(js 'd["location_request"]["located"]')" = true ] && [ "$(js 'd["pidf_lo"]')" = true ] ||
  fail "911 from $BSSID: the location service's answer: $(js 'd["location_request"]')"
[ "$(js 'd["record"]["location_source"]')" = caller-pidf ] && [ "$(js 'd["record"]["attempts"][0]["pidf_lo"]')" = true ] ||
  fail "911 from $BSSID: the runtime took location '$(js 'd["record"]["location_source"]')', attempt $(js 'd["record"]["attempts"][0]')"
expect_peer provider-wap "$provider_pid"
# The provider got the access point's location, as the dry run finds it.
[ -n "$want" ] && grep -qF "$want" "$WORK/provider-wap.msgs" || fail "911 from $BSSID: the provider's INVITE lacks the location '$want'"
run call test --runtime 127.0.0.1:5060 --bssid "$BSSID" --from "$ALICE" --dial 911
[ "$rc" -eq 2 ] && grep -q -- "--location-service" <<<"$err" || fail "--bssid without --location-service: exit $rc: $err"

# --- 4. Test calls: reported as they happened, and as the dry run decides them -----------------
for dial in 933 urn:service:test.sos; do
  run call dry-run --from "$ALICE" --dial "$dial" --snapshot "$E911_DB.snapshot" --format json
  want=$(js 'd["call_type"]')
  phone "provider-$dial" uas_answer.xml 5070 tcp
  provider_pid=$sipp_pid
  run call test --runtime "$ADMIN" --sip "127.0.0.1:$SIP_PORT" --token-file "$TOKEN" --from "$ALICE" --dial "$dial" --timeout 15 --format json
  [ -n "$want" ] && [ "$(js 'd["record"]["kind"]')" = "$want" ] || fail "$dial: the runtime's record says '$(js 'd["record"]["kind"]')', the dry run '$want'"
  # What the phone heard is what the runtime recorded it said.
  [ "$(js 'd["status"] == d["record"]["status"]')" = true ] || fail "$dial: the phone got $(js 'd["status"]'), the record says $(js 'd["record"]["status"]')"
  if [ "$(js 'd["answered"]')" = true ]; then
    [ "$rc" -eq 0 ] || fail "$dial answered but exit $rc"
  else
    [ "$rc" -eq 1 ] && [ -n "$(js 'd["failure"]')" ] || fail "$dial not answered: exit $rc, failure '$(js 'd["failure"]')'"
  fi
  echo "$dial ($want): $(js '("answered by " + (d["record"].get("answered_by") or "the runtime")) if d["answered"] else d["failure"]')"
  kill "$provider_pid" 2>/dev/null
done

# --- 5. Nothing listens: a clear error, exit 4, at once ------------------------------------------
start=$(date +%s)
run call test --runtime 127.0.0.1:5999 --from "$ALICE" --dial 911 --timeout 20
secs=$(($(date +%s) - start))
[ "$rc" -eq 4 ] || fail "nothing listening: exit $rc, not 4"
grep -q "nothing listens at udp 127.0.0.1:5999" <<<"$err" || fail "nothing listening: unclear error: $err"
[ "$secs" -le 5 ] || fail "nothing listening: took ${secs}s"
run call test --runtime tcp:127.0.0.1:5999 --from "$ALICE" --dial 911 --timeout 20
[ "$rc" -eq 4 ] && grep -q "nothing listens at tcp 127.0.0.1:5999 (connection refused)" <<<"$err" || fail "nothing listening over TCP: exit $rc: $err"

# --- 6. Bad command lines --------------------------------------------------------------------
for bad in "--runtime sip:pbx.contoso.example:5060" "--runtime sips:127.0.0.1:5061" "--runtime 127.0.0.1:70000" \
  "--runtime 127.0.0.1:5060 --sip 127.0.0.1:5060" "--runtime 127.0.0.1:5060 --token-file $TOKEN" \
  "--runtime udp:127.0.0.1:5060 --transport tcp" "--runtime 127.0.0.1:5999 --ip 192.0.2.1"; do
  # shellcheck disable=SC2086
  run call test $bad --from "$ALICE" --dial 911 --timeout 2
  [ "$rc" -eq 2 ] || fail "call test $bad: exit $rc, not 2: $err"
done

expect_serving "after the test calls"
finish
