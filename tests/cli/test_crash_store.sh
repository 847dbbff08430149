#!/usr/bin/env bash
# Crash safety of the store (issue 14): a write command killed with SIGKILL at any moment leaves
# the store exactly as it was before the command or exactly as the command leaves it, never in
# between: PRAGMA integrity_check is ok, the revision list is the before or the after one, and
# the object export is byte for byte the before or the after export. Each command is first run
# to its end once, to learn the after state and how long it takes; then TRIALS copies of the
# before state are each given the command and killed after a delay spread over that time.
# TRIALS (default 8 per command, 32 kills in all) sets the number of kills; a summary line reports outcomes.
source "$(dirname "$0")/lib.sh" "$@"
TRIALS=${TRIALS:-8}

# The state a reader sees: the revision list (without the time each was made, which differs
# from run to run) and every object (JSON export), as one text.
state() {
  "$E911" history --format json >"$WORK/state.raw" 2>"$WORK/state.err" || return 1
  grep -v '^ *"time": ' "$WORK/state.raw" >"$WORK/state.hist"
  "$E911" export --format json >"$WORK/state.export" 2>>"$WORK/state.err" || return 1
  cat "$WORK/state.hist" "$WORK/state.export"
}
copy_store() { rm -f "$2" "$2-wal" "$2-shm" "$2-journal"; cp "$1" "$2"; }
now_ms() { date +%s%3N; }

# trial NAME BEFORE_DB BEFORE_STATE AFTER_STATE DELAY_S CMD...: kills CMD after DELAY_S and
# says which state it left (before, after), or fails the test.
before_n=0 after_n=0 trials=0
trial() {
  local name=$1 db=$2 before=$3 after=$4 delay=$5
  shift 5
  export E911_DB=$WORK/trial.db
  if [ "$db" = none ]; then rm -f "$E911_DB" "$E911_DB"-*; else copy_store "$db" "$E911_DB"; fi
  "$E911" "$@" >/dev/null 2>&1 &
  local pid=$!
  sleep "$delay"
  kill -KILL "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
  trials=$((trials + 1))
  if [ "$db" = none ] && [ ! -e "$E911_DB" ]; then
    before_n=$((before_n + 1))
    return
  fi
  # What the next command sees: e911ctl opens the store first (SQLite rolls back a journal).
  local got
  if ! got=$(state); then
    out=$(cat "$WORK/state.hist"); err=$(cat "$WORK/state.err")
    fail "$name killed after ${delay}s: the store cannot be read"
    return
  fi
  local check
  check=$(sqlite3 "$E911_DB" 'pragma integrity_check' 2>&1)
  [ "$check" = ok ] || { out=$check; err=; fail "$name killed after ${delay}s: integrity check"; }
  if [ "$got" = "$(cat "$before")" ]; then
    before_n=$((before_n + 1))
  elif [ "$got" = "$(cat "$after")" ]; then
    after_n=$((after_n + 1))
  else
    out=$(diff <(cat "$before") <(echo "$got") | head -20); err=$(sqlite3 "$E911_DB" 'select rev, summary from revision')
    fail "$name killed after ${delay}s: neither the before nor the after state"
  fi
}

# run_trials NAME BEFORE_DB CMD...: the command once to its end, then TRIALS kills spread from
# 2% to 110% of its run time.
run_trials() {
  local name=$1 db=$2
  shift 2
  export E911_DB=$WORK/ref.db
  local before_state=$WORK/$name.before after_state=$WORK/$name.after
  if [ "$db" = none ]; then
    rm -f "$E911_DB" "$E911_DB"-*
    echo none >"$before_state"
  else
    copy_store "$db" "$E911_DB"
    state >"$before_state" || fail "$name: cannot read the before state"
  fi
  local t0 t1
  t0=$(now_ms)
  run "$@"
  t1=$(now_ms)
  expect_rc 0 "$name run to its end"
  state >"$after_state" || fail "$name: cannot read the after state"
  cmp -s "$before_state" "$after_state" && fail "$name changed nothing: the trials would prove nothing"
  local ms=$((t1 - t0)) i delay
  before_n=0 after_n=0 trials=0
  for i in $(seq 0 $((TRIALS - 1))); do
    # Spread over the run, with a little jitter so repeated runs probe other moments.
    delay=$(awk -v ms="$ms" -v i="$i" -v n="$TRIALS" -v r="$RANDOM" 'BEGIN { printf "%.3f", ms * (0.02 + 1.08 * (i + r / 32768) / n) / 1000 }')
    trial "$name" "$db" "$before_state" "$after_state" "$delay" "$@"
  done
  echo "$name: ran ${ms} ms; $trials kill(s): $before_n left the before state, $after_n the after state"
  [ "$before_n" -gt 0 ] || fail "$name: no kill landed before the commit; the trials prove nothing"
}

# The before state: the sample enterprise, a few revisions.
base=$WORK/base.db
E911_DB=$base "$E911" apply -f "$ROOT/samples/enterprise" >/dev/null 2>&1 || fail "sample enterprise"

# 1. A bulk LIS import (rollback-journal mode, indexes dropped and built again at commit).
python3 "$ROOT/tests/bench/gen_lis_csv.py" 60000 | sed 's/^10\./13./' >"$WORK/subnets.csv"
run_trials import "$base" import lis --kind subnet "$WORK/subnets.csv"

# 2. A large apply (WAL mode): 20,000 locations and subnets added, then the same files with
# every location changed and --prune removing what the files no longer hold.
python3 "$ROOT/tests/bench/gen_lis_csv.py" 10000 | sed 's/^10\./14./' >"$WORK/apply.csv"
E911_DB=$WORK/gen.db "$E911" import lis --kind subnet "$WORK/apply.csv" >/dev/null 2>&1 || fail "generating the YAML"
E911_DB=$WORK/gen.db "$E911" export --kind location --kind subnet -o "$WORK/big.yaml" 2>/dev/null || fail "exporting the YAML"
run_trials apply "$base" apply -f "$WORK/big.yaml"
applied=$WORK/applied.db
copy_store "$WORK/ref.db" "$applied"
# Every location moved to another city, every other subnet left out (so pruned).
python3 - "$WORK/big.yaml" >"$WORK/changed.yaml" <<'PY'
import sys
docs = open(sys.argv[1]).read().split('---\n')[1:]
for i, d in enumerate(docs):
    if d.startswith('kind: Subnet') and i % 2:
        continue
    print('---\n' + d.replace('city: Redmond', 'city: Bellevue'), end='')
PY
run_trials apply-prune "$applied" apply --prune -f "$ROOT/samples/enterprise" -f "$WORK/changed.yaml"

# 3. The first write to a missing store: no file at all, or the whole store.
run_trials first-write none apply -f "$WORK/big.yaml"
# What killed first writes left beside the store is removed by the next write command.
export E911_DB=$WORK/trial.db
run init; expect_rc 0 "init after the kills"
ls "$WORK" | grep -q '^trial\.db\.new' && fail "temporary files of killed first writes are left after the next write: $(ls "$WORK")"
finish
