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
finish
