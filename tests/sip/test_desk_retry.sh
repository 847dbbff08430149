#!/usr/bin/env bash
# The security desk is told of an emergency call even when the call is long over before the desk
# takes the MESSAGE: the desk's client takes 6 s to answer the first MESSAGE, and with 503; the
# 911 call (200 ms long) has ended by then; another client takes the retry 2 s later, which is
# built from what the delivery holds. Before, a retry later than the call's
# 5 s linger found the call gone and the desk was never told (the soak lost 30,762 that way).
source "$(dirname "$0")/lib.sh" "$@"
publish_samples || { finish; exit 1; }
run trunk set provider-primary --options-ping false
[ "$rc" -eq 0 ] || fail "trunk set provider-primary: $err"
run policy set global --notification-uris "sip:desk@127.0.0.1:5093"
[ "$rc" -eq 0 ] || fail "policy set global --notification-uris: $err"
run publish
[ "$rc" -eq 0 ] || fail "publish: $err"
start_serve --snapshot "$E911_DB.snapshot" --domain "$DOMAIN" || { finish; exit 1; }

phone provider uas_provider.xml 5070 tcp
provider_pid=$sipp_pid
phone slow-desk uas_desk_slow_503.xml 5093 udp
slow_pid=$sipp_pid
call alice uac_call_pidf.xml "sip:alice@$DOMAIN" "sip:911@$DOMAIN;user=phone" udp 5091
expect_sipp alice $?
expect_peer provider "$provider_pid"
expect_peer slow-desk "$slow_pid"
# The call is over; the desk's client comes up and takes the retry.
sipp_bg desk -sf "$SCENARIOS/uas_desk.xml" -p 5093 -t u1 -m 1 -timeout 30s
desk_pid=$sipp_pid
wait_listening 5093 || fail "the desk does not listen on 5093"
expect_peer desk "$desk_pid"
grep -qF 'Callback: +14255550101' "$WORK/desk.msgs" || fail "the retried MESSAGE lacks the callback number: $(received desk '^MESSAGE' | head -c 600)"
# The retry is a new request (RFC 3261 §8.2.2.2): its own Call-ID, branch and From tag.
first=$(received slow-desk '^MESSAGE') retry=$(received desk '^MESSAGE')
for h in '^Call-ID:' 'branch=[^;]*' 'tag=[^;>]*'; do
  a=$(grep -oE -- "$h.*" <<<"$first" | head -1) b=$(grep -oE -- "$h.*" <<<"$retry" | head -1)
  [ -n "$a" ] && [ -n "$b" ] && [ "$a" != "$b" ] || fail "the retry repeats the first MESSAGE's '$h' ('$a' and '$b')"
done
[ "$(sed -n '/^Emergency call/,$p' <<<"$first")" = "$(sed -n '/^Emergency call/,$p' <<<"$retry")" ] || fail "the retry's text differs from the first MESSAGE's"
for _ in $(seq 100); do grep -q "security desk notification of call [0-9]* to sip:desk@127.0.0.1:5093: delivered after 2 attempt(s): 200" "$WORK/serve.err" && break; sleep 0.1; done
grep -q "security desk notification of call [0-9]* to sip:desk@127.0.0.1:5093: delivered after 2 attempt(s): 200" "$WORK/serve.err" ||
  fail "no 'delivered after 2 attempt(s)' line: $(grep 'security desk notification' "$WORK/serve.err" | tail -2)"
expect_serving "after the desk's retry"
finish
