#!/usr/bin/env bash
# The shipped samples load cleanly, import their own CSVs without change, and round-trip.
source "$(dirname "$0")/lib.sh" "$@"
run apply -f "$ROOT/samples/enterprise"
expect_rc 0 "apply samples"
run apply -f "$ROOT/samples/enterprise"
expect_out "no changes"
for kind in subnet wap switch port; do
  run import lis --kind "$kind" "$ROOT/samples/lis/$kind.csv"
  expect_rc 0 "import $kind"
  expect_out "0 location(s) created"
  expect_out "no changes"
done
run location list --format json
python3 -c 'import json,sys; assert len(json.loads(sys.argv[1])["items"]) >= 50' "$out" || fail "about 50 locations"
run user list --format json
python3 -c 'import json,sys; assert len(json.loads(sys.argv[1])["items"]) >= 12' "$out" || fail "a dozen users"
"$E911" export -o "$WORK/all.yaml"
run apply -f "$WORK/all.yaml" --prune
expect_out "no changes"
# Every peer in the samples is on loopback: nothing may leave the machine.
grep -hE '^host:' "$ROOT"/samples/enterprise/*.yaml | grep -vq '127.0.0.1' && fail "a sample trunk is not on loopback"
finish
