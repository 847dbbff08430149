#!/usr/bin/env bash
# Whoever registers the security desk receives every emergency MESSAGE (caller, callback number,
# location), so a desk (a user named in a location policy's notification_uris) is registered only
# by a phone that proves who it is, even with `auth: optional` and no password anywhere, the
# default (issue 24, item 10). The sample enterprise's global and Executives policies notify
# sip:security-desk@contoso.example, a user here; strangers are at 127.0.0.2, the desk at
# 127.0.0.3 when it is in a trusted network.
#   1. the default configuration: the start log warns that the desk has no credentials and no
#      trusted network; a stranger's REGISTER for the desk is 403, from 127.0.0.2 and from
#      127.0.0.1 (a trunk's host) alike, and binds nothing;
#   2. the desk given a password: a stranger is challenged (401) and the desk registers with it
#      (sipp's MD5 digest), then takes the MESSAGE of alice's 911 call;
#   3. with --trusted-network 127.0.0.3/32, strangers fill the desk's ten contacts while no policy
#      names it; once one does again (a reload, which warns about the desk without credentials), a
#      stranger is refused, and the desk without a password registers from its trusted network: the
#      strangers' bindings are gone, not in its way, and the desk alone takes the MESSAGE of the
#      next 911 call.
source "$(dirname "$0")/lib.sh" "$@"
DESK=sip:security-desk@$DOMAIN
publish_samples_unpinged || { finish; exit 1; }
run user set "$DESK" --display-name 'Corporate Security Desk'
[ "$rc" -eq 0 ] || fail "user set $DESK: $err"
run publish
[ "$rc" -eq 0 ] || fail "publish: $err"
printf 'test-token-%s\n' "$RANDOM$RANDOM" >"$WORK/token"
chmod 600 "$WORK/token"
serve() { start_serve --snapshot "$E911_DB.snapshot" --domain "$DOMAIN" --admin 127.0.0.1:5081 --token-file "$WORK/token" "$@"; }
# The desk's bindings, as "source contact" lines.
desk_bindings() {
  admin /v1/registrations | python3 -c 'import json, sys
for b in json.load(sys.stdin):
    if b["aor"] == sys.argv[1]: print(b["source"], b["contact"])' "$DESK"
}
# sipp_from IP NAME ARGS...: sipp_run with the phone at IP.
sipp_from() {
  local ip=$1 name=$2
  shift 2
  # shellcheck disable=SC2046
  (cd "$WORK" && exec timeout -k 2 60 sipp "$@" $(sipp_args "$name" | sed "s/-i 127\.0\.0\.1/-i $ip/")) >"$WORK/$name.out" 2>&1 </dev/null
}
# emergency NAME: alice calls 911 with her PIDF-LO; the provider answers; the desk's client at
# 127.0.0.1:5093 must take the MESSAGE with her callback number.
emergency() {
  phone "$1-desk" uas_desk.xml 5093 udp
  local desk=$sipp_pid
  phone "$1-provider" uas_provider.xml 5070 tcp
  local provider=$sipp_pid
  call "$1" uac_call_pidf.xml "sip:alice@$DOMAIN" "sip:911@$DOMAIN;user=phone" udp 5091
  expect_sipp "$1" $?
  expect_peer "$1-provider" "$provider"
  expect_peer "$1-desk" "$desk"
  grep -qF 'Callback: +14255550101' "$WORK/$1-desk.msgs" || fail "$1: the desk's MESSAGE lacks alice's callback number"
}

# 1. The default configuration: no password, no trusted network.
serve || { finish; exit 1; }
grep -qF "security desk '$DESK' has no credentials: no phone may register it (no trusted_networks are set)" "$WORK/serve.err" ||
  fail "no warning at start about the desk without credentials: $(grep -i desk "$WORK/serve.err" | head -3)"
for ip in 127.0.0.2 127.0.0.1; do
  got=$(raw_register "$ip" security-desk "<sip:security-desk@$ip:6000>")
  [ "$got" = 403 ] || fail "a stranger at $ip registering the desk got '$got', not 403"
done
[ -z "$(desk_bindings)" ] || fail "strangers bound the desk: $(desk_bindings)"
grep -qF "auth: REGISTER for '$DESK' from 127.0.0.2 refused: a security desk registers only with credentials or from a trusted network" "$WORK/serve.err" ||
  fail "the refusal is not logged: $(grep 'auth:' "$WORK/serve.err" | tail -2)"

# 2. The desk's password: strangers are challenged, the desk registers with it.
printf 'desk password\n' >"$WORK/desk.pw"
run user set "$DESK" --password-file "$WORK/desk.pw"
[ "$rc" -eq 0 ] || fail "user set --password-file: $err"
run user set "$DESK" --unset ha1_sha256  # sipp 3.6 answers MD5 challenges only
[ "$rc" -eq 0 ] || fail "user set --unset ha1_sha256: $err"
run publish
[ "$rc" -eq 0 ] || fail "publish: $err"
kill -HUP "$server_pid"
for _ in $(seq 50); do [ "$(raw_register 127.0.0.2 security-desk '<sip:security-desk@127.0.0.2:6000>')" = 401 ] && break; sleep 0.1; done
got=$(raw_register 127.0.0.2 security-desk "<sip:security-desk@127.0.0.2:6000>")
[ "$got" = 401 ] || fail "a stranger registering the desk with a password got '$got', not 401"
sipp_run desk-auth "127.0.0.1:$SIP_PORT" -sf "$SCENARIOS/register_auth_200.xml" -p 5092 -t u1 -m 1 -timeout 10s -cid_str "reg-%u-%p@%s" \
  -key user security-desk -key domain "$DOMAIN" -key contact_port 5093 -au security-desk -ap 'desk password'
expect_sipp desk-auth $?
[ "$(desk_bindings)" = "127.0.0.1:5092 sip:security-desk@127.0.0.1:5093" ] || fail "the desk's bindings after its REGISTER: $(desk_bindings)"
emergency call-1

# 3. Strangers fill the desk's contacts while it is nobody's desk and has no password...
run user set "$DESK" --unset ha1_md5
[ "$rc" -eq 0 ] || fail "user set --unset: $err"
for policy in global Executives; do
  run policy set "$policy" --unset notification_uris
  [ "$rc" -eq 0 ] || fail "policy set $policy --unset notification_uris: $err"
done
run publish
[ "$rc" -eq 0 ] || fail "publish: $err"
stop_serve
serve --trusted-network 127.0.0.3/32 || { finish; exit 1; }
got=$(raw_register 127.0.0.1 security-desk '*' 0)
[ "$got" = 200 ] || fail "the desk's Contact: * with Expires: 0 got '$got', not 200"
for port in $(seq 6001 6010); do
  got=$(raw_register 127.0.0.2 security-desk "<sip:security-desk@127.0.0.2:$port>")
  [ "$got" = 200 ] || fail "stranger $port registering a user nobody is notifying got '$got', not 200"
done
got=$(raw_register 127.0.0.2 security-desk "<sip:security-desk@127.0.0.2:6011>")
[ "$got" = 403 ] || fail "an eleventh contact got '$got', not 403 (max_contacts 10)"
# ... then the policy names it again (a reload, which warns about the desk without credentials).
run policy set global --notification-uris "$DESK"
[ "$rc" -eq 0 ] || fail "policy set global --notification-uris: $err"
run publish
[ "$rc" -eq 0 ] || fail "publish: $err"
kill -HUP "$server_pid"
warning="security desk '$DESK' has no credentials: only a phone in trusted_networks may register it"
for _ in $(seq 50); do grep -qF "$warning" "$WORK/serve.err" && break; sleep 0.1; done
grep -qF "$warning" "$WORK/serve.err" || fail "no warning at the reload about the desk without credentials: $(grep -i desk "$WORK/serve.err" | head -3)"
[ "$(desk_bindings | wc -l)" -eq 10 ] || fail "not the strangers' 10 bindings: $(desk_bindings)"
got=$(raw_register 127.0.0.2 security-desk "<sip:security-desk@127.0.0.2:6012>")
[ "$got" = 403 ] || fail "a stranger registering the desk got '$got', not 403"
sipp_from 127.0.0.3 desk-trusted "127.0.0.1:$SIP_PORT" -sf "$SCENARIOS/register.xml" -p 5092 -t u1 -m 1 -timeout 10s -cid_str "reg-%u-%p@%s" \
  -key user security-desk -key domain "$DOMAIN" -key contact_port 5093 -key contact_transport udp -key expires 600
expect_sipp desk-trusted $?
[ "$(desk_bindings)" = "127.0.0.3:5092 sip:security-desk@127.0.0.1:5093;transport=udp" ] ||
  fail "the desk's bindings after its REGISTER from its trusted network: $(desk_bindings)"
emergency call-2

expect_serving "after the desk's registrations"
finish
