#!/usr/bin/env bash
# publish, call dry-run, call audit, diff --routes: the routing engine end to end on the samples.
source "$(dirname "$0")/lib.sh" "$@"
SHARED=$(cd "$ROOT/../shared" 2>/dev/null && pwd)
"$E911" apply -f "$ROOT/samples/enterprise" >/dev/null || fail "apply samples"

# A dry run from a Redmond subnet: the site policy, the subnet's location, the provider first.
run call dry-run --from sip:alice@contoso.example --dial 911 --ip 10.10.1.20 --format json
expect_rc 0 "routable"
echo "$out" >"$WORK/dry.json"
python3 - "$WORK/dry.json" "$WORK" <<'PY' || fail "dry-run decision"
import json, sys, re
d = json.load(open(sys.argv[1]))
assert d["schema"] == "e911ctl.call.dry-run/v1"
assert d["emergency"] and d["routable"] and d["policy"] == "site:Redmond", d
assert d["call_type"] == "emergency" and "voice_policy" not in d, d
assert d["location"]["id"] == "red-b1-f1-ne" and d["location_source"] == "subnet"
assert [a["trunk"] for a in d["attempts"]] == ["provider-primary", "provider-backup", "pstn-gateway"]
assert d["callback"] == "+14255550101"
assert d["notify"] == ["sip:redmond-security@contoso.example"]
inv = d["invite"]
head, body = inv.split("\r\n\r\n", 1)
length = int(re.search(r"\r\nContent-Length: (\d+)", head).group(1))
assert length == len(body.encode()), (length, len(body.encode()))
assert "\r\nPriority: emergency\r\n" in head and "\r\nGeolocation: <cid:" in head
cid = re.search(r"Geolocation: <cid:([^>]+)>", head).group(1)
assert "Content-ID: <%s>" % cid in body
pidf = body.split("Content-Type: application/pidf+xml", 1)[1].split("\r\n\r\n", 1)[1].split("\r\n--e911ctl-boundary", 1)[0]
open(sys.argv[2] + "/pidf.xml", "w").write(pidf)
msg = d["notifications"][0]["message"]
assert "Call-Info: <sip:alice@contoso.example>;purpose=ms-emergency-notification" in msg
mh, mb = msg.split("\r\n\r\n", 1)
assert int(re.search(r"Content-Length: (\d+)", mh).group(1)) == len(mb.encode())
assert "Callback: +14255550101" in mb and "Floor: 1" in mb
PY
# The PIDF-LO's civic address is valid against the RFC 5139 schema, elements in order.
if [ -n "$SHARED" ] && command -v xmllint >/dev/null; then
  python3 - "$WORK/pidf.xml" "$WORK/civic.xml" <<'PY' || fail "extract civicAddress"
import sys, xml.etree.ElementTree as ET
ns = "urn:ietf:params:xml:ns:pidf:geopriv10:civicAddr"
root = ET.parse(sys.argv[1]).getroot()
ca = root.find(".//{%s}civicAddress" % ns)
assert ca is not None
ET.register_namespace("ca", ns)
open(sys.argv[2], "wb").write(ET.tostring(ca))
PY
  xmllint --noout --schema "$SHARED/xsd/civicAddr.xsd" "$WORK/civic.xml" 2>"$WORK/xsd.err" || fail "PIDF-LO civicAddress fails RFC 5139: $(cat "$WORK/xsd.err")"
else
  fail "xmllint or ../shared/xsd not available"
fi

# Text output shows the trace, the INVITE and the MESSAGE.
run call dry-run --from sip:carol@contoso.example --dial 112 --ip 10.20.1.9
expect_rc 0 "mask from Austin"
expect_out "Executives"
expect_out "INVITE sip:+911@127.0.0.1:5070;user=phone SIP/2.0"
expect_out "== MESSAGE to sip:exec-protection@contoso.example"

# An emergency call that cannot be routed exits 6 and says why. set and apply refuse to disable
# every emergency route, so the store is changed underneath them, as an older store could be.
emergency_routes_enabled() {
  sqlite3 "$E911_DB" "UPDATE voice_route SET enabled = $1 WHERE rev_removed IS NULL AND key LIKE 'emergency-%'" || fail "sqlite3"
}
emergency_routes_enabled 0
run call dry-run --from sip:alice@contoso.example --dial 911 --ip 10.10.1.20
expect_rc 6 "unroutable"
expect_out "UNROUTABLE: no enabled route serves usage 'Emergency'"
run call audit --format json
expect_rc 6 "audit finds unroutable"
python3 -c 'import json,sys; d=json.loads(sys.argv[1]); assert d["schema"]=="e911ctl.call.audit/v1" and d["unroutable"]["count"] > 50' "$out" || fail "audit counts"
emergency_routes_enabled 1
run call audit
expect_rc 0 "audit passes"
expect_out "unroutable: 0"
expect_out "not dispatchable (unvalidated, or no floor/room/unit): "

# Publish, load back, refuse damage.
run publish -o "$WORK/e911.snapshot"
expect_rc 0 "publish"
run call dry-run --from sip:alice@contoso.example --dial 911 --ip 10.10.1.20 --snapshot "$WORK/e911.snapshot" --format json
expect_rc 0 "dry run on the snapshot"
python3 -c 'import json,sys; d=json.loads(sys.argv[1]); assert d["location"]["id"]=="red-b1-f1-ne"' "$out" || fail "snapshot decision"
head -c 2000 "$WORK/e911.snapshot" >"$WORK/short.snapshot"
run call dry-run --from sip:alice@contoso.example --dial 911 --snapshot "$WORK/short.snapshot"
expect_rc 3 "truncated snapshot"
expect_err "is truncated"

# What a change does to callers, before it is live.
before=$("$E911" history --format json | python3 -c 'import json,sys; print(json.load(sys.stdin)["items"][0]["revision"])')
"$E911" policy set site:Redmond --notification-uris sip:new-desk@contoso.example >/dev/null
run diff --routes "$before"
expect_rc 0 "diff --routes"
expect_out "under policy 'site:Redmond'"
expect_out "notify sip:new-desk@contoso.example"
run publish -o "$WORK/e911.snapshot" --dry-run --format json
python3 -c 'import json,sys; d=json.loads(sys.argv[1]); assert d["dry_run"] and len(d["changes"]) > 10' "$out" || fail "publish --dry-run"
# The dry run checks what it is given, as a live call would be: the address, the dial string, the
# caller and the PIDF-LO. What is refused exits 2 (the command line) or 3 (the PIDF-LO file).
DRY=(call dry-run --from sip:alice@contoso.example --dial 911)
for ip in 10.10.1.300 10.10.1 10.10.1.20/24 '[2001:db8:10:1::5]' 'fe80::1%eth0' 10.10.1.20:5060 host.example $'10.10.1.20\xff'; do
  run "${DRY[@]}" --ip "$ip"
  expect_rc 2 "--ip $ip"
  expect_err "is not an IPv4 or IPv6 address"
done
# An IPv4-mapped IPv6 address (a dual-stack socket's view of an IPv4 caller) is on its IPv4 subnet.
for ip in ::ffff:10.10.1.20 ::FFFF:a0a:114; do
  run "${DRY[@]}" --ip "$ip" --format json
  expect_rc 0 "--ip $ip"
  python3 -c 'import json,sys; d=json.loads(sys.argv[1]); assert d["location"]["id"]=="red-b1-f1-ne" and d["location_source"]=="subnet", d' "$out" || fail "IPv4-mapped $ip is not on 10.10.1.0/24"
done
# An unknown caller on no subnet is a real call: decided, and the trace says so.
run call dry-run --from sip:stranger@elsewhere.example --dial 911 --ip 192.0.2.1
expect_rc 0 "unknown caller, no subnet"
expect_out "is not a known user"
expect_out "no access point, port, switch or subnet matches"
for dial in '' '91 1' 'nine-one-one' $'911\n' 'sip:' $'\xff911' 'tel:+9%1'; do
  run call dry-run --from sip:alice@contoso.example --dial "$dial" --ip 10.10.1.20
  expect_rc 2 "--dial '$dial'"
done
run call dry-run --from sip:alice@contoso.example --dial 'sip:911@contoso.example;user=dialstring' --ip 10.10.1.20
expect_rc 0 "a dial-string URI"
run call dry-run --from alice --dial 911
expect_rc 2 "--from without a scheme"
expect_err "--from 'alice' is not a URI"
run call dry-run --from $'sip:al\xffice@contoso.example' --dial 911 --format json
expect_rc 2 "--from not UTF-8"
python3 -c 'import json,sys; d=json.loads(sys.argv[1]); assert d["error"]["exit_code"]==2' "$out" || fail "error JSON for a non-UTF-8 --from"
# A PIDF-LO the client sends is passed on only when it is one: UTF-8, well-formed, PIDF, small.
P='<presence xmlns="urn:ietf:params:xml:ns:pidf" entity="sip:alice@contoso.example">'
GP='xmlns:gp="urn:ietf:params:xml:ns:pidf:geopriv10" xmlns:ca="urn:ietf:params:xml:ns:pidf:geopriv10:civicAddr"'
printf '<?xml version="1.0" encoding="UTF-8"?>\n%s<tuple id="t"><status><gp:geopriv %s><gp:location-info><ca:civicAddress><ca:country>US</ca:country><ca:A1>WA</ca:A1><ca:RD>Main</ca:RD><ca:LOC>Caf\xc3\xa9</ca:LOC></ca:civicAddress></gp:location-info><gp:method>Manual</gp:method></gp:geopriv></status></tuple></presence>\n' "$P" "$GP" >"$WORK/good.xml"
run "${DRY[@]}" --ip 10.10.1.20 --pidf "$WORK/good.xml" --format json
expect_rc 0 "a caller's PIDF-LO"
python3 -c 'import json,sys; d=json.loads(sys.argv[1]); assert d["location_source"]=="caller-pidf" and "<ca:LOC>Caf\u00e9</ca:LOC>" in d["invite"], d["location_source"]' "$out" || fail "caller PIDF-LO not passed on"
before=$(db_state)
# One that is not is decided as a live call's (issue 24 item 8): set aside for the LIS's location
# (10.10.1.20: B1 Floor 1 NE), and the decision says why; where the LIS has none (no --ip) it
# goes on as it is, unless it declares markup.
set_aside() {  # NAME WHAT-THE-REFUSAL-SAYS, with the file in $WORK/NAME
  run "${DRY[@]}" --ip 10.10.1.20 --pidf "$WORK/$1" --format json
  expect_rc 0 "--pidf $1"
  python3 - "$WORK/out" "$WORK/$1" "$2" <<'PY' || fail "--pidf $1: not set aside for the LIS's location: $(head -c 900 "$WORK/out")"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["location_source"] == "subnet" and d["location"]["location"] == "B1 Floor 1 NE", d["location_source"]
assert d["caller_pidf_refused"].startswith("the caller's PIDF-LO ") and sys.argv[3] in d["caller_pidf_refused"], d.get("caller_pidf_refused")
assert any(t["outcome"] == "the caller's PIDF-LO set aside" for t in d["trace"]), d["trace"]
assert "<ca:LOC>B1 Floor 1 NE</ca:LOC>" in d["invite"], d["invite"]
PY
  run "${DRY[@]}" --pidf "$WORK/$1" --format json
  expect_rc 0 "--pidf $1, not located"
  python3 - "$WORK/out" "$WORK/$1" "$2" <<'PY' || fail "--pidf $1, not located: $(head -c 900 "$WORK/out")"
import json, sys
d = json.load(open(sys.argv[1]))
doc = open(sys.argv[2], 'rb').read().decode('utf-8', 'replace')
assert sys.argv[3] in d["caller_pidf_refused"], d.get("caller_pidf_refused")
if "DOCTYPE" in sys.argv[3]:
    assert d["location_source"] == "none" and "DOCTYPE" not in d["invite"] and "pidf+xml" not in d["invite"], d["location_source"]
else:
    assert d["location_source"] == "caller-pidf" and doc in d["invite"], d["location_source"]
    assert any(t["outcome"] == "the caller's PIDF-LO, as it is" for t in d["trace"]), d["trace"]
PY
}
printf '%s\xe9t\xe9</presence>' "$P" >"$WORK/latin1.xml"; set_aside latin1.xml "is not UTF-8 at byte"
printf '%s<tuple></presence>' "$P" >"$WORK/broken.xml"; set_aside broken.xml "is not well-formed XML"
printf 'Building 4, floor 2, by the lifts' >"$WORK/text.xml"; set_aside text.xml "is not well-formed XML"
printf '<presence xmlns="urn:example:other"/>' >"$WORK/other.xml"; set_aside other.xml "is not a PIDF document"
printf '%s<gp:method>Manual</gp:method></presence>' "$P" >"$WORK/prefix.xml"; set_aside prefix.xml "is not namespace-well-formed"
printf '<!DOCTYPE presence [<!ENTITY x SYSTEM "file:///etc/passwd">]>%s&x;</presence>' "$P" >"$WORK/xxe.xml"; set_aside xxe.xml "has a DOCTYPE"
python3 -c 'import sys; print(sys.argv[1] + "<a>" * 2000 + "</a>" * 2000 + "</presence>")' "$P" >"$WORK/deep.xml"; set_aside deep.xml "nested more than 256 deep"
bad_pidf() {  # NAME WHAT-THE-ERROR-SAYS, with the file in $WORK/NAME: no call could bring it
  run "${DRY[@]}" --ip 10.10.1.20 --pidf "$WORK/$1"
  expect_rc 3 "--pidf $1"
  expect_err "$2"
}
: >"$WORK/empty.xml"; bad_pidf empty.xml "is not well-formed XML"
python3 -c 'import sys; print(sys.argv[1] + "x" * 70000 + "</presence>")' "$P" >"$WORK/huge.xml"; bad_pidf huge.xml "more than the 65536 bytes"
head -c 50000000 /dev/zero >"$WORK/zeros.xml"; bad_pidf zeros.xml "more than the 65536 bytes"
run "${DRY[@]}" --pidf "$WORK/huge.xml" --format yaml
expect_rc 3 "--pidf huge, yaml"
expect_out "exit_code: 3"
[ "$(db_state)" = "$before" ] || fail "a refused PIDF-LO changed the store"
"$E911" call dry-run --help | grep -q "at most 64 KiB" || fail "--help does not give the PIDF-LO size limit"

# Hostile input never crashes the dry run, hangs it or makes it exit 70: a few hundred runs with
# random bytes in --dial, --ip and --from, huge and deeply nested PIDF-LOs, long dial strings.
python3 - "$E911" "$WORK" "$P" <<'PY' || fail "hostile dry runs"
import json, os, random, subprocess, sys, time
e911, work, presence = sys.argv[1], sys.argv[2], sys.argv[3].encode()
rng = random.Random(20260111)
def rbytes(n):
    return bytes(rng.randrange(1, 256) for _ in range(rng.randrange(n + 1)))  # argv cannot hold NUL
def pick(*xs): return rng.choice(xs)
def dial():
    return pick(rbytes(40), b"9" * rng.randrange(1, 5000), b"911", b"tel:" + rbytes(20), b"urn:service:sos", b"1" * 300 + b"\n", b"+" * 100)
def ip():
    return pick(rbytes(40), b"10.10.1.%d" % rng.randrange(300), b"::ffff:10.10.%d.%d" % (rng.randrange(300), rng.randrange(300)),
                b"2001:db8:10:1::" + rbytes(5), b":" * rng.randrange(2000), b"10.10.1.20")
def frm():
    return pick(rbytes(40), b"sip:alice@contoso.example", b"sip:" + b"a" * rng.randrange(5000) + b"@x", b"sip:" + rbytes(10))
pidfs = []
for i, body in enumerate([os.urandom(3000), presence + b"<a>" * 20000 + b"</presence>", presence + b"<a>" * 250 + b"</a>" * 250 + b"</presence>",
                          presence + b"x" * 65000 + b"</presence>", presence + b"&lol;" * 1000 + b"</presence>", b"<" * 60000,
                          b"<!DOCTYPE p [" + b"<!ENTITY a 'aaaa'>" * 1000 + b"]>" + presence + b"</presence>"]):
    path = os.path.join(work, "fuzz%d.xml" % i)
    open(path, "wb").write(body)
    pidfs.append(path.encode())
started, runs, codes = time.time(), 0, {}
for n in range(300):
    args = [e911.encode(), b"call", b"dry-run", b"--from", frm() if n % 3 == 0 else b"sip:alice@contoso.example",
            b"--dial", dial() if n % 3 == 1 else b"911", b"--ip", ip() if n % 3 == 2 else b"10.10.1.20"]
    if n % 4 == 0: args += [b"--pidf", rng.choice(pidfs)]
    if n % 5 == 0: args += [b"--bssid", rbytes(20)]
    fmt = pick(b"text", b"json", b"yaml")
    args += [b"--format", fmt]
    p = subprocess.run(args, capture_output=True, timeout=20)
    runs += 1
    codes[p.returncode] = codes.get(p.returncode, 0) + 1
    assert p.returncode in (0, 1, 2, 3, 6), (p.returncode, args, p.stderr[-500:])
    if fmt == b"json":
        doc = json.loads(p.stdout)  # a result or an error, always valid JSON
        assert doc["schema"] in ("e911ctl.call.dry-run/v1", "e911ctl.error/v1"), doc["schema"]
print("%d hostile dry runs in %.1f s, exit codes %s" % (runs, time.time() - started, codes))
PY
finish
