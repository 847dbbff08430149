#!/usr/bin/env bash
# Figure: MSAG validation of N addresses (default 10,000) against the local stand-in answering in
# 20 ms each. Usage: tests/bench/validate_addresses.sh [build/e911ctl] [CONCURRENCY]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
e911=${1:-$here/../../build/e911ctl}
concurrency=${2:-64}
n=${BENCH_ADDRESSES:-10000}
work=$(mktemp -d "${TMPDIR:-/tmp}/e911-msag.XXXXXX")
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$work/key.pem" -out "$work/cert.pem" -days 1 \
  -subj "/CN=127.0.0.1" -addext "subjectAltName=IP:127.0.0.1" >/dev/null 2>&1
DELAY_MS=20 python3 "$here/../cli/provider_standin.py" "$work/cert.pem" "$work/key.pem" "$work/port" &
server=$!
trap 'kill $server 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 100); do [ -s "$work/port" ] && break; sleep 0.05; done
python3 "$here/gen_lis_csv.py" "$n" >"$work/subnets.csv"
"$e911" --db "$work/e911.db" import lis --kind subnet "$work/subnets.csv" >/dev/null
start=$(date +%s.%N)
"$e911" --db "$work/e911.db" location validate-addresses --all --url "https://127.0.0.1:$(cat "$work/port")/msag" \
  --ca "$work/cert.pem" --concurrency "$concurrency" >/dev/null
end=$(date +%s.%N)
awk -v a="$start" -v b="$end" -v n="$n" -v c="$concurrency" \
  'BEGIN{printf "validate-addresses: %d addresses, 20 ms each, %d in flight: %.2f s (target < 5 s)\n", n, c, b - a}'
