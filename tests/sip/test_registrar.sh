#!/usr/bin/env bash
# The registrar of `e911ctl serve` (issue 12) with sipp as the phones: a user of the snapshot
# registers a contact for an hour and gets 200 listing it with ;expires=, a second contact is
# listed beside the first, Expires: 0 removes one and then the other, and a user the snapshot
# does not have gets 404. A q outside RFC 3261's qvalue is 400, and at a restart a bindings file
# with damaged entries (a bare nan an older runtime wrote for q=nan) restores every other binding.
source "$(dirname "$0")/lib.sh" "$@"
publish_samples || { finish; exit 1; }
printf 'test-token-%s\n' "$RANDOM$RANDOM" >"$WORK/token"
chmod 600 "$WORK/token"
serve() { start_serve --snapshot "$E911_DB.snapshot" --domain "$DOMAIN" --admin 127.0.0.1:5081 --token-file "$WORK/token"; }
serve || { finish; exit 1; }

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

# q is RFC 3261 §20.10's qvalue, 0 to 1 with at most three decimals: anything else is 400 (a nan
# or inf was written to the bindings file bare, and the next start refused the whole file).
for q in nan inf -inf 2 -1 1.5 1.001 0.1234 0x1 1e-1 ''; do
  got=$(raw_register 127.0.0.1 carol "<sip:carol@127.0.0.1:5095>;q=$q")
  [ "$got" = 400 ] || fail "REGISTER with q=$q got '$got', not 400"
done
for q in 0 0.5 0.125 1 1.000; do
  got=$(raw_register 127.0.0.1 carol "<sip:carol@127.0.0.1:5095>;q=$q")
  [ "$got" = 200 ] || fail "REGISTER with q=$q got '$got', not 200"
done

# A restart with a bindings file holding two damaged entries (bob's bare nan, as an older runtime
# wrote it, and carol's q of 7): alice's and dave's bindings are restored, the others dropped and
# told, the file kept aside as .bad, and rewritten clean.
stop_serve
bindings=$E911_DB.snapshot.bindings
until=$(($(date +%s) + 600))
entry() {  # USER PORT Q
  printf '{"aor":"sip:%s@contoso.example","contact":"sip:%s@127.0.0.1:%s","host":"127.0.0.1","port":%s,"transport":"udp","expires":%s,"call_id":"%s@x","cseq":1,"q":%s}' \
    "$1" "$1" "$2" "$2" "$until" "$1" "$3"
}
printf '{"format":1,"bindings":[\n%s,\n%s,\n%s,\n%s\n]}\n' "$(entry alice 5091 1.000)" "$(entry bob 5090 nan)" "$(entry carol 5094 7.000)" \
  "$(entry dave 5096 0.500)" >"$bindings"
cp "$bindings" "$WORK/bindings.damaged"
serve || { finish; exit 1; }
admin /v1/registrations >"$WORK/registrations.json"
python3 - "$WORK/registrations.json" <<'PY' || fail "after the restart: not alice's and dave's bindings: $(head -c 600 "$WORK/registrations.json")"
import json, sys
got = json.load(open(sys.argv[1]))
assert sorted(b["aor"] for b in got) == ["sip:alice@contoso.example", "sip:dave@contoso.example"], got
PY
grep -qF "bindings file '$bindings' is damaged (line 3: not JSON): 2 damaged entries dropped, 2 bindings restored; copied to '$bindings.bad'" "$WORK/serve.err" ||
  fail "no warning naming the damaged entries: $(grep -i bindings "$WORK/serve.err" | tail -3)"
cmp -s "$bindings.bad" "$WORK/bindings.damaged" || fail "the damaged file was not kept as $bindings.bad"
rewritten() { python3 -c 'import json,sys; assert len(json.load(open(sys.argv[1]))["bindings"]) == 2' "$bindings" 2>/dev/null; }
for _ in $(seq 30); do rewritten && break; sleep 0.1; done
rewritten || fail "the bindings file was not rewritten with the 2 good bindings: $(head -c 600 "$bindings")"

expect_serving "after the registrations"
finish
