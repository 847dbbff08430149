#!/usr/bin/env bash
# The running runtime as an operator meets it (issue 12): the real `e911ctl serve` with sipp phones
# and trunks, its admin API asked by `e911ctl runtime` and curl, its signals and its addresses.
#   1. admin API: `runtime status` names the snapshot revision in service and 0 calls; bob's
#      REGISTER shows in `runtime registrations`; alice's answered call to bob in `runtime calls`
#      (kind internal, outcome answered), her call to +14255550199 (the pstn-gateway trunk, 5072)
#      with its decision trace and attempts; /metrics counts the answered internal call; without
#      the token /v1/status is 401 (and a token file others may read is refused, exit 1);
#      `runtime reload` is exit 0, and exit 3 for a corrupt snapshot file while OPTIONS still
#      names the old revision in its Server header;
#   2. registrations survive a restart: SIGTERM (exit 0 within seconds; `runtime status` is then
#      exit 4), the bindings file, a new serve lists bob again and a call to bob reaches his phone;
#   3. SIGTERM drains: with alice's call to bob up, SIGTERM; a new INVITE gets 503, alice's BYE
#      still crosses to bob, and serve exits 0 by itself once the call ends, before --drain-timeout;
#   4. IPv6: serve also on [::1]:5060; bob registers from [::1], alice calls him over IPv6;
#   5. a request that comes back (a Via naming the runtime's own address with its z9hG4bKe911
#      branch) gets 482, over IPv4 and IPv6; the same Via with another branch or port does not.
source "$(dirname "$0")/lib.sh" "$@"
publish_samples || { finish; exit 1; }
REVISION=$(sed -nE 's/^published revision ([0-9]+) .*/\1/p' <<<"$out")
[ -n "$REVISION" ] || { fail "publish did not name its revision: $out"; finish; exit 1; }

ALICE=sip:alice@$DOMAIN BOB=sip:bob@$DOMAIN
SNAPSHOT=$E911_DB.snapshot
ADMIN_PORT=5081
ADMIN=http://127.0.0.1:$ADMIN_PORT
TOKEN=$WORK/admin.token
(umask 077 && head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$TOKEN")
chmod 600 "$TOKEN"
DRAIN_TIMEOUT=20
SERVE_ARGS=(--snapshot "$SNAPSHOT" --domain "$DOMAIN" --admin "127.0.0.1:$ADMIN_PORT" --token-file "$TOKEN"
  --drain-timeout "$DRAIN_TIMEOUT")

# rt VERB ARGS...: `e911ctl runtime VERB` against this runtime ($out, $err, $rc).
rt() { run runtime "$1" --runtime "$ADMIN" --token-file "$TOKEN" "${@:2}"; }
# js EXPR: EXPR (Python, the JSON document $out as d) printed; nothing when $out is not JSON.
js() { python3 -c 'import json,sys; d=json.loads(sys.stdin.read()); r=eval(sys.argv[1]); print(json.dumps(r) if isinstance(r,(dict,list,bool)) or r is None else r)' "$1" <<<"$out" 2>/dev/null; }
# http PATH [TOKEN]: GET of the admin API; the body, then the status code on the last line.
http() {
  if command -v curl >/dev/null; then
    if [ -n "${2:-}" ]; then curl -s -m 5 -w '\n%{http_code}' -H "Authorization: Bearer $2" "$ADMIN$1"
    else curl -s -m 5 -w '\n%{http_code}' "$ADMIN$1"; fi
  else
    python3 - "$ADMIN$1" "${2:-}" <<'PY'
import sys, urllib.request, urllib.error
req = urllib.request.Request(sys.argv[1])
if sys.argv[2]: req.add_header('Authorization', 'Bearer ' + sys.argv[2])
try:
    with urllib.request.urlopen(req, timeout=5) as r: print(r.read().decode()); print(r.status)
except urllib.error.HTTPError as e: print(e.read().decode()); print(e.code)
PY
  fi
}
# until_ok TENTHS CMD...: CMD run every 0.1 s until it succeeds, at most TENTHS times.
until_ok() {
  local n=$1
  shift
  for _ in $(seq "$n"); do "$@" && return 0; sleep 0.1; done
  return 1
}
# wait_exit SECONDS: waits for serve to end by itself; $serve_rc is its exit code (or "running"
# when it did not end in time, after which it is killed), $serve_secs how long it took.
wait_exit() {
  local start
  start=$(date +%s%N)
  serve_rc=running
  for _ in $(seq $(($1 * 10))); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$server_pid" 2>/dev/null; then
    kill -KILL "$server_pid" 2>/dev/null
    wait "$server_pid" 2>/dev/null
  else
    wait "$server_pid"
    serve_rc=$?
  fi
  server_pid=
  serve_secs=$((($(date +%s%N) - start) / 1000000))
}

# sip_probe HOST PORT REQUEST: REQUEST (with {lport} for the probe's own port, {rport} for PORT,
# \r\n line ends added) sent once over UDP to HOST:PORT; prints the first answer (up to 2 s)
# with its line ends stripped, else nothing.
sip_probe() {
  python3 - "$@" <<'PY'
import socket, sys
host, port, text = sys.argv[1], int(sys.argv[2]), sys.argv[3]
family = socket.AF_INET6 if ':' in host else socket.AF_INET
s = socket.socket(family, socket.SOCK_DGRAM)
s.bind((host, 0))
s.settimeout(2)
lines = text.replace('{lport}', str(s.getsockname()[1])).replace('{rport}', str(port)).split('\n')
head = '\r\n'.join(l for l in lines) + '\r\n\r\n'
s.sendto(head.encode(), (host, port))
try:
    data = s.recv(70000).decode('utf-8', 'replace').replace('\r', '')
    print(data)
    if data.startswith('SIP/2.0') and ' INVITE' in text.split('\n', 1)[0] and not data.startswith('SIP/2.0 1'):
        # ACK the final answer (a non-2xx: the same branch, RFC 3261 §17.1.1.3).
        first = text.split('\n')
        to = next((l for l in data.split('\n') if l.lower().startswith(('to:', 't:'))), 'To: <sip:x@x>')
        ack = [('ACK' + first[0][len('INVITE'):])]
        vias = 0
        for l in first[1:]:
            k = l.split(':', 1)[0].strip().lower()
            if k == 'via':
                vias += 1
                if vias > 1: continue  # only the top Via (§17.1.1.3)
            if k in ('via', 'from', 'call-id', 'max-forwards'): ack.append(l)
        ack += [to, 'CSeq: 1 ACK', 'Content-Length: 0']
        s.sendto(('\r\n'.join(ack).replace('{lport}', str(s.getsockname()[1])) + '\r\n\r\n').encode(), (host, port))
except OSError:
    pass
PY
}
# The OPTIONS answer's Server header (IPv4, the runtime's port).
server_header() {
  sip_probe 127.0.0.1 "$SIP_PORT" "OPTIONS sip:127.0.0.1:{rport} SIP/2.0
Via: SIP/2.0/UDP 127.0.0.1:{lport};branch=z9hG4bKsrv$RANDOM;rport
Max-Forwards: 70
From: <sip:probe@127.0.0.1>;tag=s$RANDOM
To: <sip:127.0.0.1:{rport}>
Call-ID: server-$RANDOM@probe
CSeq: 1 OPTIONS
Content-Length: 0" | sed -nE 's/^Server:[[:space:]]*//Ip'
}

# --- 1. The admin API end to end -------------------------------------------------------------
start_serve "${SERVE_ARGS[@]}" || { finish; exit 1; }

rt status --format json
if [ "$rc" -ne 0 ]; then
  fail "runtime status exited $rc: $err"
else
  [ "$(js 'd["snapshot"]["revision"]')" = "$REVISION" ] || fail "runtime status: snapshot revision is not $REVISION: $out"
  [ "$(js 'd["calls_in_progress"]')" = 0 ] || fail "runtime status: calls in progress is not 0: $out"
  [ "$(js 'd["draining"]')" = false ] || fail "runtime status: draining before any SIGTERM: $out"
fi
[[ $(server_header) == *"snapshot/$REVISION"* ]] || fail "OPTIONS Server header does not name revision $REVISION: '$(server_header)'"

# The token: /healthz needs none, everything else does.
[ "$(http /v1/status | tail -n1)" = 401 ] || fail "/v1/status without a token is not 401"
[ "$(http /v1/status wrong-token | tail -n1)" = 401 ] || fail "/v1/status with a wrong token is not 401"
[ "$(http /metrics | tail -n1)" = 401 ] || fail "/metrics without a token is not 401"
[ "$(http /v1/status "$(cat "$TOKEN")" | tail -n1)" = 200 ] || fail "/v1/status with the token is not 200"
[ "$(http /healthz | tail -n1)" = 200 ] || fail "/healthz without a token is not 200"
# A token file others may read is refused by the client (exit 1), before it asks.
cp "$TOKEN" "$WORK/open.token" && chmod 644 "$WORK/open.token"
run runtime status --runtime "$ADMIN" --token-file "$WORK/open.token"
[ "$rc" -eq 1 ] || fail "runtime status with a token file of mode 0644 exited $rc, not 1: $out $err"

# bob and alice register; bob's binding is listed.
register reg-bob bob 5090 udp || expect_sipp reg-bob $?
register reg-alice alice 5091 udp || expect_sipp reg-alice $?
rt registrations --format json
[ "$rc" -eq 0 ] || fail "runtime registrations exited $rc: $err"
[ "$(js '[i["contact"] for i in d["items"] if i["aor"] == "sip:bob@contoso.example"]')" = '["sip:bob@127.0.0.1:5090;transport=udp"]' ] ||
  fail "runtime registrations does not list bob's binding sip:bob@127.0.0.1:5090: $out"
rt registrations
grep -q 'sip:bob@contoso.example.*sip:bob@127.0.0.1:5090' <<<"$out" || fail "runtime registrations (text) does not list bob: $out"

# alice calls bob: an internal call, answered.
phone internal-bob uas_answer.xml 5090 udp
bob_pid=$sipp_pid
call internal-alice uac_call.xml "$ALICE" "$BOB" udp 5091
expect_sipp internal-alice $?
expect_peer internal-bob "$bob_pid"
# The call is logged when it ends (the BYE), which may be a moment after alice's sipp stops.
internal_logged() {
  rt calls --format json
  [ "$(js '[c["outcome"] for c in d["items"] if c.get("kind") == "internal" and "bob" in c.get("request_uri", "")]')" = '["answered"]' ]
}
until_ok 30 internal_logged || fail "runtime calls does not list alice's call to bob as kind internal, outcome answered: $out"

# alice calls a local PSTN number: route local-calls, the pstn-gateway trunk answers.
phone pstn-gateway uas_answer.xml 5072 udp
gw_pid=$sipp_pid
call pstn-alice uac_call.xml "$ALICE" "sip:+14255550199@$DOMAIN;user=phone" udp 5091
expect_sipp pstn-alice $?
expect_peer pstn-gateway "$gw_pid"
pstn_logged() {
  rt calls --format json
  [ "$(js '[c["outcome"] for c in d["items"] if "14255550199" in c.get("request_uri", "")]')" = '["answered"]' ]
}
until_ok 30 pstn_logged || fail "runtime calls does not list alice's answered call to +14255550199: $out"
pstn=$(js '[c for c in d["items"] if "14255550199" in c.get("request_uri", "")][0]')
out=$pstn
[ "$(js 'isinstance(d.get("decision"), dict)')" = true ] || fail "the PSTN call's record has no decision object: $pstn"
[ "$(js 'isinstance(d["decision"].get("trace"), list) and len(d["decision"]["trace"]) > 0')" = true ] ||
  fail "the PSTN call's decision has no trace: $pstn"
[ "$(js 'isinstance(d.get("attempts"), list) and len(d["attempts"]) > 0')" = true ] || fail "the PSTN call's record has no attempts: $pstn"
[[ $(js 'd["attempts"]') == *pstn-gateway* ]] || fail "the PSTN call's attempts do not name the pstn-gateway trunk: $pstn"
rt calls
[ "$rc" -eq 0 ] && grep -q internal <<<"$out" || fail "runtime calls (text) exited $rc or lists no internal call: $out $err"

# /metrics: the answered internal call is counted.
metrics=$(http /metrics "$(cat "$TOKEN")")
answered=$(sed -nE 's/^e911_runtime_calls_total\{kind="internal",outcome="answered"\} ([0-9]+)$/\1/p' <<<"$metrics")
[ "${answered:-0}" -ge 1 ] ||
  fail "/metrics: no e911_runtime_calls_total{kind=\"internal\",outcome=\"answered\"} >= 1: $(grep calls_total <<<"$metrics")"
echo "admin: revision $REVISION in service, internal answered calls counted: ${answered:-none}"

# Reload: the same file is exit 0; a corrupt one is refused (exit 3) and the revision stays.
rt reload
[ "$rc" -eq 0 ] || fail "runtime reload of a good snapshot exited $rc: $out $err"
cp "$SNAPSHOT" "$WORK/good.snapshot"
python3 - "$SNAPSHOT" <<'PY'
import sys
p = sys.argv[1]
b = bytearray(open(p, 'rb').read())
for i in range(len(b) // 2, len(b) // 2 + 64):  # 64 bytes in the middle of the payload
    b[i] ^= 0x5a
open(p, 'wb').write(bytes(b))
PY
rt reload
[ "$rc" -eq 3 ] || fail "runtime reload of a corrupt snapshot exited $rc, not 3: $out $err"
[[ $(server_header) == *"snapshot/$REVISION"* ]] || fail "after a refused reload, OPTIONS Server header is '$(server_header)', not revision $REVISION"
echo garbage >"$SNAPSHOT"
rt reload
[ "$rc" -eq 3 ] || fail "runtime reload of a file that is no snapshot exited $rc, not 3: $out $err"
cp "$WORK/good.snapshot" "$SNAPSHOT"
rt status --format json
[ "$(js 'd["snapshot"]["revision"]')" = "$REVISION" ] || fail "after refused reloads, runtime status: $out"
expect_serving "after the admin API checks"

# --- 2. Registrations survive a restart --------------------------------------------------------
kill -TERM "$server_pid"
wait_exit 5
[ "$serve_rc" = 0 ] || fail "restart: serve after SIGTERM (no calls): exit '$serve_rc' after ${serve_secs} ms, not 0 within 5 s"
echo "restart: serve exited $serve_rc ${serve_secs} ms after SIGTERM"
rt status
[ "$rc" -eq 4 ] || fail "runtime status with no runtime answering exited $rc, not 4: $out $err"
BINDINGS=$SNAPSHOT.bindings
if [ -s "$BINDINGS" ]; then
  grep -q 'bob@127.0.0.1:5090' "$BINDINGS" || fail "restart: $BINDINGS does not hold bob's contact"
else
  fail "restart: no bindings file $BINDINGS after SIGTERM"
fi
start_serve "${SERVE_ARGS[@]}" || { finish; exit 1; }
rt registrations --format json
[ "$(js '[i["contact"] for i in d["items"] if i["aor"] == "sip:bob@contoso.example"]')" = '["sip:bob@127.0.0.1:5090;transport=udp"]' ] ||
  fail "restart: runtime registrations does not list bob's binding after the restart: $out $err"
phone restart-bob uas_answer.xml 5090 udp
bob_pid=$sipp_pid
call restart-alice uac_call.xml "$ALICE" "$BOB" udp 5091
expect_sipp restart-alice $?
expect_peer restart-bob "$bob_pid"
[[ $(received restart-bob '^INVITE ' | head -1 | tr -d '\r') == "INVITE sip:bob@127.0.0.1:5090"* ]] ||
  fail "restart: bob's phone got no INVITE to his restored contact"

# --- 3. SIGTERM drains -------------------------------------------------------------------------
phone drain-bob uas_answer.xml 5090 udp
bob_pid=$sipp_pid
# alice's call, held 4 s (-d) before her BYE.
sipp_bg drain-alice "127.0.0.1:$SIP_PORT" -sf "$SCENARIOS/uac_call_hold.xml" -p 5091 -t u1 -m 1 -timeout 25s -d 4000 \
  -cid_str "caller-%u-%p@%s" -key from "$ALICE" -key to "$BOB"
alice_pid=$sipp_pid
call_up() {
  rt status --format json
  [ "$(js 'd["calls_in_progress"]')" = 1 ] && grep -q '^ACK ' "$WORK/drain-bob.msgs" 2>/dev/null
}
if until_ok 30 call_up; then
  kill -TERM "$server_pid"
  term_at=$(date +%s%N)
  draining() { rt status --format json && [ "$(js 'd["draining"]')" = true ]; }
  until_ok 20 draining || fail "drain: runtime status does not say draining after SIGTERM: $out $err"
  call drain-new uac_503.xml "$ALICE" "$BOB" udp 5093
  expect_sipp drain-new $?
  [ "$(received drain-new '^SIP/2.0 503' | head -1 | tr -d '\r')" ] || fail "drain: the new INVITE got no 503"
  expect_peer drain-alice "$alice_pid"  # her BYE got 200
  expect_peer drain-bob "$bob_pid"      # he got the BYE (and answered it)
  [ "$(received drain-bob '^BYE ' | head -1)" ] || fail "drain: bob's phone got no BYE"
  wait_exit $((DRAIN_TIMEOUT + 5))
  total_ms=$((($(date +%s%N) - term_at) / 1000000))
  echo "drain: serve exited $serve_rc ${total_ms} ms after SIGTERM (the call was held 4 s)"
  [ "$serve_rc" = 0 ] || fail "drain: serve exit '$serve_rc' after SIGTERM, not 0"
  [ "$total_ms" -lt $((DRAIN_TIMEOUT * 1000)) ] || fail "drain: serve took ${total_ms} ms after SIGTERM, not less than the ${DRAIN_TIMEOUT} s drain timeout"
  grep -q 'drain timeout' "$WORK/serve.err" && fail "drain: serve dropped calls at the drain timeout: $(grep 'drain timeout' "$WORK/serve.err")"
else
  fail "drain: alice's call to bob did not come up within 3 s: $out"
  stop_serve
fi

# --- 4. IPv6 -----------------------------------------------------------------------------------
if ! python3 -c 'import socket; socket.socket(socket.AF_INET6, socket.SOCK_DGRAM).bind(("::1", 0))' 2>/dev/null; then
  echo "note: no IPv6 loopback address here: the IPv6 case is skipped" >&2
else
  start_serve "${SERVE_ARGS[@]}" --listen "[::1]:$SIP_PORT" || { finish; exit 1; }
  # bob's and alice's IPv4 bindings go, so a call to bob reaches only his IPv6 phone.
  register v6-unreg-bob bob 5090 udp 0 unregister.xml || expect_sipp v6-unreg-bob $?
  register v6-unreg-alice alice 5091 udp 0 unregister.xml || expect_sipp v6-unreg-alice $?
  # sipp6 NAME ARGS...: sipp on ::1 (its -i comes last, after lib.sh's -i 127.0.0.1).
  sipp6() {
    local name=$1
    shift
    # shellcheck disable=SC2046
    (cd "$WORK" && exec timeout -k 2 60 sipp "$@" $(sipp_args "$name") -i ::1) >"$WORK/$name.out" 2>&1 </dev/null
  }
  sipp6 v6-reg-bob "[::1]:$SIP_PORT" -sf "$SCENARIOS/register_local_ip.xml" -p 5092 -t u1 -m 1 -timeout 10s \
    -cid_str "reg-%u-%p@%s" -key user bob -key domain "$DOMAIN" -key contact_port 5090 -key contact_transport udp -key expires 3600
  expect_sipp v6-reg-bob $?
  rt registrations --format json
  [ "$(js '[[i["contact"], i["source"]] for i in d["items"] if i["aor"] == "sip:bob@contoso.example"]')" = '[["sip:bob@[::1]:5090;transport=udp", "[::1]:5092"]]' ] ||
    fail "ipv6: runtime registrations does not list bob's IPv6 binding (from [::1]:5092) alone: $out"
  sipp6 v6-bob-run -sf "$SCENARIOS/uas_answer.xml" -p 5090 -t u1 -m 1 -timeout 30s &
  bob_pid=$!
  background+=("$bob_pid")
  wait_listening 5090 || fail "ipv6: bob's sipp does not listen on [::1]:5090"
  sipp6 v6-alice "[::1]:$SIP_PORT" -sf "$SCENARIOS/uac_call.xml" -p 5091 -t u1 -m 1 -timeout 25s \
    -cid_str "caller-%u-%p@%s" -key from "$ALICE" -key to "$BOB"
  expect_sipp v6-alice $?
  expect_peer v6-bob-run "$bob_pid"
  first=$(received v6-bob-run '^INVITE ' | tr -d '\r')
  [[ $(head -1 <<<"$first") == "INVITE sip:bob@[::1]:5090"* ]] || fail "ipv6: bob's phone got '$(head -1 <<<"$first")', not his IPv6 contact"
  grep -qiE '^(via|v):.*\[::1\]:'"$SIP_PORT" <<<"$first" || fail "ipv6: bob's INVITE was not sent from the runtime's [::1]:$SIP_PORT: $(grep -iE '^(via|v):' <<<"$first")"
  rt calls --format json
  [ "$(js '[c["outcome"] for c in d["items"] if c.get("source", "").startswith("[::1]")][:1]')" = '["answered"]' ] ||
    fail "ipv6: runtime calls does not list the IPv6 call as answered: $out"
fi
[ -n "$server_pid" ] || start_serve "${SERVE_ARGS[@]}" || { finish; exit 1; }

# --- 5. A request that loops gets 482 ----------------------------------------------------------
# loop_probe HOST METHOD VIA: a request from HOST to the runtime whose second Via is VIA (as if
# the runtime had sent it on and it came back); prints the status code of the answer.
loop_probe() {
  local host=$1 uri_host=$1
  [[ $host == *:* ]] && uri_host="[$host]"
  local via_host=$uri_host
  sip_probe "$host" "$SIP_PORT" "$2 sip:bob@$DOMAIN SIP/2.0
Via: SIP/2.0/UDP $via_host:{lport};branch=z9hG4bKloop$RANDOM;rport
Via: $3
Max-Forwards: 69
From: <sip:alice@$DOMAIN>;tag=l$RANDOM
To: <sip:bob@$DOMAIN>
Call-ID: loop-$RANDOM@probe
CSeq: 1 $2
Contact: <sip:alice@$via_host:{lport}>
Content-Length: 0" | head -1 | cut -d' ' -f2
}
for method in OPTIONS INVITE; do
  got=$(loop_probe 127.0.0.1 "$method" "SIP/2.0/UDP 127.0.0.1:$SIP_PORT;branch=z9hG4bKe911loop$RANDOM")
  [ "$got" = 482 ] || fail "loop: $method with a Via of the runtime's 127.0.0.1:$SIP_PORT;branch=z9hG4bKe911... got '$got', not 482"
done
# The runtime's own Via as the only one (rport brings the answer back to the probe).
got=$(sip_probe 127.0.0.1 "$SIP_PORT" "OPTIONS sip:127.0.0.1:{rport} SIP/2.0
Via: SIP/2.0/UDP 127.0.0.1:$SIP_PORT;branch=z9hG4bKe911only$RANDOM;rport
Max-Forwards: 70
From: <sip:probe@127.0.0.1>;tag=o$RANDOM
To: <sip:127.0.0.1:{rport}>
Call-ID: loop-only-$RANDOM@probe
CSeq: 1 OPTIONS
Content-Length: 0" | head -1 | cut -d' ' -f2)
[ "$got" = 482 ] || fail "loop: OPTIONS whose only Via is the runtime's own (z9hG4bKe911...) got '$got', not 482"
# Not loops: another branch at the runtime's address, the runtime's branch at another port.
got=$(loop_probe 127.0.0.1 OPTIONS "SIP/2.0/UDP 127.0.0.1:$SIP_PORT;branch=z9hG4bKsomeoneelse$RANDOM")
[ "$got" = 200 ] || fail "loop: OPTIONS with a foreign branch at the runtime's address got '$got', not 200"
got=$(loop_probe 127.0.0.1 OPTIONS "SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bKe911other$RANDOM")
[ "$got" = 200 ] || fail "loop: OPTIONS with a z9hG4bKe911 branch at another port got '$got', not 200"
if python3 -c 'import socket; socket.socket(socket.AF_INET6, socket.SOCK_DGRAM).bind(("::1", 0))' 2>/dev/null; then
  got=$(loop_probe ::1 OPTIONS "SIP/2.0/UDP [::1]:$SIP_PORT;branch=z9hG4bKe911loop6$RANDOM")
  [ "$got" = 482 ] || fail "loop: OPTIONS over IPv6 with a Via of the runtime's [::1]:$SIP_PORT;branch=z9hG4bKe911... got '$got', not 482"
fi

expect_serving "after the loop checks"
finish
