#!/usr/bin/env bash
# The provider's silence never ends an emergency call (serve.yaml dialog_keepalive, e911ctl-serve(8)):
# an SBC that ignores OPTIONS inside a dialog, or a congested path, must not cut a 911 call after
# the probe's 32 s. A 911 caller stays 38 s and answers its probes (-aa); the provider (a sipp SBC
# on 5070, uas_provider_deaf.xml) answers the call and then no in-dialog OPTIONS at all, with
# dialog_keepalive: 1. The first probe to the provider times out (Timer F) about 33 s in:
#   - the runtime logs a warning that it keeps the call, and sends no BYE to either side;
#   - the call ends with the caller's own BYE, which reaches the provider;
#   - its record says the caller ended it, and no call is left in progress.
source "$(dirname "$0")/lib.sh" "$@"
publish_samples_unpinged || { finish; exit 1; }
serve_with_admin 'dialog_keepalive: 1' || { finish; exit 1; }

sipp_bg provider -sf "$SCENARIOS/uas_provider_deaf.xml" -p 5070 -t t1 -m 1 -timeout 70s
provider_pid=$sipp_pid
wait_listening 5070 || fail "the provider does not listen on 5070"
sipp_bg caller "127.0.0.1:$SIP_PORT" -sf "$SCENARIOS/uac_call_pidf_long.xml" -p 5091 -t u1 -m 1 -d 38000 -aa -timeout 65s \
  -cid_str "deaf-%u-%p@%s" -key from "sip:alice@$DOMAIN" -key to "sip:911@$DOMAIN;user=phone"
caller_pid=$sipp_pid

expect_peer caller "$caller_pid"
expect_peer provider "$provider_pid"
# The probe to the provider went unanswered, and the runtime said it kept the call.
grep -qE "emergency call [0-9]+ \(Call-ID deaf-[^)]*\): no answer from the provider to an in-dialog OPTIONS; the call is kept" "$WORK/serve.err" ||
  fail "no warning that the call was kept when the provider did not answer its probe: $(grep -i options "$WORK/serve.err" | head -3)"
[ "$(grep -c '^OPTIONS ' "$WORK/provider.msgs")" -ge 1 ] || fail "the provider never got an in-dialog OPTIONS"
# Nobody was hung up on: the caller got no BYE, the one BYE the provider got is the caller's.
[ -n "$(received caller '^BYE ')" ] && fail "the caller got a BYE from the runtime: the provider's silence ended the call"
[ "$(grep -c '^BYE ' "$WORK/provider.msgs")" -eq 1 ] || fail "the provider got $(grep -c '^BYE ' "$WORK/provider.msgs") BYEs, not 1"
e=$(admin '/v1/calls?limit=5' | python3 -c '
import json, sys
for r in json.load(sys.stdin):
    if r.get("call_id", "").startswith("deaf-"):
        print(r.get("kind", ""), r.get("outcome", ""), r.get("ended_by", "")); break')
[ "$e" = "emergency answered caller" ] || fail "the call's record says '$e', not an answered emergency call ended by its caller"
active=$(admin '/v1/calls/active' | python3 -c 'import json,sys; print(json.load(sys.stdin)["total"])')
[ "$active" = 0 ] || fail "$active call(s) still in progress at the end: $(admin /v1/calls/active)"

expect_serving "after the unanswered probes"
finish
