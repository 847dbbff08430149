#!/usr/bin/env bash
# A caller's PIDF-LO the provider must not get as it is (issue 24), on the sample enterprise: a
# phone (pidf_phone.py, over TCP: these bodies are beyond what sipp's scenario files can carry)
# calls 911 from 10.10.1.20 (a Redmond subnet: the LIS locates it at B1 Floor 1 NE; an address
# given to lo inside the test's network namespace) or from 127.0.0.1 (no subnet, no default
# location: the LIS has none), and sipp as provider-primary (127.0.0.1:5070, TCP) takes the call.
# For each, what the provider received, the call's record and `call dry-run --pidf` of the same
# body agree:
#   - an XXE PIDF-LO in UTF-16 with a byte-order mark (item 9): never passed on; the LIS's
#     location instead, and with none, no location;
#   - plain text, XML that is not well-formed, bytes that are not UTF-8, the wrong namespace
#     (item 8): set aside for the LIS's location, the record and the log saying why; where the
#     LIS has none, passed on as it is (some location beats none), and said so;
#   - a valid PIDF-LO of 64,700 bytes (item 4), too large for the provider's INVITE: the LIS's
#     location instead, and with none, no location; the call's attempt says so.
source "$(dirname "$0")/lib.sh" "$@"

publish_samples_unpinged || { finish; exit 1; }
serve_with_admin "" || { finish; exit 1; }

SUBNET_IP=10.10.1.20
if [ "$E911_SIP_NETNS" = 1 ] && ip addr add "$SUBNET_IP/32" dev lo 2>"$WORK/ip.err"; then
  located=1
else
  located=0
  echo "skip: the located calls need a network namespace to give lo $SUBNET_IP ($(cat "$WORK/ip.err" 2>/dev/null))"
fi
P='<presence xmlns="urn:ietf:params:xml:ns:pidf" xmlns:gp="urn:ietf:params:xml:ns:pidf:geopriv10" xmlns:ca="urn:ietf:params:xml:ns:pidf:geopriv10:civicAddr" entity="pres:alice@contoso.example">'
TUPLE='<tuple id="c1"><status><gp:geopriv><gp:location-info><ca:civicAddress><ca:country>US</ca:country><ca:A1>WA</ca:A1><ca:A3>Seattle</ca:A3><ca:RD>Main</ca:RD><ca:HNO>1</ca:HNO><ca:LOC>Suite 210</ca:LOC></ca:civicAddress></gp:location-info><gp:usage-rules/><gp:method>Manual</gp:method></gp:geopriv></status></tuple>'

# hostile_call NAME FILE SOURCE SCENARIO: provider-primary (sipp SCENARIO on port 5070) takes the
# 911 call a phone at SOURCE places with the PIDF-LO in FILE. Afterwards $WORK/NAME.sip is the
# INVITE the provider got and $WORK/NAME.record.json the call's record from /v1/calls.
hostile_call() {
  local name=$1 file=$2 source=$3 scenario=$4 pid status
  sipp_bg "$name-provider" -sf "$SCENARIOS/$scenario" -p 5070 -t t1 -m 1 -timeout 40s
  pid=$sipp_pid
  wait_listening 5070 || fail "$name: sipp provider does not listen on port 5070"
  status=$(timeout -k 2 50 python3 "$ROOT/tests/sip/pidf_phone.py" "$SIP_PORT" "$source" "$file" "sip:alice@$DOMAIN" \
    "sip:911@$DOMAIN;user=phone" "caller-$name@phone" 2>"$WORK/$name.phone.err" | tail -n 1)
  [ "$status" = 200 ] || fail "$name: the 911 call was not answered (final status '$status') $(tail -c 300 "$WORK/$name.phone.err")"
  expect_peer "$name-provider" "$pid"
  received "$name-provider" '^INVITE ' >"$WORK/$name.sip"
  for _ in $(seq 50); do
    admin '/v1/calls?limit=100' >"$WORK/calls.json"
    python3 - "$WORK/calls.json" "caller-$name@phone" "$WORK/$name.record.json" <<'PY' && return 0
import json, sys
for c in json.load(open(sys.argv[1])):
    if c.get("call_id") == sys.argv[2]:
        json.dump(c, open(sys.argv[3], "w"))
        sys.exit(0)
sys.exit(1)
PY
    sleep 0.1
  done
  fail "$name: no record of the call in /v1/calls: $(head -c 600 "$WORK/calls.json")"
}
# provider_got NAME CHECK: CHECK, a python expression on `pidf` (bytes: the PIDF-LO part of the
# INVITE provider NAME got, None when it had none) and `msg` (the whole INVITE, bytes), holds.
provider_got() {
  python3 - "$WORK/$1.sip" "$2" <<'PY' || fail "$1: the provider's INVITE fails '$2': $(head -c 1500 "$WORK/$1.sip" | tr -d '\0')"
import re, sys
msg = open(sys.argv[1], 'rb').read()
head, _, body = msg.partition(b'\r\n\r\n')
pidf = None
ctype = re.search(rb'(?im)^content-type:\s*([^\r\n]+)', head)
if ctype and ctype.group(1).lower().startswith(b'multipart/'):
    boundary = re.search(rb'boundary="?([^";\r\n]+)', ctype.group(1)).group(1)
    for part in body.split(b'--' + boundary)[1:]:
        h, _, b = part[2:].partition(b'\r\n\r\n')
        if re.search(rb'(?im)^content-type:\s*application/pidf\+xml', h):
            pidf = b[:-2] if b.endswith(b'\r\n') else b
sys.exit(0 if eval(sys.argv[2]) else 1)
PY
}
# recorded NAME CHECK: CHECK, a python expression on `r` (the call's record), holds.
recorded() {
  python3 -c 'import json, sys; r = json.load(open(sys.argv[1])); sys.exit(0 if eval(sys.argv[2]) else 1)' "$WORK/$1.record.json" "$2" ||
    fail "$1: the call's record fails '$2': $(head -c 1500 "$WORK/$1.record.json")"
}
# logged NAME TEXT: the runtime logged a warning about call NAME that says TEXT.
logged() {
  grep -F '"level":"warn"' "$WORK/serve.err" | grep -F "caller-$1@phone" | grep -qF -- "$2" ||
    fail "$1: no warning in the log saying '$2': $(grep -F "caller-$1@phone" "$WORK/serve.err" | head -c 900)"
}
# agree NAME FILE SOURCE: `call dry-run --pidf FILE` of the same call decides it as the runtime
# did: the same location source and location, the same reason for setting the PIDF-LO aside.
# dry_run_pidf FILE SOURCE: `call dry-run` of alice's 911 with FILE as her PIDF-LO, from SOURCE.
dry_run_pidf() {
  local ip=()
  [ "$2" != 127.0.0.1 ] && ip=(--ip "$2")
  run call dry-run --format json --snapshot "$E911_DB.snapshot" --from "sip:alice@$DOMAIN" --dial "sip:911@$DOMAIN;user=phone" \
    "${ip[@]}" --pidf "$1"
}
agree() {
  dry_run_pidf "$2" "$3"
  [ "$rc" -eq 0 ] || { fail "$1: call dry-run --pidf exit $rc: $err"; return; }
  python3 - "$WORK/out" "$WORK/$1.record.json" <<'PY' || fail "$1: the dry run and the live call disagree: $(head -c 1500 "$WORK/out")"
import json, sys
d, r = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
assert d["location_source"] == r["location_source"], (d["location_source"], r["location_source"])
assert (d["location"] or {}).get("id") == r.get("location", {}).get("id"), (d["location"], r.get("location"))
assert r["caller_pidf_refused"].startswith(d["caller_pidf_refused"] + ": "), (d.get("caller_pidf_refused"), r.get("caller_pidf_refused"))
PY
}

# Item 9: an XXE PIDF-LO in UTF-16 with a byte-order mark. Its bytes hold no "<!", which is
# how the old check missed it.
python3 - "$WORK/utf16-xxe.xml" "$P" <<'PY'
import sys
doc = ('<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE presence [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>' +
       sys.argv[2] + '<tuple id="x"><note>&xxe;</note></tuple></presence>')
open(sys.argv[1], 'wb').write(doc.encode('utf-16'))  # with its byte-order mark
PY
# The LIS's location of 10.10.1.20 in the provider's PIDF-LO.
lis_location='pidf is not None and b"<ca:LOC>B1 Floor 1 NE</ca:LOC>" in pidf and b"<gp:method>Wiremap</gp:method>" in pidf'
# UTF-16's "/etc/passwd" anywhere in the provider's INVITE: the caller's document passed on.
no_utf16='"/etc/passwd".encode("utf-16-le") not in msg and b"\x00" not in msg'
if [ "$located" = 1 ]; then
  hostile_call utf16 "$WORK/utf16-xxe.xml" "$SUBNET_IP" uas_provider.xml
  provider_got utf16 "$no_utf16"
  provider_got utf16 "$lis_location"
  recorded utf16 'r["location_source"] == "subnet" and "is not UTF-8 at byte 0" in r["caller_pidf_refused"]'
  recorded utf16 'len(r["attempts"]) == 1 and r["attempts"][0]["pidf_lo"] is True and r["attempts"][0]["status"] == 200'
  agree utf16 "$WORK/utf16-xxe.xml" "$SUBNET_IP"
fi
hostile_call utf16-unlocated "$WORK/utf16-xxe.xml" 127.0.0.1 uas_answer.xml
provider_got utf16-unlocated "$no_utf16 and pidf is None"
recorded utf16-unlocated 'r["location_source"] == "none" and "is not UTF-8 at byte 0" in r["caller_pidf_refused"]'
recorded utf16-unlocated '"the LIS has no location for the caller: the call goes without one" in r["caller_pidf_refused"]'
agree utf16-unlocated "$WORK/utf16-xxe.xml" 127.0.0.1

# Item 8: plain text, XML that is not well-formed, bytes that are not UTF-8 and the wrong
# namespace each went to the provider as the caller's location. Each is set aside for the LIS's
# location, and the record and the log say why.
printf 'Building 4, floor 2, by the lifts\n' >"$WORK/text.xml"
printf '%s%s' "$P" "$TUPLE" >"$WORK/broken.xml"  # never closed
printf '%s%s</presence>' "$P" "${TUPLE/Seattle/Sea$'\xe9'ttle}" >"$WORK/latin1.xml"
printf '%s%s</presence>' "${P/urn:ietf:params:xml:ns:pidf\"/urn:example:not-pidf\"}" "$TUPLE" >"$WORK/other-ns.xml"
for doc in text:"is not well-formed XML" broken:"is not well-formed XML" latin1:"is not UTF-8 at byte" other-ns:"is not a PIDF document"; do
  name=${doc%%:*} why=${doc#*:}
  [ "$located" = 1 ] || break
  hostile_call "$name" "$WORK/$name.xml" "$SUBNET_IP" uas_provider.xml
  provider_got "$name" "$lis_location and open('$WORK/$name.xml', 'rb').read() not in msg"
  recorded "$name" "r['location_source'] == 'subnet' and r['caller_pidf_refused'].startswith(\"the caller's PIDF-LO $why\")"
  recorded "$name" "r['caller_pidf_refused'].endswith(\"set aside, located by the LIS instead (subnet location 'red-b1-f1-ne')\")"
  logged "$name" "the caller's PIDF-LO $why"
  agree "$name" "$WORK/$name.xml" "$SUBNET_IP"
done
# Where the LIS has none, the caller's goes on as it is: some location beats none.
hostile_call other-ns-unlocated "$WORK/other-ns.xml" 127.0.0.1 uas_answer.xml
provider_got other-ns-unlocated "pidf == open('$WORK/other-ns.xml', 'rb').read()"
recorded other-ns-unlocated 'r["location_source"] == "caller-pidf" and "passed on as it is: the LIS has no location" in r["caller_pidf_refused"]'
logged other-ns-unlocated "passed on as it is: the LIS has no location for the caller"
agree other-ns-unlocated "$WORK/other-ns.xml" 127.0.0.1

# Item 4: a caller's PIDF-LO of 64,700 bytes fits the phone's INVITE but not the provider's, which
# carries more headers: both provider trunks were skipped, unrecorded, for the PSTN gateway. The
# provider gets the call with the LIS's location instead, and without a location where the LIS
# has none; the attempt in the record and the log say so, and the dry run shows the same INVITE.
python3 - "$WORK/large.xml" "$P" "$TUPLE" <<'PY'
import sys
head, tail = sys.argv[2] + sys.argv[3] + '<note>', '</note></presence>'
open(sys.argv[1], 'w').write(head + 'x' * (64700 - len(head) - len(tail)) + tail)
PY
[ "$(stat -c %s "$WORK/large.xml")" = 64700 ] || fail "large.xml is $(stat -c %s "$WORK/large.xml") bytes"
degraded_as_dry_run() {  # NAME SOURCE: the attempt's degraded is what call dry-run --pidf says, sizes aside
  dry_run_pidf "$WORK/large.xml" "$2"
  [ "$rc" -eq 0 ] || { fail "$1: call dry-run --pidf exit $rc: $err"; return; }
  python3 - "$WORK/out" "$WORK/$1.record.json" <<'PY' || fail "$1: the dry run and the live call disagree: $(head -c 600 "$WORK/out")"
import json, sys
d, r = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
import re
# The same but for the sizes: the dry run's INVITE has its own Via, Call-ID and sample offer.
same = lambda t: re.sub(r'would be \d+ bytes', 'would be N bytes', t)
assert same(d["invite_degraded"]) == same(r["attempts"][0]["degraded"]), (d.get("invite_degraded"), r["attempts"][0])
assert len(d["invite"]) <= 65536, len(d["invite"])
PY
}
if [ "$located" = 1 ]; then
  hostile_call large "$WORK/large.xml" "$SUBNET_IP" uas_provider.xml
  provider_got large "$lis_location and len(msg) < 8000"
  recorded large 'len(r["attempts"]) == 1 and r["attempts"][0]["status"] == 200 and r["attempts"][0]["pidf_lo"] is True'
  recorded large "r['attempts'][0]['degraded'].startswith(\"with the caller's PIDF-LO (64700 bytes) the INVITE would be \") and r['attempts'][0]['degraded'].endswith(\"bytes, over the 65536 a message may be: sent with the LIS's location instead (subnet location 'red-b1-f1-ne')\")"
  logged large "sent with the LIS's location instead"
  degraded_as_dry_run large "$SUBNET_IP"
fi
hostile_call large-unlocated "$WORK/large.xml" 127.0.0.1 uas_answer.xml
provider_got large-unlocated 'pidf is None and b"application/sdp" in msg'
recorded large-unlocated 'r["attempts"][0]["status"] == 200 and r["attempts"][0]["pidf_lo"] is False'
recorded large-unlocated 'r["attempts"][0]["degraded"].endswith("sent without a location, the LIS having none for the caller")'
logged large-unlocated "sent without a location, the LIS having none for the caller"
degraded_as_dry_run large-unlocated 127.0.0.1

expect_serving "after the hostile PIDF-LOs"
finish
