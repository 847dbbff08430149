#!/usr/bin/env bash
# e911ctl runtime against a real admin API over HTTP on 127.0.0.1: the stand-in (the real
# AdminServer with canned answers), in every format, its output schemas, and the failures a
# script must be able to tell apart: nothing listening (4), a wrong token, a token file others
# can read, a refused reload (3).
source "$(dirname "$0")/lib.sh" "$@"
TOOLS=$(dirname "$E911")/tests
STANDIN=$TOOLS/admin_standin
CHECK=$TOOLS/check_output
[ -x "$STANDIN" ] && [ -x "$CHECK" ] || { fail "admin_standin or check_output not built"; finish; }
unset E911_RUNTIME E911_RUNTIME_TOKEN_FILE

umask 077
head -c 24 /dev/urandom | base64 >"$WORK/token"
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; rm -rf "$WORK"' EXIT
# Starts a stand-in and sets $url to its address.
start_standin() {
  local n=${#pids[@]}
  "$STANDIN" "$@" >"$WORK/standin$n.port" 2>"$WORK/standin$n.err" &
  pids+=($!)
  for _ in $(seq 100); do grep -q '^[0-9][0-9]*$' "$WORK/standin$n.port" && break; sleep 0.1; done
  url=http://127.0.0.1:$(head -1 "$WORK/standin$n.port")
  grep -q '^[0-9][0-9]*$' "$WORK/standin$n.port" || fail "admin_standin did not start: $(cat "$WORK/standin$n.err")"
}
start_standin "$WORK/token"
export E911_RUNTIME_TOKEN_FILE=$WORK/token
contract() {  # e911ctl ARGS --format json: exit 0 and a document valid against its output schema
  "$E911" "$@" --format json >"$WORK/doc.json" 2>"$WORK/err"
  rc=$?
  [ "$rc" -eq 0 ] || { out=$(cat "$WORK/doc.json"); err=$(cat "$WORK/err"); fail "e911ctl $* exits $rc"; }
  "$CHECK" <"$WORK/doc.json" 2>"$WORK/why" || fail "e911ctl $* breaks its output schema: $(cat "$WORK/why")"
}

# status: text for people, JSON and YAML with the schema id, the runtime asked named.
run runtime status --runtime "$url"
expect_rc 0 "runtime status"
expect_out "revision 7, published 2024-05-01T09:00:00Z, checksum sha256:0f1e2d"
expect_out "1d 2h 3m 4s"
expect_out "udp:127.0.0.1:5060"
contract runtime status --runtime "$url"
python3 - "$WORK/doc.json" "$url" <<'PY' || fail "runtime status --format json: wrong document"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["schema"] == "e911ctl.runtime.status/v1" and d["runtime"] == sys.argv[2], d
assert d["snapshot"]["revision"] == 7 and d["calls_in_progress"] == 0 and d["uptime_seconds"] == 93784, d
PY
run runtime status --runtime "$url" --format yaml
expect_rc 0 "runtime status --format yaml"
expect_out "schema: e911ctl.runtime.status/v1"
expect_out "revision: 7"
# The URL from the environment; a trailing slash is the same runtime.
E911_RUNTIME=$url/ run runtime status
expect_rc 0 "E911_RUNTIME"

# calls: newest first, --limit honoured; the trace and attempts only in JSON and YAML.
run runtime calls --runtime "$url"
expect_rc 0 "runtime calls"
[ "$(sed -n 2p <<<"$out" | awk '{print $2}')" = emergency ] || fail "runtime calls: the newest call is not first"
expect_out "sip:bob@contoso.example"
contract runtime calls --runtime "$url" --limit 1
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert len(d["items"]) == 1 and d["items"][0]["attempts"][0]["trunk"] == "provider-primary", d' \
  "$WORK/doc.json" || fail "runtime calls --limit 1 --format json"
run runtime calls --runtime "$url" --limit 0
expect_rc 2 "runtime calls --limit 0"
# --active: the calls in progress, oldest first, with their state.
run runtime calls --runtime "$url" --active
expect_rc 0 "runtime calls --active"
expect_out "2 calls in progress, 1 of them emergency calls"
expect_out "1m 35s"
[ "$(sed -n 3p <<<"$out" | awk '{print $2, $3}')" = "emergency connected" ] || fail "runtime calls --active: the oldest call is not first: $out"
contract runtime calls --runtime "$url" --active --limit 1
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["total"] == 2 and len(d["items"]) == 1 and d["items"][0]["state"] == "connected", d' \
  "$WORK/doc.json" || fail "runtime calls --active --limit 1 --format json"
run runtime calls --runtime "$url" --active --limit 1
expect_out "(the oldest 1 shown)"

# registrations: one row per binding.
run runtime registrations --runtime "$url"
expect_rc 0 "runtime registrations"
expect_out "sip:alice@10.10.1.20:5060"
expect_out "10.10.1.21:53211"
contract runtime registrations --runtime "$url"
run runtime registrations --runtime "$url" --format yaml
expect_out "schema: e911ctl.runtime.registrations/v1"

# reload: the runtime's line; a refused snapshot is exit 3 with the document still printed.
run runtime reload --runtime "$url"
expect_rc 0 "runtime reload"
expect_out "snapshot revision 8 in service (was 7)"
contract runtime reload --runtime "$url"
start_standin "$WORK/token" --refuse-reload
refusing=$url
run runtime reload --runtime "$refusing" --format json
expect_rc 3 "a refused reload"
expect_out '"reloaded": false'
"$CHECK" <<<"$out" || fail "a refused reload breaks its output schema"
run runtime reload --runtime "$refusing"
expect_rc 3 "a refused reload, text"
expect_out "refused: bad checksum"
expect_err "the one in service stays"

# Nothing listening: exit 4, the hint names --runtime; JSON callers get the error document.
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
run runtime status --runtime "http://127.0.0.1:$port"
expect_rc 4 "nothing listening"
expect_err "could not be reached"
expect_err "--runtime"
run runtime calls --runtime "http://127.0.0.1:$port" --format json
expect_rc 4 "nothing listening, json"
"$CHECK" <<<"$out" || fail "the unreachable error breaks the error schema"
# The default address when neither --runtime nor E911_RUNTIME is given (nothing there in a test,
# or the runtime of this machine: either way it is the address asked).
run runtime status --format json
grep -q "127.0.0.1:5080" <<<"$out$err" || fail "the default runtime is not http://127.0.0.1:5080"

# The token: a wrong one is refused by the runtime, a file others can read or a missing one by
# e911ctl before anything is sent.
echo wrong-token >"$WORK/wrong"
run runtime status --runtime "$url" --token-file "$WORK/wrong"
expect_rc 1 "a wrong token"
expect_err "refused the token from '$WORK/wrong'"
expect_err "--token-file"
cp "$WORK/token" "$WORK/open"; chmod 644 "$WORK/open"
run runtime status --runtime "$url" --token-file "$WORK/open"
expect_rc 1 "a token file others can read"
expect_err "open to group or others (mode 0644)"
expect_err "chmod 600"
run runtime status --runtime "$url" --token-file "$WORK/none"
expect_rc 1 "a missing token file"
expect_err "cannot read the token file"
E911_RUNTIME_TOKEN_FILE= run runtime status --runtime "$url"
expect_rc 2 "an empty E911_RUNTIME_TOKEN_FILE"
run runtime status --runtime "127.0.0.1:5080"
expect_rc 2 "a runtime address without http://"
expect_err "is not an http:// URL"

# Something that is not a runtime's admin API answers: a clear failure, never a crash.
python3 -m http.server --bind 127.0.0.1 0 --directory "$WORK" >"$WORK/http.out" 2>&1 &
pids+=($!)
for _ in $(seq 50); do grep -q "port" "$WORK/http.out" && break; sleep 0.1; done
other=$(grep -o 'port [0-9]*' "$WORK/http.out" | head -1 | cut -d' ' -f2)
run runtime status --runtime "http://127.0.0.1:$other"
expect_rc 1 "not a runtime"
expect_err "is not found"
finish
