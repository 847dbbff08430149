#!/usr/bin/env bash
# SIP over TLS and the admin API over HTTPS (issue 14), on the sample enterprise, with a PKI made
# here by openssl (a CA; the runtime's, a trunk's and a phone's certificates for 127.0.0.1 signed
# by it; a rogue self-signed one). sipp has no TLS on this machine: tls_peer.py is the TLS end in
# front of a plain-TCP sipp, as a trunk (TLS server) or a phone (TLS client).
#   1. provider-primary over TLS (127.0.0.1:5061): an emergency call reaches it over TLS, the
#      runtime showing its own certificate when the trunk asks (mutual TLS), and the call record
#      says tls;
#   2. its certificate fails verification (rogue, 5062) and tls_fallback is set: the call goes to
#      the same trunk over TCP (5070), and the record, the log and /metrics say so;
#   3. the same without tls_fallback: the next trunk (provider-backup, TCP 5071) gets the call;
#   4. a phone over TLS to the runtime's tls: listener (5065), which requires a client
#      certificate: with one its emergency call goes through; without one the handshake fails;
#   5. the admin API over HTTPS: publish (the stored runtime's ca_file) and runtime status
#      (--ca-file) reach it; without the CA the certificate is refused (exit 4); an admin address
#      off loopback without a certificate is refused at start (exit 2).
source "$(dirname "$0")/lib.sh" "$@"
command -v openssl >/dev/null || { fail "openssl is missing (scripts/install-deps installs it)"; finish; exit 1; }
PEER=$ROOT/tests/sip/tls_peer.py

# The PKI: EC keys, valid two days, every certificate for IP 127.0.0.1.
PKI=$WORK/pki
mkdir -p "$PKI"
pki() { openssl "$@" >>"$PKI/openssl.log" 2>&1 || fail "openssl $1 failed: $(tail -n 3 "$PKI/openssl.log")"; }
pki req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 -subj "/CN=e911ctl test CA" \
  -keyout "$PKI/ca.key" -out "$PKI/ca.pem"
leaf() {  # NAME: NAME.crt and NAME.key, signed by the CA
  pki req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "/CN=$1" -keyout "$PKI/$1.key" -out "$PKI/$1.csr"
  printf 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n' >"$PKI/$1.ext"
  pki x509 -req -in "$PKI/$1.csr" -CA "$PKI/ca.pem" -CAkey "$PKI/ca.key" -CAcreateserial -days 2 -extfile "$PKI/$1.ext" -out "$PKI/$1.crt"
}
leaf runtime
leaf trunk
leaf phone
pki req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 -subj "/CN=rogue" \
  -addext "subjectAltName=IP:127.0.0.1" -keyout "$PKI/rogue.key" -out "$PKI/rogue.crt"
chmod 600 "$PKI"/*.key

publish_samples || { finish; exit 1; }
printf 'tls-token-%s\n' "$RANDOM$RANDOM" >"$WORK/token"
chmod 600 "$WORK/token"
cat >"$WORK/serve.yaml" <<YAML
tls_certificate: '$PKI/runtime.crt'
tls_private_key: '$PKI/runtime.key'
tls_ca_file: '$PKI/ca.pem'
tls_verify_clients: true
admin_certificate: '$PKI/runtime.crt'
admin_private_key: '$PKI/runtime.key'
YAML
ADMIN=https://127.0.0.1:5081
start_serve --config "$WORK/serve.yaml" --listen tls:127.0.0.1:5065 --snapshot "$E911_DB.snapshot" --domain "$DOMAIN" \
  --admin 127.0.0.1:5081 --token-file "$WORK/token" || { finish; exit 1; }
grep -q '"listen":.*"tls 127.0.0.1:5065"' "$WORK/serve.err" || fail "serve does not say it listens on tls 127.0.0.1:5065: $(grep listening "$WORK/serve.err")"

# peer NAME ARGS...: tls_peer.py in the background, its lines in $WORK/NAME.peer.
peer() {
  local name=$1
  shift
  timeout -k 2 120 python3 "$PEER" "$@" --seconds 100 >"$WORK/$name.peer" 2>&1 &
  background+=("$!")
  for _ in $(seq 50); do grep -q '^listening' "$WORK/$name.peer" 2>/dev/null && return 0; sleep 0.1; done
  fail "tls peer $name did not start: $(cat "$WORK/$name.peer")"
}
# said NAME PATTERN: tls peer NAME wrote a line matching PATTERN (grep -E) within 5 s.
said() {
  for _ in $(seq 50); do grep -qE "$2" "$WORK/$1.peer" 2>/dev/null && return 0; sleep 0.1; done
  fail "tls peer $1 never said /$2/: $(tr '\n' '|' <"$WORK/$1.peer")"
  return 1
}
provider() {  # NAME SCENARIO PORT: a provider SBC (TCP sipp) for one call
  sipp_bg "$1" -sf "$SCENARIOS/$2" -p "$3" -t t1 -m 1 -timeout 40s
  wait_listening "$3" || fail "sipp $1 does not listen on port $3"
}
emergency_call() {  # NAME [SIPP ARGS...]: alice calls 911 from UDP port 5091
  local name=$1
  shift
  sipp_run "$name" "127.0.0.1:$SIP_PORT" -sf "$SCENARIOS/uac_call_pidf.xml" -p 5091 -t u1 -m 1 -timeout 40s \
    -cid_str "caller-%u-%p@%s" -key from "sip:alice@$DOMAIN" -key to "sip:911@$DOMAIN;user=phone" "$@"
}
reload_with() {  # ARGS...: trunk set ARGS, publish, and the runtime loads it (over HTTPS)
  run trunk set "$@"
  [ "$rc" -eq 0 ] || fail "trunk set $*: $err"
  run publish
  [ "$rc" -eq 0 ] || fail "publish after trunk set $*: $err"
  run runtime reload --runtime "$ADMIN" --token-file "$WORK/token" --ca-file "$PKI/ca.pem"
  [ "$rc" -eq 0 ] || fail "runtime reload over HTTPS after trunk set $*: rc $rc: $err"
}
# The newest call record, as JSON, from the admin API over HTTPS.
last_call() {
  "$E911" runtime calls --runtime "$ADMIN" --token-file "$WORK/token" --ca-file "$PKI/ca.pem" --limit 1 --format json
}
first_line() { received "$1" '^INVITE ' | head -1 | tr -d '\r'; }
via_of() { received "$1" '^INVITE ' | grep -i '^Via:' | head -1 | tr -d '\r'; }

# 1. provider-primary over TLS, its certificate good; it asks for ours (mutual TLS).
reload_with provider-primary --transport tls --port 5061 --options-ping false
peer trunk-ok server 5061 5070 --cert "$PKI/trunk.crt" --key "$PKI/trunk.key" --ca "$PKI/ca.pem" --require-client-cert
provider tls-provider uas_provider.xml 5070
prov_pid=$sipp_pid
emergency_call tls-alice
expect_sipp tls-alice $?
expect_peer tls-provider "$prov_pid"
said trunk-ok '^handshake ok .*commonName=runtime' || true
[[ $(via_of tls-provider) == "Via: SIP/2.0/TLS 127.0.0.1:5065;"* ]] || fail "tls: the provider's INVITE came with '$(via_of tls-provider)', not Via SIP/2.0/TLS 127.0.0.1:5065"
received tls-provider '^INVITE ' | grep -q '^Contact: .*transport=tls' || fail "tls: the INVITE's Contact does not say transport=tls"
last_call >"$WORK/tls.json" || fail "runtime calls over HTTPS failed: $(head -c 400 "$WORK/tls.json")"
python3 - "$WORK/tls.json" <<'PY' || fail "tls: the call record does not show one TLS attempt: $(head -c 900 "$WORK/tls.json")"
import json, sys
c = json.load(open(sys.argv[1]))["items"][0]
a = c["attempts"]
assert c["outcome"] == "answered", c["outcome"]
assert len(a) == 1 and a[0]["transport"] == "tls" and a[0]["destination"] == "127.0.0.1:5061", a
assert "tls_fallback" not in c, c
PY

# 2. The trunk's certificate fails verification (self-signed, not from the CA); tls_fallback:
#    the same trunk over TCP at 5070.
reload_with provider-primary --port 5062 --tls-fallback true --tls-fallback-port 5070
peer trunk-rogue server 5062 5070 --cert "$PKI/rogue.crt" --key "$PKI/rogue.key"
provider fallback-provider uas_provider.xml 5070
prov_pid=$sipp_pid
emergency_call fallback-alice
expect_sipp fallback-alice $?
expect_peer fallback-provider "$prov_pid"
said trunk-rogue '^handshake failed' || true
[[ $(via_of fallback-provider) == "Via: SIP/2.0/TCP "* ]] || fail "fallback: the provider's INVITE came with '$(via_of fallback-provider)', not over TCP"
last_call >"$WORK/fallback.json" || fail "runtime calls over HTTPS failed"
python3 - "$WORK/fallback.json" <<'PY' || fail "fallback: the call record does not say it fell back to TCP: $(head -c 1200 "$WORK/fallback.json")"
import json, sys
c = json.load(open(sys.argv[1]))["items"][0]
a = c["attempts"]
assert c["outcome"] == "answered", c["outcome"]
assert len(a) == 2, a
assert a[0]["transport"] == "tls" and a[0]["status"] == 503 and "certificate verify failed" in a[0]["reason"], a[0]
assert a[1]["transport"] == "tcp" and a[1]["destination"] == "127.0.0.1:5070" and a[1]["tls_fallback"] is True, a[1]
f = c["tls_fallback"]
assert f["trunk"] == "provider-primary" and "certificate verify failed" in f["reason"], f
PY
grep -q 'TLS to trunk .provider-primary. failed.*tried again over TCP' "$WORK/serve.err" || fail "fallback: no log line says the call went over TCP"
# https_get PATH: the admin API's answer to GET PATH over HTTPS, the CA ours, the token from its file.
https_get() {
  python3 - "$ADMIN$1" "$PKI/ca.pem" "$WORK/token" <<'PY'
import ssl, sys, urllib.request
url, ca, token = sys.argv[1:4]
req = urllib.request.Request(url, headers={"Authorization": "Bearer " + open(token).read().strip()})
sys.stdout.write(urllib.request.urlopen(req, context=ssl.create_default_context(cafile=ca), timeout=5).read().decode())
PY
}
https_get /metrics >"$WORK/metrics.txt" 2>&1
grep -q '^e911_runtime_tls_fallbacks_total 1$' "$WORK/metrics.txt" || fail "fallback: /metrics does not count it: $(grep tls "$WORK/metrics.txt")"

# 3. The same failure without tls_fallback: the next trunk, provider-backup (TCP 5071).
reload_with provider-primary --tls-fallback false
provider backup-provider uas_provider.xml 5071
backup_pid=$sipp_pid
emergency_call nofallback-alice
expect_sipp nofallback-alice $?
expect_peer backup-provider "$backup_pid"
last_call >"$WORK/nofallback.json" || fail "runtime calls over HTTPS failed"
python3 - "$WORK/nofallback.json" <<'PY' || fail "no fallback: the call record is not TLS failure then provider-backup: $(head -c 1200 "$WORK/nofallback.json")"
import json, sys
c = json.load(open(sys.argv[1]))["items"][0]
a = c["attempts"]
assert c["outcome"] == "answered", c["outcome"]
assert len(a) == 2, a
assert a[0]["transport"] == "tls" and "certificate verify failed" in a[0]["reason"], a[0]
assert "provider-backup" in a[1]["target"] and a[1]["destination"] == "127.0.0.1:5071", a[1]
assert "tls_fallback" not in c, c
PY

# 4. A phone over TLS to the runtime's listener, which requires a client certificate.
reload_with provider-primary --transport tcp --port 5070
peer phone-tls client 5066 5065 --ca "$PKI/ca.pem" --cert "$PKI/phone.crt" --key "$PKI/phone.key"
provider phone-provider uas_provider.xml 5070
prov_pid=$sipp_pid
sipp_run phone-alice 127.0.0.1:5066 -sf "$SCENARIOS/uac_call_pidf.xml" -p 5091 -t t1 -m 1 -timeout 40s \
  -cid_str "caller-%u-%p@%s" -key from "sip:alice@$DOMAIN" -key to "sip:911@$DOMAIN;user=phone"
expect_sipp phone-alice $?
expect_peer phone-provider "$prov_pid"
said phone-tls '^handshake ok .*commonName=runtime' || true
# The runtime's Contact sends the phone back to the TLS listener, over TLS.
received phone-alice '^SIP/2.0 200 ' | grep -q '^Contact: <sip:127.0.0.1:5065;transport=tls>' ||
  fail "phone: the 200 OK's Contact is not the TLS listener: $(received phone-alice '^SIP/2.0 200 ' | grep -i '^Contact')"
last_call >"$WORK/phone.json" || fail "runtime calls over HTTPS failed"
python3 - "$WORK/phone.json" <<'PY' || fail "phone: the call record does not say it came over TLS: $(head -c 900 "$WORK/phone.json")"
import json, sys
c = json.load(open(sys.argv[1]))["items"][0]
assert c["transport"] == "tls" and c["outcome"] == "answered", c
PY
peer phone-nocert client 5067 5065 --ca "$PKI/ca.pem"
python3 - <<'PY' || true
import socket
s = socket.create_connection(("127.0.0.1", 5067), timeout=3)
s.close()
PY
said phone-nocert '^handshake failed' || true

# 5. The admin API over HTTPS. publish reaches it through the stored runtime's ca_file.
run runtime add local --url "$ADMIN" --token-file "$WORK/token" --ca-file "$PKI/ca.pem"
[ "$rc" -eq 0 ] || fail "runtime add with ca_file: $err"
run publish
[ "$rc" -eq 0 ] || fail "publish to the HTTPS runtime: rc $rc: $out $err"
grep -q "runtime 'local' (https://127.0.0.1:5081): " <<<"$out$err" || fail "publish does not report the HTTPS runtime: $out $err"
run runtime status --runtime "$ADMIN" --token-file "$WORK/token" --ca-file "$PKI/ca.pem"
[ "$rc" -eq 0 ] || fail "runtime status over HTTPS with --ca-file: $err"
run runtime status --runtime "$ADMIN" --token-file "$WORK/token"
[ "$rc" -eq 4 ] || fail "runtime status over HTTPS without the CA: rc $rc, not 4"
grep -q -- "--ca-file" <<<"$err" || fail "runtime status without the CA does not hint at --ca-file: $err"
python3 - <<'PY' && fail "the HTTPS admin API answered plain HTTP"
import sys, urllib.request
try:
    sys.exit(0 if urllib.request.urlopen("http://127.0.0.1:5081/healthz", timeout=3).status == 200 else 1)
except Exception:
    sys.exit(1)
PY
run runtime status --runtime http://192.0.2.10:5081 --token-file "$WORK/token"
[ "$rc" -eq 2 ] && grep -q "in the clear" <<<"$err" || fail "runtime status to http:// off loopback: rc $rc: $err"
# Off loopback without a certificate: refused at start, before anything is bound.
"$E911" serve --listen 127.0.0.1:0 --snapshot "$E911_DB.snapshot" --admin 192.0.2.10:5082 --token-file "$WORK/token" \
  >"$WORK/offloop.out" 2>"$WORK/offloop.err" &
off_pid=$!
background+=("$off_pid")
for _ in $(seq 50); do kill -0 "$off_pid" 2>/dev/null || break; sleep 0.1; done
wait "$off_pid"
off_rc=$?
[ "$off_rc" -eq 2 ] && grep -q "would carry its token in the clear" "$WORK/offloop.err" ||
  fail "serve --admin 192.0.2.10:5082 without a certificate: rc $off_rc: $(head -c 400 "$WORK/offloop.err")"

expect_serving "after the TLS calls"
finish
