#!/usr/bin/env bash
# validate and explain end to end: file positions, exit codes, --strict, JSON.
source "$(dirname "$0")/lib.sh" "$@"

run apply -f "$ROOT/samples/enterprise"
expect_rc 0 "apply samples"
run validate
expect_rc 0 "samples validate"
expect_out "0 error(s), 2 warning(s); ok"
expect_err "location 'red-b2-f2-lab': warning[W603]: address is unvalidated with the provider"
run validate --strict
expect_rc 3 "strict fails on warnings"

# A file that would break routing and Kari's Law, checked as it would be after apply.
cat >"$WORK/change.yaml" <<'YAML'
kind: DialPlan
name: global
rules:
  - name: outside-line
    pattern: '^9(\d+)$'
    translation: '$1'
---
kind: VoiceRoute
name: emergency-provider
number_pattern: '^911$'
priority: 0
pstn_usages: [Emergency]
trunks: [pstn-gateway]
YAML
before=$(db_state)
run validate -f "$WORK/change.yaml"
expect_rc 3 "errors"
expect_err "$WORK/change.yaml:4:5: error[E501]: rule '^9(\d+)$' turns the emergency number '911' into '11'"
expect_err "$WORK/change.yaml:13:10: error[E303]: first trunk 'pstn-gateway' of emergency route 'emergency-provider' does not accept PIDF-LO"
expect_err "$WORK/change.yaml:10:17: warning[W302]: pattern '^911\$' matches '911' but not '+911'"
run validate -f "$WORK/change.yaml" --format json
expect_rc 3 "json"
python3 - "$out" <<'PY' || fail "validate json"
import json, sys
d = json.loads(sys.argv[1])
assert d["schema"] == "e911ctl.validate/v1" and d["ok"] is False and d["errors"] >= 2, d
codes = {x["code"] for x in d["diagnostics"]}
assert {"E501", "E303", "W302"} <= codes, codes
e = [x for x in d["diagnostics"] if x["code"] == "E501"][0]
assert e["line"] == 4 and e["subject"] == "dialplan 'global'" and e["hint"], e
PY
# apply refuses the same errors and writes nothing.
run apply -f "$WORK/change.yaml"
expect_rc 3 "apply refuses rule errors"
expect_err "error[E501]"
[ "$(db_state)" = "$before" ] || fail "refused apply changed the database"

run explain E501
expect_rc 0 "explain"
expect_out "E501 (error, Kari's Law)"
expect_out "Fix:"
run explain E51
expect_rc 1 "unknown code"
expect_err "did you mean"
run validate --list-rules --format json
python3 -c 'import json,sys; d=json.loads(sys.argv[1]); assert len(d["items"]) >= 25 and all(i["example"] and i["fix"] for i in d["items"])' "$out" || fail "list rules"
finish
