#!/usr/bin/env bash
# Prints the figures the issues name. Usage: tests/bench/run.sh [build/e911ctl]
# BENCH_ROWS (default 1000000) scales every data set; 20000 makes a quick run.
# The runtime's figures (calls per second beside Kamailio, CPU per call, memory) are
# tests/bench/runtime.sh's, a separate run of some minutes (QUICK=1: under two).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
e911=$(cd "$(dirname "${1:-$root/build/e911ctl}")" && pwd)/$(basename "${1:-build/e911ctl}")
bench_routing=$(dirname "$e911")/tests/bench_routing
bench_sip_parse=$(dirname "$e911")/tests/bench_sip_parse
rows=${BENCH_ROWS:-1000000}
work=$(mktemp -d "${TMPDIR:-/tmp}/e911-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT
export NO_COLOR=1

secs() { local s=$(date +%s.%N); "$@" >/dev/null 2>&1 || true; awk -v a="$s" -v b="$(date +%s.%N)" 'BEGIN{printf "%.2f", b - a}'; }
ms_median() {  # median wall time in ms of 11 runs
  local t=()
  for _ in $(seq 11); do local s=$(date +%s%N); "$@" >/dev/null 2>&1; t+=($((($(date +%s%N) - s) / 1000))); done
  printf '%s\n' "${t[@]}" | sort -n | sed -n 6p | awk '{printf "%.1f", $1/1000}'
}
results=()
row() { results+=("$(printf '%-58s %12s   %s' "$1" "$2" "$3")"); }

echo "e911ctl benchmarks, $rows rows, $(nproc) cores, $(date -u +%FT%TZ)" >&2
median3() { printf '%s\n' "$@" | sort -n | sed -n 2p; }
for mode in distinct shared; do
  python3 "$here/gen_lis_csv.py" "$rows" $([ $mode = shared ] && echo --shared) >"$work/subnets-$mode.csv"
  # Three runs of each, taken in turn, and the median of each: this machine's timings wander by
  # a third from one minute to the next, and both sides write and sync files the same way.
  ts=() te=()
  for run in 1 2 3; do
    rm -f "$work/plain-$mode.db" "$work/e911-$mode.db"*
    ts+=("$(secs sqlite3 "$work/plain-$mode.db" ".mode csv" ".import $work/subnets-$mode.csv subnets")")
    te+=("$(secs "$e911" --db "$work/e911-$mode.db" import lis --kind subnet "$work/subnets-$mode.csv")")
  done
  t_sqlite=$(median3 "${ts[@]}") t_e911=$(median3 "${te[@]}")
  row "import $rows subnet rows ($mode addresses), e911ctl" "${t_e911} s" "runs: ${te[*]}"
  row "  same file, sqlite3 .import into a plain table" "${t_sqlite} s" "runs: ${ts[*]}"
  row "  ratio of the medians" "$(awk -v a="$t_e911" -v b="$t_sqlite" 'BEGIN{printf "%.2f", a / b}')x" "target <= 2x"
done
db=$work/e911-distinct.db
row "apply the sample enterprise to that store" "$(secs "$e911" --db "$db" apply -f "$root/samples/enterprise") s" ""
row "  the same files again (no change)" "$(secs "$e911" --db "$db" apply -f "$root/samples/enterprise") s" ""
id=$(sqlite3 "$db" "select key from location where rev_removed is null and key like 'loc-%' limit 1")
row "policy list, $rows locations (median of 11)" "$(ms_median "$e911" --db "$db" policy list) ms" "target < 50 ms"
row "location show, $rows locations (median of 11)" "$(ms_median "$e911" --db "$db" location show "$id") ms" "target < 50 ms"
row "validate, $rows locations + $rows subnets" "$(secs "$e911" --db "$db" validate) s" "target < 5 s"
row "call dry-run against that store" "$(ms_median "$e911" --db "$db" call dry-run --from sip:alice@contoso.example --dial 911 --ip 10.10.1.20) ms" "target < 100 ms"
"$e911" --db "$db" publish -o "$work/snap" >/dev/null
row "call dry-run on the published snapshot" "$(ms_median "$e911" --db "$db" call dry-run --from sip:alice@contoso.example --dial 911 --ip 10.10.1.20 --snapshot "$work/snap") ms" ""
row "call audit, $rows elements under every policy" "$(secs "$e911" --db "$db" call audit) s" "target: 100,000 elements < 5 s"
printf '%s\n' "${results[@]}"
if [ -x "$bench_routing" ]; then
  echo
  "$bench_routing" "$db" 1000000
fi
if [ -x "$bench_sip_parse" ]; then
  echo
  "$bench_sip_parse" 1000000
fi
echo
bash "$here/validate_addresses.sh" "$e911" 64
bash "$here/validate_addresses.sh" "$e911" 128
