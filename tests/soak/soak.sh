#!/usr/bin/env bash
# Soak under load with faults (issue 14): `e911ctl serve` carries a mix of emergency and ordinary
# calls for DURATION seconds (default 600) at RATE calls per second in all, split evenly between
# the two kinds (default 800. At 1600/s, half of tests/bench/runtime.sh's zero-failure rate of
# 3200/s for emergency calls alone over 5 s steps, this mix with its six sipp peers on the same
# two cores fell behind during the trunk outage and lost datagrams; 800/s ran clean), while:
#   - the primary provider trunk dies (its sipp is killed, its TCP connection closes) at 1/5 of the
#     run and comes back at 2/5 (the trunks are not pinged: the sipp providers answer no OPTIONS);
#   - the security desk stops answering (killed) at 3/5 and comes back at 4/5;
#   - a publish happens every 30 s (a policy description changes, `e911ctl publish` reloads the
#     runtime through its admin API).
# Printed: calls placed, answered and failed of each kind; how many emergency INVITEs each trunk
# got; the runtime's own counts by kind and outcome (/metrics); resident memory and open file
# descriptors at the start (after WARM seconds), every SAMPLE seconds, and at the end; the
# publishes that took. Exit 0 when no emergency call failed for want of a trunk (the runtime
# counted no emergency call as unroutable or failed), else 1.
#
# Peers: sipp (Debian sip-tester) with the runtime tests' scenarios (tests/sip/scenarios): a UAC
# calling 911 with its client's PIDF-LO, a UAC calling an ordinary number, the primary and backup
# providers (TCP 5070/5071), the PSTN gateway (UDP 5072) and the desk (UDP 5093). Everything on
# 127.0.0.1, in a network namespace of its own when one can be made (root).
#
# Usage: tests/soak/soak.sh [build/e911ctl]   DURATION=600 RATE=800 WARM=30 SAMPLE=30 KEEPALIVE=10
#        FAULTS=0 leaves the trunk and the desk alone (load and publishes only).
#        SERVE_WRAP="heaptrack -o /tmp/serve" runs the runtime under a profiler; memory and
#        descriptors are then read from the runtime itself, not from the wrapper.
#
# A call whose dialog was on the primary when it was killed fails at its BYE (the far end is gone)
# even though its INVITE was answered: such failures are counted in the UAC's figures, and the
# runtime's own count says whether any emergency call went unrouted.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
e911=$(cd "$(dirname "${1:-$root/build/e911ctl}")" && pwd)/$(basename "${1:-build/e911ctl}")
[ -x "$e911" ] || { echo "soak.sh: no e911ctl at '$e911'" >&2; exit 2; }
command -v sipp >/dev/null || { echo "soak.sh: sipp is missing (apt-get install sip-tester)" >&2; exit 2; }
if [ -z "${E911_SOAK_NETNS:-}" ]; then
  if command -v ip >/dev/null && unshare --net true 2>/dev/null; then
    export E911_SOAK_NETNS=1
    exec unshare --net bash -c 'ip link set lo up && exec bash "$0" "$@"' "$0" "$e911"
  fi
  export E911_SOAK_NETNS=0
fi

duration=${DURATION:-600} rate=${RATE:-800} warm=${WARM:-30} sample=${SAMPLE:-30}
half=$((rate / 2))
[ "$half" -ge 1 ] || { echo "soak.sh: RATE must be at least 2" >&2; exit 2; }
scenarios=$root/tests/sip/scenarios
work=$(mktemp -d "${TMPDIR:-/tmp}/e911-soak.XXXXXX")
export E911_DB=$work/soak.db NO_COLOR=1
SIP=5060 ADMIN=5081 PRIMARY=5070 BACKUP=5071 GATEWAY=5072 DESK=5093 EM_UAC=5091 ORD_UAC=5092
pids=()
cleanup() {
  local p
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  wait 2>/dev/null
}
trap cleanup EXIT
log() { printf '[%s] %s\n' "$(date +%T)" "$*" >&2; }

cat >"$work/soak.yaml" <<YAML
kind: PstnUsage
name: Emergency
position: 0
---
kind: PstnUsage
name: Local
position: 1
---
kind: Trunk
name: provider-primary
host: 127.0.0.1
port: $PRIMARY
transport: tcp
accepts_pidf_lo: true
failover_seconds: 2
options_ping: false
---
kind: Trunk
name: provider-backup
host: 127.0.0.1
port: $BACKUP
transport: tcp
accepts_pidf_lo: true
failover_seconds: 2
options_ping: false
---
kind: Trunk
name: pstn-gateway
host: 127.0.0.1
port: $GATEWAY
transport: udp
options_ping: false
---
kind: VoiceRoute
name: emergency
number_pattern: '^\+?911$'
pstn_usages: [Emergency]
trunks: [provider-primary, provider-backup]
---
kind: VoiceRoute
name: local
number_pattern: '^\+1425\d{7}$'
pstn_usages: [Local]
trunks: [pstn-gateway]
---
kind: VoicePolicy
identity: global
pstn_usages: [Local]
---
kind: LocationPolicy
identity: global
enhanced_emergency_services: true
pstn_usage: Emergency
emergency_dial_string: '911'
notification_uris: ['sip:desk@127.0.0.1:$DESK']
---
kind: User
sip_uri: 'sip:alice@contoso.example'
display_name: Alice Anderson
line_uri: 'tel:+14255550101'
YAML
"$e911" apply -f "$work/soak.yaml" >/dev/null 2>"$work/apply.err" && "$e911" publish >/dev/null 2>>"$work/apply.err" ||
  { echo "soak.sh: apply/publish failed: $(cat "$work/apply.err")" >&2; exit 1; }
printf 'soak-token-%s\n' "$RANDOM$RANDOM" >"$work/token"
chmod 600 "$work/token"
# Connected calls are probed every 10 s (dialog_keepalive): a call whose caller vanished without
# a BYE (a BYE lost under load, a UAC killed at the end) is ended by the runtime, not held.
printf 'dialog_keepalive: %s\n' "${KEEPALIVE:-10}" >"$work/serve.yaml"
${SERVE_WRAP:-} "$e911" serve --config "$work/serve.yaml" --listen "127.0.0.1:$SIP" --snapshot "$E911_DB.snapshot" --domain contoso.example --admin "127.0.0.1:$ADMIN" \
  --token-file "$work/token" >"$work/serve.out" 2>"$work/serve.err" </dev/null &
serve=$!
pids+=("$serve")
for _ in $(seq 100); do curl -s -m 1 -o /dev/null "http://127.0.0.1:$ADMIN/healthz" 2>/dev/null && break; sleep 0.1; done
"$e911" runtime add soak --url "http://127.0.0.1:$ADMIN" --token-file "$work/token" >/dev/null 2>"$work/runtime.err" ||
  { echo "soak.sh: runtime add: $(cat "$work/runtime.err")" >&2; exit 1; }

# peer NAME SCENARIO PORT TRANSPORT [ARGS...]: a sipp UAS for the whole run.
peer() {
  local name=$1 scenario=$2 port=$3 transport=$4
  shift 4
  (cd "$work" && exec timeout $((duration + 120)) sipp -sf "$scenarios/$scenario" -p "$port" -t "$transport" -i 127.0.0.1 -nostdin -aa \
     -l 100000 -trace_screen -screen_file "$work/$name.screen" "$@") >"$work/$name.out" 2>&1 </dev/null &
  peer_pid=$!
  pids+=("$peer_pid")
}
peer primary uas_provider.xml "$PRIMARY" t1
primary=$peer_pid
peer backup uas_provider.xml "$BACKUP" t1
backup=$peer_pid
peer gateway uas_answer.xml "$GATEWAY" u1
peer desk uas_desk.xml "$DESK" u1
desk=$peer_pid
sleep 1

# uac NAME SCENARIO PORT TO: RATE/2 calls a second for the whole run.
uac() {
  (cd "$work" && exec timeout $((duration + 90)) sipp "127.0.0.1:$SIP" -sf "$scenarios/$2" -p "$3" -t u1 -i 127.0.0.1 -nostdin -aa \
     -r "$half" -m $((half * duration)) -l $((half * 10)) -cid_str "caller-%u-%p@%s" \
     -key from "sip:alice@contoso.example" -key to "$4" -trace_screen -screen_file "$work/$1.screen") >"$work/$1.out" 2>&1 </dev/null &
  uac_pid=$!
  pids+=("$uac_pid")
}
uac emergency uac_call_pidf.xml "$EM_UAC" "sip:911@contoso.example;user=phone"
em_uac=$uac_pid
uac ordinary uac_call.xml "$ORD_UAC" "sip:+14255550123@contoso.example;user=phone"
ord_uac=$uac_pid

# fault NAME FROM UNTIL SCENARIO PORT TRANSPORT WHAT-DIES WHAT-IS-BACK: the peer whose pid is in
# the variable NAME is killed once FROM is reached and started again (as NAME-again) at UNTIL.
fault() {
  local -n pid_of=$1
  if [ -n "$pid_of" ] && [ "$now" -ge "$2" ] && [ "$now" -lt "$3" ]; then
    kill "$pid_of" 2>/dev/null
    wait "$pid_of" 2>/dev/null
    pid_of=
    events+=("$now s: $7")
  elif [ -z "$pid_of" ] && [ "$now" -ge "$3" ]; then
    peer "$1-again" "$4" "$5" "$6"
    pid_of=$peer_pid
    events+=("$now s: $8")
  fi
}
# The runtime's own process: under SERVE_WRAP, the wrapper's descendant that listens on the port.
runtime_pid=$serve
if [ -n "${SERVE_WRAP:-}" ]; then
  for _ in $(seq 50); do
    runtime_pid=$(pgrep -n -f -- "serve --config $work/serve.yaml" | grep -v "^$serve\$" | head -1)
    [ -n "$runtime_pid" ] && [ "$(readlink "/proc/$runtime_pid/exe")" = "$e911" ] && break
    sleep 0.1
  done
  pids=("$runtime_pid" "${pids[@]}")
fi
rss() { awk '/^VmRSS/ {print $2}' "/proc/$runtime_pid/status" 2>/dev/null; }
fds() { ls "/proc/$runtime_pid/fd" 2>/dev/null | wc -l; }
# The heap in use and free, from the runtime's /metrics, in kB: what the calls hold, apart from
# the free memory malloc keeps (up to 64 MB, then given back once a minute: e911ctl-serve(8)).
heap() {
  curl -s -m 5 -H "Authorization: Bearer $(cat "$work/token")" "http://127.0.0.1:$ADMIN/metrics" 2>/dev/null |
    awk '/^e911_runtime_heap_bytes\{state="in_use"\}/ {u = $2} /^e911_runtime_heap_bytes\{state="free"\}/ {f = $2}
         END {printf "%d,%d", u / 1024, f / 1024}'
}
sample_now() { echo "$1,$(rss),$(heap),$(fds)" >>"$work/samples.csv"; }
echo "seconds,rss_kb,heap_in_use_kb,heap_free_kb,fds" >"$work/samples.csv"
start=$(date +%s) next_publish=30 next_sample=$warm publishes=0 published=0 events=()
kill_at=$((duration / 5)) back_at=$((2 * duration / 5)) desk_off=$((3 * duration / 5)) desk_on=$((4 * duration / 5))
log "soak: $duration s at $rate calls/s ($half emergency + $half ordinary), work in $work"
while :; do
  now=$(($(date +%s) - start))
  [ "$now" -ge "$duration" ] && break
  kill -0 "$serve" 2>/dev/null || { log "the runtime died"; break; }
  if [ "$now" -ge "$next_sample" ]; then
    sample_now "$now"
    next_sample=$((next_sample + sample))
  fi
  [ "${FAULTS:-1}" = 0 ] || fault primary "$kill_at" "$back_at" uas_provider.xml "$PRIMARY" t1 "the primary trunk dies" "the primary trunk is back"
  [ "${FAULTS:-1}" = 0 ] || fault desk "$desk_off" "$desk_on" uas_desk.xml "$DESK" u1 "the security desk stops answering" "the security desk answers again"
  if [ "$now" -ge "$next_publish" ]; then
    publishes=$((publishes + 1))
    "$e911" policy set global --description "soak publish $publishes" >/dev/null 2>>"$work/publish.err" &&
      "$e911" publish >/dev/null 2>>"$work/publish.err" && published=$((published + 1))
    next_publish=$((next_publish + 30))
  fi
  sleep 1
done
sample_now "$(($(date +%s) - start))"
load_end=$(date +%s)
log "load ends; waiting for the calls in progress"
for p in "$em_uac" "$ord_uac"; do
  for _ in $(seq 120); do kill -0 "$p" 2>/dev/null || break; sleep 1; done
  kill "$p" 2>/dev/null
  wait "$p" 2>/dev/null
done
sleep 3
# The peers print their counts as they stop.
for p in "${pids[@]}"; do [ "$p" != "$serve" ] && [ "$p" != "$runtime_pid" ] && kill "$p" 2>/dev/null; done
sleep 2
metrics=$(curl -s -m 5 -H "Authorization: Bearer $(cat "$work/token")" "http://127.0.0.1:$ADMIN/metrics")
printf '%s\n' "$metrics" >"$work/metrics.txt"
# The calls the runtime still holds, with their state: every peer has stopped, so each one left
# is a call that nothing will end but the runtime's own timers.
# A dialog whose peer was killed ends once its probe goes unanswered (dialog_keepalive + 32 s):
# wait for that, bounded, and say how long it took.
active() { curl -s -m 10 -H "Authorization: Bearer $(cat "$work/token")" "http://127.0.0.1:$ADMIN/v1/calls/active?limit=${1:-1}"; }
reap_start=$(date +%s)
for _ in $(seq $((${KEEPALIVE:-10} + 60))); do
  [ "$(active | python3 -c 'import json,sys; print(json.load(sys.stdin)["total"])' 2>/dev/null)" = 0 ] && break
  sleep 1
done
reaped_in=$(($(date +%s) - reap_start))
active 10000 >"$work/active.json"
# At rest: once the last transactions have run out (32 s) and the runtime's once-a-minute trim
# has had its turn, what is still held is what the runtime keeps between calls.
while [ $(($(date +%s) - load_end)) -lt 95 ]; do sleep 1; done
sample_now "$(($(date +%s) - start)) (at rest)"

# sipp's final counts, printed as it exits: "Successful call" and "Failed call", cumulative column.
count() {
  [ -f "$work/$1.out" ] || { echo 0; return; }
  awk -F'|' -v what="$2" '$1 ~ what {gsub(/ /, "", $3); v = $3} END {print v + 0}' "$work/$1.out"
}
got() { local n=0 f; for f in "$@"; do n=$((n + $(count "$f" 'Successful call'))); done; echo "$n"; }
metric() { awk -v m="$1" 'index($0, m) == 1 {print $2; f = 1} END {if (!f) print 0}' <<<"$metrics"; }

printf '\n== soak: %s s, %s calls/s (%s emergency + %s ordinary), e911ctl %s\n' "$duration" "$rate" "$half" "$half" "$("$e911" --version 2>/dev/null | head -1)"
printf '%-34s %12s %12s\n' "" emergency ordinary
printf '%-34s %12s %12s\n' "calls answered end to end (UAC)" "$(count emergency 'Successful call')" "$(count ordinary 'Successful call')"
printf '%-34s %12s %12s\n' "calls failed (UAC)" "$(count emergency 'Failed call')" "$(count ordinary 'Failed call')"
printf '%-34s %12s\n' "emergency calls answered by primary" "$(got primary primary-again)"
printf '%-34s %12s\n' "emergency calls answered by backup" "$(got backup)"
printf '%-34s %12s\n' "desk MESSAGEs taken" "$(got desk desk-again)"
echo "runtime's own count (calls_total by kind and outcome):"
grep '^e911_runtime_calls_total{' <<<"$metrics" | grep -v ' 0$' | sed 's/^/  /'
grep '^e911_runtime_notifications_total{kind="sip"' <<<"$metrics" | grep -v ' 0$' | sed 's/^/  /'
echo "publishes: $published of $publishes took"
printf '%s\n' "${events[@]}" | sed 's/^/event: /'
echo "memory and descriptors (seconds, resident kB, heap in use kB, heap free kB, fds):"
sed 1d "$work/samples.csv" | sed 's/^/  /'
awk -F, 'NR == 2 {r0 = $2; h0 = $3; f0 = $5} NR > 1 && $1 !~ /rest/ {r1 = $2; h1 = $3; f1 = $5} $1 ~ /rest/ {r2 = $2; h2 = $3; f2 = $5}
  END {printf "start %.1f MB resident, %.1f MB heap in use, %d fds; end of load %.1f MB, %.1f MB, %d fds; at rest %.1f MB, %.1f MB, %d fds\n",
       r0 / 1024, h0 / 1024, f0, r1 / 1024, h1 / 1024, f1, r2 / 1024, h2 / 1024, f2}' "$work/samples.csv"
lost=0
for outcome in unroutable failed no-answer busy rejected; do
  n=$(metric "e911_runtime_calls_total{kind=\"emergency\",outcome=\"$outcome\"}")
  lost=$((lost + ${n%.*}))
done
python3 - "$work/active.json" "$reaped_in" <<'PY'
import collections, json, sys
try:
    a = json.load(open(sys.argv[1]))
except Exception as e:
    print(f"calls still in progress: unknown ({e})")
    sys.exit(0)
print(f"calls still in progress after the drain (and {sys.argv[2]} s for the dialog probes): {a['total']} ({a['emergency']} emergency)")
for (kind, state), n in sorted(collections.Counter((c["kind"], c["state"]) for c in a["items"]).items()):
    print(f"  {n:8d} {kind}: {state}")
PY
echo "emergency calls the runtime could not route or complete: $lost"
[ "$lost" -eq 0 ]
