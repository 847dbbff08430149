#!/usr/bin/env bash
# set and remove on a noun obey the rules apply obeys: the errors a change would bring refuse it
# (exit 3, store unchanged), the warnings are printed.
source "$(dirname "$0")/lib.sh" "$@"
run apply -f "$ROOT/samples/enterprise"
expect_rc 0 "samples"
state() { sqlite3 "$E911_DB" "select max(rev) from revision; select count(*) from voice_route where rev_removed is null;"; }
# Removing one of two emergency routes is allowed; removing the last one leaves 911 unroutable.
run route remove emergency-local-fallback
expect_rc 0 "remove the fallback route"
before=$(state)
run route remove emergency-provider
expect_rc 3 "remove the last emergency route"
expect_err "policy 'global': error[E301]: emergency number '911' reaches no enabled route with a trunk for usage 'Emergency'"
expect_err "nothing was written"
[ "$(state)" = "$before" ] || fail "a refused remove changed the store"
run route set emergency-provider --enabled false
expect_rc 3 "disable the last emergency route"
expect_err "error[E301]"
# The same value rules as apply, whatever the noun.
run location set red-b1-f1-ne --country XX
expect_rc 3 "country XX"
expect_err "location 'red-b1-f1-ne': error[E105]"
run subnet set 10.10.77.5/24 --site Redmond --location red-b1-f1-ne
expect_rc 3 "a host address as a subnet"
expect_err "error[E108]: '10.10.77.5/24' has host bits set; the network is 10.10.77.0/24"
[ "$(state)" = "$before" ] || fail "refused sets changed the store"
# A change that brings only a warning goes through and says so.
run location set lonely --location "B9 Lobby" --house-number 1 --street-name Main --city Redmond --state WA --country US
expect_rc 0 "a new location"
expect_err "warning[W205]: location is not used by any element, site or policy"
finish
