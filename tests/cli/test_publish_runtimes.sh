#!/usr/bin/env bash
# Runtimes are objects of the store, and publish makes each of them load the snapshot it writes
# (issue 13). A real `e911ctl serve` with its admin API on 127.0.0.1 is added with `runtime add`
# and takes each published revision; a second stored runtime where nothing listens makes publish
# exit 4 naming it, after the first still took the revision; a file the runtime refuses, or one
# that is not the file publish wrote, is exit 4 too, and the last good revision stays in service.
# Every wait is bounded; serve is killed on exit.
source "$(dirname "$0")/lib.sh" "$@"
command -v python3 >/dev/null || { echo "skip: no python3"; exit 0; }
CHECK=$(dirname "$E911")/tests/check_output
[ -x "$CHECK" ] || { fail "check_output not built"; finish; }
unset E911_RUNTIME E911_RUNTIME_TOKEN_FILE E911_SNAPSHOT

# Three free ports: SIP (UDP and TCP), the admin API, and one where nothing will listen.
read -r sip_port admin_port dead_port < <(python3 - <<'PY'
import socket
ports, held = [], []
for _ in range(200):
    t = socket.socket(socket.AF_INET, socket.SOCK_STREAM); t.bind(('127.0.0.1', 0)); port = t.getsockname()[1]
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        u.bind(('127.0.0.1', port))
    except OSError:
        t.close(); continue
    held += [t, u]; ports.append(port)
    if len(ports) == 3: break
print(*ports)
PY
)
[ -n "${dead_port:-}" ] || { echo "skip: no free ports"; exit 0; }

server_pid=
stop_server() { [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null; wait "$server_pid" 2>/dev/null; server_pid=; }
trap 'stop_server; rm -rf "$WORK"' EXIT

(umask 077; head -c 24 /dev/urandom | base64 >"$WORK/admin.token")
SNAP=$WORK/e911.snapshot
# The runtime reads its snapshot through a link, so a test can give it another file than the one
# publish writes, as a runtime on another disk or with another --snapshot would have.
SERVED=$WORK/served.snapshot
ln -s "$SNAP" "$SERVED"

# The revision the runtime named `local` has in service, by `runtime status --runtime local`.
served_revision() {
  "$E911" runtime status --runtime local --format json 2>/dev/null |
    python3 -c 'import json,sys; d=json.load(sys.stdin); s=d.get("snapshot"); print(s["revision"] if s else "none")' 2>/dev/null
}
published_revision() { sed -n 's/^published revision \([0-9]*\) .*/\1/p' <<<"$out"; }

# --- Runtime objects: add, list, show, set, their checks --------------------------------------
run apply -f "$ROOT/samples/enterprise"; expect_rc 0 "apply samples"
run runtime add local --url "http://127.0.0.1:$admin_port" --token-file "$WORK/admin.token" --description "the test's serve"
expect_rc 0 "runtime add"
expect_out "runtime 'local' created"
run runtime add local --url "http://127.0.0.1:$admin_port" --token-file "$WORK/admin.token"
expect_rc 1 "runtime add of a runtime that exists"
expect_err "runtime 'local' exists"
run runtime add other --token-file "$WORK/admin.token"
expect_rc 2 "runtime add without --url"
expect_err "--url"
run runtime add other --url 127.0.0.1:5080 --token-file admin.token
expect_rc 3 "runtime add with a URL without http:// and a relative token file"
expect_err "error[E113]"
expect_err "'127.0.0.1:5080' is not an http:// or https:// URL"
expect_err "'admin.token' is not an absolute path"
run runtime add other --url "http://user:pw@127.0.0.1:$admin_port" --token-file "$WORK/admin.token"
expect_rc 3 "runtime add with a password in the URL"
expect_err "holds a user name or password"
run runtime show other
expect_rc 1 "a refused runtime add wrote nothing"
run runtime list
expect_rc 0 "runtime list"
expect_out "http://127.0.0.1:$admin_port"
"$E911" runtime show local --format json >"$WORK/show.json" && "$CHECK" <"$WORK/show.json" ||
  fail "runtime show --format json breaks its output schema"
grep -q "\"token_file\": \"$WORK/admin.token\"" "$WORK/show.json" || fail "runtime show does not carry token_file"
grep -q "$(cat "$WORK/admin.token")" "$WORK/show.json" "$E911_DB" && fail "the token itself reached the store"
run runtime set local --url "https://127.0.0.1:$admin_port/"
expect_rc 0 "runtime set --url https"
run runtime set local --url "http://127.0.0.1:$admin_port"
expect_rc 0 "runtime set back"

# --- The runtime takes what publish writes ------------------------------------------------------
run publish --no-reload -o "$SNAP"
expect_rc 0 "publish --no-reload"
r1=$(published_revision)
grep -q "^runtime " <<<"$out" && fail "publish --no-reload asked the runtimes"
: >"$WORK/serve.err"
"$E911" serve --listen "127.0.0.1:$sip_port" --snapshot "$SERVED" --admin "127.0.0.1:$admin_port" --token-file "$WORK/admin.token" \
  2>"$WORK/serve.err" &
server_pid=$!
for _ in $(seq 50); do
  grep -q '"msg":"listening"' "$WORK/serve.err" 2>/dev/null && [ "$(served_revision)" = "$r1" ] && break
  kill -0 "$server_pid" 2>/dev/null || break
  sleep 0.1
done
[ "$(served_revision)" = "$r1" ] || { err=$(cat "$WORK/serve.err"); fail "serve did not start with revision $r1"; finish; }

run trunk set provider-backup --failover-seconds 5; expect_rc 0 "trunk set"
run publish -o "$SNAP"
expect_rc 0 "publish to a runtime"
r2=$(published_revision)
[ -n "$r2" ] && [ "$r2" != "$r1" ] || fail "the second publish has no new revision ($r1 -> $r2)"
expect_out "runtime 'local' (http://127.0.0.1:$admin_port): revision $r2 in service"
[ "$(served_revision)" = "$r2" ] || fail "runtime status does not show revision $r2 after publish"
run runtime status --runtime local
expect_rc 0 "runtime status --runtime NAME"
expect_out "revision $r2,"
# --token-file still overrides the stored runtime's file.
echo wrong-token >"$WORK/wrong"; chmod 600 "$WORK/wrong"
run runtime status --runtime local --token-file "$WORK/wrong"
expect_rc 1 "--token-file over a stored runtime's"
expect_err "refused the token from '$WORK/wrong'"
run runtime status --runtime lokal
expect_rc 2 "an unknown runtime name"
expect_err "did you mean 'local'?"

# --- A second runtime where nothing listens: exit 4, named; the first still takes it ------------
run runtime add dead --url "http://127.0.0.1:$dead_port" --token-file "$WORK/admin.token"
expect_rc 0 "runtime add dead"
run trunk set provider-backup --failover-seconds 6; expect_rc 0 "trunk set"
run publish -o "$SNAP"
expect_rc 4 "publish with a runtime nobody answers for"
r3=$(published_revision)
[ -n "$r3" ] && [ "$r3" != "$r2" ] || fail "the third publish has no new revision ($r2 -> $r3)"
expect_out "runtime 'dead' (http://127.0.0.1:$dead_port): did not take revision $r3: the runtime at 'http://127.0.0.1:$dead_port' could not be reached"
expect_out "runtime 'local' (http://127.0.0.1:$admin_port): revision $r3 in service"
expect_err "1 of 2 runtime(s) did not take revision $r3"
[ "$(served_revision)" = "$r3" ] || fail "the reachable runtime did not take revision $r3 (dead is asked first)"
[ -s "$SNAP" ] || fail "the snapshot was not written"
run publish -o "$SNAP" --format json
expect_rc 4 "publish --format json with a dead runtime"
"$CHECK" <<<"$out" || fail "publish --format json breaks its output schema"
echo "$out" >"$WORK/doc.json"
python3 - "$WORK/doc.json" "$r3" <<'PY' || fail "publish --format json: wrong runtimes"
import json, sys
d = json.load(open(sys.argv[1]))
rt = {r["name"]: r for r in d["runtimes"]}
assert rt["dead"]["took"] is False and rt["dead"]["reached"] is False and rt["dead"]["revision"] is None, rt
assert rt["local"]["took"] is True and rt["local"]["revision"] == d["revision"] == int(sys.argv[2]), rt
assert rt["local"]["checksum"] == d["checksum"], rt
PY
run runtime remove dead; expect_rc 0 "runtime remove"

# --- A file the runtime refuses: exit 4 with its reason, the last good revision stays ------------
head -c 200 "$SNAP" >"$WORK/damaged"
ln -sfn "$WORK/damaged" "$SERVED"
run trunk set provider-backup --failover-seconds 7; expect_rc 0 "trunk set"
run publish -o "$SNAP"
expect_rc 4 "publish to a runtime that refuses the file"
expect_out "runtime 'local'"
expect_out "refused"
expect_out "revision $r3 stays in service"
[ "$(served_revision)" = "$r3" ] || fail "a refused file did not leave revision $r3 in service"

# --- A runtime that reads another file than publish wrote: exit 4, both paths named --------------
cp "$SNAP" "$WORK/elsewhere"
ln -sfn "$WORK/elsewhere" "$SERVED"
run trunk set provider-backup --failover-seconds 8; expect_rc 0 "trunk set"
run publish -o "$SNAP"
expect_rc 4 "publish to a runtime that serves another file"
r5=$(published_revision)
expect_out "not revision $r5"
expect_out "it reads '$SERVED', publish wrote '$SNAP'"

# --- Back to the file publish writes; --no-reload leaves the runtime alone -----------------------
ln -sfn "$SNAP" "$SERVED"
run publish -o "$SNAP"
expect_rc 0 "publish once the runtime reads the file again"
r6=$(published_revision)
[ "$(served_revision)" = "$r6" ] || fail "revision $r6 is not in service"
run trunk set provider-backup --failover-seconds 9; expect_rc 0 "trunk set"
run publish -o "$SNAP" --no-reload
expect_rc 0 "publish --no-reload"
[ "$(served_revision)" = "$r6" ] || fail "publish --no-reload made the runtime reload"
kill -0 "$server_pid" 2>/dev/null || fail "serve died"

# --- Export and apply carry runtimes ---------------------------------------------------------------
run export --kind runtime
expect_rc 0 "export --kind runtime"
expect_out "kind: Runtime"
expect_out "token_file: $WORK/admin.token"
echo "$out" >"$WORK/runtimes.yaml"
run runtime remove local; expect_rc 0 "runtime remove local"
run apply -f "$WORK/runtimes.yaml"; expect_rc 0 "apply the exported runtimes"
expect_out "+ runtime 'local'"
run apply -f "$WORK/runtimes.yaml"; expect_rc 0 "apply again"
expect_out "no changes"
printf 'kind: Runtime\nname: n2\nurl: ftp://127.0.0.1\ntoken_file: t\n' >"$WORK/bad.yaml"
run apply -f "$WORK/bad.yaml"
expect_rc 3 "apply of a bad runtime"
expect_err "bad.yaml:3:6: error[E113]"
expect_err "bad.yaml:4:13: error[E113]"

stop_server
finish
