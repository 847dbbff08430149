#!/usr/bin/env bash
# Calls to and from the trunks of the sample enterprise through `e911ctl serve` (issue 12), sipp
# as phones and trunks (10-usages-trunks-routes.yaml: pstn-gateway 127.0.0.1:5072 udp, digits;
# carrier-sip 127.0.0.1:5073 tcp, +E.164):
#   - bob registers; the gateway (from its address, 127.0.0.1:5072) calls his DID
#     sip:+14255550102@contoso.example;user=phone and his phone answers;
#   - alice (global voice policy: Local, LongDistance) calls +14255550199: route local-calls,
#     the pstn-gateway gets INVITE sip:14255550199@127.0.0.1:5072 and answers;
#   - alice calls +13035550100: route national-calls, carrier-sip first, which answers 503, then
#     the pstn-gateway, which answers 200 (as `e911ctl call dry-run` lists the attempts).
source "$(dirname "$0")/lib.sh" "$@"
publish_samples || { finish; exit 1; }
start_serve --snapshot "$E911_DB.snapshot" --domain "$DOMAIN" || { finish; exit 1; }

# The attempts the dry run lists are what the live calls below expect.
run call dry-run --from "sip:alice@$DOMAIN" --dial +13035550100 --snapshot "$E911_DB.snapshot"
grep -q "1. trunk 'carrier-sip'" <<<"$out" && grep -q "2. trunk 'pstn-gateway'" <<<"$out" ||
  fail "the dry run of +13035550100 no longer lists carrier-sip then pstn-gateway: $out"

first_line() { received "$1" '^INVITE ' | head -1 | tr -d '\r'; }

# A call from the gateway to bob's DID.
register did-reg-bob bob 5090 udp || expect_sipp did-reg-bob $?
phone did-bob uas_answer.xml 5090 udp
bob_pid=$sipp_pid
call did-gateway uac_call.xml "sip:+12065550123@127.0.0.1;user=phone" "sip:+14255550102@$DOMAIN;user=phone" udp 5072
expect_sipp did-gateway $?
expect_peer did-bob "$bob_pid"
[[ $(first_line did-bob) == "INVITE sip:bob@127.0.0.1:5090"* ]] || fail "did: bob's phone got '$(first_line did-bob)'"

# alice to a local number: the pstn-gateway.
register local-reg-alice alice 5091 udp || expect_sipp local-reg-alice $?
phone local-gateway uas_answer.xml 5072 udp
gw_pid=$sipp_pid
call local-alice uac_call.xml "sip:alice@$DOMAIN" "sip:+14255550199@$DOMAIN;user=phone" udp 5091
expect_sipp local-alice $?
expect_peer local-gateway "$gw_pid"
[[ $(first_line local-gateway) == "INVITE sip:14255550199@127.0.0.1:5072"* ]] ||
  fail "local: the gateway got '$(first_line local-gateway)', not sip:14255550199@127.0.0.1:5072"

# alice to a national number: carrier-sip answers 503, the pstn-gateway 200.
phone failover-carrier uas_unavailable.xml 5073 tcp
carrier_pid=$sipp_pid
phone failover-gateway uas_answer.xml 5072 udp
gw_pid=$sipp_pid
call failover-alice uac_call.xml "sip:alice@$DOMAIN" "sip:+13035550100@$DOMAIN;user=phone" udp 5091
expect_sipp failover-alice $?
expect_peer failover-carrier "$carrier_pid"
expect_peer failover-gateway "$gw_pid"
[[ $(first_line failover-carrier) == "INVITE sip:+13035550100@127.0.0.1:5073"* ]] ||
  fail "failover: carrier-sip got '$(first_line failover-carrier)', not sip:+13035550100@127.0.0.1:5073"
[[ $(first_line failover-gateway) == "INVITE sip:13035550100@127.0.0.1:5072"* ]] ||
  fail "failover: the gateway got '$(first_line failover-gateway)', not sip:13035550100@127.0.0.1:5072"

expect_serving "after the trunk calls"
finish
