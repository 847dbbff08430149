#!/usr/bin/env bash
# What a user trips on: a misspelt command or option gets "did you mean" and a command line that
# runs as written, a missing command names the commands, errors honour --format yaml as json,
# and a directory without YAML files is an error, not "no changes".
source "$(dirname "$0")/lib.sh" "$@"
CHECK=$(dirname "$E911")/tests/check_output
"$E911" apply -f "$ROOT/samples/enterprise" >/dev/null 2>&1 || fail "apply samples"

# The command line a hint tells to run, run as written: it must get past the parser.
hint_runs() {
  local cmd
  cmd=$(sed -n "s/^  hint: did you mean '[^']*'? run '\(.*\)'$/\1/p" <<<"$err")
  [ -n "$cmd" ] || { fail "no command line in the hint"; return; }
  [ "${cmd#e911ctl }" != "$cmd" ] || { fail "hint does not start with e911ctl: $cmd"; return; }
  eval "\"\$E911\" ${cmd#e911ctl }" >"$WORK/hint.out" 2>"$WORK/hint.err"
  local code=$?
  [ "$code" -ne 2 ] || fail "the hinted command '$cmd' is refused: $(cat "$WORK/hint.err")"
  [ "$code" -eq "${1:-0}" ] || fail "the hinted command '$cmd' exits $code, not ${1:-0}"
}

# A misspelt command at any depth.
run rout list
expect_rc 2 "misspelt noun"
expect_err "error: unknown command 'rout' for 'e911ctl'"
expect_err "hint: did you mean 'route'? run 'e911ctl route list'"
hint_runs
run call dyr-run --from sip:alice@contoso.example --dial 911 --ip 10.10.1.20
expect_rc 2 "misspelt verb"
expect_err "unknown command 'dyr-run' for 'e911ctl call'"
expect_err "did you mean 'dry-run'? run 'e911ctl call dry-run --from sip:alice@contoso.example --dial 911 --ip 10.10.1.20'"
hint_runs
run location lsit --format json
expect_rc 2 "misspelt verb, json"
python3 -c 'import json,sys; d=json.loads(sys.argv[1]); assert d["error"]["hint"].startswith("did you mean '"'"'list'"'"'?"), d' "$out" || fail "json hint"
# A misspelt option, of the command or a global one, with = or a separate value.
run call dry-run --form sip:alice@contoso.example --dial 911 --ip 10.10.1.20
expect_rc 2 "misspelt option"
expect_err "unknown option '--form' for 'e911ctl call dry-run'"
expect_err "did you mean '--from'?"
hint_runs
run call dry-run --from=sip:alice@contoso.example --dail=911 --ip 10.10.1.20
expect_rc 2 "misspelt option with ="
expect_err "run 'e911ctl call dry-run --from=sip:alice@contoso.example --dial=911 --ip 10.10.1.20'"
hint_runs
run --qiet policy list
expect_rc 2 "misspelt global option"
expect_err "did you mean '--quiet'? run 'e911ctl --quiet policy list'"
hint_runs
# Two mistakes: both are fixed in the command line offered.
run polcy lst --format json
expect_rc 2 "two misspellings"
expect_err "run 'e911ctl policy list --format json'"
hint_runs
# Nothing close: the commands there are, and help that runs.
run call frobnicate
expect_rc 2 "unknown verb"
expect_err "e911ctl call has the commands dry-run, audit, test; see 'e911ctl call --help'"
run call dry-run --from sip:alice@contoso.example --dial 911 --zzzzzz
expect_rc 2 "unknown option"
expect_err "hint: see 'e911ctl call dry-run --help'"
run call dry-run --from sip:alice@contoso.example --dial 911 stray
expect_rc 2 "stray argument"
expect_err "unexpected argument 'stray' for 'e911ctl call dry-run'"

# A command that needs a command names them.
run route
expect_rc 2 "route alone"
expect_err "error: e911ctl route needs a command: list, show, set, remove"
expect_err "hint: see 'e911ctl route --help'"
run call
expect_err "e911ctl call needs a command: dry-run, audit, test"
run
expect_rc 2 "nothing"
expect_err "e911ctl needs a command: init, apply"
"$E911" route --help >/dev/null || fail "the hinted 'e911ctl route --help' does not run"

# Errors honour --format yaml: the same document as JSON, on stdout, valid against its schema.
yaml_error_valid() {
  python3 -c 'import json,sys,yaml; print(json.dumps(yaml.safe_load(sys.stdin.read())))' <<<"$out" >"$WORK/err.json" || { fail "error YAML does not parse"; return; }
  "$CHECK" <"$WORK/err.json" 2>"$WORK/why" || fail "error YAML breaks error.schema.json: $(cat "$WORK/why")"
  python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["schema"]=="e911ctl.error/v1" and d["error"]["exit_code"]==int(sys.argv[2]) and d["error"]["message"], d' "$WORK/err.json" "$1" || fail "error YAML fields"
}
run location show nowhere --format yaml
expect_rc 1 "unknown location, yaml"
expect_out "schema: e911ctl.error/v1"
yaml_error_valid 1
run route lst --format yaml
expect_rc 2 "parse error, yaml"
yaml_error_valid 2
run route list --format=yaml --bogus
expect_rc 2 "unknown option, yaml"
yaml_error_valid 2
E911_FORMAT=yaml run route
expect_rc 2 "E911_FORMAT=yaml"
yaml_error_valid 2
run call dry-run --from sip:alice@contoso.example --dial 911 --ip 10.10.1.999 --format yaml
expect_rc 2 "bad --ip, yaml"
yaml_error_valid 2
run location show nowhere --format json
"$CHECK" <<<"$out" 2>"$WORK/why" || fail "error JSON breaks error.schema.json: $(cat "$WORK/why")"
# Whatever bytes were typed, the error document stays valid JSON and YAML.
for fmt in json yaml; do
  run $'rout\xff\xfe' list --format $fmt
  expect_rc 2 "non-UTF-8 command, $fmt"
  python3 -c 'import json,sys,yaml; t=sys.stdin.buffer.read().decode("utf-8"); d=json.loads(t) if sys.argv[1]=="json" else yaml.safe_load(t); assert d["error"]["exit_code"]==2' $fmt <"$WORK/out" || fail "non-UTF-8 argument breaks the $fmt error"
done

# A directory without YAML files is an error (exit 2), not "no changes"; the store is unchanged.
mkdir -p "$WORK/empty" "$WORK/notes/sub"
echo "not yaml" >"$WORK/notes/README.txt"
before=$(db_state)
for dir in "$WORK/empty" "$WORK/notes"; do
  run apply -f "$dir"
  expect_rc 2 "apply -f a directory without YAML"
  expect_err "no YAML files in directory '$dir'"
  run apply -f "$dir" --format yaml
  yaml_error_valid 2
  run validate -f "$dir"
  expect_rc 2 "validate -f a directory without YAML"
done
[ "$(db_state)" = "$before" ] || fail "apply of an empty directory changed the store"
cp "$ROOT/samples/enterprise/30-policies.yaml" "$WORK/notes/sub/p.yml"
run validate -f "$WORK/notes"
[ "$rc" -ne 2 ] || fail "a directory with a *.yml file below it is refused"
finish
