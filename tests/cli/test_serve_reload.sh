#!/usr/bin/env bash
# e911ctl serve --snapshot: the snapshot in service is reloaded on SIGHUP without a restart
# (issue 12). OPTIONS answers name the revision in service in their Server header, so the swap
# is seen on the wire; a bad file is refused and the last good revision stays. Every wait is
# bounded; the server is killed on exit.
source "$(dirname "$0")/lib.sh" "$@"
command -v python3 >/dev/null || { echo "skip: no python3"; exit 0; }

port=$(python3 - <<'PY'
import socket
for _ in range(50):
    t = socket.socket(socket.AF_INET, socket.SOCK_STREAM); t.bind(('127.0.0.1', 0)); port = t.getsockname()[1]
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        u.bind(('127.0.0.1', port)); print(port); break
    except OSError:
        pass
    finally:
        t.close(); u.close()
PY
)
[ -n "$port" ] || { echo "skip: no free port"; exit 0; }

server_pid=
stop_server() { [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null; wait "$server_pid" 2>/dev/null; server_pid=; }
trap 'stop_server; rm -rf "$WORK"' EXIT

start_server() {  # extra serve arguments...
  : >"$WORK/serve.err"
  "$E911" serve --listen "127.0.0.1:$port" "$@" 2>"$WORK/serve.err" &
  server_pid=$!
  for _ in $(seq 50); do
    grep -q '"msg":"listening"' "$WORK/serve.err" 2>/dev/null && return 0
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.1
  done
  err=$(cat "$WORK/serve.err"); fail "serve did not start on port $port"; return 1
}

# The Server header of one OPTIONS over UDP (empty when no answer within a second).
server_header() {
  python3 - "$port" <<'PY'
import re, socket, sys
port = int(sys.argv[1])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(('127.0.0.1', 0)); s.settimeout(1)
cp = s.getsockname()[1]
import random
branch = 'z9hG4bKrl%d' % random.randrange(10**9)
s.sendto(('OPTIONS sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:%d;branch=%s;rport\r\nMax-Forwards: 70\r\n'
          'From: <sip:t@example.com>;tag=a\r\nTo: <sip:127.0.0.1>\r\nCall-ID: %s@t\r\nCSeq: 1 OPTIONS\r\n'
          'Content-Length: 0\r\n\r\n' % (cp, branch, branch)).encode(), ('127.0.0.1', port))
try:
    r = s.recvfrom(70000)[0].decode('utf-8', 'replace')
except socket.timeout:
    sys.exit(0)
m = re.search(r'^Server\s*:\s*(.*?)\r?$', r, re.M | re.I)
print(m.group(1) if m else '')
PY
}

wait_header() {  # want: polls OPTIONS for up to 5 s until the Server header ends with it
  for _ in $(seq 25); do
    got=$(server_header)
    [[ $got == *"$1" ]] && return 0
    sleep 0.2
  done
  return 1
}

version=$("$E911" --version | awk '{print $2}')

# No snapshot published yet: serve starts with snapshot/none and says so; SIGHUP is refused
# (the file is still missing) and is not fatal.
start_server || exit 1
got=$(server_header)
[ "$got" = "e911ctl/$version snapshot/none" ] || { out=$got; fail "Server header without a snapshot: '$got'"; }
err=$(cat "$WORK/serve.err"); expect_err "no snapshot: every call gets 503"
kill -HUP "$server_pid"
for _ in $(seq 20); do grep -q "refused" "$WORK/serve.err" && break; sleep 0.1; done
err=$(cat "$WORK/serve.err"); expect_err "refused"
kill -0 "$server_pid" 2>/dev/null || fail "SIGHUP without a snapshot killed serve"
stop_server

# A published snapshot: revision R1 in service.
run apply -f "$ROOT/samples/enterprise"; expect_rc 0 "apply samples"
run publish -o "$WORK/snap"; expect_rc 0 "publish R1"
r1=$(sed -n 's/^published revision \([0-9]*\) .*/\1/p' <<<"$out")
[ -n "$r1" ] || fail "publish did not name its revision"

# A bad file at start: exit 3 with the error, nothing served.
head -c 100 "$WORK/snap" >"$WORK/short"
run serve --listen "127.0.0.1:$port" --snapshot "$WORK/short"
expect_rc 3 "serve with a truncated snapshot"

start_server --snapshot "$WORK/snap" || exit 1
err=$(cat "$WORK/serve.err"); expect_err "\"revision\":$r1"
wait_header "snapshot/$r1" || { out=$got; fail "OPTIONS does not show snapshot/$r1: '$got'"; }

# Change the store, publish again over the same path (publish writes a temporary file and
# renames it), SIGHUP: R2 in service without a restart.
run trunk set provider-backup --failover-seconds 5; expect_rc 0 "trunk set"
run publish -o "$WORK/snap"; expect_rc 0 "publish R2"
r2=$(sed -n 's/^published revision \([0-9]*\) .*/\1/p' <<<"$out")
[ -n "$r2" ] && [ "$r2" != "$r1" ] || fail "the second publish has no new revision ($r1 -> $r2)"
kill -HUP "$server_pid"
wait_header "snapshot/$r2" || { out=$got; err=$(cat "$WORK/serve.err"); fail "after SIGHUP OPTIONS does not show snapshot/$r2: '$got'"; }
for _ in $(seq 20); do grep -q "in service (was" "$WORK/serve.err" && break; sleep 0.1; done
err=$(cat "$WORK/serve.err"); expect_err "snapshot revision $r2 in service (was $r1)"

# A truncated file, then garbage: refused, with the reason and the revision still in service.
for bad in truncated garbage; do
  if [ $bad = truncated ]; then head -c 200 "$WORK/snap" >"$WORK/bad"; else printf 'not a snapshot at all\n' >"$WORK/bad"; fi
  cp "$WORK/snap" "$WORK/good"
  mv "$WORK/bad" "$WORK/snap"
  before=$(grep -c "refused" "$WORK/serve.err")
  kill -HUP "$server_pid"
  for _ in $(seq 50); do [ "$(grep -c "refused" "$WORK/serve.err")" -gt "$before" ] && break; sleep 0.1; done
  err=$(cat "$WORK/serve.err")
  [ "$(grep -c "refused" "$WORK/serve.err")" -gt "$before" ] || fail "a $bad snapshot was not refused"
  expect_err "revision $r2 stays in service"
  got=$(server_header)
  [[ $got == *"snapshot/$r2" ]] || { out=$got; fail "after a $bad snapshot OPTIONS shows '$got', not snapshot/$r2"; }
  kill -0 "$server_pid" 2>/dev/null || fail "a $bad snapshot killed serve"
  mv "$WORK/good" "$WORK/snap"
done

# SIGTERM still stops it with exit 0.
expect_sigterm_exit "serve"
finish
