#!/usr/bin/env bash
# Calls between registered phones through `e911ctl serve` (issue 12), sipp as both phones:
# alice (port 5091) calls bob (port 5090) at sip:bob@contoso.example.
#   - answered over UDP and over TCP: INVITE, 180, 200, ACK, BYE; bob's leg has a Call-ID of its
#     own (the runtime is a B2BUA; uas_*.xml refuse the caller's) and its Request-URI is bob's
#     registered contact;
#   - alice cancels while bob rings: 200 to the CANCEL, 487 to the INVITE, bob gets the CANCEL;
#   - bob never answers: alice gets 408 after the ring timeout (--ring-timeout 3), bob a CANCEL;
#   - bob is busy: alice gets his 486.
source "$(dirname "$0")/lib.sh" "$@"
publish_samples || { finish; exit 1; }
start_serve --snapshot "$E911_DB.snapshot" --domain "$DOMAIN" --ring-timeout 3 || { finish; exit 1; }

ALICE=sip:alice@$DOMAIN BOB=sip:bob@$DOMAIN

# case NAME TRANSPORT BOB_SCENARIO ALICE_SCENARIO: both phones registered over TRANSPORT, bob's
# sipp waiting with its scenario, alice's call with hers; both must play theirs through.
case_() {
  local name=$1 transport=$2
  elapsed=0
  register "$name-reg-bob" bob 5090 "$transport" || { expect_sipp "$name-reg-bob" $?; return 1; }
  register "$name-reg-alice" alice 5091 "$transport" || { expect_sipp "$name-reg-alice" $?; return 1; }
  phone "$name-bob" "$3" 5090 "$transport"
  local bob_pid=$sipp_pid
  call "$name-alice" "$4" "$ALICE" "$BOB" "$transport" 5091
  local rc=$?
  expect_sipp "$name-alice" $rc
  expect_peer "$name-bob" "$bob_pid"
  # Each case leaves no binding behind: a phone of the next case must not get this one's
  # retransmissions (a binding stays until it expires or is removed, as RFC 3261 §10.3 says).
  register "$name-unreg-bob" bob 5090 "$transport" 0 unregister.xml || expect_sipp "$name-unreg-bob" $?
  register "$name-unreg-alice" alice 5091 "$transport" 0 unregister.xml || expect_sipp "$name-unreg-alice" $?
  return $rc
}

for transport in udp tcp; do
  case_ "answer-$transport" "$transport" uas_answer.xml uac_call.xml || continue
  ruri=$(received "answer-$transport-bob" '^INVITE ' | head -1 | tr -d '\r')
  [[ $ruri == "INVITE sip:bob@127.0.0.1:5090"* ]] || fail "answer-$transport: bob's INVITE is not to his contact: '$ruri'"
  caller_id=$(received "answer-$transport-bob" '^INVITE ' | tr -d '\r' | grep -iE '^(call-id|i)[[:space:]]*:')
  [[ $caller_id == *caller-* ]] && fail "answer-$transport: bob's leg has alice's Call-ID: $caller_id"
done

case_ cancel udp uas_ring_cancelled.xml uac_cancel.xml

case_ noanswer udp uas_ring_cancelled.xml uac_408.xml &&
  [ "$elapsed" -ge 2 ] && [ "$elapsed" -le 15 ] || fail "noanswer: 408 came after ${elapsed}s, not after the 3 s ring timeout"

case_ busy udp uas_busy.xml uac_486.xml

expect_serving "after the calls"
finish
