# Shared by the end-to-end tests: run the real binary on real files in a scratch directory.
# Usage in a test: source lib.sh "$@"; then `run CMD...` sets $out, $err and $rc.
set -uo pipefail
E911=$1
ROOT=$2
WORK=$(mktemp -d "${TMPDIR:-/tmp}/e911-cli.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
export E911_DB=$WORK/e911.db NO_COLOR=1
unset E911_FORMAT
failures=0

run() {
  "$E911" "$@" >"$WORK/out" 2>"$WORK/err"
  rc=$?
  out=$(cat "$WORK/out")
  err=$(cat "$WORK/err")
}
fail() {
  echo "FAIL: $*" >&2
  echo "--- stdout:" >&2; echo "$out" >&2
  echo "--- stderr:" >&2; echo "$err" >&2
  failures=$((failures + 1))
}
expect_rc() { [ "$rc" -eq "$1" ] || fail "expected exit $1, got $rc: ${*:2}"; }
expect_out() { grep -qF -- "$1" <<<"$out" || fail "stdout lacks '$1'"; }
expect_err() { grep -qF -- "$1" <<<"$err" || fail "stderr lacks '$1'"; }
# The exact bytes of a file or of a database's revisions: proof that nothing changed.
db_state() { sqlite3 "$E911_DB" "select max(rev) from revision; select count(*) from location; select count(*) from subnet;" 2>/dev/null; }
finish() {
  if [ "$failures" -gt 0 ]; then
    echo "$failures failure(s)" >&2
    exit 1
  fi
  echo "ok"
}
# Sends SIGTERM to the server in $server_pid and expects it gone within a second (times
# E911_TEST_TIME_SCALE, which make test-sanitize sets), with exit 0 and "stopped by SIGTERM" in
# $WORK/serve.err; $1 names it in failures.
expect_sigterm_exit() {
  local scale=${E911_TEST_TIME_SCALE:-1}
  kill -TERM "$server_pid"
  for _ in $(seq $((10 * scale))); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$server_pid" 2>/dev/null; then
    fail "$1 still runs $scale second(s) after SIGTERM"
  else
    wait "$server_pid"; rc=$?; server_pid=
    err=$(cat "$WORK/serve.err")
    expect_rc 0 "$1 after SIGTERM"
    expect_err "stopped by SIGTERM"
  fi
}
