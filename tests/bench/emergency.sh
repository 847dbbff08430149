#!/usr/bin/env bash
# Emergency-call latency inside `e911ctl serve` (issue 13): the sample enterprise published, the
# corporate security desk registered (a sipp client answering MESSAGE), the provider's primary
# SBC a sipp UAS on 127.0.0.1:5070 (TCP), and Alice's client calling 911 with its PIDF-LO at a
# fixed RATE for SECONDS (sipp, tests/sip/scenarios/uac_call_pidf.xml). Printed: calls answered
# and failed, and from the runtime's own histograms (/metrics):
#   - emergency_invite_seconds: from the INVITE's handling to the provider's INVITE on the wire;
#   - desk_notify_seconds: from the same to the desk's MESSAGE on the wire;
# each as p50 and p99, read as the upper bound of the histogram bucket that holds them (1 us ..
# 100 ms buckets, so a figure is "at most").
#
# Usage: tests/bench/emergency.sh [build/e911ctl]     RATE (default 100/s), SECONDS (default 20)
# Runs in a network namespace of its own when it can (root), else on the host's loopback.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
e911=$(cd "$(dirname "${1:-$root/build/e911ctl}")" && pwd)/$(basename "${1:-build/e911ctl}")
[ -x "$e911" ] || { echo "emergency.sh: no e911ctl at '$e911'" >&2; exit 2; }
command -v sipp >/dev/null || { echo "emergency.sh: sipp is missing (apt-get install sip-tester)" >&2; exit 2; }
if [ -z "${E911_BENCH_NETNS:-}" ] && command -v ip >/dev/null && unshare --net true 2>/dev/null; then
  export E911_BENCH_NETNS=1
  exec unshare --net bash -c 'ip link set lo up && exec bash "$0" "$@"' "$0" "$e911"
fi
rate=${RATE:-100} seconds=${SECONDS_RUN:-${SECONDS_:-20}}
calls=$((rate * seconds))
scenarios=$root/tests/sip/scenarios
work=$(mktemp -d "${TMPDIR:-/tmp}/e911-emergency-bench.XXXXXX")
pids=()
cleanup() {
  local p
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
  rm -rf "$work"
}
trap cleanup EXIT
export E911_DB=$work/e911.db NO_COLOR=1
log() { echo "emergency.sh: $*" >&2; }

"$e911" apply -f "$root/samples/enterprise" >/dev/null 2>"$work/apply.err" &&
  "$e911" user set sip:security-desk@contoso.example --display-name "Corporate Security Desk" >/dev/null 2>>"$work/apply.err" &&
  "$e911" publish >/dev/null 2>>"$work/apply.err" || { log "the sample store failed: $(tail -1 "$work/apply.err")"; exit 1; }
head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$work/token"
chmod 600 "$work/token"
"$e911" serve --listen 127.0.0.1:5060 --admin 127.0.0.1:5081 --token-file "$work/token" --domain contoso.example \
  >/dev/null 2>"$work/serve.err" </dev/null &
pids+=($!)
for _ in $(seq 100); do
  curl -s -m 1 http://127.0.0.1:5081/healthz >/dev/null 2>&1 && break
  sleep 0.1
done
(cd "$work" && exec timeout 10 sipp 127.0.0.1:5060 -sf "$scenarios/register.xml" -p 5092 -i 127.0.0.1 -m 1 -nostdin \
   -key user security-desk -key domain contoso.example -key contact_port 5093 -key contact_transport udp -key expires 3600) \
  >/dev/null 2>&1 </dev/null || log "the desk did not register"
budget=$((seconds + 40))
(cd "$work" && exec timeout "$budget" sipp -sf "$scenarios/uas_desk.xml" -p 5093 -i 127.0.0.1 -m "$calls" -nostdin) >/dev/null 2>&1 </dev/null &
pids+=($!)
(cd "$work" && exec timeout "$budget" sipp -sf "$scenarios/uas_provider.xml" -p 5070 -i 127.0.0.1 -t t1 -m "$calls" -nostdin) \
  >/dev/null 2>&1 </dev/null &
pids+=($!)
sleep 1
log "$calls emergency calls at $rate/s with PIDF-LO, provider over TCP, desk told of each"
(cd "$work" && exec timeout "$budget" sipp 127.0.0.1:5060 -sf "$scenarios/uac_call_pidf.xml" -p 5091 -i 127.0.0.1 -t u1 \
   -r "$rate" -m "$calls" -l $((rate * 2 + 50)) -timeout "$((seconds + 30))s" -nostdin -cid_str "caller-%u-%p@%s" \
   -key from sip:alice@contoso.example -key to "sip:911@contoso.example;user=phone" -trace_screen -screen_file "$work/uac.screen") \
  >/dev/null 2>&1 </dev/null
count() { awk -F'|' -v row="$1" '$1 ~ row {gsub(/ /, "", $3); v = $3} END {print v + 0}' "$work/uac.screen" 2>/dev/null; }
ok=$(count "Successful call") failed=$(count "Failed call")
curl -s -m 5 -H "Authorization: Bearer $(cat "$work/token")" http://127.0.0.1:5081/metrics >"$work/metrics.txt"
python3 - "$work/metrics.txt" "$rate" "$ok" "$failed" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
def quantiles(name):
    buckets = [(float('inf') if le == '+Inf' else float(le), int(v))
               for le, v in re.findall(r'^e911_runtime_%s_bucket\{le="([^"]+)"\} (\d+)$' % name, text, re.M)]
    total = buckets[-1][1] if buckets else 0
    def q(p):
        for le, v in buckets:
            if total and v >= p * total:
                return 'inf' if le == float('inf') else ('%.0f us' % (le * 1e6) if le < 1e-3 else '%.1f ms' % (le * 1e3))
        return '-'
    return total, q(0.5), q(0.99)
print('emergency calls through e911ctl serve at %s/s: %s answered, %s failed' % (sys.argv[2], sys.argv[3], sys.argv[4]))
for name, label in (('emergency_invite_seconds', 'INVITE in -> provider INVITE out'), ('desk_notify_seconds', 'INVITE in -> desk MESSAGE out')):
    n, p50, p99 = quantiles(name)
    print('  %-36s n=%-6d p50 <= %-9s p99 <= %s' % (label, n, p50, p99))
PY
