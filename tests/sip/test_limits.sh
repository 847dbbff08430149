#!/usr/bin/env bash
# Limits per source and in all (issue 14): a flood from one address never starves emergency calls.
# The runtime runs with max_calls_per_source 20, max_calls 30, max_connections_per_source 16 and
# max_connections 40 (serve.yaml). The phone that must get through is alice at 127.0.0.2; the
# floods come from 127.0.0.3 (bob) and 127.0.0.4 (dave), none of them a trunk's host (the
# samples' trunks are all 127.0.0.1). The gateway of their ordinary calls (127.0.0.1:5072) is
# silent, so every call let in stays in progress (Timer B, 32 s) and the limits are reached.
#   1. 127.0.0.3 floods 600 ordinary INVITEs at 200/s while alice places 20 emergency calls:
#      exactly 20 of the flood are let in, the other 580 get 503 (too many calls from this
#      address) with Retry-After; every emergency call reaches the provider's sipp and is
#      answered. An emergency call and a test call (933) from 127.0.0.3 itself, past its limit,
#      get through.
#   2. 127.0.0.4 floods 200 more beside it: past max_calls 30 they get 503 (too many calls in progress);
#      alice's emergency calls still go through, counted as taken past max_calls.
#   3. 127.0.0.3 opens 40 TCP connections: 16 stay open (and carry SIP), 24 are reset at accept,
#      so is a 41st; alice's emergency call over TCP and one from 127.0.0.3 over UDP get through.
#      127.0.0.4 and 127.0.0.5 then open 16 each: past max_connections 40 some are reset. At the
#      tls: listener (limits of its own) 16 of 20 from 127.0.0.3 stay, and alice's TLS is served.
#   4. /metrics counts every refusal by its reason; the log has one line per source and limit
#      for each burst, and a later line with the count of those held back, which add up to the
#      metric; no call line for a refused call.
source "$(dirname "$0")/lib.sh" "$@"
PHONE=127.0.0.2 FLOOD=127.0.0.3 FLOOD2=127.0.0.4 FLOOD3=127.0.0.5

publish_samples || { finish; exit 1; }
# No OPTIONS keep-alive to the provider: its sipp takes INVITEs only, and this test runs past an
# options_interval (30 s).
cat >"$WORK/no-ping.yaml" <<'EOF'
kind: Trunk
name: provider-primary
host: 127.0.0.1
port: 5070
transport: tcp
accepts_pidf_lo: true
strip_plus: false
forward_pai: true
request_uri_form: plus
failover_seconds: 10
options_ping: false
EOF
run apply -f "$WORK/no-ping.yaml"
[ "$rc" -eq 0 ] || fail "apply provider-primary without options_ping: $err"
run publish
[ "$rc" -eq 0 ] || fail "publish: $err"
# A tls: listener (5061) too, with a certificate of its own for 127.0.0.1.
command -v openssl >/dev/null || { fail "openssl is missing (scripts/install-deps installs it)"; finish; exit 1; }
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 -subj "/CN=127.0.0.1" \
  -addext "subjectAltName=IP:127.0.0.1" -keyout "$WORK/tls.key" -out "$WORK/tls.crt" >"$WORK/openssl.log" 2>&1 ||
  fail "openssl req failed: $(tail -n 3 "$WORK/openssl.log")"
chmod 600 "$WORK/tls.key"
cat >"$WORK/serve.yaml" <<EOF
tls_certificate: '$WORK/tls.crt'
tls_private_key: '$WORK/tls.key'
max_connections: 40
max_connections_per_source: 16
max_calls_per_source: 20
max_calls: 30
log_format: json
EOF
printf 'limits-token-%s\n' "$RANDOM$RANDOM" >"$WORK/token"
chmod 600 "$WORK/token"
start_serve --config "$WORK/serve.yaml" --listen tls:127.0.0.1:5061 --snapshot "$E911_DB.snapshot" --domain "$DOMAIN" --admin 127.0.0.1:5081 \
  --token-file "$WORK/token" || { finish; exit 1; }

metrics() { curl -s -m 5 -H "Authorization: Bearer $(cat "$WORK/token")" http://127.0.0.1:5081/metrics; }
# metric NAME{LABELS}: its value now (0 when absent).
metric() { metrics | awk -v m="$1" '$1 == m {print $2; found = 1} END {if (!found) print 0}'; }
# at IP NAME ARGS...: sipp_run with the phone at IP; at_bg the same in the background ($sipp_pid).
at_args() { sipp_args "$2" | sed "s/-i 127\.0\.0\.1/-i $1/"; }
at() {
  local ip=$1 name=$2
  shift 2
  # shellcheck disable=SC2046
  (cd "$WORK" && exec timeout -k 2 60 sipp "$@" $(at_args "$ip" "$name")) >"$WORK/$name.out" 2>&1 </dev/null
}
at_bg() {
  local ip=$1 name=$2
  shift 2
  # shellcheck disable=SC2046
  (cd "$WORK" && exec timeout -k 2 60 sipp "$@" $(at_args "$ip" "$name")) >"$WORK/$name.out" 2>&1 </dev/null &
  sipp_pid=$!
  background+=("$sipp_pid")
}
# sipp_stat NAME "Successful call"|"Failed call": sipp run NAME's total of that row.
sipp_stat() { awk -F'|' -v row="$2" '$1 ~ row {gsub(/ /, "", $3); v = $3} END {print v + 0}' "$WORK/$1.screen" 2>/dev/null; }
emergency() {  # NAME IP PORT TRANSPORT [CALLS RATE]: emergency calls with their PIDF-LO to 911
  at "$2" "$1" "127.0.0.1:$SIP_PORT" -sf "$SCENARIOS/uac_call_pidf.xml" -p "$3" -t "$(sipp_transport "$4")" -m "${5:-1}" -r "${6:-10}" \
    -l 20 -timeout 40s -cid_str "caller-%u-%p@%s" -key from "sip:alice@$DOMAIN" -key to "sip:911@$DOMAIN;user=phone"
}
ordinary_to="sip:+14255550123@$DOMAIN;user=phone"  # the local route: the silent gateway 127.0.0.1:5072

# The provider answers every emergency call: 20 + 1 (step 1), 1 + 1 (step 3).
emergency_calls=23
sipp_bg provider -sf "$SCENARIOS/uas_provider.xml" -p 5070 -t t1 -m "$emergency_calls" -timeout 58s
provider_pid=$sipp_pid
wait_listening 5070 || fail "the provider does not listen on 5070"

# 1. The flood from 127.0.0.3, and alice's emergency calls beside it. A call let in waits for
#    its answer 5 s (-recv_timeout), then sipp gives up on it (-nd: no CANCEL, so it stays in
#    progress at the runtime, as a flooder's calls do).
at_bg "$FLOOD" flood-a "127.0.0.1:$SIP_PORT" -sf "$SCENARIOS/uac_503.xml" -p 5093 -t u1 -m 600 -r 200 -l 600 -recv_timeout 5000 -nd \
  -timeout 30s -key from "sip:bob@$DOMAIN" -key to "$ordinary_to"
flood_a_pid=$sipp_pid
for _ in $(seq 50); do [ "$(metric 'e911_runtime_calls_refused_total{reason="max_calls_per_source"}')" -gt 0 ] && break; sleep 0.1; done
at_bg "$PHONE" alice-911 "127.0.0.1:$SIP_PORT" -sf "$SCENARIOS/uac_call_pidf.xml" -p 5091 -t u1 -m 20 -r 1 -l 20 -timeout 40s \
  -cid_str "caller-%u-%p@%s" -key from "sip:alice@$DOMAIN" -key to "sip:911@$DOMAIN;user=phone"
alice_pid=$sipp_pid
# From the flooding address itself, past its limit: an emergency call and a test call.
emergency flood-911 "$FLOOD" 5095 udp
expect_sipp flood-911 $? || echo "  (the emergency call from the flooding address $FLOOD failed)" >&2
at "$FLOOD" flood-933 "127.0.0.1:$SIP_PORT" -sf "$SCENARIOS/uac_test_call.xml" -p 5095 -t u1 -m 1 -timeout 20s \
  -cid_str "caller-%u-%p@%s" -key from "sip:bob@$DOMAIN" -key to "sip:933@$DOMAIN;user=phone"
expect_sipp flood-933 $? || echo "  (the test call from the flooding address $FLOOD failed)" >&2
# 2. A second address, while the first still floods, past max_calls (30): 20 calls of 127.0.0.3
#    and some of alice's are in progress. (127.0.0.3 is at its own limit already, so its calls
#    are refused for that, whatever the second flood takes.)
at_bg "$FLOOD2" flood-b "127.0.0.1:$SIP_PORT" -sf "$SCENARIOS/uac_503.xml" -p 5094 -t u1 -m 200 -r 100 -l 200 -recv_timeout 5000 -nd \
  -timeout 30s -key from "sip:dave@$DOMAIN" -key to "$ordinary_to"
flood_b_pid=$sipp_pid
wait "$flood_a_pid"
wait "$flood_b_pid"
refused_a=$(sipp_stat flood-a "Successful call")
let_in_a=$(sipp_stat flood-a "Failed call")
[ "$refused_a" -eq 580 ] && [ "$let_in_a" -eq 20 ] ||
  fail "the flood from $FLOOD: $refused_a refused with 503 and $let_in_a let in, not 580 and 20 (max_calls_per_source 20)"
reason_a=$(received flood-a '^SIP/2\.0 503' | tr -d '\r')
grep -q '^SIP/2.0 503 Service Unavailable (too many calls from this address)$' <<<"$reason_a" || fail "the flood's 503 does not say why: $(head -n1 <<<"$reason_a")"
grep -q '^Retry-After: 10$' <<<"$reason_a" || fail "the flood's 503 has no Retry-After: $reason_a"
refused_b=$(sipp_stat flood-b "Successful call")
[ "$refused_b" -ge 180 ] && [ "$refused_b" -lt 200 ] || fail "the flood from $FLOOD2: $refused_b of 200 refused past max_calls 30, not 180 to 199"
received flood-b '^SIP/2\.0 503' | tr -d '\r' | grep -q '^SIP/2.0 503 Service Unavailable (too many calls in progress)$' ||
  fail "the second flood's 503 does not say the runtime is full: $(received flood-b '^SIP/2\.0 503' | head -n1)"
expect_peer alice-911 "$alice_pid"
answered=$(sipp_stat alice-911 "Successful call")
[ "$answered" -eq 20 ] || fail "$answered of alice's 20 emergency calls were answered during the floods"

# 3. Connections: 40 from 127.0.0.3 (16 stay), then a 41st; each open one still carries SIP.
conn_flood() {  # IP COUNT HOLD_SECONDS: prints "open N reset M"; an OPTIONS on an open one must get 200
  python3 - "$@" "$SIP_PORT" <<'PY'
import select, socket, sys, time
ip, count, hold, port = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
conns = []
for _ in range(count):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind((ip, 0))
    s.settimeout(2)
    try:
        s.connect(('127.0.0.1', port))
        conns.append(s)
    except OSError:
        # The reset can come before connect() has returned (it checks SO_ERROR after the
        # handshake): refused as well.
        conns.append(None)
time.sleep(1)  # accepted, or reset at accept
open_, reset = [], 0
for s in conns:
    if s is None:
        reset += 1
        continue
    r, _, _ = select.select([s], [], [], 0)
    if not r:
        open_.append(s)
        continue
    try:
        data = s.recv(1)
    except OSError:
        data = b''
    if data == b'':
        reset += 1
    else:
        open_.append(s)
ok = 0
if open_:
    s = open_[0]
    lp = s.getsockname()[1]
    s.sendall(('OPTIONS sip:127.0.0.1:%d SIP/2.0\r\nVia: SIP/2.0/TCP %s:%d;branch=z9hG4bKconn%d;rport\r\nMax-Forwards: 70\r\n'
               'From: <sip:probe@%s>;tag=c\r\nTo: <sip:127.0.0.1:%d>\r\nCall-ID: conn-%d@%s\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n'
               % (port, ip, lp, lp, ip, port, lp, ip)).encode())
    try:
        ok = s.recv(65536).startswith(b'SIP/2.0 200 ')
    except OSError:
        ok = False
print('open %d reset %d options %s' % (len(open_), reset, 'ok' if ok else 'failed'), flush=True)
time.sleep(hold)
PY
}
conn_flood "$FLOOD" 40 12 >"$WORK/conn-a.out" 2>&1 &
conn_a_pid=$!
background+=("$conn_a_pid")
for _ in $(seq 50); do [ -s "$WORK/conn-a.out" ] && break; sleep 0.1; done
got=$(cat "$WORK/conn-a.out")
[ "$got" = "open 16 reset 24 options ok" ] || fail "40 connections from $FLOOD (max_connections_per_source 16): '$got', not 'open 16 reset 24 options ok'"
# A 41st while the 16 are held.
got=$(python3 - "$FLOOD" "$SIP_PORT" <<'PY'
import socket, sys
s = socket.socket(); s.bind((sys.argv[1], 0)); s.settimeout(2)
try:
    s.connect(('127.0.0.1', int(sys.argv[2])))  # the reset may come before connect() returns
    print('reset' if s.recv(1) == b'' else 'open')
except socket.timeout:
    print('open')
except OSError:
    print('reset')
PY
)
[ "$got" = reset ] || fail "a 17th connection from $FLOOD was not reset at accept: $got"
# Alice over TCP from her own address, and the flooding address over UDP: both answered.
emergency tcp-911 "$PHONE" 5096 tcp
expect_sipp tcp-911 $? || echo "  (alice's emergency call over TCP failed while $FLOOD held its connections)" >&2
emergency flood-911-udp "$FLOOD" 5097 udp
expect_sipp flood-911-udp $? || echo "  (the emergency call over UDP from $FLOOD, at its connection limit, failed)" >&2
# max_connections (40 on the address): 127.0.0.4 and 127.0.0.5 take 16 each beside the 16 held.
conn_flood "$FLOOD2" 16 3 >"$WORK/conn-b.out" 2>&1 &
conn_b_pid=$!
background+=("$conn_b_pid")
sleep 0.5
conn_flood "$FLOOD3" 16 1 >"$WORK/conn-c.out" 2>&1
wait "$conn_b_pid"
wait "$conn_a_pid"
total_refused=$(metric 'e911_runtime_connections_refused_total{reason="max_connections"}')
[ "$total_refused" -gt 0 ] || fail "48 connections from three addresses (max_connections 40) refused none as max_connections: $(cat "$WORK/conn-b.out" "$WORK/conn-c.out")"

# The tls: listener has limits of its own: 20 connections from 127.0.0.3 that never start their
# handshake, 16 stay (until the 4 s handshake deadline), 4 are reset at accept; beside them alice
# completes a handshake and her OPTIONS over TLS gets 200.
got=$(python3 - "$FLOOD" "$PHONE" "$WORK/tls.crt" <<'PY'
import select, socket, ssl, sys, time
flood, phone, ca = sys.argv[1:4]
conns = []
for _ in range(20):
    s = socket.socket(); s.bind((flood, 0)); s.settimeout(2)
    try:
        s.connect(('127.0.0.1', 5061)); conns.append(s)
    except OSError:
        conns.append(None)  # reset before connect() returned
time.sleep(1)
reset = 0
for s in conns:
    if s is None:
        reset += 1
        continue
    if select.select([s], [], [], 0)[0]:
        try:
            data = s.recv(1)
        except OSError:
            data = b''
        reset += data == b''
status = 'none'
try:
    with socket.create_connection(('127.0.0.1', 5061), timeout=3, source_address=(phone, 0)) as raw:
        with ssl.create_default_context(cafile=ca).wrap_socket(raw, server_hostname='127.0.0.1') as t:
            lp = t.getsockname()[1]
            t.sendall(('OPTIONS sip:127.0.0.1:5061 SIP/2.0\r\nVia: SIP/2.0/TLS %s:%d;branch=z9hG4bKtls%d;rport\r\nMax-Forwards: 70\r\n'
                       'From: <sip:alice@%s>;tag=t\r\nTo: <sip:127.0.0.1:5061>\r\nCall-ID: tls-%d@%s\r\nCSeq: 1 OPTIONS\r\n'
                       'Content-Length: 0\r\n\r\n' % (phone, lp, lp, phone, lp, phone)).encode())
            status = t.recv(65536).split(b' ')[1].decode()
except Exception as e:
    status = 'error: %s' % e
print('open %d reset %d tls %s' % (len(conns) - reset, reset, status))
PY
)
[ "$got" = "open 16 reset 4 tls 200" ] || fail "20 connections from $FLOOD to the tls: listener and alice's over TLS: '$got', not 'open 16 reset 4 tls 200'"

expect_peer provider "$provider_pid"
provider_answered=$(sipp_stat provider "Successful call")
[ "$provider_answered" -eq "$emergency_calls" ] || fail "the provider answered $provider_answered of $emergency_calls emergency calls"

# 4. What the runtime tells. The lines held back are written once their 10 s have passed.
first_call_line="limit: ordinary call from $FLOOD refused (503): 20 calls in progress from that address (max_calls_per_source 20)"
for _ in $(seq 150); do grep -q "more like this not logged since the last line: TCP connection from $FLOOD " "$WORK/serve.err" &&
  grep -q "more like this not logged since the last line: TLS connection from $FLOOD " "$WORK/serve.err" &&
  grep -q "more like this not logged since the last line: ordinary call from $FLOOD " "$WORK/serve.err" && break; sleep 0.1; done
m=$(metrics)
value() { awk -v m="$1" '$1 == m {print $2; found = 1} END {if (!found) print 0}' <<<"$m"; }
per_source_calls=$(value 'e911_runtime_calls_refused_total{reason="max_calls_per_source"}')
[ "$per_source_calls" -eq "$refused_a" ] || fail "calls_refused_total{max_calls_per_source} is $per_source_calls, the flood got $refused_a 503s"
max_calls=$(value 'e911_runtime_calls_refused_total{reason="max_calls"}')
[ "$max_calls" -eq "$refused_b" ] || fail "calls_refused_total{max_calls} is $max_calls, the second flood got $refused_b 503s"
admitted_source=$(value 'e911_runtime_calls_over_limit_admitted_total{reason="max_calls_per_source"}')
[ "$admitted_source" -ge 2 ] || fail "calls_over_limit_admitted_total{max_calls_per_source} is $admitted_source: the emergency and test calls from $FLOOD were not counted"
admitted_total=$(value 'e911_runtime_calls_over_limit_admitted_total{reason="max_calls"}')
[ "$admitted_total" -ge 1 ] || fail "calls_over_limit_admitted_total{max_calls} is $admitted_total: no emergency call was taken past max_calls"
conn_refused=$(value 'e911_runtime_connections_refused_total{reason="max_connections_per_source"}')
[ "$conn_refused" -eq 29 ] || fail "connections_refused_total{max_connections_per_source} is $conn_refused, not 29 (24 of the 40, the 41st, 4 over TLS)"
emergency_answered=$(value 'e911_runtime_calls_total{kind="emergency",outcome="answered"}')
emergency_other=$(grep -E '^e911_runtime_calls_total\{kind="emergency",outcome="[^"]*"\} [0-9]+' <<<"$m" | grep -v 'outcome="answered"' | awk '{s += $2} END {print s + 0}')
[ "$emergency_answered" -eq "$emergency_calls" ] && [ "$emergency_other" -eq 0 ] ||
  fail "calls_total counts $emergency_answered emergency calls answered and $emergency_other otherwise, not $emergency_calls and 0"
ordinary_rejected=$(value 'e911_runtime_calls_total{kind="ordinary",outcome="rejected"}')
[ "$ordinary_rejected" -eq $((refused_a + refused_b)) ] || fail "calls_total{ordinary,rejected} is $ordinary_rejected, not $((refused_a + refused_b))"

# One line for the burst of calls from 127.0.0.3, then one with the rest: 1 + held back = refused.
lines=$(grep -c "\"msg\":\"limit: ordinary call from $FLOOD refused" "$WORK/serve.err")
[ "$lines" -eq 1 ] || fail "$lines log lines for the calls refused from $FLOOD, not 1 (rate-limited)"
grep -qF "\"msg\":\"$first_call_line\"" "$WORK/serve.err" || fail "no log line '$first_call_line'"
held=$(grep -o "limit: [0-9]* more like this not logged since the last line: ordinary call from $FLOOD " "$WORK/serve.err" | awk '{s += $2} END {print s + 0}')
[ $((1 + held)) -eq "$refused_a" ] || fail "the log tells of 1 + $held calls refused from $FLOOD, /metrics and the flood of $refused_a"
lines=$(grep -c "\"msg\":\"limit: TCP connection from $FLOOD to 127.0.0.1:$SIP_PORT refused: 16 already open from that address (max_connections_per_source 16)\"" "$WORK/serve.err")
[ "$lines" -eq 1 ] || fail "$lines log lines for the connections refused from $FLOOD, not 1"
held=$(grep -o "limit: [0-9]* more like this not logged since the last line: TCP connection from $FLOOD " "$WORK/serve.err" | awk '{s += $2} END {print s + 0}')
[ $((1 + held)) -eq 25 ] || fail "the log tells of 1 + $held TCP connections refused from $FLOOD, not 25"
lines=$(grep -c "\"msg\":\"limit: TLS connection from $FLOOD to 127.0.0.1:5061 refused: 16 already open from that address (max_connections_per_source 16)\"" "$WORK/serve.err")
[ "$lines" -eq 1 ] || fail "$lines log lines for the TLS connections refused from $FLOOD, not 1"
held=$(grep -o "limit: [0-9]* more like this not logged since the last line: TLS connection from $FLOOD " "$WORK/serve.err" | awk '{s += $2} END {print s + 0}')
[ $((1 + held)) -eq 4 ] || fail "the log tells of 1 + $held TLS connections refused from $FLOOD, not 4"
grep -q "limit: emergency call from $FLOOD taken though past a limit" "$WORK/serve.err" || fail "no log line for the emergency call taken past its address's limit"
grep -q "connections open (max_connections 40)" "$WORK/serve.err" || fail "no log line for a connection refused past max_connections"
# A refused call has no call line: the call lines are the emergency, test and let-in calls only.
call_lines=$(grep -c '"msg":"call"' "$WORK/serve.err")
[ "$call_lines" -lt 100 ] || fail "$call_lines call lines: the refused calls were logged one by one"
limit_lines=$(grep -c '"msg":"limit: ' "$WORK/serve.err")

# What was measured, for the record.
count=$(value e911_runtime_emergency_invite_seconds_count)
sum=$(value e911_runtime_emergency_invite_seconds_sum)
echo "flood $FLOOD: $refused_a of 600 refused (503), $let_in_a let in; flood $FLOOD2: $refused_b of 200 refused past max_calls;" \
  "emergency calls answered by the provider: $provider_answered of $emergency_calls, mean INVITE in -> out $(python3 -c "print('%.2f ms' % (1000 * $sum / max($count, 1)))");" \
  "connections refused per source $conn_refused, in all $total_refused; $limit_lines limit log lines"
expect_serving "after the floods"
finish
