#!/usr/bin/env bash
# Digest authentication of `e911ctl serve` (issue 14), the phones at 127.0.0.2: neither a trusted
# network nor a trunk's host (the samples' trunks are all 127.0.0.1, so everything from there is
# trusted, as the other runtime tests expect).
#   1. alice (a SHA-256 and an MD5 secret) registers without credentials: 401 with two
#      WWW-Authenticate headers, SHA-256 first, then MD5, qop="auth";
#   2. alice answers the SHA-256 challenge (a client in Python, hashlib): the right password is
#      200, a wrong one 403;
#   3. bob (MD5 secret only: sipp 3.6 knows no SHA-256) registers with sipp's [authentication]:
#      the right password is 200, a wrong one 403;
#   4. carol (no credentials, auth optional) registers unchallenged: 200;
#   5. alice's ordinary call without credentials is challenged (401); bob's call to carol is
#      challenged and, answered with his password, rings carol; alice's 911 calls from the same
#      address, with no credentials and with wrong ones, reach the provider, and her test call
#      (933) is answered;
#   6. the secrets are not in the log, `user show` hides them, `export` keeps them;
#      /metrics counts the challenges and the failures;
#   7. what a phone sends as credentials goes nowhere: alice's call with an Authorization and a
#      Proxy-Authorization header of planted values is refused (403), and no planted value, no
#      HA1, no password and not the admin token is in the runtime's log or in what its admin API
#      tells (/v1/calls, which has the refused call, /v1/status, /v1/registrations, /metrics).
source "$(dirname "$0")/lib.sh" "$@"
PHONE_IP=127.0.0.2
publish_samples || { finish; exit 1; }
printf 'correct horse\n' >"$WORK/alice.pw"
printf 'battery staple\n' >"$WORK/bob.pw"
run user set "sip:alice@$DOMAIN" --password-file "$WORK/alice.pw"
[ "$rc" -eq 0 ] || fail "user set --password-file: $err"
run user set "sip:bob@$DOMAIN" --password-file - <"$WORK/bob.pw"
[ "$rc" -eq 0 ] || fail "user set --password-file -: $err"
run user set "sip:bob@$DOMAIN" --unset ha1_sha256
[ "$rc" -eq 0 ] || fail "user set --unset ha1_sha256: $err"
ha1=$(python3 -c 'import hashlib; print(hashlib.sha256(b"alice:contoso.example:correct horse").hexdigest())')
run export
grep -q "$ha1" <<<"$out" || fail "export does not carry alice's ha1_sha256 (a backup would lose her password)"
run user show "sip:alice@$DOMAIN" --format json
grep -q "$ha1" <<<"$out$err" && fail "user show prints alice's secret: $out"
grep -q '"ha1_sha256": *"(hidden)"' <<<"$out" || fail "user show does not say the secret is set: $out"
run publish
[ "$rc" -eq 0 ] || fail "publish: $err"

printf 'test-token-%s\n' "$RANDOM$RANDOM" >"$WORK/token"
chmod 600 "$WORK/token"
start_serve --snapshot "$E911_DB.snapshot" --domain "$DOMAIN" --admin 127.0.0.1:5081 --token-file "$WORK/token" || { finish; exit 1; }

# sipp_run with the phone at $PHONE_IP.
phone_sipp() {
  local name=$1
  shift
  # shellcheck disable=SC2046
  (cd "$WORK" && exec timeout -k 2 60 sipp "$@" $(sipp_args "$name" | sed "s/-i 127\.0\.0\.1/-i $PHONE_IP/")) >"$WORK/$name.out" 2>&1 </dev/null
}
phone_register() {  # NAME USER SCENARIO CONTACT_PORT [SIPP ARGS...]
  local name=$1 user=$2 scenario=$3 contact_port=$4
  shift 4
  phone_sipp "$name" "127.0.0.1:$SIP_PORT" -sf "$SCENARIOS/$scenario" -p 5092 -t u1 -m 1 -timeout 10s -cid_str "reg-%u-%p@%s" \
    -key user "$user" -key domain "$DOMAIN" -key contact_port "$contact_port" "$@"
}

# 1. The challenge.
phone_register reg-alice-none alice register_401.xml 5092
if expect_sipp reg-alice-none $?; then
  challenges=$(received reg-alice-none '^SIP/2\.0 401' | tr -d '\r' | grep -i '^WWW-Authenticate:')
  [ "$(wc -l <<<"$challenges")" -eq 2 ] || fail "the 401 has not two WWW-Authenticate headers: $challenges"
  head -n1 <<<"$challenges" | grep -q 'Digest realm="contoso.example", nonce="[^"]*", algorithm=SHA-256, qop="auth"' ||
    fail "the first challenge is not SHA-256 for realm contoso.example: $challenges"
  sed -n 2p <<<"$challenges" | grep -q 'algorithm=MD5, qop="auth"' || fail "the second challenge is not MD5: $challenges"
fi

# 2. SHA-256, from a client written here: REGISTER, 401, REGISTER with the answer; prints the
#    final status.
sha256_register() {  # PASSWORD
  python3 - "$PHONE_IP" "$SIP_PORT" "$DOMAIN" "$1" <<'PY'
import hashlib, random, re, socket, sys
ip, port, domain, password = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind((ip, 0)); s.settimeout(2)
lp = s.getsockname()[1]
cid = 'sha-%d@%s' % (random.randrange(10**9), ip)
def register(cseq, auth=''):
    msg = ('REGISTER sip:%s SIP/2.0\r\nVia: SIP/2.0/UDP %s:%d;branch=z9hG4bKsha%d%d;rport\r\nMax-Forwards: 70\r\n'
           'From: <sip:alice@%s>;tag=sha\r\nTo: <sip:alice@%s>\r\nCall-ID: %s\r\nCSeq: %d REGISTER\r\n'
           'Contact: <sip:alice@%s:%d>\r\n%sExpires: 600\r\nContent-Length: 0\r\n\r\n'
           % (domain, ip, lp, cseq, random.randrange(10**9), domain, domain, cid, cseq, ip, lp, auth))
    s.sendto(msg.encode(), ('127.0.0.1', port))
    while True:
        data = s.recv(65535).decode()
        status = int(data.split(' ', 2)[1])
        if status >= 200: return status, data
status, data = register(1)
assert status == 401, data
challenge = [l for l in data.split('\r\n') if l.lower().startswith('www-authenticate:') and 'SHA-256' in l][0]
realm = re.search(r'realm="([^"]*)"', challenge).group(1)
nonce = re.search(r'nonce="([^"]*)"', challenge).group(1)
h = lambda x: hashlib.sha256(x.encode()).hexdigest()
uri, cnonce, nc = 'sip:' + domain, 'a1b2c3', '00000001'
response = h('%s:%s:%s:%s:auth:%s' % (h('alice:%s:%s' % (realm, password)), nonce, nc, cnonce, h('REGISTER:' + uri)))
auth = ('Authorization: Digest username="alice", realm="%s", nonce="%s", uri="%s", response="%s", algorithm=SHA-256, '
        'cnonce="%s", qop=auth, nc=%s\r\n' % (realm, nonce, uri, response, cnonce, nc))
print(register(2, auth)[0])
PY
}
got=$(sha256_register 'correct horse' 2>"$WORK/sha.err")
[ "$got" = 200 ] || fail "alice with the right password over SHA-256 got '$got', not 200: $(cat "$WORK/sha.err")"
got=$(sha256_register 'wrong horse' 2>"$WORK/sha.err")
[ "$got" = 403 ] || fail "alice with a wrong password over SHA-256 got '$got', not 403: $(cat "$WORK/sha.err")"

# 3. MD5 with sipp's own digest.
phone_register reg-bob-md5 bob register_auth_200.xml 5092 -au bob -ap 'battery staple'
expect_sipp reg-bob-md5 $?
phone_register reg-bob-wrong bob register_auth_403.xml 5092 -au bob -ap 'battery stable'
expect_sipp reg-bob-wrong $?

# 4. A user without credentials, auth optional: no challenge. (register.xml binds the contact
#    <sip:carol@127.0.0.1:5094>, where her phone answers in 5.)
phone_register reg-carol carol register.xml 5094 -key contact_transport udp -key expires 600
expect_sipp reg-carol $?

# 5. An ordinary call is challenged; an emergency call from the same phone, with no credentials,
#    goes to the provider.
phone_sipp call-alice-none "127.0.0.1:$SIP_PORT" -sf "$SCENARIOS/uac_401.xml" -p 5091 -t u1 -m 1 -timeout 15s \
  -cid_str "caller-%u-%p@%s" -key from "sip:alice@$DOMAIN" -key to "sip:+14255550123@$DOMAIN;user=phone"
expect_sipp call-alice-none $?
# bob calls carol with his password (MD5, sipp's [authentication]): challenged, then through.
phone carol-phone uas_answer.xml 5094 udp
carol_pid=$sipp_pid
phone_sipp call-bob-auth "127.0.0.1:$SIP_PORT" -sf "$SCENARIOS/uac_call_auth.xml" -p 5091 -t u1 -m 1 -timeout 25s \
  -cid_str "caller-%u-%p@%s" -key from "sip:bob@$DOMAIN" -key to "sip:carol@$DOMAIN" -au bob -ap 'battery staple'
expect_sipp call-bob-auth $?
expect_peer carol-phone "$carol_pid"
sipp_bg provider-911 -sf "$SCENARIOS/uas_answer.xml" -p 5070 -t t1 -m 1 -timeout 30s
prov_pid=$sipp_pid
wait_listening 5070 || fail "the provider does not listen on 5070"
phone_sipp call-alice-911 "127.0.0.1:$SIP_PORT" -sf "$SCENARIOS/uac_call.xml" -p 5091 -t u1 -m 1 -timeout 25s \
  -cid_str "caller-%u-%p@%s" -key from "sip:alice@$DOMAIN" -key to "sip:911@$DOMAIN;user=phone"
expect_sipp call-alice-911 $?
expect_peer provider-911 "$prov_pid"
received provider-911 '^INVITE ' | grep -q 'Priority: emergency' || fail "the provider's INVITE is not an emergency call"
# The same with wrong credentials: still the provider's; and a test call (933) is answered.
sipp_bg provider-911-bad -sf "$SCENARIOS/uas_answer.xml" -p 5070 -t t1 -m 1 -timeout 30s
prov_pid=$sipp_pid
wait_listening 5070 || fail "the provider does not listen on 5070"
phone_sipp call-alice-911-bad "127.0.0.1:$SIP_PORT" -sf "$SCENARIOS/uac_call_bad_auth.xml" -p 5091 -t u1 -m 1 -timeout 25s \
  -cid_str "caller-%u-%p@%s" -key from "sip:alice@$DOMAIN" -key to "sip:911@$DOMAIN;user=phone" -key user alice -key domain "$DOMAIN"
expect_sipp call-alice-911-bad $?
expect_peer provider-911-bad "$prov_pid"
phone_sipp call-alice-933 "127.0.0.1:$SIP_PORT" -sf "$SCENARIOS/uac_test_call.xml" -p 5091 -t u1 -m 1 -timeout 20s \
  -cid_str "caller-%u-%p@%s" -key from "sip:alice@$DOMAIN" -key to "sip:933@$DOMAIN;user=phone"
expect_sipp call-alice-933 $?

# 6. What the runtime tells.
metrics=$(curl -s -m 5 -H "Authorization: Bearer $(cat "$WORK/token")" http://127.0.0.1:5081/metrics)
grep -q 'e911_runtime_auth_challenges_total{method="REGISTER"} [1-9]' <<<"$metrics" || fail "/metrics counts no REGISTER challenge: $(grep auth_ <<<"$metrics")"
grep -q 'e911_runtime_auth_challenges_total{method="INVITE"} 2$' <<<"$metrics" || fail "/metrics does not count two INVITE challenges: $(grep auth_ <<<"$metrics")"
grep -q 'e911_runtime_auth_failures_total{method="REGISTER"} 2$' <<<"$metrics" || fail "/metrics does not count two REGISTER failures: $(grep auth_ <<<"$metrics")"
grep -q 'e911_runtime_auth_failures_total{method="INVITE"} 0$' <<<"$metrics" || fail "/metrics counts an INVITE refused for credentials (the 911 call?): $(grep auth_ <<<"$metrics")"
grep -q "auth: REGISTER for 'sip:bob@contoso.example' from $PHONE_IP refused: wrong credentials" "$WORK/serve.err" ||
  fail "no log line for bob's wrong password"
grep -q "auth: INVITE for 'sip:alice@contoso.example' from $PHONE_IP challenged" "$WORK/serve.err" || fail "no log line for alice's challenged call"
grep -qi "$ha1\|correct horse\|battery" "$WORK/serve.err" && fail "the runtime's log carries a secret"

# 7. Planted credentials in an INVITE, then everything the runtime says.
mark=$RANDOM$RANDOM
got=$(python3 - "$PHONE_IP" "$SIP_PORT" "$DOMAIN" "$mark" <<'PY' 2>"$WORK/planted.err"
import random, socket, sys
ip, port, domain, mark = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind((ip, 0)); s.settimeout(3)
lp = s.getsockname()[1]
branch, cid = 'z9hG4bKplant%d' % random.randrange(10**9), 'planted-%s@%s' % (mark, ip)
to = 'sip:+14255550123@%s;user=phone' % domain
sdp = 'v=0\r\no=- 1 1 IN IP4 %s\r\ns=-\r\nc=IN IP4 %s\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0\r\n' % (ip, ip)
head = ('Via: SIP/2.0/UDP %s:%d;branch=%s;rport\r\nMax-Forwards: 70\r\nFrom: <sip:alice@%s>;tag=plant\r\n' % (ip, lp, branch, domain))
invite = ('INVITE %s SIP/2.0\r\n%sTo: <%s>\r\nCall-ID: %s\r\nCSeq: 1 INVITE\r\nContact: <sip:alice@%s:%d>\r\n'
          'Authorization: Digest username="alice", realm="%s", nonce="nonce-%s", uri="%s", response="resp-%s", '
          'algorithm=SHA-256, cnonce="cnonce-%s", qop=auth, nc=00000001\r\n'
          'Proxy-Authorization: Digest username="alice", realm="proxy.example", nonce="pnonce-%s", uri="%s", response="presp-%s"\r\n'
          'Content-Type: application/sdp\r\nContent-Length: %d\r\n\r\n%s'
          % (to, head, to, cid, ip, lp, domain, mark, to, mark, mark, mark, to, mark, len(sdp), sdp))
s.sendto(invite.encode(), ('127.0.0.1', port))
while True:
    data = s.recv(65535).decode()
    status = int(data.split(' ', 2)[1])
    if status >= 200: break
to_line = [l for l in data.split('\r\n') if l.lower().startswith('to:')][0]
s.sendto(('ACK %s SIP/2.0\r\n%s%s\r\nCall-ID: %s\r\nCSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n' % (to, head, to_line, cid)).encode(), ('127.0.0.1', port))
print(status)
PY
)
[ "$got" = 403 ] || fail "alice's call with planted credentials got '$got', not 403: $(cat "$WORK/planted.err")"
ha1_md5=$(python3 -c 'import hashlib; print(hashlib.md5(b"alice:contoso.example:correct horse").hexdigest())')
token=$(tr -d '\n' <"$WORK/token")
said=$(for p in /v1/calls /v1/status /v1/registrations /metrics; do curl -s -m 5 -H "Authorization: Bearer $token" "http://127.0.0.1:5081$p"; echo; done)
grep -q "planted-$mark" <<<"$said" || fail "/v1/calls has no record of the call with planted credentials (the checks below would prove nothing)"
for secret in "resp-$mark" "nonce-$mark" "presp-$mark" "pnonce-$mark" "$ha1" "$ha1_md5" "correct horse" "battery staple" "$token"; do
  grep -qF -- "$secret" "$WORK/serve.err" && fail "the runtime's log carries '$secret'"
  grep -qF -- "$secret" <<<"$said" && fail "the admin API tells '$secret'"
done
grep -qi 'authorization' "$WORK/serve.err" && fail "the runtime's log names an Authorization header: $(grep -i authorization "$WORK/serve.err" | head -n 2)"
expect_serving "after the authentications"
finish
