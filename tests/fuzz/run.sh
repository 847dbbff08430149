#!/usr/bin/env bash
# Runs libFuzzer targets built in BUILD (tests/fuzz/fuzz_<target>).
#
#   run.sh [--fresh] BUILD SECONDS TARGET...   fuzz each target for SECONDS
#   run.sh --replay BUILD TARGET...            run each input under tests/fuzz/regressions/<target> once
#
# Fuzzing starts from tests/fuzz/corpus/<target> and the target's regressions, read only; new
# inputs go to BUILD/fuzz-work/<target>/corpus (kept between runs unless --fresh) and a crash to
# BUILD/fuzz-work/<target>/crash-*: never into the source tree. Exit status: 0 when nothing was
# found, else the fuzzer's own.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)

fresh=0 replay=0
while [ $# -gt 0 ]; do
  case $1 in
    --fresh) fresh=1; shift ;;
    --replay) replay=1; shift ;;
    *) break ;;
  esac
done
build=$1; shift
if [ $replay -eq 0 ]; then seconds=$1; shift; fi
[ $# -gt 0 ] || { echo "run.sh: name at least one target" >&2; exit 2; }

# A sanitizer report is a failure, with symbolised stacks; leaks count.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:symbolize=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}

status=0
for t in "$@"; do
  fuzzer=$build/tests/fuzz/fuzz_$t
  [ -x "$fuzzer" ] || { echo "run.sh: no fuzzer '$fuzzer'; build the 'fuzzers' target first" >&2; exit 2; }
  regressions=$here/regressions/$t
  if [ $replay -eq 1 ]; then
    shopt -s nullglob
    inputs=("$regressions"/*)
    shopt -u nullglob
    if [ ${#inputs[@]} -eq 0 ]; then
      echo "fuzz $t: no regression inputs"
      continue
    fi
    echo "fuzz $t: replaying ${#inputs[@]} regression inputs"
    "$fuzzer" -timeout=10 "${inputs[@]}" || status=$?
    continue
  fi
  work=$build/fuzz-work/$t
  [ $fresh -eq 0 ] || rm -rf "$work"
  mkdir -p "$work/corpus"
  seeds=("$here/corpus/$t")
  [ -d "$regressions" ] && seeds+=("$regressions")
  echo "fuzz $t: ${seconds}s from ${seeds[*]}; new inputs in $work/corpus"
  log=$work/fuzz.log
  # The YAML loader and the CSV importer do much per byte: small inputs keep them at hundreds of
  # executions a second instead of tens (longer seeds are cut).
  limits=()
  case $t in yaml|csv) limits=(-max_len=4096) ;; esac
  rc=0
  "$fuzzer" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 "${limits[@]}" \
    -artifact_prefix="$work/" "$work/corpus" "${seeds[@]}" >"$log" 2>&1 || rc=$?
  # The last status line says how far it got: executions, coverage (cov) and features (ft).
  done_line=$(grep -E '^#[0-9]+' "$log" | tail -n 1 || true)
  execs=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
  echo "fuzz $t: ${done_line:-no status line} (${execs:-?} exec/s)"
  if [ $rc -ne 0 ]; then
    echo "fuzz $t: FAILED (exit $rc); the fuzzer's report:" >&2
    tail -n 60 "$log" >&2
    ls "$work"/crash-* "$work"/leak-* "$work"/timeout-* "$work"/oom-* 2>/dev/null >&2 || true
    echo "fuzz $t: keep the input as tests/fuzz/regressions/$t/<name> once fixed" >&2
    status=$rc
  fi
done
exit $status
