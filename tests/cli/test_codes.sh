#!/usr/bin/env bash
# A diagnostic code is a promise: every code the source can print, on any path, is listed by
# `validate --list-rules` and explained by `explain`; the list names no code the source lacks.
source "$(dirname "$0")/lib.sh" "$@"
codes=$(grep -rhoE '"[EW][0-9]{3}"' "$ROOT/lib" "$ROOT/cli" | tr -d '"' | sort -u)
[ "$(wc -w <<<"$codes")" -ge 40 ] || fail "found only $(wc -w <<<"$codes") codes in the source: is the pattern right?"
run validate --list-rules --format json
expect_rc 0 "list rules"
listed=$(grep -oE '"code": "[EW][0-9]{3}"' <<<"$out" | grep -oE '[EW][0-9]{3}' | sort -u)
for code in $codes; do
  grep -qx "$code" <<<"$listed" || fail "$code is printed by the source but not listed by validate --list-rules"
  run explain "$code"
  expect_rc 0 "explain $code"
  grep -q "^$code (" <<<"$out" || fail "explain $code does not describe it"
done
# Codes that are rules' own (in the table) count as printed only if the source prints them
# elsewhere too; a rule nobody can trip is a rule to remove.
for code in $listed; do
  n=$(grep -rhoE "\"$code\"" "$ROOT/lib" "$ROOT/cli" | wc -l)
  [ "$n" -ge 2 ] || fail "$code is listed but nothing prints it"
done
# The codes that were printed before there was one reference checker are gone.
for gone in E010 E011; do
  run explain $gone
  expect_rc 1 "explain $gone"
done
finish
