#!/usr/bin/env bash
# Crash safety of the runtime (issue 14). `e911ctl serve` killed with SIGKILL starts again with
# the last snapshot put in service (by /v1/reload, as `e911ctl publish` asks), and answers
# OPTIONS naming that revision; each restart's time from exec to the first such answer and to
# the first /healthz answer is printed. A snapshot file truncated or with flipped bytes is refused
# at start and on reload, the runtime serves its last-good copy (the revision shown by the admin
# API) and logs why; with no good copy at all the start fails with exit 3. SIP and the admin API
# are on free ports of 127.0.0.1; every wait is bounded and the server is killed on exit.
source "$(dirname "$0")/lib.sh" "$@"
command -v python3 >/dev/null || { echo "skip: no python3"; exit 0; }
RESTARTS=${RESTARTS:-5}

read -r sip_port admin_port < <(python3 - <<'PY'
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
    if len(ports) == 2: break
print(*ports)
PY
)
[ -n "${admin_port:-}" ] || { echo "skip: no free ports"; exit 0; }

server_pid=
kill_server() { [ -n "$server_pid" ] && kill -KILL "$server_pid" 2>/dev/null; wait "$server_pid" 2>/dev/null; server_pid=; }
trap 'kill_server; rm -rf "$WORK"' EXIT
(umask 077; head -c 24 /dev/urandom | base64 >"$WORK/admin.token")
SNAP=$WORK/e911.snapshot
GOOD=$SNAP.last-good
admin=(--runtime "http://127.0.0.1:$admin_port" --token-file "$WORK/admin.token")

# start_server: starts serve in the background (its pid in $server_pid, its log in
# $WORK/serve.err) and waits, for at most 10 s, for an OPTIONS answer whose Server header names
# a snapshot revision and for /healthz; sets $served (that revision), $options_ms and $health_ms
# (milliseconds from the exec to each first answer, -1 when none came).
start_server() {
  local line
  line=$(python3 - "$sip_port" "$admin_port" "$WORK/serve.err" "$E911" serve --listen "127.0.0.1:$sip_port" --snapshot "$SNAP" \
    --admin "127.0.0.1:$admin_port" --token-file "$WORK/admin.token" --log-format json <<'PY'
import re, socket, subprocess, sys, time, urllib.request
sip, adm, log, argv = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4:]
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(('127.0.0.1', 0)); s.settimeout(0.005)
me = s.getsockname()[1]
t0 = time.monotonic()
p = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=open(log, 'w'))
options = health = None
revision = 'none'
n = 0
while time.monotonic() - t0 < 10 and (options is None or health is None) and p.poll() is None:
    if options is None:
        n += 1
        b = 'z9hG4bKcr%d' % n
        try:
            s.sendto(('OPTIONS sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:%d;branch=%s;rport\r\nMax-Forwards: 70\r\n'
                      'From: <sip:t@example.com>;tag=a\r\nTo: <sip:127.0.0.1>\r\nCall-ID: %s@crash\r\nCSeq: 1 OPTIONS\r\n'
                      'Content-Length: 0\r\n\r\n' % (me, b, b)).encode(), ('127.0.0.1', sip))
            r = s.recvfrom(70000)[0].decode('utf-8', 'replace')
            m = re.search(r'^Server\s*:.*snapshot/(\d+)\r?$', r, re.M | re.I)
            if r.startswith('SIP/2.0 200') and m:
                options, revision = time.monotonic() - t0, m.group(1)
        except OSError:
            pass
    if health is None:
        try:
            with urllib.request.urlopen('http://127.0.0.1:%d/healthz' % adm, timeout=0.05) as h:
                if h.status == 200: health = time.monotonic() - t0
        except Exception:
            time.sleep(0.002)
ms = lambda t: -1 if t is None else round(t * 1000)
print(p.pid, revision, ms(options), ms(health))
PY
)
  read -r server_pid served options_ms health_ms <<<"$line"
  [ "$options_ms" -ge 0 ] && [ "$health_ms" -ge 0 ]
}
# The revision the admin API says is in service.
status_revision() {
  "$E911" runtime status "${admin[@]}" --format json 2>/dev/null |
    python3 -c 'import json,sys; d=json.load(sys.stdin); s=d.get("snapshot"); print(s["revision"] if s else "none")' 2>/dev/null
}
published_revision() { sed -n 's/^published revision \([0-9]*\) .*/\1/p' <<<"$out"; }
logged() { grep -F -- "$1" "$WORK/serve.err" >/dev/null; }

# Revision r1 published; serve starts with it and keeps it as its last-good copy.
run apply -f "$ROOT/samples/enterprise"; expect_rc 0 "apply samples"
run publish --no-reload -o "$SNAP"; expect_rc 0 "publish r1"
r1=$(published_revision)
start_server || { err=$(cat "$WORK/serve.err"); fail "serve did not start"; finish; }
[ "$served" = "$r1" ] || { out=$served; fail "OPTIONS names snapshot/$served, not $r1"; }
cmp -s "$SNAP" "$GOOD" || fail "the snapshot put in service at start was not kept as '$GOOD'"

# Revision r2 put in service through the admin API: it becomes the last-good copy.
run trunk set provider-backup --failover-seconds 5; expect_rc 0 "trunk set"
run publish --no-reload -o "$SNAP"; expect_rc 0 "publish r2"
r2=$(published_revision)
run runtime reload "${admin[@]}"; expect_rc 0 "runtime reload r2"
[ "$(status_revision)" = "$r2" ] || fail "the admin API does not show r2 ($r2) in service after the reload"
cmp -s "$SNAP" "$GOOD" || fail "the snapshot loaded through the admin API was not kept as '$GOOD'"
[ -z "$(ls "$WORK" | grep '\.tmp\.')" ] || fail "a temporary file was left beside the snapshot: $(ls "$WORK")"

# SIGKILL, then start again, RESTARTS times: the same revision, OPTIONS and /healthz answered.
times=()
for i in $(seq "$RESTARTS"); do
  kill_server
  if start_server; then
    times+=("$options_ms/$health_ms")
    [ "$served" = "$r2" ] || { out=$served; fail "restart $i after SIGKILL serves snapshot/$served, not r2 ($r2)"; }
  else
    err=$(cat "$WORK/serve.err"); fail "restart $i after SIGKILL: no answer within 10 s"
  fi
done
median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
echo "restart after SIGKILL, exec to first OPTIONS answer (ms): ${times[*]%%/*}; median $(printf '%s\n' "${times[@]%%/*}" | median)"
echo "restart after SIGKILL, exec to first /healthz answer (ms): ${times[*]##*/}; median $(printf '%s\n' "${times[@]##*/}" | median)"

# A bad file on reload is refused, and does not replace the last-good copy.
cp "$SNAP" "$WORK/r2.snapshot"
head -c 300 "$WORK/r2.snapshot" >"$SNAP"
run runtime reload "${admin[@]}"; expect_rc 3 "reload of a truncated snapshot"
[ "$(status_revision)" = "$r2" ] || fail "r2 is not in service after a refused reload"
cmp -s "$WORK/r2.snapshot" "$GOOD" || fail "a refused reload touched the last-good copy"

# Killed with that bad file in place, and with one whose bytes are flipped: the start refuses
# the file, serves the last-good copy and logs why at level error.
size=$(stat -c %s "$WORK/r2.snapshot")
for bad in truncated flipped; do
  if [ $bad = truncated ]; then
    head -c $((size / 2)) "$WORK/r2.snapshot" >"$SNAP"
  else
    cp "$WORK/r2.snapshot" "$SNAP"
    printf '\377\000\377\000' | dd of="$SNAP" bs=1 seek=$((size / 2)) conv=notrunc status=none
  fi
  kill_server
  if start_server; then
    [ "$served" = "$r2" ] || { out=$served; fail "a $bad snapshot at start: OPTIONS names snapshot/$served, not r2 ($r2)"; }
    [ "$(status_revision)" = "$r2" ] || fail "a $bad snapshot at start: the admin API does not show r2 ($r2)"
    err=$(cat "$WORK/serve.err")
    expect_err "\"level\":\"error\""
    expect_err "snapshot '$SNAP' refused: "
    expect_err "serving its last-good copy '$GOOD', revision $r2"
    [ $bad = truncated ] && expect_err "is truncated"
    [ $bad = flipped ] && expect_err "checksum does not match"
  else
    err=$(cat "$WORK/serve.err"); fail "serve with a $bad snapshot and a good last-good copy did not start"
  fi
done
cmp -s "$WORK/r2.snapshot" "$GOOD" || fail "a start that refused the file touched the last-good copy"

# A good file published meanwhile is served at the next start, and becomes the last-good copy.
kill_server
run publish --no-reload -o "$SNAP"; expect_rc 0 "publish again"
start_server || fail "serve with a good file again"
[ "$served" = "$(published_revision)" ] || fail "the start does not serve the good file"
cmp -s "$SNAP" "$GOOD" || fail "the good file did not become the last-good copy"

# A bad file and no good copy: the start fails with exit 3 and both reasons, nothing served.
kill_server
head -c 300 "$WORK/r2.snapshot" >"$SNAP"
printf 'garbage' >"$GOOD"
run serve --listen "127.0.0.1:$sip_port" --snapshot "$SNAP" --admin off
expect_rc 3 "serve with a bad file and a bad last-good copy"
expect_err "snapshot '$SNAP' refused: "
expect_err "its last-good copy is refused too"
rm -f "$GOOD"
run serve --listen "127.0.0.1:$sip_port" --snapshot "$SNAP" --admin off
expect_rc 3 "serve with a bad file and no last-good copy"
expect_err "there is no last-good copy ('$GOOD') to serve instead"
finish
