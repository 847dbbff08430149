#!/usr/bin/env bash
# Connected calls are kept honest (serve.yaml dialog_keepalive, RFC 5057): every interval both
# sides get an OPTIONS inside the dialog; a side that answers 481 or 408, or not at all, is gone,
# the other side gets a BYE and the call ends. Three 911 calls at once to the provider (a sipp
# SBC on 5070 that answers in-dialog OPTIONS with 200, -aa), with dialog_keepalive: 1:
#   - a caller that answers the OPTIONS with 481 and sends no BYE: the call ends within seconds,
#     the provider gets a BYE, the record says the caller was gone;
#   - a caller that vanishes after its ACK (no answer, no BYE, as a phone that loses power): the
#     call ends once the OPTIONS transaction times out (Timer F, 32 s), the provider gets a BYE;
#   - a caller that stays 4 s and answers the OPTIONS (-aa): the call survives the probes and
#     ends with the caller's BYE.
# At the end no call is left in progress (GET /v1/calls/active).
source "$(dirname "$0")/lib.sh" "$@"
publish_samples_unpinged || { finish; exit 1; }
serve_with_admin 'dialog_keepalive: 1' || { finish; exit 1; }
# ended_by CALL_ID_PREFIX: the ended_by of the call record whose Call-ID starts with the prefix
# (empty while the call is in progress or unknown).
ended_by() {
  admin '/v1/calls?limit=20' | python3 -c '
import json, sys
for r in json.load(sys.stdin):
    if r.get("call_id", "").startswith(sys.argv[1]):
        print(r.get("ended_by", "")); break' "$1"
}
wait_ended() {  # CALL_ID_PREFIX SECONDS: waits for the call to end; prints its ended_by
  local e
  for _ in $(seq $(($2 * 5))); do
    e=$(ended_by "$1")
    [ -n "$e" ] && { echo "$e"; return 0; }
    sleep 0.2
  done
  return 1
}

sipp_bg provider -sf "$SCENARIOS/uas_provider.xml" -p 5070 -t t1 -m 3 -aa -timeout 55s
provider_pid=$sipp_pid
wait_listening 5070 || fail "the provider does not listen on 5070"
caller() {  # NAME SCENARIO PORT [SIPP ARGS...]: a 911 caller in the background ($sipp_pid)
  local name=$1 scenario=$2 port=$3
  shift 3
  sipp_bg "$name" "127.0.0.1:$SIP_PORT" -sf "$SCENARIOS/$scenario" -p "$port" -t u1 -m 1 -timeout 50s \
    -cid_str "$name-%u-%p@%s" -key from "sip:alice@$DOMAIN" -key to "sip:911@$DOMAIN;user=phone" "$@"
}
caller gone uac_call_pidf_gone.xml 5091
gone_pid=$sipp_pid
caller silent uac_call_pidf_silent.xml 5093
silent_pid=$sipp_pid
caller long uac_call_pidf_long.xml 5094 -d 4000 -aa
long_pid=$sipp_pid

# The caller that answered 481: gone within a few seconds of the first probe.
expect_peer gone "$gone_pid"
e=$(wait_ended gone- 8) || fail "the call whose caller answered 481 to the in-dialog OPTIONS is still in progress 8 s later"
[[ $e == "runtime (the caller no longer holds the dialog: 481 "* ]] || fail "the 481 call ended by '$e'"
grep -qE "emergency call [0-9]+ \(Call-ID gone-[^)]*\) ended: the caller no longer holds the dialog \(481 " "$WORK/serve.err" ||
  fail "no warning in the log for the call whose caller answered 481"

# The caller that stays: its probes are answered, it hangs up itself after 4 s.
expect_peer long "$long_pid"
e=$(wait_ended long- 5) || fail "the long call is still in progress after its BYE"
[ "$e" = caller ] || fail "the long call (which answered every probe) ended by '$e', not by its caller's BYE"
grep -q "OPTIONS sip:caller@" "$WORK/long.msgs" || fail "the long call's caller never got an in-dialog OPTIONS"

# The caller that vanished: its probe goes unanswered; Timer F (64*T1 = 32 s) ends the call.
expect_peer silent "$silent_pid"
e=$(wait_ended silent- 45) || fail "the call whose caller vanished is still in progress 45 s later"
[[ $e == "runtime (the caller no longer holds the dialog: no answer "* ]] || fail "the vanished caller's call ended by '$e'"

# The provider got its three calls and a BYE for each (uas_provider.xml wants the BYE).
expect_peer provider "$provider_pid"
[ "$(grep -c '^BYE ' "$WORK/provider.msgs")" -ge 3 ] || fail "the provider got $(grep -c '^BYE ' "$WORK/provider.msgs") BYEs, not 3"
active=$(admin '/v1/calls/active' | python3 -c 'import json,sys; print(json.load(sys.stdin)["total"])')
[ "$active" = 0 ] || fail "$active call(s) still in progress at the end: $(admin /v1/calls/active)"

expect_serving "after the dialog probes"
finish
