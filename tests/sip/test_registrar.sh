#!/usr/bin/env bash
# The registrar of `e911ctl serve` (issue 12) with sipp as the phones: a user of the snapshot
# registers a contact for an hour and gets 200 listing it with ;expires=, a second contact is
# listed beside the first, Expires: 0 removes one and then the other, and a user the snapshot
# does not have gets 404.
source "$(dirname "$0")/lib.sh" "$@"
publish_samples || { finish; exit 1; }
start_serve --snapshot "$E911_DB.snapshot" --domain "$DOMAIN" || { finish; exit 1; }

# The Contact values of the 200 that sipp run $1 received, one per line.
contacts() { received "$1" '^SIP/2\.0 200' | tr -d '\r' | grep -iE '^(contact|m)[[:space:]]*:' | sed -E 's/^[^:]*:[[:space:]]*//' | tr ',' '\n'; }
# Fails unless run $1's 200 lists <sip:bob@127.0.0.1:$2;...> with 0 < expires <= 3600.
expect_binding() {
  local line expires
  line=$(contacts "$1" | grep -E "<sip:bob@127\.0\.0\.1:$2[;>]")
  expires=$(sed -nE 's/.*;[[:space:]]*expires[[:space:]]*=[[:space:]]*([0-9]+).*/\1/ip' <<<"$line")
  if [ -z "$line" ]; then
    fail "$1: the 200 does not list the contact at port $2: $(contacts "$1" | tr '\n' ' ')"
    return 1
  elif [ -z "$expires" ] || [ "$expires" -le 0 ] || [ "$expires" -gt 3600 ]; then
    fail "$1: the contact at port $2 has no expires in 1..3600: '$line'"
    return 1
  fi
}

register reg-bob bob 5090 udp 3600
expect_sipp reg-bob $? && expect_binding reg-bob 5090

# A second phone of bob's: both bindings listed.
register reg-bob-2 bob 5093 udp 3600
expect_sipp reg-bob-2 $? && expect_binding reg-bob-2 5090 && expect_binding reg-bob-2 5093

# Expires: 0 removes that binding only; then the last one, and the 200 lists none.
register unreg-bob-2 bob 5093 udp 0 unregister.xml
if expect_sipp unreg-bob-2 $? && expect_binding unreg-bob-2 5090; then
  ! contacts unreg-bob-2 | grep -q ':5093' || fail "unreg-bob-2: the removed contact is still listed: $(contacts unreg-bob-2 | tr '\n' ' ')"
fi
register unreg-bob bob 5090 udp 0 unregister.xml
if expect_sipp unreg-bob $?; then
  [ -z "$(contacts unreg-bob)" ] || fail "unreg-bob: the 200 still lists $(contacts unreg-bob | tr '\n' ' ')"
fi

# A user the snapshot does not have.
register reg-nobody nobody 5094 udp 3600 register_unknown.xml
expect_sipp reg-nobody $?

# The same over TCP.
register reg-bob-tcp bob 5090 tcp 3600
expect_sipp reg-bob-tcp $? && expect_binding reg-bob-tcp 5090

expect_serving "after the registrations"
finish
