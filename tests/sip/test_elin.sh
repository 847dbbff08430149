#!/usr/bin/env bash
# ELIN gateway mode (DOMAIN.md §5, issue 13) live: the emergency route's first trunk takes no
# PIDF-LO, so the caller's number is replaced by an ELIN of the caller's location, and a PSAP
# calling that ELIN back reaches the caller.
#   1. a location without an ELIN makes the configuration invalid (E303 names it); with ELINs on
#      every location, publish takes it;
#   2. alice calls 911 from 127.0.0.1 (subnet 127.0.0.0/8, location hq-1, ELINs ...90 and ...91):
#      the gateway (sipp, TCP 5072) gets P-Asserted-Identity <tel:+14255550190>, From with the
#      ELIN, Priority: emergency and no body part or Geolocation;
#   3. bob calls 911 from the same place while alice's ELIN is mapped: he gets the next, ...91;
#   4. the PSAP calls back ...90 (and ...91 dialled without +1): alice's (bob's) phone rings;
#   5. the PSAP calls alice's own DID: her phone rings too; a stranger at 127.0.0.2 (no trunk's
#      host) calling her ELIN does not ring it (403: no user), and is counted and logged;
#   6. alice dials the test number 933, which this policy has the provider's test line answer: the
#      gateway gets INVITE 933 with her location's ELIN and no Priority: emergency;
#   7. the call records say which ELIN each call took, and why.
# The end of the callback window (30 minutes at least) is the unit test test_elin.cpp's.
source "$(dirname "$0")/lib.sh" "$@"

cat >"$WORK/elin.yaml" <<YAML
kind: PstnUsage
name: Emergency
---
kind: Trunk
name: elin-gateway
host: 127.0.0.1
port: 5072
transport: tcp
accepts_pidf_lo: false
options_ping: false
---
kind: Trunk
name: elin-gateway-2
host: 127.0.0.1
port: 5073
transport: tcp
accepts_pidf_lo: false
options_ping: false
---
kind: VoiceRoute
name: emergency-elin
number_pattern: '^\+?911$'
pstn_usages: [Emergency]
trunks: [elin-gateway, elin-gateway-2]
---
kind: Location
id: hq-1
location: HQ Floor 1
company_name: Contoso Ltd
house_number: '1'
street_name: Main
street_suffix: St
city: Redmond
state: WA
postal_code: '98052'
country: US
floor: '1'
validation_status: valid
elins: ['+14255550190', '+14255550191']
---
kind: NetworkSite
name: HQ
---
kind: Subnet
subnet: '127.0.0.0/8'
site: HQ
location: hq-1
---
kind: LocationPolicy
identity: global
enhanced_emergency_services: true
pstn_usage: Emergency
emergency_dial_string: '911'
notification_uris: ['sip:security-desk@$DOMAIN']
test_call_answer: provider
---
kind: User
sip_uri: 'sip:alice@$DOMAIN'
display_name: Alice Anderson
line_uri: 'tel:+14255550101'
---
kind: User
sip_uri: 'sip:bob@$DOMAIN'
display_name: Bob Brown
line_uri: 'tel:+14255550102'
---
kind: User
sip_uri: 'sip:security-desk@$DOMAIN'
display_name: Security Desk
YAML
# 1. A location without an ELIN: ELIN mode would send the PSAP no location for it.
cat >"$WORK/no-elin.yaml" <<'YAML'
kind: Location
id: hq-2
location: HQ Floor 2
house_number: '1'
street_name: Main
city: Redmond
state: WA
country: US
floor: '2'
validation_status: valid
YAML
run validate -f "$WORK/elin.yaml" -f "$WORK/no-elin.yaml"
[ "$rc" -eq 3 ] || fail "validate with a location without ELIN: exit $rc, want 3: $err"
grep -qF "error[E303]: first trunk 'elin-gateway' of emergency route 'emergency-elin' does not accept PIDF-LO and 1 location has no ELIN for ELIN mode (e.g. 'hq-2')" <<<"$err" ||
  fail "validate: no E303 naming hq-2: $err"
run apply -f "$WORK/elin.yaml"
[ "$rc" -eq 0 ] || fail "apply the ELIN enterprise: exit $rc: $err"
run publish
[ "$rc" -eq 0 ] || { fail "publish: exit $rc: $err"; finish; exit 1; }
printf 'test-token-%s\n' "$RANDOM$RANDOM" >"$WORK/token"
chmod 600 "$WORK/token"
start_serve --snapshot "$E911_DB.snapshot" --domain "$DOMAIN" --admin 127.0.0.1:5081 --token-file "$WORK/token" || { finish; exit 1; }

first_line() { received "$1" '^INVITE ' | head -1 | tr -d '\r'; }
# gateway NAME: the ELIN gateway (TCP 5072) answers one call.
gateway() {
  sipp_bg "$1" -sf "$SCENARIOS/uas_answer.xml" -p 5072 -t t1 -m 1 -timeout 30s
  wait_listening 5072 || fail "sipp $1 does not listen on port 5072"
}
# sent_with NAME ELIN: the INVITE gateway NAME got carries ELIN as the callback and no location.
sent_with() {
  received "$1" '^INVITE ' >"$WORK/$1.sip"
  [ -s "$WORK/$1.sip" ] || { fail "$1: the gateway got no INVITE"; return; }
  local text
  for text in "P-Asserted-Identity: \"$3\" <tel:$2>" "From: \"$3\" <sip:$2@" 'Priority: emergency'; do
    grep -qF -- "$text" "$WORK/$1.sip" || fail "$1: the gateway's INVITE lacks '$text': $(head -c 900 "$WORK/$1.sip")"
  done
  ! grep -qi '^Geolocation:\|application/pidf+xml' "$WORK/$1.sip" || fail "$1: ELIN mode sent a location: $(head -c 900 "$WORK/$1.sip")"
}
# dial NAME FROM PORT: FROM calls 911 from 127.0.0.1:PORT (UDP).
dial() { call "$1" uac_call.xml "sip:$2@$DOMAIN" "sip:911@$DOMAIN;user=phone" udp "$3"; }

# 2. Alice: the first ELIN.
gateway gw-alice
gw=$sipp_pid
dial alice-911 alice 5091
expect_sipp alice-911 $?
expect_peer gw-alice "$gw"
sent_with gw-alice +14255550190 'Alice Anderson'

# 3. Bob, while alice holds ...90: the next ELIN.
gateway gw-bob
gw=$sipp_pid
dial bob-911 bob 5089
expect_sipp bob-911 $?
expect_peer gw-bob "$gw"
sent_with gw-bob +14255550191 'Bob Brown'

# 4. The PSAP calls the ELINs back, from the gateway's side (UDP 5074): each reaches its caller.
register reg-alice alice 5090 udp || expect_sipp reg-alice $?
register reg-bob bob 5088 udp || expect_sipp reg-bob $?
# callback NAME NUMBER PORT: the PSAP calls NUMBER; the phone registered at PORT must ring.
callback() {
  phone "$1-phone" uas_answer.xml "$3" udp
  local p=$sipp_pid
  call "$1" uac_call.xml "sip:+12065550911@127.0.0.1;user=phone" "sip:$2@$DOMAIN;user=phone" udp 5074
  expect_sipp "$1" $?
  expect_peer "$1-phone" "$p"
  [[ $(first_line "$1-phone") == "INVITE sip:"*"@127.0.0.1:$3"* ]] || fail "$1: the phone at $3 got '$(first_line "$1-phone")'"
}
callback cb-alice +14255550190 5090
callback cb-bob 4255550191 5088
# 5. Alice's own DID reaches her too.
callback cb-did +14255550101 5090

# 5b. A stranger at 127.0.0.2 (no trunk's host, in no trusted network) dials alice's ELIN within
#     the window: it is not the PSAP's callback, so her phone does not ring; as an ordinary call
#     from someone who is no user it gets 403. Counted in /metrics and logged.
phone stranger-alice-phone uas_answer.xml 5090 udp
stranger_phone=$sipp_pid
got=$(python3 - "$SIP_PORT" "$DOMAIN" <<'PY'
import random, socket, sys
port, domain = int(sys.argv[1]), sys.argv[2]
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(('127.0.0.2', 0)); s.settimeout(5)
lp, n = s.getsockname()[1], random.randrange(10**9)
branch, tag, cid, ruri = 'z9hG4bKst%d' % n, 'st%d' % n, 'stranger-%d@127.0.0.2' % n, 'sip:+14255550190@%s;user=phone' % domain
sdp = 'v=0\r\no=- 1 1 IN IP4 127.0.0.2\r\ns=-\r\nc=IN IP4 127.0.0.2\r\nt=0 0\r\nm=audio 6000 RTP/AVP 0\r\n'
common = ('Via: SIP/2.0/UDP 127.0.0.2:%d;branch=%s;rport\r\nMax-Forwards: 70\r\nFrom: <sip:+12065550911@127.0.0.2;user=phone>;tag=%s\r\n'
          % (lp, branch, tag))
s.sendto(('INVITE %s SIP/2.0\r\n%sTo: <%s>\r\nCall-ID: %s\r\nCSeq: 1 INVITE\r\nContact: <sip:+12065550911@127.0.0.2:%d>\r\n'
          'Content-Type: application/sdp\r\nContent-Length: %d\r\n\r\n%s' % (ruri, common, ruri, cid, lp, len(sdp), sdp)).encode(), ('127.0.0.1', port))
while True:
    data = s.recv(65535).decode()
    status = int(data.split(' ', 2)[1])
    if status >= 200: break
to = [l for l in data.split('\r\n') if l.lower().startswith('to:')][0]
s.sendto(('ACK %s SIP/2.0\r\n%s%s\r\nCall-ID: %s\r\nCSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n' % (ruri, common, to, cid)).encode(), ('127.0.0.1', port))
print(status)
PY
)
[ "$got" = 403 ] || fail "a stranger calling alice's ELIN got '$got', not 403"
sleep 1
! grep -q '^INVITE ' "$WORK/stranger-alice-phone.msgs" 2>/dev/null || fail "a stranger calling alice's ELIN rang her phone"
kill "$stranger_phone" 2>/dev/null
wait "$stranger_phone" 2>/dev/null
curl -s -m 5 -H "Authorization: Bearer $(cat "$WORK/token")" http://127.0.0.1:5081/metrics >"$WORK/metrics.txt"
grep -qx 'e911_runtime_elin_callbacks_refused_total 1' "$WORK/metrics.txt" ||
  fail "/metrics does not count the stranger's call to the ELIN: $(grep -i elin "$WORK/metrics.txt" | tail -1)"
grep -qE "call to ELIN \+?14255550190 from 127\.0\.0\.2 not taken as the PSAP's callback" "$WORK/serve.err" ||
  fail "the stranger's call to the ELIN is not logged: $(grep -i elin "$WORK/serve.err" | tail -2)"

# 6. A test call for the provider's test line (test_call_answer: provider).
gateway gw-test
gw=$sipp_pid
call alice-933 uac_call.xml "sip:alice@$DOMAIN" "sip:933@$DOMAIN;user=phone" udp 5091
expect_sipp alice-933 $?
expect_peer gw-test "$gw"
received gw-test '^INVITE ' >"$WORK/gw-test.sip"
[[ $(head -1 "$WORK/gw-test.sip" | tr -d '\r') == "INVITE sip:933@127.0.0.1:5072;user=phone SIP/2.0" ]] ||
  fail "test line: the gateway got '$(head -1 "$WORK/gw-test.sip")'"
grep -qF 'P-Asserted-Identity: "Alice Anderson" <tel:+1425555019' "$WORK/gw-test.sip" || fail "test line: no ELIN callback: $(head -c 900 "$WORK/gw-test.sip")"
! grep -qi '^Priority: emergency' "$WORK/gw-test.sip" || fail "test line: a test call went out as an emergency call"

# 7. The records: which ELIN each emergency call took and why; whom each callback reached.
calls=$(curl -s -m 5 -H "Authorization: Bearer $(cat "$WORK/token")" 'http://127.0.0.1:5081/v1/calls?limit=20')
printf '%s' "$calls" >"$WORK/calls.json"
python3 - "$WORK/calls.json" <<'PY' || fail "/v1/calls: ELIN records wrong: $(head -c 1500 "$WORK/calls.json")"
import json, sys
calls = json.load(open(sys.argv[1]))
em = sorted((c for c in calls if c.get("kind") == "emergency"), key=lambda c: c["id"])
assert [c["callback"] for c in em] == ["+14255550190", "+14255550191"], [c.get("callback") for c in em]
assert em[0]["elin_choice"] == "the first ELIN of the location not in use", em[0]
assert all(c["elin"] == c["callback"] for c in em), em
back = [c for c in calls if c.get("callback_for")]
assert {c["callback_for"] for c in back} == {"sip:alice@contoso.example", "sip:bob@contoso.example"}, back
refused = [c for c in calls if c.get("elin_callback_refused")]
assert len(refused) == 1 and refused[0]["source"].startswith("127.0.0.2:") and refused[0]["outcome"] == "rejected", refused
PY

expect_serving "after the ELIN calls"
finish
