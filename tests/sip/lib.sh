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

# The samples published with provider-primary's OPTIONS keep-alive off: a sipp provider answers
# no OPTIONS outside a dialog, and would be logged as down.
publish_samples_unpinged() {
  publish_samples || return 1
  run trunk set provider-primary --options-ping false
  [ "$rc" -eq 0 ] || { fail "trunk set provider-primary: $err"; return 1; }
  run publish
  [ "$rc" -eq 0 ] || { fail "publish: $err"; return 1; }
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
  if ! kill -0 "$server_pid" 2>/dev/null; then wait "$server_pid"; server_pid=; fi
  return 1  # finish shows its log
}
# serve_with_admin CONFIG [ARGS...]: start_serve with CONFIG (serve.yaml text) as its --config,
# the published snapshot, $DOMAIN, and the admin API on 127.0.0.1:5081 behind a fresh token;
# `admin PATH` then asks that API.
serve_with_admin() {
  local config=$1
  shift
  printf 'test-token-%s\n' "$RANDOM$RANDOM" >"$WORK/token"
  chmod 600 "$WORK/token"
  printf '%s\n' "$config" >"$WORK/serve.yaml"
  start_serve --config "$WORK/serve.yaml" --snapshot "$E911_DB.snapshot" --domain "$DOMAIN" --admin 127.0.0.1:5081 \
    --token-file "$WORK/token" "$@"
}
admin() { curl -s -m 5 -H "Authorization: Bearer $(cat "$WORK/token")" "http://127.0.0.1:5081$1"; }
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
  grep -E $'^[0-9]{4}-[0-9]{2}-[0-9]{2}\t' "$WORK/$1.errors" 2>/dev/null | cut -f3- | sed -E 's/^[0-9.]+: /  /' |
    cut -c1-200 | head -n 4
  return 0
}
# expect_sipp NAME CODE [WANT]: fails (and returns 1) unless sipp run NAME exited WANT (default
# 0: every call succeeded).
expect_sipp() {
  [ "$2" -eq "${3:-0}" ] && return 0
  fail "$(sipp_report "$1" "$2")"
  return 1
}

# The phones and trunks of the call tests, all sipp on 127.0.0.1. Ports: bob's phone 5090,
# alice's 5091, the registering sipp 5092; trunks at the samples' ports (5070-5074).
DOMAIN=contoso.example
# register NAME USER CONTACT_PORT TRANSPORT [EXPIRES] [SCENARIO]: one REGISTER from port 5092
# over TRANSPORT (udp or tcp) for <sip:USER@127.0.0.1:CONTACT_PORT;transport=TRANSPORT>;
# returns sipp's exit code (register.xml wants 200 with an expires parameter).
register() {
  sipp_run "$1" "127.0.0.1:$SIP_PORT" -sf "$SCENARIOS/${6:-register.xml}" -p 5092 -t "$(sipp_transport "$4")" -m 1 \
    -timeout 10s -cid_str "reg-%u-%p@%s" -key user "$2" -key domain "$DOMAIN" -key contact_port "$3" -key contact_transport "$4" -key expires "${5:-3600}"
}
sipp_transport() { [ "$1" = tcp ] && echo t1 || echo u1; }
# phone NAME SCENARIO PORT TRANSPORT: a sipp UAS (a phone or a trunk) for one call in the
# background, listening on PORT; its pid in $sipp_pid.
phone() {
  sipp_bg "$1" -sf "$SCENARIOS/$2" -p "$3" -t "$(sipp_transport "$4")" -m 1 -timeout 30s
  wait_listening "$3" || fail "sipp $1 does not listen on port $3"
}
# call NAME SCENARIO FROM TO TRANSPORT LOCAL_PORT: one call from a sipp UAC to the runtime;
# returns sipp's exit code; $elapsed is its duration in seconds.
call() {
  local start
  start=$(date +%s%N)
  sipp_run "$1" "127.0.0.1:$SIP_PORT" -sf "$SCENARIOS/$2" -p "$6" -t "$(sipp_transport "$5")" -m 1 -timeout 25s \
    -cid_str "caller-%u-%p@%s" -key from "$3" -key to "$4"
  local rc=$?
  elapsed=$((($(date +%s%N) - start) / 1000000000))
  return $rc
}
# expect_peer NAME PID: the background sipp NAME ended (within 35 s) having played its scenario
# through (exit 0).
expect_peer() {
  local rc
  for _ in $(seq 350); do kill -0 "$2" 2>/dev/null || break; sleep 0.1; done
  wait "$2"
  rc=$?
  expect_sipp "$1" "$rc"
}
# The first received message in sipp run NAME's message log that starts with PATTERN (a
# grep -E pattern for its first line), whole.
received() {
  awk -v pat="$2" '
    /message received/ { grab = 0; inmsg = 1; next }
    /message sent/ { inmsg = 0; next }
    inmsg && !grab && NF && $0 ~ pat { grab = 1; found = 1 }
    grab && /^----------/ { exit }
    grab { print }
  ' "$WORK/$1.msgs" 2>/dev/null
}
# raw_register SOURCE_IP USER CONTACT [EXPIRES]: one REGISTER for USER@$DOMAIN
# over UDP from SOURCE_IP (any 127.x address), with CONTACT as its Contact value, sent by python3
# (sipp cannot send a malformed Contact); prints the final status code, or nothing when none comes
# within 2 s.
raw_register() {
  python3 - "$1" "$SIP_PORT" "$DOMAIN" "$2" "$3" "${4:-600}" <<'PY'
import random, socket, sys
ip, port, domain, user, contact, expires = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5], sys.argv[6]
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind((ip, 0)); s.settimeout(2)
lp, tag = s.getsockname()[1], random.randrange(10**9)
msg = ('REGISTER sip:%s SIP/2.0\r\nVia: SIP/2.0/UDP %s:%d;branch=z9hG4bKraw%d;rport\r\nMax-Forwards: 70\r\n'
       'From: <sip:%s@%s>;tag=%d\r\nTo: <sip:%s@%s>\r\nCall-ID: raw-%d@%s\r\nCSeq: 1 REGISTER\r\nContact: %s\r\n'
       'Expires: %s\r\nContent-Length: 0\r\n\r\n' % (domain, ip, lp, tag, user, domain, tag, user, domain, tag, ip, contact, expires))
s.sendto(msg.encode(), ('127.0.0.1', port))
try:
    while True:
        status = int(s.recv(65535).split(b' ', 2)[1])
        if status >= 200: print(status); break
except OSError:
    pass
PY
}
