#!/usr/bin/env bash
# Runtime figures (issue 12), in one run on this machine:
#   - ordinary calls per second with zero failed calls, sipp UAC -> proxy -> sipp UAS
#     (INVITE/100/180/200/ACK/BYE/200 over UDP), for Kamailio 5.6 configured here as a stateful
#     proxy and for `e911ctl serve`, side by side, with sipp talking straight to sipp as the
#     ceiling of the harness itself;
#   - CPU seconds per 1000 calls of each proxy's processes (utime + stime from /proc/PID/stat,
#     every process of Kamailio) over a 20 s window (WINDOW) of a fixed-rate run, read 40 s (WARM)
#     into it: steady state, past every RFC timer's growth; each proxy is restarted after its
#     ladder for this run, so that the overloaded steps' leftovers are not counted;
#   - resident memory (VmRSS) of `e911ctl serve` serving 100,000 users, once they are registered,
#     and with 10,000 calls in progress.
#
# MODE=emergency: the same ladder and CPU run with emergency calls instead (issue 13): the UAC
# calls 911 with its client's PIDF-LO in a multipart body (tests/sip/scenarios/uac_call_pidf.xml's
# INVITE); Kamailio relays it as it is to the UDP UAS; e911ctl decides it by the global location
# policy, builds the provider's INVITE with that PIDF-LO, sends it over TCP (over 1300 bytes) to a
# TCP UAS on 5082, and tells a security desk (a sipp client on 5084 answering MESSAGE) of every
# call, as it does in service. No memory figures in this mode.
#
# Usage: tests/bench/runtime.sh [build/e911ctl]        about 6 minutes
#        QUICK=1 tests/bench/runtime.sh [build/e911ctl] under 2 minutes: 2 s steps, no bisection,
#                                                       10,000 users and 1,000 calls held
# Environment: STEP_SECONDS, RATES ("100 200 ..."), CPU_RATE, WARM, WINDOW, USERS, HELD override
# the defaults below. CPU_ONLY=1 skips the ladders and the memory figures (only the CPU per call of
# each proxy, at CPU_RATE); PERF_DATA=FILE records `perf record -g` of e911ctl serve over the CPU
# window into FILE (read it with `perf report -i FILE`; PERF_OPTS="--call-graph dwarf" for whole
# stacks); NO_KAMAILIO=1 leaves Kamailio out (a quicker profile of e911ctl alone).
#
# Kamailio: Debian's kamailio package (installed here with apt-get when missing; the tests never
# need it). Its configuration is written to the scratch directory: modules tm, sl, rr, maxfwd and
# textops, t_relay() for every request, record_route() on INVITE, loose_route() for in-dialog
# requests, no database; children=1 and TCP off, one UDP worker as `e911ctl serve` has one
# worker thread (its default); -m 256 MB of shared memory; started with -DD -E (foreground,
# logs on stderr).
#
# e911ctl serve: a store of one user (sip:bench@contoso.example, the UAC's From), one usage,
# one route matching every number and one trunk at the sipp UAS (127.0.0.1:5080 udp) under the
# global voice policy, applied and published; the UAC calls +14255550100 at the runtime's
# address. Its per-call log goes to a file, as it would in service. While the build answers
# INVITE with 501 (no B2BUA yet) its column says "failed" with the answer, never a figure.
#
# Everything runs on 127.0.0.1 in a network namespace of its own when one can be made (root),
# else on the host's loopback with the same fixed ports: 5060 Kamailio, 5062 e911ctl serve,
# 5080 the UAS (the trunk), 5090 the UAC, 5091 the registering sipp. Every sipp run is bounded
# (-m, -l, -timeout, and `timeout` around it).
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
e911=$(cd "$(dirname "${1:-$root/build/e911ctl}")" && pwd)/$(basename "${1:-build/e911ctl}")
[ -x "$e911" ] || { echo "runtime.sh: no e911ctl at '$e911'" >&2; exit 2; }

# Outside the namespace first: installing Kamailio needs the network.
if [ -z "${E911_BENCH_NETNS:-}" ]; then
  command -v sipp >/dev/null || { echo "runtime.sh: sipp is missing (apt-get install sip-tester)" >&2; exit 2; }
  if ! command -v kamailio >/dev/null && [ "$(id -u)" -eq 0 ]; then
    echo "runtime.sh: installing kamailio (Debian package) for the comparison" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends kamailio >&2 ||
      echo "runtime.sh: could not install kamailio; its column stays empty" >&2
  fi
  if command -v ip >/dev/null && unshare --net true 2>/dev/null; then
    export E911_BENCH_NETNS=1
    exec unshare --net bash -c 'ip link set lo up && exec bash "$0" "$@"' "$0" "$e911"
  fi
  export E911_BENCH_NETNS=0
fi

if [ "${QUICK:-0}" = 1 ]; then
  step=${STEP_SECONDS:-2} rates=${RATES:-"100 200 400 800 1600 3200"} bisect=0
  cpu_rate=${CPU_RATE:-100} warm=${WARM:-5} window=${WINDOW:-5} users=${USERS:-10000} held=${HELD:-1000}
else
  step=${STEP_SECONDS:-5} rates=${RATES:-"100 200 400 800 1600 3200 6400"} bisect=2
  cpu_rate=${CPU_RATE:-200} warm=${WARM:-40} window=${WINDOW:-20} users=${USERS:-100000} held=${HELD:-10000}
fi
KAM_PORT=5060 E911_PORT=5062 UAS_PORT=5080 UAC_PORT=5090 REG_PORT=5091 TCP_UAS_PORT=5082 DESK_PORT=5084
mode=${MODE:-ordinary}
service=+14255550100
[ "$mode" = emergency ] && service=911
work=$(mktemp -d "${TMPDIR:-/tmp}/e911-runtime-bench.XXXXXX")
pids=()
cleanup() {
  local p
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
  if [ "${KEEP_WORK:-0}" = 1 ]; then echo "work kept in $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT
export NO_COLOR=1
hz=$(getconf CLK_TCK)
log() { echo "runtime.sh: $*" >&2; }

# ---------------------------------------------------------------- scenarios and configuration
cat >"$work/uac.xml" <<'XML'
<?xml version="1.0" encoding="ISO-8859-1" ?>
<!-- One ordinary call from sip:bench@contoso.example to [service] at [remote_ip]:[remote_port]
     (the UAS through Kamailio with -rsa, or the runtime itself), hung up 100 ms after answer. -->
<scenario name="bench uac">
  <send retrans="500">
    <![CDATA[
      INVITE sip:[service]@[remote_ip]:[remote_port];user=phone SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:bench@contoso.example>;tag=[pid]b[call_number]
      To: <sip:[service]@[remote_ip]:[remote_port];user=phone>
      Call-ID: [call_id]
      CSeq: 1 INVITE
      Contact: <sip:bench@[local_ip]:[local_port]>
      Max-Forwards: 70
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=bench 53655765 2353687637 IN IP[local_ip_type] [local_ip]
      s=-
      c=IN IP[media_ip_type] [media_ip]
      t=0 0
      m=audio [media_port] RTP/AVP 0
      a=rtpmap:0 PCMU/8000
    ]]>
  </send>
  <recv response="100" optional="true"/>
  <recv response="180" optional="true"/>
  <recv response="183" optional="true"/>
  <recv response="200" rrs="true"/>
  <send>
    <![CDATA[
      ACK [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      [routes]
      From: <sip:bench@contoso.example>;tag=[pid]b[call_number]
      [last_To:]
      Call-ID: [call_id]
      CSeq: 1 ACK
      Contact: <sip:bench@[local_ip]:[local_port]>
      Max-Forwards: 70
      Content-Length: 0
    ]]>
  </send>
  <pause milliseconds="100"/>
  <send retrans="500">
    <![CDATA[
      BYE [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      [routes]
      From: <sip:bench@contoso.example>;tag=[pid]b[call_number]
      [last_To:]
      Call-ID: [call_id]
      CSeq: 2 BYE
      Contact: <sip:bench@[local_ip]:[local_port]>
      Max-Forwards: 70
      Content-Length: 0
    ]]>
  </send>
  <recv response="200" crlf="true"/>
</scenario>
XML
if [ "$mode" = emergency ]; then
  # The UAC's INVITE with its client's PIDF-LO (the body of tests/sip/scenarios/uac_call_pidf.xml).
  python3 - "$work/uac.xml" <<'PY'
import re, sys
path = sys.argv[1]
s = open(path).read()
body = """Priority: emergency
      Geolocation: <cid:client-loc@contoso.example>
      Geolocation-Routing: yes
      Content-Type: multipart/mixed;boundary=phone-boundary-1
      Content-Length: [len]

      --phone-boundary-1
      Content-Type: application/sdp

      v=0
      o=bench 53655765 2353687637 IN IP4 [local_ip]
      s=-
      c=IN IP4 [media_ip]
      t=0 0
      m=audio [media_port] RTP/AVP 0
      a=rtpmap:0 PCMU/8000

      --phone-boundary-1
      Content-Type: application/pidf+xml
      Content-ID: <client-loc@contoso.example>

      <?xml version="1.0" encoding="UTF-8"?>
      <presence xmlns="urn:ietf:params:xml:ns:pidf" xmlns:gp="urn:ietf:params:xml:ns:pidf:geopriv10" xmlns:ca="urn:ietf:params:xml:ns:pidf:geopriv10:civicAddr" entity="pres:bench@contoso.example">
      <tuple id="client-1"><status><gp:geopriv><gp:location-info><ca:civicAddress><ca:country>US</ca:country><ca:A1>WA</ca:A1><ca:A3>Seattle</ca:A3><ca:RD>Main</ca:RD><ca:STS>St</ca:STS><ca:HNO>1</ca:HNO><ca:LOC>Suite 210</ca:LOC><ca:PC>98101</ca:PC></ca:civicAddress></gp:location-info><gp:usage-rules/><gp:method>Manual</gp:method></gp:geopriv></status></tuple>
      </presence>
      --phone-boundary-1--
"""
first = s.index('Content-Type: application/sdp')
end = s.index(']]>', first)
s = s[:first] + body + '    ' + s[end:]
open(path, 'w').write(s)
PY
fi
# The UAS: sipp's own, with the Record-Route echoed so the UAC's ACK and BYE carry Kamailio's
# route (loose_route); $1 ms between 180 and 200 (the held calls of the memory figure).
uas_scenario() {
  cat <<XML
<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="bench uas">
  <recv request="INVITE" crlf="true"/>
  <send>
    <![CDATA[
      SIP/2.0 180 Ringing
      [last_Via:]
      [last_Record-Route:]
      [last_From:]
      [last_To:];tag=[pid]u[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Contact: <sip:uas@[local_ip]:[local_port]>
      Content-Length: 0
    ]]>
  </send>
  $( [ "$1" -gt 0 ] && echo "<pause milliseconds=\"$1\"/>" )
  <send retrans="500">
    <![CDATA[
      SIP/2.0 200 OK
      [last_Via:]
      [last_Record-Route:]
      [last_From:]
      [last_To:];tag=[pid]u[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Contact: <sip:uas@[local_ip]:[local_port]>
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=uas 53655765 2353687637 IN IP[local_ip_type] [local_ip]
      s=-
      c=IN IP[media_ip_type] [media_ip]
      t=0 0
      m=audio [media_port] RTP/AVP 0
      a=rtpmap:0 PCMU/8000
    ]]>
  </send>
  <recv request="ACK" crlf="true"/>
  <recv request="BYE"/>
  <send>
    <![CDATA[
      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0
    ]]>
  </send>
</scenario>
XML
}
uas_scenario 0 >"$work/uas.xml"
uas_scenario 600000 >"$work/uas-held.xml"
cat >"$work/register.xml" <<'XML'
<?xml version="1.0" encoding="ISO-8859-1" ?>
<!-- REGISTER sip:[field0]@contoso.example for an hour, its contact at the registering sipp. -->
<scenario name="bench register">
  <send retrans="500">
    <![CDATA[
      REGISTER sip:contoso.example SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:[field0]@contoso.example>;tag=[pid]r[call_number]
      To: <sip:[field0]@contoso.example>
      Call-ID: [call_id]
      CSeq: 1 REGISTER
      Contact: <sip:[field0]@[local_ip]:[local_port]>
      Expires: 3600
      Max-Forwards: 70
      Content-Length: 0
    ]]>
  </send>
  <recv response="200"/>
</scenario>
XML
cat >"$work/kamailio.cfg" <<XML
#!KAMAILIO
# A stateful proxy for the comparison: one UDP worker, no TCP, no database.
debug=0
log_stderror=yes
memdbg=5
memlog=5
children=1
disable_tcp=yes
auto_aliases=no
listen=udp:127.0.0.1:$KAM_PORT
mpath="$(dirname "$(find /usr/lib -name tm.so -path '*kamailio*' 2>/dev/null | head -1)")/"
loadmodule "tm.so"
loadmodule "sl.so"
loadmodule "rr.so"
loadmodule "maxfwd.so"
loadmodule "textops.so"

request_route {
  if (!mf_process_maxfwd_header("10")) { sl_send_reply("483", "Too Many Hops"); exit; }
  if (is_method("OPTIONS") && uri == myself) { sl_send_reply("200", "OK"); exit; }
  if (is_method("CANCEL")) { if (t_check_trans()) t_relay(); exit; }
  if (loose_route()) { if (!t_relay()) sl_reply_error(); exit; }
  if (is_method("ACK")) { if (t_check_trans()) t_relay(); exit; }
  t_check_trans();
  if (is_method("INVITE")) record_route();
  if (!t_relay()) sl_reply_error();
}
XML

# ---------------------------------------------------------------- helpers
# The status code of the answer to an OPTIONS sent to 127.0.0.1:$1, or nothing within 1 s.
options_status() {
  python3 - "$1" <<'PY'
import re, socket, sys
port = int(sys.argv[1])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(('127.0.0.1', 0)); s.settimeout(1)
cp = s.getsockname()[1]
s.sendto(('OPTIONS sip:127.0.0.1:%d SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bKbench%d;rport\r\n'
          'Max-Forwards: 70\r\nFrom: <sip:probe@127.0.0.1>;tag=p\r\nTo: <sip:127.0.0.1:%d>\r\nCall-ID: %d@probe\r\n'
          'CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n' % (port, cp, cp, port, cp)).encode(), ('127.0.0.1', port))
try:
    m = re.match(rb'SIP/2\.0 (\d{3})', s.recv(70000))
    print(m.group(1).decode() if m else '')
except OSError:
    pass
PY
}
wait_options() {  # port pid: until the process answers OPTIONS (10 s)
  for _ in $(seq 100); do
    [ "$(options_status "$1")" = 200 ] && return 0
    kill -0 "$2" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}
wait_port() {  # port: until something listens on it (5 s)
  for _ in $(seq 50); do ss -Hln "sport = :$1" 2>/dev/null | grep -q . && return 0; sleep 0.1; done
  return 1
}
# Clock ticks used so far by a process and all its children (Kamailio's workers).
ticks() {
  local total=0 p
  for p in "$@" $(pgrep -P "$1" 2>/dev/null); do
    [ -r "/proc/$p/stat" ] || continue
    # Fields after the ")" closing the command name: utime and stime are the 12th and 13th.
    total=$((total + $(sed 's/.*) //' "/proc/$p/stat" | awk '{print $12 + $13}')))
  done
  echo "$total"
}
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status" 2>/dev/null; }
mb() { awk -v k="$1" 'BEGIN{printf "%.1f MB", k / 1024}'; }
# A sipp counter from the screen it dumped at exit: the cumulative column of row $2.
screen_count() { awk -F'|' -v row="$2" '$1 ~ row {gsub(/ /, "", $3); v = $3} END {print v + 0}' "$1" 2>/dev/null; }

start_uas() {  # scenario [port [sipp args]]: the UAS on the trunk port, in the background; sets uas_pid
  local scenario=$1 port=${2:-$UAS_PORT}
  shift $(($# < 2 ? $# : 2))
  (cd "$work" && exec timeout -k 2 900 sipp -sf "$work/$scenario" -p "$port" -i 127.0.0.1 -nostdin -l 100000 "$@" \
     -trace_err -error_file "$work/${scenario%.xml}.errors" -trace_stat -stf "$work/${scenario%.xml}.stat.csv" -fd 1) >/dev/null 2>&1 </dev/null &
  uas_pid=$!
  pids+=("$uas_pid")
  wait_port "$port"
}
stop() {  # pid: SIGTERM, then SIGKILL after 5 s
  kill "$1" 2>/dev/null
  for _ in $(seq 50); do kill -0 "$1" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$1" 2>/dev/null
  wait "$1" 2>/dev/null
}

# Why calls failed, from sipp's error log and screen of run $1: the first unexpected answer, or
# how many receives timed out (an overloaded proxy), or nothing.
failure_reason() {
  local unexpected timeouts
  unexpected=$(grep -m1 "Aborting call on unexpected message.*received 'SIP/2\.0 [0-9]" "$1.errors" 2>/dev/null |
    sed -E "s/.*received '//" | tr -d '\r')
  if [ -n "$unexpected" ]; then echo "answered $unexpected"; return; fi
  timeouts=$(grep -c "receive timeout" "$1.errors" 2>/dev/null)
  [ "${timeouts:-0}" -gt 0 ] && echo "$timeouts of them timed out waiting for an answer"
}

# calls LABEL RATE CALLS SIPP-DESTINATION...: one bounded UAC run; sets ok (1 when every call
# succeeded at the rate asked), succeeded, failed, wall and first_failure (the first response
# the UAC did not expect, for a report).
calls() {
  local label=$1 rate=$2 n=$3
  shift 3
  local name=$label-$rate-$n limit=$((rate * 2 + 200)) budget=$((n / rate + 15)) start
  start=$(date +%s%N)
  (cd "$work" && exec timeout -k 2 $((budget + 10)) sipp "$@" -sf "$work/uac.xml" -s "$service" -p "$UAC_PORT" \
     -i 127.0.0.1 -r "$rate" -m "$n" -l "$limit" -recv_timeout 8000 -timeout "${budget}s" -timeout_error -nostdin \
     -trace_screen -screen_file "$work/$name.screen" -trace_err -error_file "$work/$name.errors") >/dev/null 2>&1 </dev/null
  local rc=$?
  wall=$(awk -v a="$start" -v b="$(date +%s%N)" 'BEGIN{printf "%.1f", (b - a) / 1e9}')
  succeeded=$(screen_count "$work/$name.screen" "Successful call")
  failed=$(screen_count "$work/$name.screen" "Failed call")
  first_failure=$(failure_reason "$work/$name")
  # The rate was sustained when the calls took no more than a quarter longer than asked (plus
  # the last calls' own duration): a proxy that slows the UAC down is not keeping up.
  ok=0
  if [ "$rc" -eq 0 ] && [ "$succeeded" -eq "$n" ] && [ "$failed" -eq 0 ] &&
     awk -v w="$wall" -v n="$n" -v r="$rate" 'BEGIN{exit !(w <= n / r * 1.25 + 2)}'; then ok=1; fi
  log "$label: $rate calls/s x $n: $succeeded ok, $failed failed, ${wall}s$([ "$ok" = 1 ] || echo ", not sustained${first_failure:+ ($first_failure)}")"
}

# ladder LABEL SIPP-DESTINATION...: the highest rate with zero failures, doubling then bisecting;
# sets best (0 when even the lowest failed) and why (the failure above it).
ladder() {
  local label=$1 r lo=0 hi=0 why_hi=
  shift
  best=0 why=
  if [ "${CPU_ONLY:-0}" = 1 ]; then best=1 why="not measured (CPU_ONLY)"; return; fi
  calls "$label" 10 10 "$@"  # one small probe: a proxy that fails every call says so at once
  if [ "$ok" != 1 ]; then why=${first_failure:-"$failed of 10 calls failed"}; return; fi
  for r in $rates; do
    calls "$label" "$r" $((r * step)) "$@"
    if [ "$ok" = 1 ]; then lo=$r; else hi=$r why_hi="$failed of $((r * step)) failed in ${wall}s${first_failure:+, $first_failure}"; break; fi
  done
  for _ in $(seq "$bisect"); do
    [ "$hi" -gt 0 ] && [ "$lo" -gt 0 ] || break
    r=$(((lo + hi) / 2))
    calls "$label" "$r" $((r * step)) "$@"
    if [ "$ok" = 1 ]; then lo=$r; else hi=$r why_hi="$failed of $((r * step)) failed in ${wall}s${first_failure:+, $first_failure}"; fi
  done
  best=$lo
  if [ "$hi" -gt 0 ]; then why="fails at $hi/s: $why_hi"; else why="no failure up to $lo/s (the top of the ladder)"; fi
}

# cpu LABEL PID SIPP-DESTINATION...: CPU seconds per 1000 calls of PID (and its children) at a
# fixed rate in steady state; sets cpu (empty when a call failed). The UAC runs warm + window + 5
# seconds; the CPU is read at `warm` and at `warm + window` seconds into the run, so that neither
# the ladder's leftover timers nor the growth of the state a proxy keeps for its calls (32 s of
# RFC 3261 timers L, M and J in a B2BUA, 5 s of wait timer in Kamailio's tm) is counted: the
# window holds rate * window calls at the rate the proxy keeps up with forever.
cpu() {
  local label=$1 pid=$2 t1 t2
  shift 2
  rm -f "$work/cpu.t1" "$work/cpu.t2"
  local perf=
  [ -n "${PERF_DATA:-}" ] && [ "$label" = e911ctl ] && perf="$PERF_DATA"
  (sleep "$warm"; ticks "$pid" >"$work/cpu.t1"
   if [ -n "$perf" ]; then perf record -q ${PERF_OPTS:--g} -o "$perf" -p "$pid" -- sleep "$window" >/dev/null 2>&1; else sleep "$window"; fi
   ticks "$pid" >"$work/cpu.t2") &
  local sampler=$!
  calls "$label-cpu" "$cpu_rate" $((cpu_rate * (warm + window + 5))) "$@"
  wait "$sampler" 2>/dev/null
  t1=$(cat "$work/cpu.t1" 2>/dev/null) t2=$(cat "$work/cpu.t2" 2>/dev/null)
  cpu=
  [ "$failed" -eq 0 ] && [ "$succeeded" -gt 0 ] && [ -n "$t1" ] && [ -n "$t2" ] &&
    cpu=$(awk -v t=$((t2 - t1)) -v hz="$hz" -v n=$((cpu_rate * window)) 'BEGIN{printf "%.3f", t / hz / n * 1000}')
}

declare -A fig
echo "runtime figures: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), $(date -u +%FT%TZ)$([ "${QUICK:-0}" = 1 ] && echo ", QUICK")$([ "$E911_BENCH_NETNS" = 1 ] && echo ", own network namespace")" >&2

# ---------------------------------------------------------------- sipp to sipp: the harness
start_uas uas.xml || { log "the sipp UAS did not start"; exit 1; }
if [ "${QUICK:-0}" != 1 ] && [ "${CPU_ONLY:-0}" != 1 ]; then
  ladder direct "127.0.0.1:$UAS_PORT"
  fig[direct]=$best fig[direct_why]=$why
fi

# ---------------------------------------------------------------- Kamailio
if command -v kamailio >/dev/null && [ "${NO_KAMAILIO:-0}" != 1 ]; then
  kamailio -c -f "$work/kamailio.cfg" >"$work/kamailio-check.log" 2>&1 || { log "kamailio refuses its configuration:"; tail -5 "$work/kamailio-check.log" >&2; }
  kamailio -f "$work/kamailio.cfg" -DD -E -m 256 -M 16 >"$work/kamailio.log" 2>&1 </dev/null &
  kam_pid=$!
  pids+=("$kam_pid")
  if wait_options "$KAM_PORT" "$kam_pid"; then
    fig[kam_version]=$(kamailio -v | sed -n 's/^version: kamailio \([^ ]*\).*/\1/p')
    ladder kamailio "127.0.0.1:$UAS_PORT" -rsa "127.0.0.1:$KAM_PORT"
    fig[kam]=$best fig[kam_why]=$why
    # CPU per call is read on a fresh process: the ladder's overloaded steps leave work behind
    # (retransmissions to callers that gave up, transactions timing out) that is not the cost
    # of a call at a rate the proxy keeps up with.
    stop "$kam_pid"
    kamailio -f "$work/kamailio.cfg" -DD -E -m 256 -M 16 >>"$work/kamailio.log" 2>&1 </dev/null &
    kam_pid=$!
    pids+=("$kam_pid")
    wait_options "$KAM_PORT" "$kam_pid" || log "kamailio did not start again for the CPU run"
    cpu kamailio "$kam_pid" "127.0.0.1:$UAS_PORT" -rsa "127.0.0.1:$KAM_PORT"
    fig[kam_cpu]=$cpu fig[kam_cpu_why]=$first_failure
    fig[kam_procs]=$((1 + $(pgrep -cP "$kam_pid")))
  else
    log "kamailio did not answer OPTIONS:"; tail -5 "$work/kamailio.log" >&2
    fig[kam_why]="did not start"
  fi
  stop "$kam_pid"
else
  fig[kam_why]="not installed"
fi

# ---------------------------------------------------------------- e911ctl serve
cat >"$work/bench.yaml" <<YAML
kind: PstnUsage
name: Bench
position: 0
---
kind: Trunk
name: bench-uas
description: the sipp UAS of the benchmark
host: 127.0.0.1
port: $UAS_PORT
transport: udp
options_ping: false  # Kamailio pings no one either; a sipp UAS would count an OPTIONS as a failed call
---
kind: VoiceRoute
name: bench-all
number_pattern: '.*'
priority: 0
pstn_usages: [Bench]
trunks: [bench-uas]
---
kind: VoicePolicy
identity: global
pstn_usages: [Bench]
---
kind: User
sip_uri: 'sip:bench@contoso.example'
YAML
if [ "$mode" = emergency ]; then
  cat >>"$work/bench.yaml" <<YAML
---
kind: Trunk
name: bench-provider
description: the E9-1-1 provider of the benchmark, a TCP sipp UAS
host: 127.0.0.1
port: $TCP_UAS_PORT
transport: tcp
accepts_pidf_lo: true
options_ping: false
---
kind: PstnUsage
name: BenchEmergency
position: 1
---
kind: VoiceRoute
name: bench-911
number_pattern: '^\+?911$'
priority: 0
pstn_usages: [BenchEmergency]
trunks: [bench-provider, bench-uas]
---
kind: LocationPolicy
identity: global
enhanced_emergency_services: true
pstn_usage: BenchEmergency
emergency_dial_string: '911'
notification_uris: ['sip:desk@127.0.0.1:$DESK_PORT']
YAML
  cat >"$work/desk.xml" <<'XML'
<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="bench desk"><recv request="MESSAGE" crlf="true"/>
<send><![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:];tag=[pid]d[call_number]
[last_Call-ID:]
[last_CSeq:]
Content-Length: 0

]]></send></scenario>
XML
fi
start_serve() {  # db: serve its snapshot on $E911_PORT; sets serve_pid
  "$e911" serve --listen "127.0.0.1:$E911_PORT" --snapshot "$1.snapshot" >"$work/serve.out" 2>>"$work/serve.err" </dev/null &
  serve_pid=$!
  pids+=("$serve_pid")
  wait_options "$E911_PORT" "$serve_pid" || { log "e911ctl serve did not answer OPTIONS:"; tail -5 "$work/serve.err" >&2; return 1; }
}
if [ "$mode" = emergency ]; then
  start_uas uas.xml "$TCP_UAS_PORT" -t t1
  tcp_uas_pid=$uas_pid
  start_uas desk.xml "$DESK_PORT"
  desk_pid=$uas_pid
fi
if "$e911" --db "$work/calls.db" apply -f "$work/bench.yaml" >/dev/null 2>"$work/apply.err" &&
   "$e911" --db "$work/calls.db" publish >/dev/null 2>>"$work/apply.err" && start_serve "$work/calls.db"; then
  # The caller registers first, from the UAC's address, as a phone would (its answer is not
  # needed: an unknown caller routes by the global voice policy too).
  echo $'SEQUENTIAL\nbench;' >"$work/bench.csv"
  (cd "$work" && exec timeout 20 sipp "127.0.0.1:$E911_PORT" -sf "$work/register.xml" -inf "$work/bench.csv" -p "$UAC_PORT" \
     -i 127.0.0.1 -m 1 -recv_timeout 5000 -timeout 10s -nostdin) >/dev/null 2>&1 </dev/null
  ladder e911ctl "127.0.0.1:$E911_PORT"
  fig[e911]=$best fig[e911_why]=$why
  if [ "$best" -gt 0 ]; then
    # On a fresh process, as Kamailio's (above); the caller's binding is kept in the bindings file.
    stop "$serve_pid"
    start_serve "$work/calls.db" || log "e911ctl serve did not start again for the CPU run"
    cpu e911ctl "$serve_pid" "127.0.0.1:$E911_PORT"
    fig[e911_cpu]=$cpu fig[e911_cpu_why]=$first_failure
  else
    fig[e911_cpu_why]=$why
  fi
  stop "$serve_pid"
else
  fig[e911_why]="did not start: $(tail -1 "$work/apply.err" "$work/serve.err" 2>/dev/null | grep -v '^==' | tail -1)"
fi
stop "$uas_pid"

# ---------------------------------------------------------------- memory
{ [ "$mode" = emergency ] || [ "${CPU_ONLY:-0}" = 1 ]; } && users=0
if [ "$users" -gt 0 ]; then
log "memory: a store of $users users"
python3 - "$users" >"$work/users.yaml" <<'PY'
import sys
out = sys.stdout
for i in range(int(sys.argv[1])):
    out.write("---\nkind: User\nsip_uri: 'sip:u%06d@contoso.example'\nline_uri: 'tel:+1206%07d'\n" % (i, i))
PY
{ echo SEQUENTIAL; seq -f 'u%06g;' 0 $((users - 1)); } >"$work/users.csv"
t=$(date +%s)
if "$e911" --db "$work/mem.db" apply -f "$work/bench.yaml" -f "$work/users.yaml" >/dev/null 2>"$work/apply.err" &&
   "$e911" --db "$work/mem.db" publish >/dev/null 2>>"$work/apply.err"; then
  log "memory: applied and published $users users in $(($(date +%s) - t)) s"
  if start_serve "$work/mem.db"; then
    fig[rss0]=$(rss_kb "$serve_pid")
    rate=5000
    (cd "$work" && exec timeout -k 2 $((users / rate + 60)) sipp "127.0.0.1:$E911_PORT" -sf "$work/register.xml" \
       -inf "$work/users.csv" -p "$REG_PORT" -i 127.0.0.1 -r $rate -m "$users" -l $rate -recv_timeout 8000 \
       -timeout $((users / rate + 45))s -timeout_error -nostdin -trace_screen -screen_file "$work/register.screen" \
       -trace_err -error_file "$work/register.errors") >/dev/null 2>&1 </dev/null
    registered=$(screen_count "$work/register.screen" "Successful call")
    fig[registered]=$registered
    fig[rss1]=$(rss_kb "$serve_pid")
    [ "$registered" -eq "$users" ] ||
      fig[reg_why]="$registered of $users REGISTERs got 200$(grep -m1 -oE "SIP/2\.0 [0-9]{3}[^\r]*" "$work/register.errors" 2>/dev/null | sed 's/^/, first other answer: /' | head -1 | tr -d '\r')"
    log "memory: $registered registrations, VmRSS $(mb "${fig[rss1]}")"

    start_uas uas-held.xml
    rate=2000
    (cd "$work" && exec timeout -k 2 $((held / rate + 60)) sipp "127.0.0.1:$E911_PORT" -sf "$work/uac.xml" -s +14255550100 \
       -p "$UAC_PORT" -i 127.0.0.1 -r $rate -m "$held" -l "$held" -timeout $((held / rate + 45))s -nostdin \
       -trace_err -error_file "$work/held.errors") >/dev/null 2>&1 </dev/null &
    uac_pid=$!
    pids+=("$uac_pid")
    # Calls in progress as the UAS counts them (its stat file, written every second).
    in_progress=0
    for _ in $(seq $((held / rate * 10 + 150))); do
      sleep 0.1
      in_progress=$(awk -F';' 'NR == 1 {for (i = 1; i <= NF; i++) if ($i == "CurrentCall") c = i} NR > 1 && c {v = $c} END {print v + 0}' "$work/uas-held.stat.csv" 2>/dev/null)
      [ "${in_progress:-0}" -ge "$held" ] && break
      kill -0 "$serve_pid" 2>/dev/null || break
    done
    sleep 1
    fig[held]=$in_progress
    fig[rss2]=$(rss_kb "$serve_pid")
    [ "$in_progress" -ge "$held" ] ||
      fig[held_why]="$in_progress of $held calls reached the trunk$(grep -m1 -oE "SIP/2\.0 [0-9]{3}[^\r]*" "$work/held.errors" 2>/dev/null | sed 's/^/, first answer: /' | head -1 | tr -d '\r')"
    log "memory: $in_progress calls in progress, VmRSS $(mb "${fig[rss2]:-0}")"
    stop "$uac_pid"
    stop "$uas_pid"
    stop "$serve_pid"
  fi
else
  fig[rss_why]="store of $users users refused: $(tail -1 "$work/apply.err")"
fi

fi  # users > 0

# ---------------------------------------------------------------- the table
cell() {  # value why: the value, or "failed: why"
  if [ -n "$1" ] && [ "$1" != 0 ]; then echo "$1"; else echo "failed${2:+: $2}"; fi
}
printf '\n%-52s %-22s %s\n' "$mode calls, sipp UAC -> proxy -> sipp UAS, UDP$([ "$mode" = emergency ] && echo ' (e911ctl: TCP + desk)')" "Kamailio ${fig[kam_version]:-}" "e911ctl serve"
[ "${CPU_ONLY:-0}" = 1 ] && fig[kam]= fig[e911]= fig[kam_why]="not measured" fig[e911_why]="not measured (CPU_ONLY)"
printf '%-52s %-22s %s\n' "highest rate with zero failed calls (calls/s)" "$(cell "${fig[kam]:-}" "${fig[kam_why]:-}" | cut -c1-22)" "$(cell "${fig[e911]:-}" "${fig[e911_why]:-}")"
printf '%-52s %-22s %s\n' "CPU s per 1000 calls, $cpu_rate/s, ${window}s after ${warm}s" "$(cell "${fig[kam_cpu]:-}" "${fig[kam_cpu_why]:-}" | cut -c1-22)" "$(cell "${fig[e911_cpu]:-}" "${fig[e911_cpu_why]:-}")"
printf '%-52s %-22s %s\n' "processes / worker threads" "${fig[kam_procs]:-?} / 1 UDP worker" "1 / 1"
[ -n "${fig[direct]:-}" ] && printf '%-52s %s\n' "harness ceiling: sipp UAC -> sipp UAS directly" "${fig[direct]} calls/s (${fig[direct_why]})"
echo "steps of ${step}s, rates tried: $rates (bisected $bisect times); above the best: Kamailio ${fig[kam_why]:-?}; e911ctl ${fig[e911_why]:-?}"
[ "$users" -gt 0 ] && printf '\n%-52s %s\n' "e911ctl serve resident memory (VmRSS)" ""
if [ "$users" -eq 0 ]; then
  :
elif [ -n "${fig[rss0]:-}" ]; then
  printf '%-52s %s\n' "snapshot of $users users loaded" "$(mb "${fig[rss0]}")"
  printf '%-52s %s\n' "+ $users registrations" "$( [ -z "${fig[reg_why]:-}" ] && mb "${fig[rss1]}" || echo "failed: ${fig[reg_why]} ($(mb "${fig[rss1]}"))")"
  printf '%-52s %s\n' "+ $held calls in progress (ringing at the trunk)" "$( [ -z "${fig[held_why]:-}" ] && mb "${fig[rss2]}" || echo "failed: ${fig[held_why]} ($(mb "${fig[rss2]:-0}"))")"
else
  printf '%-52s %s\n' "snapshot of $users users" "failed: ${fig[rss_why]:-serve did not start}"
fi
