#!/usr/bin/env bash
# The location service for clients (issue 13): `e911ctl serve --location-service` answers HELD
# (RFC 5985) locationRequests with the PIDF-LO of the sample enterprise's LIS, tested with a HELD
# client written here (python3 http.client):
#   1. by the TCP peer address: a client bound to 10.10.1.20 (added to lo inside the test's
#      network namespace; skipped, with a message, where the test cannot make one) gets the
#      location of subnet 10.10.1.0/24 (B1 Floor 1 NE, method Wiremap); the same address sent
#      as an RFC 6155 <ip> from 127.0.0.1 gets it too;
#   2. by device identity (e911ctl extension identifiers): a BSSID gets its access point's
#      location (802.11), chassis + port the port's, a chassis alone the switch's, and a BSSID
#      wins over chassis + port and over the subnet (DOMAIN.md §2 precedence);
#   3. 127.0.0.1, on no subnet, is notLocatable; locationType geodetic exact="true" is
#      cannotProvideLiType; a DOCTYPE, an entity declaration and a malformed body are xmlError;
#      another document unsupportedMessage; a badly written BSSID badIdentifier; GET is 405, a
#      text/plain body 415, a body over 64 KiB 413;
#   4. every PIDF-LO answered is well-formed and its civicAddress valid against RFC 5139
#      (xmllint --schema ../shared/xsd/civicAddr.xsd);
#   5. /metrics counts the requests by outcome;
#   6. `location_service` in the serve YAML starts it the same way; a bad address there is exit 3
#      at its line and column;
#   7. without held_trusted_clients (issue 24, item 12) a client is located by its own address
#      only (RFC 5985: the requester is the Target): 127.0.0.1 naming a BSSID, a chassis and port,
#      or another's <ip> gets notLocatable, counted as identifierRefused and logged once for the
#      burst; 10.10.1.20 is still located by its address, and by an <ip> that is its own; a
#      held_trusted_clients entry that is no network is exit 3 at its line.
source "$(dirname "$0")/lib.sh" "$@"
SHARED=$(cd "$ROOT/../shared" 2>/dev/null && pwd)
publish_samples || { finish; exit 1; }
command -v xmllint >/dev/null || { fail "xmllint is missing (scripts/install-deps installs libxml2-utils)"; finish; exit 1; }
[ -f "$SHARED/xsd/civicAddr.xsd" ] || { fail "../shared/xsd/civicAddr.xsd is missing"; finish; exit 1; }

HELD_PORT=5083
ADMIN_PORT=5081
TOKEN=$WORK/admin.token
(umask 077 && head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$TOKEN")
chmod 600 "$TOKEN"

# The client address of test 1, on the loopback device of this test's own namespace.
SUBNET_IP=10.10.1.20
have_subnet_ip=0
if [ "$E911_SIP_NETNS" = 1 ] && ip addr add "$SUBNET_IP/32" dev lo 2>"$WORK/ip.err"; then
  have_subnet_ip=1
else
  echo "skip: the HELD requests by source address (no network namespace of its own to add $SUBNET_IP to lo: $(cat "$WORK/ip.err" 2>/dev/null))"
fi

# 1-5 name devices from 127.0.0.1 and 10.10.1.20: both are trusted to (held_trusted_clients).
start_serve --snapshot "$E911_DB.snapshot" --location-service "127.0.0.1:$HELD_PORT" --admin "127.0.0.1:$ADMIN_PORT" --token-file "$TOKEN" \
  --held-trusted-client 127.0.0.1 --held-trusted-client 10.10.1.0/24 || {
  finish
  exit 1
}

# held NAME [SOURCE_IP] [CONTENT_TYPE] [METHOD] < BODY: one request to the location service from
# SOURCE_IP (default 127.0.0.1); prints the HTTP status, and keeps the body in $WORK/NAME.xml.
held() {
  cat >"$WORK/$1.req"
  python3 - "$HELD_PORT" "$WORK/$1.xml" "${2:-127.0.0.1}" "${3:-application/held+xml}" "${4:-POST}" "$WORK/$1.req" <<'PY'
import http.client, sys
port, out, source, ctype, method = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5]
body = open(sys.argv[6], 'rb').read()
c = http.client.HTTPConnection('127.0.0.1', port, timeout=5, source_address=(source, 0))
c.request(method, '/held', body=body if method == 'POST' else None, headers={'Content-Type': ctype})
r = c.getresponse()
open(out, 'wb').write(r.read())
print(r.status, r.getheader('Content-Type', ''))
PY
}
request() {  # request [TYPES] [EXACT] [DEVICE_XML]: a locationRequest
  printf '<?xml version="1.0" encoding="UTF-8"?>\n<locationRequest xmlns="urn:ietf:params:xml:ns:geopriv:held" responseTime="8">\n'
  printf '  <locationType exact="%s">%s</locationType>\n' "${2:-false}" "${1:-civic}"
  if [ -n "${3:-}" ]; then
    printf '  <device xmlns="urn:ietf:params:xml:ns:geopriv:held:id" xmlns:e="urn:e911ctl:params:xml:ns:held:id">%s</device>\n' "$3"
  fi
  printf '</locationRequest>\n'
}
# expect_located NAME LOC METHOD: NAME's answer is a locationResponse whose PIDF-LO names LOC
# (the civic LOC element) with METHOD, and its civicAddress is valid RFC 5139.
expect_located() {
  python3 - "$WORK/$1.xml" "$WORK/$1.civic.xml" "$2" "$3" <<'PY' || { fail "$1: not the location '$2' by $3: $(head -c 600 "$WORK/$1.xml")"; return 1; }
import sys, xml.etree.ElementTree as ET
held, pidf, ca = "urn:ietf:params:xml:ns:geopriv:held", "urn:ietf:params:xml:ns:pidf", "urn:ietf:params:xml:ns:pidf:geopriv10:civicAddr"
gp = "urn:ietf:params:xml:ns:pidf:geopriv10"
root = ET.parse(sys.argv[1]).getroot()
assert root.tag == "{%s}locationResponse" % held, root.tag
presence = root.find("{%s}presence" % pidf)
assert presence is not None
assert presence.find(".//{%s}LOC" % ca).text == sys.argv[3]
assert presence.find(".//{%s}method" % gp).text == sys.argv[4]
assert presence.find(".//{%s}retransmission-allowed" % "urn:ietf:params:xml:ns:pidf:geopriv10:basicPolicy").text == "true"
address = presence.find(".//{%s}civicAddress" % ca)
ET.register_namespace("ca", ca)
open(sys.argv[2], "wb").write(ET.tostring(address))
PY
  xmllint --noout "$WORK/$1.xml" 2>"$WORK/$1.lint" || fail "$1: the answer is not well-formed: $(cat "$WORK/$1.lint")"
  xmllint --noout --schema "$SHARED/xsd/civicAddr.xsd" "$WORK/$1.civic.xml" 2>"$WORK/$1.xsd" ||
    fail "$1: the civicAddress fails RFC 5139: $(cat "$WORK/$1.xsd")"
}
# expect_error NAME CODE: NAME's answer is a HELD error with CODE and a message.
expect_error() {
  python3 - "$WORK/$1.xml" "$2" <<'PY' || fail "$1: not a HELD error '$2': $(head -c 400 "$WORK/$1.xml")"
import sys, xml.etree.ElementTree as ET
held = "urn:ietf:params:xml:ns:geopriv:held"
root = ET.parse(sys.argv[1]).getroot()
assert root.tag == "{%s}error" % held and root.get("code") == sys.argv[2], (root.tag, root.attrib)
assert root.find("{%s}message" % held).text.strip()
PY
}
expect_status() {  # WHAT GOT WANT
  [ "$2" = "$3" ] || fail "$1: HTTP '$2', expected '$3'"
}
HELD_TYPE="200 application/held+xml;charset=utf-8"

# 1. By the peer address, and by an RFC 6155 <ip>.
if [ "$have_subnet_ip" = 1 ]; then
  st=$(request | held by-source "$SUBNET_IP")
  expect_status "by source address" "$st" "$HELD_TYPE"
  expect_located by-source "B1 Floor 1 NE" Wiremap
fi
st=$(request any false "<ip v=\"4\">$SUBNET_IP</ip>" | held by-ip)
expect_status "by <ip>" "$st" "$HELD_TYPE"
expect_located by-ip "B1 Floor 1 NE" Wiremap

# 2. By device identity, in the LIS's precedence.
st=$(request civic false '<e:bssid>00-1A-2B-3C-4D-02</e:bssid>' | held by-bssid)
expect_status "by BSSID" "$st" "$HELD_TYPE"
expect_located by-bssid "B1 Floor 1 SW" 802.11
st=$(request civic false '<e:chassis>00-25-90-AA-00-01</e:chassis><e:port>Gi1/0/2</e:port>' | held by-port)
expect_status "by chassis and port" "$st" "$HELD_TYPE"
expect_located by-port "B1 Floor 1 NW" Wiremap
st=$(request civic false '<e:chassis>00-25-90-aa-00-02</e:chassis><e:port>99</e:port>' | held by-chassis)
expect_status "by chassis, unknown port" "$st" "$HELD_TYPE"
expect_located by-chassis "B1 Floor 2 NW" Wiremap
st=$(request civic false "<ip>$SUBNET_IP</ip><e:chassis>00-25-90-AA-00-01</e:chassis><e:port>Gi1/0/2</e:port><e:bssid>00:1a:2b:3c:4d:02</e:bssid>" | held precedence)
expect_status "BSSID, port and address" "$st" "$HELD_TYPE"
expect_located precedence "B1 Floor 1 SW" 802.11
st=$(request civic false "<ip>$SUBNET_IP</ip><e:chassis>00-25-90-AA-00-01</e:chassis><e:port>Gi1/0/2</e:port>" | held port-over-subnet)
expect_located port-over-subnet "B1 Floor 1 NW" Wiremap
if [ "$have_subnet_ip" = 1 ]; then
  st=$(request civic false '<e:bssid>00-1A-2B-3C-4D-02</e:bssid>' | held bssid-over-source "$SUBNET_IP")
  expect_located bssid-over-source "B1 Floor 1 SW" 802.11
fi

# 3. What is not located, not served, or not HELD.
st=$(request | held unknown)
expect_status "127.0.0.1" "$st" "$HELD_TYPE"
expect_error unknown notLocatable
st=$(request civic false '<e:bssid>00-1A-2B-3C-FF-FF</e:bssid><mac>00-1A-2B-3C-4D-99</mac>' | held unknown-bssid)
expect_error unknown-bssid notLocatable
st=$(request geodetic true '<e:bssid>00-1A-2B-3C-4D-02</e:bssid>' | held geodetic-exact)
expect_error geodetic-exact cannotProvideLiType
st=$(request "geodetic locationURI" false '<e:bssid>00-1A-2B-3C-4D-02</e:bssid>' | held geodetic-loose)
expect_located geodetic-loose "B1 Floor 1 SW" 802.11
st=$(printf '<?xml version="1.0"?>\n<!DOCTYPE locationRequest [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]>\n<locationRequest xmlns="urn:ietf:params:xml:ns:geopriv:held"><locationType>&b;</locationType></locationRequest>\n' | held doctype)
expect_status "DOCTYPE" "$st" "$HELD_TYPE"
expect_error doctype xmlError
st=$(printf '<?xml version="1.0"?>\n<!DOCTYPE x SYSTEM "file:///etc/passwd">\n<locationRequest xmlns="urn:ietf:params:xml:ns:geopriv:held"/>\n' | held external)
expect_error external xmlError
grep -q root "$WORK/external.xml" && fail "external entity: the answer holds a file's text"
st=$(printf '<locationRequest xmlns="urn:ietf:params:xml:ns:geopriv:held"><locationType>&undefined;</locationType></locationRequest>' | held entity-ref)
expect_error entity-ref xmlError
st=$(printf '<locationRequest xmlns="urn:ietf:params:xml:ns:geopriv:held"><locationType>civic</locationRequest>' | held malformed)
expect_status "malformed" "$st" "$HELD_TYPE"
expect_error malformed xmlError
st=$(printf '' | held empty)
expect_error empty xmlError
st=$(printf '<locationRequest><locationType>civic</locationType></locationRequest>' | held no-namespace)
expect_error no-namespace unsupportedMessage
st=$(request civic false '<e:bssid>not-a-bssid</e:bssid>' | held bad-bssid)
expect_error bad-bssid badIdentifier
st=$(request civic false '<e:port>Gi1/0/2</e:port>' | held port-alone)
expect_error port-alone badIdentifier
st=$(request civic false '<ip>10.10.1.300</ip>' | held bad-ip)
expect_error bad-ip badIdentifier
st=$(printf '' | held get 127.0.0.1 application/held+xml GET)
expect_status "GET" "${st%% *}" 405
st=$(request | held text-plain 127.0.0.1 text/plain)
expect_status "text/plain" "${st%% *}" 415
st=$(python3 -c 'import sys; sys.stdout.write("<locationRequest xmlns=\"urn:ietf:params:xml:ns:geopriv:held\"><!--" + "x" * 70000 + "--></locationRequest>")' | held too-large)
expect_status "70 kB body" "${st%% *}" 413

# The SIP side is still there.
expect_serving "after the location requests"

# 5. /metrics counts what was answered.
metrics=$(curl -s -m 5 -H "Authorization: Bearer $(cat "$TOKEN")" "http://127.0.0.1:$ADMIN_PORT/metrics" 2>/dev/null ||
  python3 -c 'import sys,urllib.request as u; r=u.Request(sys.argv[1], headers={"Authorization": "Bearer "+sys.argv[2]}); print(u.urlopen(r, timeout=5).read().decode())' \
    "http://127.0.0.1:$ADMIN_PORT/metrics" "$(cat "$TOKEN")")
metric() { awk -v k="e911_runtime_location_requests_total{$1}" '$1 == k { print $2 }' <<<"$metrics"; }
subnet_found=$((1 + have_subnet_ip))
wap_found=$((3 + have_subnet_ip))
[ "$(metric 'outcome="found",source="subnet"')" = "$subnet_found" ] || fail "metrics: found by subnet is '$(metric 'outcome="found",source="subnet"')', expected $subnet_found"
[ "$(metric 'outcome="found",source="wap"')" = "$wap_found" ] || fail "metrics: found by wap is '$(metric 'outcome="found",source="wap"')', expected $wap_found"
[ "$(metric 'outcome="found",source="port"')" = 2 ] || fail "metrics: found by port '$(metric 'outcome="found",source="port"')', expected 2"
[ "$(metric 'outcome="found",source="chassis"')" = 1 ] || fail "metrics: found by chassis '$(metric 'outcome="found",source="chassis"')', expected 1"
[ "$(metric 'outcome="notLocatable"')" = 2 ] || fail "metrics: notLocatable '$(metric 'outcome="notLocatable"')', expected 2"
[ "$(metric 'outcome="cannotProvideLiType"')" = 1 ] || fail "metrics: cannotProvideLiType '$(metric 'outcome="cannotProvideLiType"')', expected 1"
[ "$(metric 'outcome="badRequest"')" = 12 ] || fail "metrics: badRequest '$(metric 'outcome="badRequest"')', expected 12"
stop_serve

# 6. The same from the YAML settings; a bad address there is exit 3 at its line and column.
cat >"$WORK/serve.yaml" <<EOF
admin: ''
location_service: 127.0.0.1:$HELD_PORT
held_trusted_clients: [127.0.0.1]
EOF
start_serve --snapshot "$E911_DB.snapshot" --config "$WORK/serve.yaml" || { finish; exit 1; }
st=$(request civic false '<e:bssid>00-1A-2B-3C-4D-02</e:bssid>' | held from-config)
expect_located from-config "B1 Floor 1 SW" 802.11
stop_serve
printf 'admin: ""\nlocation_service: lis.contoso.example:80\n' >"$WORK/bad.yaml"
run serve --listen "127.0.0.1:$SIP_PORT" --snapshot "$E911_DB.snapshot" --config "$WORK/bad.yaml"
[ "$rc" = 3 ] || fail "a host name as location_service: exit $rc, expected 3"
grep -q "bad.yaml:2:19: error\[E100\]: 'location_service': location service address 'lis.contoso.example:80': 'lis.contoso.example' is a host name" <<<"$err" ||
  fail "a host name as location_service: $err"
run serve --listen "127.0.0.1:$SIP_PORT" --snapshot "$E911_DB.snapshot" --admin off --location-service 127.0.0.1
[ "$rc" = 2 ] || fail "--location-service without a port: exit $rc, expected 2 ($err)"

# 7. No trusted clients: each client is located by its own address only.
start_serve --snapshot "$E911_DB.snapshot" --location-service "127.0.0.1:$HELD_PORT" --admin "127.0.0.1:$ADMIN_PORT" --token-file "$TOKEN" || {
  finish
  exit 1
}
st=$(request civic false '<e:bssid>00-1A-2B-3C-4D-02</e:bssid>' | held untrusted-bssid)
expect_status "an untrusted client naming a BSSID" "$st" "$HELD_TYPE"
expect_error untrusted-bssid notLocatable
grep -q "B1 Floor" "$WORK/untrusted-bssid.xml" && fail "an untrusted client naming a BSSID got a location"
st=$(request civic false '<e:chassis>00-25-90-AA-00-01</e:chassis><e:port>Gi1/0/2</e:port>' | held untrusted-port)
expect_error untrusted-port notLocatable
st=$(request civic false "<ip>$SUBNET_IP</ip>" | held untrusted-ip)
expect_error untrusted-ip notLocatable
grep -q "B1 Floor" "$WORK/untrusted-ip.xml" && fail "an untrusted client naming another's address got a location"
lines=$(grep -c 'not in held_trusted_clients named a device' "$WORK/serve.err")
[ "$lines" = 1 ] || fail "3 refusals within seconds logged $lines times, expected once"
if [ "$have_subnet_ip" = 1 ]; then
  st=$(request | held untrusted-by-source "$SUBNET_IP")
  expect_located untrusted-by-source "B1 Floor 1 NE" Wiremap
  st=$(request civic false "<ip>$SUBNET_IP</ip>" | held untrusted-own-ip "$SUBNET_IP")
  expect_located untrusted-own-ip "B1 Floor 1 NE" Wiremap
  st=$(request civic false '<e:bssid>00-1A-2B-3C-4D-02</e:bssid>' | held untrusted-bssid-from-subnet "$SUBNET_IP")
  expect_error untrusted-bssid-from-subnet notLocatable
fi
refused=$((3 + have_subnet_ip))
metrics=$(curl -s -m 5 -H "Authorization: Bearer $(cat "$TOKEN")" "http://127.0.0.1:$ADMIN_PORT/metrics")
[ "$(metric 'outcome="identifierRefused"')" = "$refused" ] ||
  fail "metrics: identifierRefused '$(metric 'outcome="identifierRefused"')', expected $refused"
stop_serve
printf 'admin: ""\nlocation_service: 127.0.0.1:%s\nheld_trusted_clients: [10.10.1.0/16]\n' "$HELD_PORT" >"$WORK/bad-trusted.yaml"
run serve --listen "127.0.0.1:$SIP_PORT" --snapshot "$E911_DB.snapshot" --config "$WORK/bad-trusted.yaml"
[ "$rc" = 3 ] && grep -q "bad-trusted.yaml:3:.*'10.10.1.0/16' is not an IP network" <<<"$err" ||
  fail "held_trusted_clients with host bits set: exit $rc: $err"
finish
