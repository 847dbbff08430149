#!/usr/bin/env bash
# A snapshot that cannot be read never hangs the runtime (issue 24, item 16): the snapshot path
# replaced by a FIFO (as a file on a hung network mount would block its read):
#   1. POST /v1/reload answers within 6 s, "reloaded": false, saying the file is not a regular
#      one; the revision in service stays;
#   2. SIGHUP then: /healthz and /v1/status still answer within 2 s each, and SIP too;
#   3. SIGTERM stops the runtime within 5 s.
source "$(dirname "$0")/lib.sh" "$@"
publish_samples || { finish; exit 1; }
SNAP=$WORK/served.snapshot
cp "$E911_DB.snapshot" "$SNAP"
printf 'test-token-%s\n' "$RANDOM$RANDOM" >"$WORK/token"
chmod 600 "$WORK/token"
start_serve --snapshot "$SNAP" --domain "$DOMAIN" --admin 127.0.0.1:5081 --token-file "$WORK/token" || { finish; exit 1; }
revision=$(admin /v1/status | python3 -c 'import json,sys; print(json.load(sys.stdin)["snapshot"]["revision"])')
rm -f "$SNAP" && mkfifo "$SNAP"

# timed NAME CMD...: runs CMD, output in $WORK/NAME; prints the milliseconds it took.
timed() {
  local name=$1 start
  shift
  start=$(date +%s%N)
  "$@" >"$WORK/$name" 2>&1
  echo $((($(date +%s%N) - start) / 1000000))
}

ms=$(timed reload curl -s -m 15 -d "" -H "Authorization: Bearer $(cat "$WORK/token")" http://127.0.0.1:5081/v1/reload)
[ "$ms" -lt 6000 ] || fail "/v1/reload of a FIFO took $ms ms"
python3 - "$WORK/reload" "$revision" <<'PY' || fail "/v1/reload of a FIFO: $(cat "$WORK/reload")"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["reloaded"] is False and d["revision"] == int(sys.argv[2]), d
assert "not a regular file" in d["message"] or d.get("in_progress"), d
PY

kill -HUP "$server_pid"
sleep 0.5
ms=$(timed healthz curl -s -m 10 http://127.0.0.1:5081/healthz)
[ "$ms" -lt 2000 ] && [ "$(cat "$WORK/healthz")" = ok ] || fail "/healthz after SIGHUP on a FIFO: '$(cat "$WORK/healthz")' after $ms ms"
ms=$(timed status curl -s -m 10 -H "Authorization: Bearer $(cat "$WORK/token")" http://127.0.0.1:5081/v1/status)
[ "$ms" -lt 2000 ] && grep -q '"revision": '"$revision" "$WORK/status" || fail "/v1/status after SIGHUP on a FIFO: '$(head -c 300 "$WORK/status")' after $ms ms"
expect_serving "after reloads of a FIFO"

kill -TERM "$server_pid"
stopped=0
for _ in $(seq 50); do kill -0 "$server_pid" 2>/dev/null || { stopped=1; break; }; sleep 0.1; done
if [ "$stopped" = 1 ]; then
  wait "$server_pid" 2>/dev/null
  server_pid=
else
  fail "SIGTERM did not stop the runtime within 5 s of reloads of a FIFO"
fi
grep -q 'stopped by SIGTERM' "$WORK/serve.err" || fail "no 'stopped by SIGTERM' in the log"
finish
