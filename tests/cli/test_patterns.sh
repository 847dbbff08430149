#!/usr/bin/env bash
# Route patterns and dial rules run on every call, so they run with RE2 in linear time: what only
# backtracking can do is refused where a pattern enters (E406, exit 3, store unchanged), and no
# pattern or value, however long, crashes the process.
source "$(dirname "$0")/lib.sh" "$@"
run apply -f "$ROOT/samples/enterprise"
expect_rc 0 "samples"
state() { sqlite3 "$E911_DB" "select max(rev) from revision; select key, number_pattern from voice_route where rev_removed is null order by key;
                              select key, rules from dial_plan where rev_removed is null order by key;"; }
before=$(state)

# Lookahead and backreferences, through route set, dialplan set and apply.
run route set emergency-provider --number-pattern '^\+?(?!1)911$'
expect_rc 3 "route set with a lookahead"
expect_err "route 'emergency-provider': error[E406]: '^\+?(?!1)911\$' is not a valid regular expression: invalid perl operator: (?!"
expect_err "no lookahead or lookbehind"
run route set emergency-provider --number-pattern '^(\+?)911\1$'
expect_rc 3 "route set with a backreference"
expect_err "error[E406]"
expect_err "no backreferences"
run dialplan set global --rules "[{pattern: '^9(?!11\$)(\d+)\$', translation: '\$1'}]"
expect_rc 3 "dialplan set with a lookahead"
expect_err "dialplan 'global': error[E406]: '^9(?!11\$)(\d+)\$' is not a valid regular expression: invalid perl operator: (?!"
expect_err "^9([2-9]\d{6,})\$"
run dialplan set global --rules "[{pattern: '^(?<=9)11\$', translation: '\$1'}]"
expect_rc 3 "dialplan set with a lookbehind"
expect_err "no lookahead or lookbehind"
cat >"$WORK/lookaround.yaml" <<'EOF'
kind: VoiceRoute
name: emergency-provider
number_pattern: '^\+?(?!1)911$'
pstn_usages: [Emergency]
trunks: [provider-primary, provider-backup]
---
kind: DialPlan
name: global
rules:
  - name: Repeat
    pattern: '^(\d)\1$'
    translation: '$1'
EOF
run apply -f "$WORK/lookaround.yaml"
expect_rc 3 "apply with lookaround and a backreference"
expect_err "lookaround.yaml:3:17: error[E406]"
expect_err "error[E406]: '^(\d)\1\$' is not a valid regular expression: invalid escape sequence: \1"
[ "$(state)" = "$before" ] || fail "refused patterns changed the store"

# E501's advice is a pattern RE2 takes.
run explain E501
expect_rc 0 "explain E501"
expect_out "^9([2-9]\d{6,})\$"
grep -qF '(?!' <<<"$out" && fail "explain E501 still suggests a lookahead"
# The samples' policies have the masks 9911, 112 and 999 as well: the first rule keeps them all.
run dialplan set global --rules "[{pattern: '^(9?911|112|999)\$', translation: '\$1'}, {pattern: '^9(\d+)\$', translation: '\$1'}]"
expect_rc 0 "an earlier rule keeps 911 away from an outside-line rule"
run call dry-run --from sip:alice@contoso.example --dial 911 --ip 10.10.1.20
expect_rc 0 "911 still routes"
run dialplan set global --rules "[{pattern: '^9(\d+)\$', translation: '\$1'}, {pattern: '^911\$', translation: '911'}]"
expect_rc 3 "the rule that keeps 911 comes too late"
expect_err "error[E501]: rule '^9(\d+)\$' turns the emergency number '911' into '11'"

# A pattern that makes a backtracking matcher take seconds on 30 digits decides at once.
run route set nested --number-pattern '^(\d+)+5$' --pstn-usages '[Local]' --trunks '[pstn-gateway]' --priority 999
expect_rc 0 "a nested repeat compiles"
run timeout 20 "$E911" call dry-run --from sip:alice@contoso.example --dial 111111111111111111111111111111 --ip 10.10.1.20
[ "$rc" -ne 124 ] || fail "a 30-digit number took more than 20 s"

# Values far too long are refused cleanly, never a crash.
mask=$(python3 -c "print(';'.join(['9'] * 50000))")
before=$(state)
run policy set global --emergency-dial-mask "$mask"
expect_rc 3 "a 100,000-character mask through policy set"
expect_err "policy 'global': error[E101]"
printf 'kind: LocationPolicy\nidentity: global\nemergency_dial_mask: "%s"\n' "$mask" >"$WORK/mask.yaml"
run apply -f "$WORK/mask.yaml"
expect_rc 3 "a 100,000-character mask through apply"
expect_err "error[E101]"
long=$(python3 -c "print('^(' + '\\\\d|' * 20000 + '1)+\$')")
run route set emergency-provider --number-pattern "$long"
expect_rc 3 "a 100 KB pattern through route set"
expect_err "error[E100]"
run dialplan set global --rules "[{pattern: '$long', translation: '\$1'}]"
expect_rc 3 "a 100 KB pattern through dialplan set"
expect_err "error[E100]"
python3 - "$WORK/long.yaml" <<'PY'
import sys
pattern = "^(" + "(\\d)|" * 60000 + "1)+$"
open(sys.argv[1], "w").write(
    "kind: VoiceRoute\nname: emergency-provider\nnumber_pattern: '%s'\npstn_usages: [Emergency]\n"
    "trunks: [provider-primary]\n---\nkind: DialPlan\nname: global\nrules:\n  - pattern: '%s'\n    translation: '$1'\n" % (pattern, pattern))
PY
run apply -f "$WORK/long.yaml"
expect_rc 3 "a 300 KB pattern through apply"
expect_err "error[E100]"
[ "$(state)" = "$before" ] || fail "refused long values changed the store"
finish
