#!/usr/bin/env bash
# OPTIONS keep-alives to trunks (issue 13, Lync's SIP trunk options_ping): the runtime pings each
# trunk with options_ping at its options_interval; one that does not answer is down and calls
# try it last, never skip it; it is up again once it answers.
#   - provider-primary (127.0.0.1:5070 tcp) is pinged every 5 s and nothing listens there: it
#     goes down, and an emergency call goes to provider-backup first (its record's first attempt)
#     and is answered there;
#   - a sipp SBC then answers OPTIONS on 5070: the primary is up again.
source "$(dirname "$0")/lib.sh" "$@"
publish_samples || { finish; exit 1; }
run trunk set provider-primary --options-ping true --options-interval 5
[ "$rc" -eq 0 ] || fail "trunk set provider-primary: $err"
run trunk set provider-backup --options-ping false
[ "$rc" -eq 0 ] || fail "trunk set provider-backup: $err"
run publish
[ "$rc" -eq 0 ] || fail "publish: $err"
printf 'ping-token-%s\n' "$RANDOM$RANDOM" >"$WORK/token"
chmod 600 "$WORK/token"
start_serve --snapshot "$E911_DB.snapshot" --domain "$DOMAIN" --admin 127.0.0.1:5081 --token-file "$WORK/token" || { finish; exit 1; }

# wait_log TEXT SECONDS: the runtime logs TEXT within SECONDS.
wait_log() {
  for _ in $(seq $(($2 * 10))); do grep -qF -- "$1" "$WORK/serve.err" && return 0; sleep 0.1; done
  return 1
}
wait_log "trunk 'provider-primary' is down" 12 || fail "no 'provider-primary is down' within 12 s of an unanswered OPTIONS: $(tail -3 "$WORK/serve.err")"

first_attempt() {  # the first attempt's target of the newest call the runtime recorded
  curl -s -m 5 -H "Authorization: Bearer $(cat "$WORK/token")" 'http://127.0.0.1:5081/v1/calls?limit=1' |
    python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["attempts"][0]["target"])'
}
sipp_bg down-backup -sf "$SCENARIOS/uas_provider.xml" -p 5071 -t t1 -m 1 -timeout 30s
backup_pid=$sipp_pid
wait_listening 5071 || fail "the backup does not listen"
call down-alice uac_call_pidf.xml "sip:alice@$DOMAIN" "sip:911@$DOMAIN;user=phone" udp 5091
expect_sipp down-alice $?
expect_peer down-backup "$backup_pid"
[[ $(first_attempt) == "trunk 'provider-backup'"* ]] || fail "with the primary down, the call went first to $(first_attempt)"

# The primary answers OPTIONS again: it is up (and so first again for the calls that follow).
sipp_bg up-primary -sf "$SCENARIOS/uas_options.xml" -p 5070 -t t1 -m 1 -timeout 20s
primary_pid=$sipp_pid
wait_log "trunk 'provider-primary' answers OPTIONS again" 12 || fail "the primary answered OPTIONS but is not up again: $(tail -3 "$WORK/serve.err")"
expect_peer up-primary "$primary_pid"

expect_serving "after the trunk pings"
finish
