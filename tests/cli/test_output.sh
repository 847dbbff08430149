#!/usr/bin/env bash
# Output contracts: every JSON document carries its schema id and validates against schemas/output.
source "$(dirname "$0")/lib.sh" "$@"
CHECK=$(dirname "$E911")/tests/check_output
[ -x "$CHECK" ] || { fail "check_output not built"; finish; }
contract() {  # runs e911ctl with --format json and checks the document printed
  "$E911" "$@" --format json >"$WORK/doc.json" 2>/dev/null
  "$CHECK" <"$WORK/doc.json" 2>"$WORK/why" || fail "e911ctl $* breaks its output schema: $(cat "$WORK/why")"
}
contract apply -f "$ROOT/samples/enterprise"
contract apply -f "$ROOT/samples/enterprise" --dry-run
printf 'kind: Location\nid: x\nstate: Washington\n' >"$WORK/bad.yaml"
contract apply -f "$WORK/bad.yaml"
contract validate
for noun in policy region site subnet location wap switch port usage route trunk dialplan user; do contract "$noun" list; done
contract location show red-b1-f1-ne
contract port show 00-25-90-AA-00-01 Gi1/0/1
contract trunk set provider-backup --failover-seconds 9
contract history
contract diff 1
contract diff --routes 2
contract import lis --kind wap "$ROOT/samples/lis/wap.csv"
contract call dry-run --from sip:alice@contoso.example --dial 911 --ip 10.10.1.20
contract call audit
contract publish -o "$WORK/snap"
contract publish -o "$WORK/snap" --dry-run
contract location show nowhere
contract init
contract rollback 2 --dry-run
contract explain E301
contract validate --list-rules
contract policy grant Executives --user sip:bob@contoso.example
contract export
contract man --out "$WORK/man"
contract completion bash
# YAML carries the same schema id.
"$E911" policy list --format yaml | grep -q '^schema: e911ctl.policy.list/v1$' || fail "yaml output lacks its schema id"
# Editors get the document schemas.
"$E911" schema print location | python3 -c 'import json,sys; assert json.load(sys.stdin)["title"] == "Location"' || fail "schema print location"
"$E911" schema print document >/dev/null || fail "schema print document"
run schema print locaton
expect_rc 1 "unknown schema"
expect_err "did you mean 'location'?"
finish
