# Shared by the runtime tests: the real `e911ctl serve` against real peers (sipp, python3 sockets)
# on the loopback address. Usage in a test: `source lib.sh "$@"` (the e911ctl binary, the source
# root). Every wait is bounded, every sipp run is bounded in calls (-m), concurrency (-l) and time
# (-timeout, and `timeout` around it), and every process a test starts is killed when it exits.
#
# When it can (root, util-linux unshare, iproute2), a test re-runs itself in a network namespace
# of its own that holds only a loopback interface: nothing it sends can leave the machine and its
# fixed ports cannot collide with anything on the host. Otherwise it runs on the host's loopback;
# either way CTest's RESOURCE_LOCK sip_ports runs these tests one at a time.
set -uo pipefail
if [ -z "${E911_SIP_NETNS:-}" ]; then
  if command -v ip >/dev/null 2>&1 && unshare --net true 2>/dev/null; then
    export E911_SIP_NETNS=1
    exec unshare --net bash -c 'ip link set lo up && exec bash "$0" "$@"' "$0" "$@"
  fi
  export E911_SIP_NETNS=0
fi

E911=$1
ROOT=$2
SCENARIOS=$ROOT/tests/sip/scenarios
WORK=$(mktemp -d "${TMPDIR:-/tmp}/e911-sip.XXXXXX")
export E911_DB=$WORK/e911.db NO_COLOR=1
unset E911_FORMAT
failures=0
out= err= rc=0

# Fixed ports: the runtime, then the phones. The trunks are the samples' (5070-5074).
SIP_PORT=${SIP_PORT:-5060}
server_pid=
background=()  # pids of the peers started with sipp_bg

command -v python3 >/dev/null || { echo "skip: no python3"; exit 0; }

cleanup() {
  local p
  for p in "${background[@]}" $server_pid; do kill "$p" 2>/dev/null; done
  for p in "${background[@]}" $server_pid; do wait "$p" 2>/dev/null; done
  if [ "${KEEP_WORK:-0}" = 1 ]; then echo "work kept in $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

fail() {
  echo "FAIL: $*" >&2
  failures=$((failures + 1))
}
# The end of the runtime's log, shown under a failure.
show_serve_log() {
  [ -s "$WORK/serve.err" ] || return 0
  echo "--- e911ctl serve stderr (last 40 lines):" >&2
  tail -n 40 "$WORK/serve.err" >&2
}
finish() {
  if [ "$server_pid" ] && ! kill -0 "$server_pid" 2>/dev/null; then fail "e911ctl serve died"; fi
  if [ "$failures" -gt 0 ]; then
    show_serve_log
    echo "$failures failure(s)" >&2
    exit 1
  fi
  echo "ok"
}
run() {
  "$E911" "$@" >"$WORK/out" 2>"$WORK/err"
  rc=$?
  out=$(cat "$WORK/out")
  err=$(cat "$WORK/err")
}

# The sample enterprise applied and published: its snapshot is $E911_DB.snapshot.
publish_samples() {
  run apply -f "$ROOT/samples/enterprise" || true
  [ "$rc" -eq 0 ] || { fail "apply samples: $err"; return 1; }
  run publish
  [ "$rc" -eq 0 ] || { fail "publish: $err"; return 1; }
  [ -s "$E911_DB.snapshot" ] || { fail "publish wrote no $E911_DB.snapshot"; return 1; }
}

# The status code of the answer to one OPTIONS sent over UDP to 127.0.0.1:$1 (default the
# runtime), or nothing when none comes within a second.
options_status() {
  python3 - "${1:-$SIP_PORT}" "${2:-udp}" <<'PY'
import random, re, socket, sys
port, transport = int(sys.argv[1]), sys.argv[2]
branch = 'z9hG4bKprobe%d' % random.randrange(10**9)
def request(cp, via):
    return ('OPTIONS sip:127.0.0.1:%d SIP/2.0\r\nVia: SIP/2.0/%s 127.0.0.1:%d;branch=%s;rport\r\n'
            'Max-Forwards: 70\r\nFrom: <sip:probe@127.0.0.1>;tag=p\r\nTo: <sip:127.0.0.1:%d>\r\n'
            'Call-ID: %s@probe\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n' % (port, via, cp, branch, port, branch)).encode()
try:
    if transport == 'tcp':
        s = socket.create_connection(('127.0.0.1', port), timeout=1)
        s.sendall(request(s.getsockname()[1], 'TCP'))
    else:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(('127.0.0.1', 0)); s.settimeout(1)
        s.sendto(request(s.getsockname()[1], 'UDP'), ('127.0.0.1', port))
    m = re.match(rb'SIP/2\.0 (\d{3}) ', s.recv(70000))
    print(m.group(1).decode() if m else '')
except OSError:
    pass
PY
}

# Starts `e911ctl serve --listen 127.0.0.1:$SIP_PORT` with the given arguments in the
# background and waits (up to 10 s) until it answers OPTIONS; its stderr is $WORK/serve.err.
start_serve() {
  : >"$WORK/serve.err"
  "$E911" serve --listen "127.0.0.1:$SIP_PORT" "$@" >"$WORK/serve.out" 2>"$WORK/serve.err" &
  server_pid=$!
  for _ in $(seq 100); do
    [ "$(options_status)" = 200 ] && return 0
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.1
  done
  fail "e911ctl serve $* did not answer OPTIONS on 127.0.0.1:$SIP_PORT within 10 s"
  show_serve_log
  return 1
}
stop_serve() {
  [ -n "$server_pid" ] || return 0
  kill "$server_pid" 2>/dev/null
  for _ in $(seq 50); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$server_pid" 2>/dev/null
  wait "$server_pid" 2>/dev/null
  server_pid=
}
expect_serving() {  # what: the runtime still runs and answers OPTIONS over UDP and TCP
  if ! kill -0 "$server_pid" 2>/dev/null; then fail "e911ctl serve died ($1)"; return 1; fi
  [ "$(options_status "$SIP_PORT" udp)" = 200 ] || fail "no 200 to OPTIONS over UDP ($1)"
  [ "$(options_status "$SIP_PORT" tcp)" = 200 ] || fail "no 200 to OPTIONS over TCP ($1)"
}

# sipp NAME ARGS...: one sipp run, bounded: at most 60 s whatever its arguments say (the
# arguments give -m, -l and -timeout too). Its screen, errors and messages are in
# $WORK/NAME.{screen,errors,msgs}; returns sipp's exit code (0: every call succeeded).
sipp_args() {  # name: the arguments every run gets
  echo -nostdin -i 127.0.0.1 -timeout_error -trace_err -error_file "$WORK/$1.errors" \
    -trace_msg -message_file "$WORK/$1.msgs" -trace_screen -screen_file "$WORK/$1.screen"
}
sipp_run() {
  local name=$1
  shift
  # shellcheck disable=SC2046
  (cd "$WORK" && exec timeout -k 2 60 sipp "$@" $(sipp_args "$name")) >"$WORK/$name.out" 2>&1 </dev/null
}
# sipp_bg NAME ARGS...: the same in the background (a phone or trunk waiting for a call); its
# pid goes to $sipp_pid and it is killed on exit. sipp_wait NAME PID collects its exit code.
sipp_bg() {
  local name=$1
  shift
  # shellcheck disable=SC2046
  (cd "$WORK" && exec timeout -k 2 60 sipp "$@" $(sipp_args "$name")) >"$WORK/$name.out" 2>&1 </dev/null &
  sipp_pid=$!
  background+=("$sipp_pid")
}
# Waits until a sipp UAS listens on UDP or TCP port $1 (up to 5 s).
wait_listening() {
  for _ in $(seq 50); do
    ss -Hln "sport = :$1" 2>/dev/null | grep -q . && return 0
    sleep 0.1
  done
  return 1
}
# What sipp reported for run NAME: its exit code with the end of its error log, for a failure.
sipp_report() {
  echo "sipp $1 exited $2"
  [ -s "$WORK/$1.errors" ] && tail -n 15 "$WORK/$1.errors"
  [ -s "$WORK/$1.out" ] && grep -iE "error|fail|unexpected|timeout" "$WORK/$1.out" | tail -n 5
  return 0
}
# expect_sipp NAME CODE [WHAT]: fails unless sipp run NAME exited CODE (0 = every call
# succeeded).
expect_sipp() {
  [ "$2" -eq "${3:-0}" ] && return 0
  fail "$(sipp_report "$1" "$2")"
}
