#!/usr/bin/env bash
# A publish under load loses no call (issue 13): 300 emergency calls with their clients'
# PIDF-LOs, 30 a second, from a sipp phone through `e911ctl serve` to the provider's primary SBC
# (sipp on 127.0.0.1:5070), while the store changes and is published three times and the
# runtime is made to load each revision (`e911ctl publish` with the runtime stored, i.e. through
# its admin API). Every call must be answered, and the runtime must end on the last revision.
source "$(dirname "$0")/lib.sh" "$@"

publish_samples || { finish; exit 1; }
printf 'load-token-%s\n' "$RANDOM$RANDOM" >"$WORK/token"
chmod 600 "$WORK/token"
start_serve --snapshot "$E911_DB.snapshot" --domain "$DOMAIN" --admin 127.0.0.1:5081 --token-file "$WORK/token" || { finish; exit 1; }
run runtime add local --url http://127.0.0.1:5081 --token-file "$WORK/token"
[ "$rc" -eq 0 ] || fail "runtime add: $err"

calls=300
sipp_bg load-provider -sf "$SCENARIOS/uas_provider.xml" -p 5070 -t t1 -m "$calls" -timeout 50s
provider_pid=$sipp_pid
wait_listening 5070 || fail "the provider does not listen"
sipp_bg load-phone "127.0.0.1:$SIP_PORT" -sf "$SCENARIOS/uac_call_pidf.xml" -p 5091 -t u1 -m "$calls" -r 30 -l 60 -timeout 50s \
  -cid_str "caller-%u-%p@%s" -key from "sip:alice@$DOMAIN" -key to "sip:911@$DOMAIN;user=phone"
phone_pid=$sipp_pid

# Three revisions while the calls run: each publish makes the runtime load it (exit 0: it took it).
sleep 1
for seconds in 9 8 10; do
  run trunk set provider-backup --failover-seconds "$seconds"
  [ "$rc" -eq 0 ] || fail "trunk set: $err"
  run publish
  [ "$rc" -eq 0 ] || fail "publish under load: exit $rc: $err $out"
  sleep 2
done
run history --format json
last=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["items"][0]["revision"])' <<<"$out")

expect_peer load-phone "$phone_pid"
expect_peer load-provider "$provider_pid"
ok=$(awk -F'|' '$1 ~ /Successful call/ {gsub(/ /, "", $3); v = $3} END {print v + 0}' "$WORK/load-phone.screen")
[ "$ok" -eq "$calls" ] || fail "$ok of $calls emergency calls were answered while publishing"
run runtime status --runtime local --format json
printf '%s' "$out" >"$WORK/status.json"
python3 - "$last" "$WORK/status.json" <<'PY' || fail "the runtime does not serve the last published revision $last: $out"
import json, sys
status = json.load(open(sys.argv[2]))
revision = status.get("snapshot", {}).get("revision") if isinstance(status.get("snapshot"), dict) else status.get("snapshot_revision")
assert str(revision) == sys.argv[1], (revision, sys.argv[1])
PY

expect_serving "after publishing under load"
finish
