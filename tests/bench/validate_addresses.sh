#!/usr/bin/env bash
# Figure: MSAG validation of N addresses (default 10,000) against the local provider stand-in
# (tests/cli/provider_standin.py, HTTPS) answering each request after 20 ms. Target: < 5 s.
#
#   tests/bench/validate_addresses.sh [path/to/e911ctl] [CONCURRENCY]
#
# BENCH_ADDRESSES=N changes the count, BENCH_DELAY_MS the stand-in's latency. The store is made
# by `import lis` of a generated subnet CSV (one location per row); the time is the whole
# `location validate-addresses --all` run: loading, 10,000 HTTPS requests, and the one revision
# that records the verdicts. Prints one line; exits 1 if the run fails or a verdict is missing.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
e911=${1:-$here/../../build/e911ctl}
concurrency=${2:-64}
n=${BENCH_ADDRESSES:-10000}
delay=${BENCH_DELAY_MS:-20}
[ -x "$e911" ] || { echo "validate_addresses.sh: '$e911' is not an executable e911ctl (build it first)" >&2; exit 2; }
for tool in openssl python3 sqlite3; do
  command -v "$tool" >/dev/null || { echo "validate_addresses.sh: '$tool' is needed (scripts/install-deps)" >&2; exit 2; }
done
work=$(mktemp -d "${TMPDIR:-/tmp}/e911-msag.XXXXXX")
server=
# shellcheck disable=SC2317  # called by the EXIT trap
cleanup() {
  [ -n "$server" ] && kill "$server" 2>/dev/null && wait "$server" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
unset E911_PROVIDER_URL E911_PROVIDER_CERT E911_PROVIDER_KEY E911_PROVIDER_CA E911_PROVIDER_TIMEOUT_MS E911_PROVIDER_RETRIES \
  E911_PROVIDER_CONCURRENCY E911_FORMAT

openssl req -x509 -newkey rsa:2048 -nodes -keyout "$work/key.pem" -out "$work/cert.pem" -days 1 \
  -subj "/CN=127.0.0.1" -addext "subjectAltName=IP:127.0.0.1" >/dev/null 2>&1
python3 "$here/../cli/provider_standin.py" --cert "$work/cert.pem" --key "$work/key.pem" --port-file "$work/port" \
  --delay-ms "$delay" &
server=$!
for _ in $(seq 100); do [ -s "$work/port" ] && break; sleep 0.05; done
[ -s "$work/port" ] || { echo "validate_addresses.sh: the stand-in did not start" >&2; exit 1; }

python3 "$here/gen_lis_csv.py" "$n" >"$work/subnets.csv"
"$e911" --db "$work/e911.db" -q import lis --kind subnet "$work/subnets.csv" >/dev/null
locations=$(sqlite3 "$work/e911.db" 'select count(*) from location where rev_removed is null')

start=$(date +%s%N)
"$e911" --db "$work/e911.db" location validate-addresses --all --url "https://127.0.0.1:$(cat "$work/port")/msag" \
  --ca "$work/cert.pem" --concurrency "$concurrency" --format json >"$work/out.json"
end=$(date +%s%N)

valid=$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d["valid"])' "$work/out.json")
recorded=$(sqlite3 "$work/e911.db" "select count(*) from location where rev_removed is null and validation_status = 'valid'" 2>/dev/null ||
  python3 -c 'print("?")')
awk -v a="$start" -v b="$end" -v n="$locations" -v c="$concurrency" -v d="$delay" -v v="$valid" \
  'BEGIN { t = (b - a) / 1e9; printf "validate-addresses: %d addresses, stand-in %d ms each, %d in flight: %.2f s, %.0f addresses/s, %d valid (target < 5 s: %s)\n",
           n, d, c, t, n / t, v, t < 5 ? "PASS" : "FAIL" }'
[ "$valid" = "$locations" ] || { echo "validate_addresses.sh: $valid valid verdicts for $locations locations (recorded: $recorded)" >&2; exit 1; }
