#!/usr/bin/env bash
# The store is ours and nobody else's: another program's file is refused untouched, an empty path
# is a usage error, and a store the user may not write is still read.
source "$(dirname "$0")/lib.sh" "$@"
sqlite3 "$WORK/other.db" "create table t(x); insert into t values (1);"
cp "$WORK/other.db" "$WORK/other.orig"
for cmd in "policy list" "validate" "init" "apply -f $ROOT/samples/enterprise"; do
  run --db "$WORK/other.db" $cmd
  expect_rc 5 "$cmd on another program's database"
  expect_err "error: '$WORK/other.db' is not an e911ctl database"
  cmp -s "$WORK/other.db" "$WORK/other.orig" || fail "$cmd changed another program's database"
  [ ! -e "$WORK/other.db-wal" ] || fail "$cmd switched another program's database to WAL"
done
echo "not a database" >"$WORK/text.db"
run --db "$WORK/text.db" policy list
expect_rc 5 "a text file"
: >"$WORK/empty.db"
run --db "$WORK/empty.db" policy list
expect_rc 5 "an empty file, read"
[ ! -s "$WORK/empty.db" ] || fail "a read wrote into an empty file"
run --db "$WORK/empty.db" init
expect_rc 0 "init makes an empty file a store"
[ "$(sqlite3 "$WORK/empty.db" 'pragma application_id')" = 1161376049 ] || fail "the store is not marked"
[ "$(sqlite3 "$WORK/empty.db" 'pragma user_version')" = "$(sqlite3 "$WORK/empty.db" 'select max(version) from schema_migrations')" ] ||
  fail "user_version is not the schema version"
# A store made before the mark is still ours, and gets the mark on its next open for writing.
run init
sqlite3 "$E911_DB" "pragma application_id = 0"
run policy list
expect_rc 0 "a store made before the mark"
# An empty path is a mistake in a script, never the default store.
run --db '' policy list
expect_rc 2 "--db ''"
expect_err "--db is empty"
E911_DB= "$E911" policy list >/dev/null 2>"$WORK/err"
[ $? -eq 2 ] || fail "E911_DB='' is not a usage error"
grep -q "E911_DB is set but empty" "$WORK/err" || fail "E911_DB='' error: $(cat "$WORK/err")"
# A store in a folder the user may not write: every read works, a write fails clearly.
if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null; then
  mkdir -p "$WORK/ro" && chmod 755 "$WORK" "$WORK/ro"
  "$E911" --db "$WORK/ro/e911.db" apply -f "$ROOT/samples/enterprise" >/dev/null 2>&1 || fail "apply for the read-only test"
  chmod 755 "$WORK/ro" && chmod 644 "$WORK/ro/e911.db"*
  as_nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups "$E911" --db "$WORK/ro/e911.db" "$@"; }
  for cmd in "policy list" "location show red-b1-f1-ne" "validate" "export" "history"; do
    as_nobody $cmd >"$WORK/out" 2>"$WORK/err"
    rc=$?
    [ $rc -eq 0 ] || [ "$cmd" = validate -a $rc -eq 3 ] || fail "read-only $cmd: exit $rc: $(cat "$WORK/err")"
  done
  as_nobody location set red-b1-f1-ne --floor 9 >"$WORK/out" 2>"$WORK/err"
  [ $? -eq 5 ] || fail "a write to a read-only store did not exit 5: $(cat "$WORK/err")"
  grep -q "readonly\|read-only\|cannot" "$WORK/err" || fail "unclear read-only error: $(cat "$WORK/err")"
fi
finish
