#!/usr/bin/env bash
# Voice policies: the noun's commands, YAML, W305, and ordinary calls in call dry-run.
source "$(dirname "$0")/lib.sh" "$@"

# CRUD through the noun's commands.
"$E911" init >/dev/null || fail "init"
run usage set Local
run voicepolicy set global --pstn-usages Local --description "everyone"
expect_rc 0 "set the global voice policy, which every store has"
expect_out "voicepolicy 'global' updated"
run voicepolicy set Travellers --pstn-usages Local,Nowhere
expect_rc 3 "a usage that does not exist"
expect_err "'pstn_usages' names usage 'Nowhere', which does not exist"
run usage set International
run voicepolicy set Travellers --pstn-usages Local,International
expect_rc 0 "tag voice policy"
expect_err "warning[W305]: usage 'Local' is served by no enabled route with a trunk"
run voicepolicy show Travellers --format json
python3 -c 'import json,sys; d=json.loads(sys.argv[1]); assert d["schema"]=="e911ctl.voicepolicy.show/v1" and d["kind"]=="VoicePolicy" and d["object"]["pstn_usages"]==["Local","International"]' "$out" || fail "show json"
run voicepolicy list
expect_rc 0 "list"
expect_out "Travellers  Local, International"
run voicepolicy set site:Austin --pstn-usages International --format json
expect_rc 0 "site voice policy"
run voicepolicy remove site:Austin
expect_rc 0 "remove a site voice policy"
run voicepolicy remove global
expect_rc 3 "global is never removed"
expect_err "the global voice policy cannot be removed"
expect_err "hint: reset it to its defaults with 'e911ctl voicepolicy reset global'"
run voicepolicy reset global
expect_rc 0 "reset global"
expect_out "voicepolicy 'global' reset"
run voicepolicy show global --format json
python3 -c 'import json,sys; o=json.loads(sys.argv[1])["object"]; assert o=={"identity":"global"}, o' "$out" || fail "reset empties global"

# Users name an existing voice policy, by set or by grant.
run user set sip:alice@contoso.example --voice-policy Nope
expect_rc 3 "a voice policy that does not exist"
expect_err "'voice_policy' names voicepolicy 'Nope', which does not exist"
run user set sip:alice@contoso.example --voice-policy Travellers
expect_rc 0 "user --voice-policy"
run voicepolicy show Travellers
expect_out "user 'sip:alice@contoso.example'"
run voicepolicy remove Travellers
expect_rc 3 "remove a granted voice policy"
expect_err "voicepolicy 'Travellers' is still used by user 'sip:alice@contoso.example'"
run voicepolicy grant --revoke --user sip:alice@contoso.example --format json
expect_rc 0 "revoke"
python3 -c 'import json,sys; d=json.loads(sys.argv[1]); assert d["schema"]=="e911ctl.voicepolicy.grant/v1" and d["policy"] is None' "$out" || fail "revoke json"
run voicepolicy grant global --user sip:alice@contoso.example
expect_rc 2 "only tags are granted"
run voicepolicy grant Travellers --user sip:alice@contoso.example
expect_rc 0 "grant"
expect_out "granted voice policy 'Travellers' to 1 user(s)"
run user show sip:alice@contoso.example --format json
python3 -c 'import json,sys; assert json.loads(sys.argv[1])["object"]["voice_policy"]=="Travellers"' "$out" || fail "grant sets voice_policy"

# YAML: apply, export and validate know the kind; W305 names the policy's line.
rm -f "$E911_DB"*
cat >"$WORK/vp.yaml" <<'YAML'
kind: PstnUsage
name: Local
---
kind: PstnUsage
name: International
---
kind: VoicePolicy
identity: global
pstn_usages: [Local, International]
YAML
run validate -f "$WORK/vp.yaml"
expect_rc 0 "warnings only"
expect_err "vp.yaml:9:"
expect_err "warning[W305]: usage 'Local' is served by no enabled route with a trunk"
run apply -f "$WORK/vp.yaml"
expect_rc 0 "apply voice policies"
expect_out "~ voicepolicy 'global'"
run export
expect_out "kind: VoicePolicy"
run explain W305
expect_rc 0 "explain W305"
expect_out "voice policy usage reaches no route"

# Ordinary calls on the samples.
rm -f "$E911_DB"*
"$E911" apply -f "$ROOT/samples/enterprise" >/dev/null 2>&1 || fail "apply samples"
run validate
expect_rc 0 "the samples validate"
dry() {  # dry-runs a call and prints call_type voice_policy usage attempts
  run call dry-run --from "sip:$1@contoso.example" --dial "$2" ${3:+--ip "$3"} --format json
  python3 -c 'import json,sys; d=json.loads(sys.argv[1]); print(d["call_type"], d.get("voice_policy"), d.get("pstn_usage"), " ".join(a["route"]+"/"+a["trunk"] for a in d["attempts"]))' "$out"
}
# The global voice policy from Redmond: Local first.
[ "$(dry alice +14255550199 10.10.1.20)" = "ordinary global Local local-calls/pstn-gateway national-calls/carrier-sip" ] || fail "global, Local"
# Another area code: only LongDistance matches.
[ "$(dry alice 3035550100 10.10.1.20)" = "ordinary global LongDistance national-calls/carrier-sip national-calls/pstn-gateway" ] || fail "global, LongDistance"
# From Austin: the site's voice policy puts AustinLocal first, and the Austin dial plan makes 7 digits 512.
[ "$(dry bob 5550100 10.20.1.9)" = "ordinary site:Austin AustinLocal austin-local-calls/austin-gateway national-calls/carrier-sip national-calls/pstn-gateway" ] || fail "site:Austin"
# Carol's granted tag wins over the site, and it has International.
[ "$(dry carol 5550100 10.20.1.9)" = "ordinary InternationalCallers LongDistance national-calls/carrier-sip national-calls/pstn-gateway" ] || fail "tag over site"
[ "$(dry carol +442071234567 10.10.1.20)" = "ordinary InternationalCallers International international-calls/carrier-sip" ] || fail "tag, International"
# No route: exit 1 (not 6, which is for emergency calls), and the reason.
run call dry-run --from sip:alice@contoso.example --dial +442071234567 --ip 10.10.1.20
expect_rc 1 "ordinary call with no route"
expect_out "== ordinary call: decision"
expect_out "NO ROUTE: no enabled route with a trunk serving usage 'Local', 'LongDistance' of voice policy 'global' matches '+442071234567'"
# Text output says what kind of call it was and how it was routed.
run call dry-run --from sip:alice@contoso.example --dial +14255550199 --ip 10.10.1.20
expect_rc 0 "text"
expect_out "== ordinary call: decision"
expect_out "== ordinary call routed by voice policy 'global', usage 'Local', route 'local-calls'"
expect_out "INVITE sip:14255550199@127.0.0.1:5072;user=phone SIP/2.0"
grep -q "Priority: emergency" <<<"$out" && fail "an ordinary call is not marked emergency"
# An emergency call from the same place is unchanged: the location policy's usage, no voice policy.
run call dry-run --from sip:carol@contoso.example --dial 911 --ip 10.10.1.20 --format json
expect_rc 0 "emergency"
python3 -c 'import json,sys; d=json.loads(sys.argv[1]); assert d["call_type"]=="emergency" and "voice_policy" not in d and d["pstn_usage"]=="Emergency" and d["policy"]=="site:Redmond" and [a["trunk"] for a in d["attempts"]]==["provider-primary","provider-backup","pstn-gateway"]' "$out" || fail "emergency unchanged"
# The output contracts hold for both kinds of call, and on a published snapshot.
CHECK=$(dirname "$E911")/tests/check_output
for dial in +14255550199 +442071234567 911; do
  "$E911" call dry-run --from sip:alice@contoso.example --dial $dial --ip 10.10.1.20 --format json >"$WORK/doc.json" 2>/dev/null
  "$CHECK" <"$WORK/doc.json" 2>"$WORK/why" || fail "dry-run of $dial breaks its output schema: $(cat "$WORK/why")"
done
"$E911" voicepolicy list --format json >"$WORK/doc.json" && "$CHECK" <"$WORK/doc.json" || fail "voicepolicy list breaks its output schema"
run publish -o "$WORK/e911.snapshot"
expect_rc 0 "publish"
[ "$(run call dry-run --from sip:carol@contoso.example --dial +442071234567 --snapshot "$WORK/e911.snapshot" --format json; python3 -c 'import json,sys; print(json.loads(sys.argv[1])["voice_policy"])' "$out")" = InternationalCallers ] ||
  fail "the snapshot carries voice policies"
finish
