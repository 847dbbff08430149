#!/usr/bin/env bash
# Live emergency calls through `e911ctl serve` (issue 13), sipp as the phone, the provider's SBCs
# and the security desk, on the sample enterprise (10-usages-trunks-routes.yaml: provider-primary
# 127.0.0.1:5070 tcp, provider-backup 127.0.0.1:5071 tcp, failover 10 s):
#   1. alice calls 911 with her client's own PIDF-LO: the provider's UAS checks Priority,
#      P-Asserted-Identity (her callback +14255550101), Geolocation and the multipart body; the
#      PIDF-LO it got is the phone's, byte for byte, and its civicAddress is valid RFC 5139
#      (xmllint against ../shared/xsd); the security desk (corporate, global policy) gets its
#      MESSAGE with the callback number;
#   2. alice calls 911 from 10.10.1.20 (a Redmond subnet, an address given to lo inside the test's
#      network namespace; skipped with a message where there is none) without a location: the
#      provider gets the PIDF-LO of that subnet's location (B1 Floor 1 NE) and Redmond's desk its
#      MESSAGE; and the INVITE it got is the one `e911ctl call dry-run` shows for the same caller,
#      byte for byte apart from the Call-ID, tags, branch and time;
#   2b. a caller who is no user, not registered and not located still reaches the provider;
#   3. the primary answers 503: the backup gets the call at once;
#   4. the primary takes the INVITE and never answers: the backup gets the call after the
#      trunk's failover time (10 s), well before Timer B;
#   5. test calls to 933 and urn:service:test.sos are answered by the runtime, which reads back
#      the callback number, route and desk an emergency call would have, and hangs up;
#   the global policy's webhook and e-mail address are told too (a recording HTTP server and SMTP
#   server, the webhook over HTTPS with a verified certificate, on loopback); and /metrics counts
#   the desk's MESSAGEs and webhook deliveries.
source "$(dirname "$0")/lib.sh" "$@"
SHARED=$(cd "$ROOT/../shared" 2>/dev/null && pwd)
command -v xmllint >/dev/null || { fail "xmllint is missing (scripts/install-deps installs libxml2-utils)"; finish; exit 1; }

publish_samples || { finish; exit 1; }
# No trunk is pinged here (test_trunk_ping is about that): on a loaded machine this test passes
# the 30 s of the first OPTIONS while trunks are not yet listening, and a trunk marked down is
# tried last, which changes the order the cases below check.
for trunk in $("$E911" trunk list --format json | python3 -c 'import json,sys; print(" ".join(t["name"] for t in json.load(sys.stdin)["items"]))'); do
  run trunk set "$trunk" --options-ping false
  [ "$rc" -eq 0 ] || fail "trunk set $trunk --options-ping false: $err"
done
# The security desks sign in like any user, with a password (a desk is registered only by a phone
# that proves who it is: whoever registers it gets the emergency MESSAGEs); their clients register
# and take the MESSAGEs.
cat >"$WORK/desks.yaml" <<'YAML'
kind: User
sip_uri: 'sip:security-desk@contoso.example'
display_name: Corporate Security Desk
---
kind: User
sip_uri: 'sip:redmond-security@contoso.example'
display_name: Redmond Security
YAML
run apply -f "$WORK/desks.yaml"
[ "$rc" -eq 0 ] || fail "apply desks: $err"
for desk in security-desk redmond-security; do
  printf '%s\n' "$desk password" >"$WORK/$desk.pw"
  run user set "sip:$desk@$DOMAIN" --password-file "$WORK/$desk.pw"
  [ "$rc" -eq 0 ] || fail "user set sip:$desk@$DOMAIN --password-file: $err"
  run user set "sip:$desk@$DOMAIN" --unset ha1_sha256  # sipp 3.6 answers MD5 challenges only
  [ "$rc" -eq 0 ] || fail "user set sip:$desk@$DOMAIN --unset ha1_sha256: $err"
done
# Beyond Lync: the global policy also tells a webhook and an e-mail address (a recording HTTPS
# server, its certificate made here and trusted through the runtime's notify_ca_file, and a
# recording SMTP server, written here, on loopback).
command -v openssl >/dev/null || { fail "openssl is missing (scripts/install-deps installs it)"; finish; exit 1; }
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=127.0.0.1 -addext 'subjectAltName=IP:127.0.0.1' \
  -keyout "$WORK/hook-key.pem" -out "$WORK/hook-cert.pem" >"$WORK/openssl.out" 2>&1 || fail "openssl req: $(cat "$WORK/openssl.out")"
python3 - "$WORK" <<'PY' &
import http.server, json, socket, ssl, sys, threading
work = sys.argv[1]
class Hook(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get('Content-Length', 0)))
        with open(work + '/webhook.jsonl', 'ab') as f: f.write(body.replace(b'\n', b' ') + b'\n')
        self.send_response(204); self.end_headers()
    def log_message(self, *a): pass
hook = http.server.HTTPServer(('127.0.0.1', 5095), Hook)
tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
tls.load_cert_chain(work + '/hook-cert.pem', work + '/hook-key.pem')
hook.socket = tls.wrap_socket(hook.socket, server_side=True)
threading.Thread(target=hook.serve_forever, daemon=True).start()
smtp = socket.socket(); smtp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); smtp.bind(('127.0.0.1', 5096)); smtp.listen(4)
smtp.settimeout(120)
while True:
    try: c, _ = smtp.accept()
    except OSError: break
    c.settimeout(10); f = c.makefile('rb'); out = []
    def say(t): c.sendall(t.encode() + b'\r\n')
    say('220 test ESMTP')
    data = False
    for line in f:
        if data:
            if line == b'.\r\n': data = False; say('250 queued'); continue
            out.append(line); continue
        cmd = line.strip().upper()
        if cmd.startswith(b'EHLO') or cmd.startswith(b'HELO'): say('250 test')
        elif cmd.startswith(b'MAIL') or cmd.startswith(b'RCPT'): out.append(line); say('250 ok')
        elif cmd == b'DATA': data = True; say('354 go ahead')
        elif cmd == b'QUIT': say('221 bye'); break
        else: say('250 ok')
    with open(work + '/mail.txt', 'ab') as m: m.write(b''.join(out))
    c.close()
PY
background+=("$!")
run policy set global --notification-webhooks "https://127.0.0.1:5095/desk" --notification-emails "security@contoso.example"
[ "$rc" -eq 0 ] || fail "policy set global webhooks/emails: $err"
run publish
[ "$rc" -eq 0 ] || fail "publish: $err"
printf 'test-token-%s\n' "$RANDOM$RANDOM" >"$WORK/token"
chmod 600 "$WORK/token"
cat >"$WORK/serve.yaml" <<YAML
smtp_url: 'smtp://127.0.0.1:5096'
smtp_from: 'e911@contoso.example'
smtp_starttls: false
notify_ca_file: '$WORK/hook-cert.pem'
YAML
start_serve --config "$WORK/serve.yaml" --snapshot "$E911_DB.snapshot" --domain "$DOMAIN" --admin 127.0.0.1:5081 --token-file "$WORK/token" ||
  { finish; exit 1; }

# desk NAME USER PORT: USER's client registered at PORT with its password, waiting for one MESSAGE.
desk() {
  sipp_run "$1-reg" "127.0.0.1:$SIP_PORT" -sf "$SCENARIOS/register_auth_200.xml" -p 5092 -t u1 -m 1 -timeout 10s -cid_str "reg-%u-%p@%s" \
    -key user "$2" -key domain "$DOMAIN" -key contact_port "$3" -au "$2" -ap "$2 password" || expect_sipp "$1-reg" $?
  sipp_bg "$1" -sf "$SCENARIOS/uas_desk.xml" -p "$3" -t u1 -m 1 -timeout 30s
  wait_listening "$3" || fail "sipp $1 does not listen on port $3"
}
# told NAME TEXT...: the MESSAGE desk NAME received holds every TEXT (fixed strings).
told() {
  local name=$1 text
  shift
  received "$name" '^MESSAGE ' >"$WORK/$name.message"
  for text in "$@"; do
    grep -qF -- "$text" "$WORK/$name.message" || fail "$name: the desk's MESSAGE lacks '$text': $(head -c 900 "$WORK/$name.message")"
  done
}
# got NAME TEXT...: the INVITE provider NAME received holds every TEXT (fixed strings).
got() {
  local name=$1 text
  shift
  received "$name" '^INVITE ' >"$WORK/$name.sip"
  for text in "$@"; do
    grep -qF -- "$text" "$WORK/$name.sip" || fail "$name: the provider's INVITE lacks '$text': $(head -c 900 "$WORK/$name.sip")"
  done
}
# provider NAME SCENARIO PORT [KEYS...]: a provider SBC (TCP) for one call.
provider() {
  local name=$1 scenario=$2 port=$3
  shift 3
  sipp_bg "$name" -sf "$SCENARIOS/$scenario" -p "$port" -t t1 -m 1 -timeout 40s "$@"
  wait_listening "$port" || fail "sipp $name does not listen on port $port"
}
# The whole message sipp run NAME sent or received first whose first line matches PATTERN.
sent() {
  awk -v pat="$2" '
    /message sent/ { grab = 0; inmsg = 1; next }
    /message received/ { inmsg = 0; next }
    inmsg && !grab && NF && $0 ~ pat { grab = 1 }
    grab && /^----------/ { exit }
    grab { print }
  ' "$WORK/$1.msgs" 2>/dev/null
}
# body_part FILE TYPE: the part of content type TYPE of the SIP message in FILE, its bytes exact.
body_part() {
  python3 - "$1" "$2" <<'PY'
import re, sys
msg = open(sys.argv[1], 'rb').read()
head, _, body = msg.partition(b'\r\n\r\n')
length = re.search(rb'(?im)^content-length:\s*(\d+)', head)
if length: body = body[:int(length.group(1))]
ctype = re.search(rb'(?im)^content-type:\s*([^\r\n]+)', head).group(1)
if not ctype.lower().startswith(b'multipart/'):
    sys.stdout.buffer.write(body); sys.exit(0)
boundary = re.search(rb'boundary="?([^";\r\n]+)', ctype).group(1)
for part in body.split(b'--' + boundary)[1:]:
    if part.startswith(b'--'): break
    h, _, b = part[2:].partition(b'\r\n\r\n')
    if re.search(rb'(?im)^content-type:\s*' + re.escape(sys.argv[2].encode()), h):
        sys.stdout.buffer.write(b[:-2] if b.endswith(b'\r\n') else b); sys.exit(0)
sys.exit(1)
PY
}
# valid_civic NAME FILE: the civicAddress of the PIDF-LO in FILE is valid RFC 5139.
valid_civic() {
  python3 - "$2" "$WORK/$1.civic.xml" <<'PY' || { fail "$1: no civicAddress in the PIDF-LO: $(head -c 400 "$2")"; return 1; }
import sys, xml.etree.ElementTree as ET
ca = "urn:ietf:params:xml:ns:pidf:geopriv10:civicAddr"
root = ET.fromstring(open(sys.argv[1], 'rb').read())
address = root.find(".//{%s}civicAddress" % ca)
ET.register_namespace("ca", ca)
open(sys.argv[2], "wb").write(ET.tostring(address))
PY
  xmllint --noout "$2" 2>"$WORK/$1.lint" || fail "$1: the PIDF-LO is not well-formed: $(cat "$WORK/$1.lint")"
  if [ -n "$SHARED" ]; then
    xmllint --noout --schema "$SHARED/xsd/civicAddr.xsd" "$WORK/$1.civic.xml" 2>"$WORK/$1.xsd" ||
      fail "$1: the civicAddress fails RFC 5139: $(cat "$WORK/$1.xsd")"
  fi
}
emergency_call() {  # NAME SCENARIO [SIPP ARGS...]: alice calls 911 from port 5091
  local name=$1 scenario=$2
  shift 2
  sipp_run "$name" "127.0.0.1:$SIP_PORT" -sf "$SCENARIOS/$scenario" -p 5091 -t u1 -m 1 -timeout 40s \
    -cid_str "caller-%u-%p@%s" -key from "sip:alice@$DOMAIN" -key to "sip:911@$DOMAIN;user=phone" "$@"
}

# 1. With the client's own PIDF-LO (from 127.0.0.1: no subnet; the global policy).
desk desk1 security-desk 5093
desk_pid=$sipp_pid
provider pidf-provider uas_provider.xml 5070
prov_pid=$sipp_pid
emergency_call pidf-alice uac_call_pidf.xml
expect_sipp pidf-alice $?
expect_peer pidf-provider "$prov_pid"
expect_peer desk1 "$desk_pid"
got pidf-provider 'P-Asserted-Identity: "Alice Anderson" <tel:+14255550101>' '<ca:LOC>Suite 210</ca:LOC>'
told desk1 'Callback: +14255550101' 'Caller: Alice Anderson <sip:alice@contoso.example>' 'Location: as sent by the caller' 'City: Seattle'
# The webhook and the e-mail of the global policy, within their 5 s timeout.
for _ in $(seq 50); do [ -s "$WORK/webhook.jsonl" ] && grep -q 'DATA\|Callback\|+14255550101' "$WORK/mail.txt" 2>/dev/null && break; sleep 0.1; done
python3 - "$WORK/webhook.jsonl" <<'PY' || fail "webhook: not the call's facts: $(head -c 600 "$WORK/webhook.jsonl" 2>/dev/null)"
import json, sys
n = json.loads(open(sys.argv[1]).readline())
assert n["schema"] == "e911ctl.notification/v1", n
assert n["caller"]["uri"] == "sip:alice@contoso.example", n
assert n["caller"]["callback"] == "+14255550101", n
assert n["location"]["text"] == "as sent by the caller's client", n["location"]
PY
grep -q 'security@contoso.example' "$WORK/mail.txt" 2>/dev/null && grep -q '+14255550101' "$WORK/mail.txt" ||
  fail "e-mail: security@contoso.example was not told of the call: $(head -c 600 "$WORK/mail.txt" 2>/dev/null)"
received pidf-provider '^INVITE ' >"$WORK/pidf-invite.sip"
sent pidf-alice '^INVITE ' >"$WORK/pidf-phone.sip"
body_part "$WORK/pidf-invite.sip" application/pidf+xml >"$WORK/pidf-got.xml" || fail "pidf: the provider's INVITE has no PIDF-LO part"
body_part "$WORK/pidf-phone.sip" application/pidf+xml >"$WORK/pidf-sent.xml" || fail "pidf: no PIDF-LO in what the phone sent"
cmp -s "$WORK/pidf-got.xml" "$WORK/pidf-sent.xml" || fail "pidf: the provider's PIDF-LO is not the phone's, byte for byte"
valid_civic pidf "$WORK/pidf-got.xml"

# 2. From a Redmond subnet without a location: the LIS's, and the dry run's INVITE.
SUBNET_IP=10.10.1.20
if [ "$E911_SIP_NETNS" = 1 ] && ip addr add "$SUBNET_IP/32" dev lo 2>"$WORK/ip.err"; then
  desk desk2 redmond-security 5094
  desk_pid=$sipp_pid
  provider lis-provider uas_provider.xml 5070
  prov_pid=$sipp_pid
  # sipp_run's own -i (127.0.0.1) comes last: the phone is run here with its subnet address.
  (cd "$WORK" && exec timeout -k 2 60 sipp "127.0.0.1:$SIP_PORT" -sf "$SCENARIOS/uac_call.xml" -p 5091 -t u1 -m 1 -timeout 40s \
     -cid_str "caller-%u-%p@%s" -key from "sip:alice@$DOMAIN" -key to "sip:911@$DOMAIN;user=phone" -nostdin -i "$SUBNET_IP" \
     -timeout_error -trace_err -error_file "$WORK/lis-alice.errors" -trace_msg -message_file "$WORK/lis-alice.msgs" \
     -trace_screen -screen_file "$WORK/lis-alice.screen") >"$WORK/lis-alice.out" 2>&1 </dev/null
  expect_sipp lis-alice $?
  expect_peer lis-provider "$prov_pid"
  expect_peer desk2 "$desk_pid"
  got lis-provider '<tel:+14255550101>' '<ca:LOC>B1 Floor 1 NE</ca:LOC>' '<ca:A3>Redmond</ca:A3>'
  told desk2 'Callback: +14255550101' 'City: Redmond' 'Location: B1 Floor 1 NE'
  received lis-provider '^INVITE ' >"$WORK/lis-invite.sip"
  body_part "$WORK/lis-invite.sip" application/pidf+xml >"$WORK/lis-got.xml" || fail "lis: the provider's INVITE has no PIDF-LO part"
  grep -q '<gp:method>Wiremap</gp:method>' "$WORK/lis-got.xml" || fail "lis: the PIDF-LO's method is not Wiremap: $(head -c 600 "$WORK/lis-got.xml")"
  valid_civic lis "$WORK/lis-got.xml"
  # The dry run of the same call, given the runtime's address and the phone's offer.
  sent lis-alice '^INVITE ' >"$WORK/lis-phone.sip"
  body_part "$WORK/lis-phone.sip" application/sdp >"$WORK/lis-phone.sdp" || fail "lis: no SDP in what the phone sent"
  run call dry-run --format json --snapshot "$E911_DB.snapshot" --from "sip:alice@$DOMAIN" --ip "$SUBNET_IP" \
    --dial "sip:911@$DOMAIN;user=phone" --sent-by "127.0.0.1:$SIP_PORT" --sdp "$WORK/lis-phone.sdp"
  [ "$rc" -eq 0 ] || fail "lis: call dry-run exit $rc: $err"
  python3 -c 'import json,sys; sys.stdout.write(json.load(open(sys.argv[1]))["invite"])' "$WORK/out" >"$WORK/lis-dry.sip"
  python3 - "$WORK/lis-dry.sip" "$WORK/lis-invite.sip" <<'PY' >"$WORK/lis-diff.txt" || fail "lis: the live INVITE is not the dry run's: $(head -c 1500 "$WORK/lis-diff.txt")"
import difflib, re, sys
def normal(path):
    m = open(path, 'rb').read().decode()
    # sipp's log ends a received message with a line break of its own.
    head, _, body = m.partition('\r\n\r\n')
    length = int(re.search(r'(?im)^content-length:\s*(\d+)', head).group(1))
    m = head + '\r\n\r\n' + body[:length]
    for pattern in (r'(?im)^call-id:\s*(\S+)', r'(?im)^from:.*;tag=([^;\s]+)', r'(?im)^via:.*;branch=([^;\s]+)'):
        value = re.search(pattern, m).group(1)
        m = m.replace(value, '<' + pattern[6:10] + '>')
    m = re.sub(r'<timestamp>[^<]*</timestamp>', '<timestamp>TIME</timestamp>', m)
    return re.sub(r'(?im)^(content-length:)\s*\d+', r'\1 N', m)
a, b = normal(sys.argv[1]), normal(sys.argv[2])
if a != b:
    sys.stdout.writelines(difflib.unified_diff(a.splitlines(True), b.splitlines(True), 'dry-run', 'provider'))
    sys.exit(1)
PY
else
  echo "skip: the subnet call needs a network namespace to give lo $SUBNET_IP ($(cat "$WORK/ip.err" 2>/dev/null))"
fi

# 2b. A caller nobody knows (no user of the snapshot, not registered, no location) still reaches
#     the provider: nothing in the emergency path asks who calls.
provider stranger-provider uas_answer.xml 5070
prov_pid=$sipp_pid
call stranger uac_call.xml "sip:visitor@example.net" "sip:911@$DOMAIN;user=phone" udp 5091
expect_sipp stranger $?
expect_peer stranger-provider "$prov_pid"
got stranger-provider 'Priority: emergency'

# 3. The primary answers 503: the backup at once.
provider fo-primary uas_unavailable.xml 5070
primary_pid=$sipp_pid
provider fo-backup uas_provider.xml 5071
backup_pid=$sipp_pid
emergency_call fo-alice uac_call_pidf.xml
expect_sipp fo-alice $?
expect_peer fo-primary "$primary_pid"
expect_peer fo-backup "$backup_pid"

# 4. The primary takes the INVITE and never answers: the backup after the 10 s failover time.
provider silent-primary uas_silent.xml 5070
silent_pid=$sipp_pid
provider silent-backup uas_provider.xml 5071
backup_pid=$sipp_pid
start=$(date +%s)
emergency_call silent-alice uac_call_pidf.xml
expect_sipp silent-alice $?
took=$(($(date +%s) - start))
[ "$took" -ge 9 ] && [ "$took" -le 20 ] || fail "silent: the call took ${took}s; the backup should answer after the 10 s failover time"
expect_peer silent-backup "$backup_pid"

# 4b. The primary rings, then dies (its process killed, its TCP connection closed): the call
#     goes to the backup at once, not after Timer C's minutes (no failover timer runs after 180).
wait "$silent_pid" 2>/dev/null  # the silent primary holds port 5070 for 14 s
provider dying-primary uas_ring_then_die.xml 5070
dying_pid=$sipp_pid
provider dying-backup uas_provider.xml 5071
backup_pid=$sipp_pid
start=$(date +%s)
emergency_call dying-alice uac_call_pidf.xml &
caller_pid=$!
for _ in $(seq 100); do grep -q 'SIP/2.0 180 Ringing' "$WORK/dying-primary.msgs" 2>/dev/null && break; sleep 0.1; done
grep -q 'SIP/2.0 180 Ringing' "$WORK/dying-primary.msgs" 2>/dev/null || fail "dying: the primary never rang"
pkill -KILL -P "$dying_pid" sipp 2>/dev/null || kill -KILL "$dying_pid" 2>/dev/null
wait "$caller_pid"
expect_sipp dying-alice $?
took=$(($(date +%s) - start))
[ "$took" -le 6 ] || fail "dying: the call took ${took}s after the primary died; the backup should have it at once"
expect_peer dying-backup "$backup_pid"
wait "$dying_pid" 2>/dev/null

# 5. Test calls (933, urn:service:test.sos): answered by the runtime, read back, no trunk.
for dial in "sip:933@$DOMAIN;user=phone" "urn:service:test.sos"; do
  name=test-$([ "${dial#urn}" = "$dial" ] && echo 933 || echo urn)
  sipp_run "$name" "127.0.0.1:$SIP_PORT" -sf "$SCENARIOS/uac_test_call.xml" -p 5091 -t u1 -m 1 -timeout 20s \
    -cid_str "caller-%u-%p@%s" -key from "sip:alice@$DOMAIN" -key to "$dial"
  expect_sipp "$name" $?
  received "$name" '^MESSAGE ' >"$WORK/$name.message"
  for text in 'Callback number: +14255550101' "Route: trunk 'provider-primary' (route 'emergency-provider'), trunk 'provider-backup'" \
              'Security desk: sip:security-desk@contoso.example'; do
    grep -qF -- "$text" "$WORK/$name.message" || fail "$name: the read-back lacks '$text': $(head -c 900 "$WORK/$name.message")"
  done
done

# The record of a call says where it went and who was told; /metrics counts the MESSAGEs.
metrics=$(curl -s -m 5 -H "Authorization: Bearer $(cat "$WORK/token")" http://127.0.0.1:5081/metrics)
grep -q 'e911_runtime_notifications_total{kind="sip",outcome="ok"} [1-9]' <<<"$metrics" ||
  fail "/metrics counts no delivered desk MESSAGE: $(grep notifications <<<"$metrics")"
grep -q 'e911_runtime_notifications_total{kind="webhook",outcome="ok"} [1-9]' <<<"$metrics" ||
  fail "/metrics counts no webhook delivered over HTTPS: $(grep notifications <<<"$metrics")"
calls=$(curl -s -m 5 -H "Authorization: Bearer $(cat "$WORK/token")" 'http://127.0.0.1:5081/v1/calls?limit=10')
printf '%s' "$calls" >"$WORK/calls.json"
python3 - "$WORK/calls.json" <<'PY' || fail "/v1/calls: the emergency records lack their attempts, location or notifications: $(head -c 800 <<<"$calls")"
import json, sys
calls = [c for c in json.load(open(sys.argv[1])) if c.get("kind") == "emergency"]
assert len(calls) >= 3, len(calls)
for c in calls:
    assert c["attempts"] and all("pidf_lo" in a for a in c["attempts"]), c["attempts"]
    assert c["location_source"], c
fo = [c for c in calls if len(c["attempts"]) == 2]
assert fo, "no call with two attempts"
assert any(n.get("outcome") == "ok" for c in calls for n in c.get("notifications", [])), "no delivered notification"
PY

expect_serving "after the emergency calls"
finish
