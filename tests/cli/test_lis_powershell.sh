#!/usr/bin/env bash
# Lync LIS exports as Windows PowerShell writes them (Get-CsLis* | Export-Csv): a UTF-8 BOM or
# UTF-16 LE, a "#TYPE" first line, every field quoted, CRLF, the header in property order and an
# extra property column. Each kind imports as it is; bare subnets take their mask from the sites.
source "$(dirname "$0")/lib.sh" "$@"

# powershell KIND ENCODING FILE: the rows below in the column order Export-Csv uses for the
# properties of Get-CsLis<Kind> (address first, then the element's own, then MSAGValid).
powershell() {
  python3 - "$@" <<'PY'
import sys
kind, encoding, path = sys.argv[1:4]
address = ["Location", "CompanyName", "HouseNumber", "HouseNumberSuffix", "PreDirectional", "StreetName",
           "StreetSuffix", "PostDirectional", "City", "State", "PostalCode", "Country"]
head = {"wap": ["BSSID", "Description"], "subnet": ["Subnet", "Description"],
        "port": ["ChassisID", "PortIDSubType", "PortID", "Description"], "switch": ["ChassisID", "Description"]}[kind]
keys = {"wap": [["00-1A-2B-3C-4D-01", "lobby"], ["00-1A-2B-3C-4D-02", "hall, east"]],
        "subnet": [["10.10.1.0", "B1 floor 1"], ["10.20.0.0", "warehouse"]],
        "port": [["00-25-90-AA-00-01", "7", "Gi1/0/1", "desk 1"], ["00-25-90-AA-00-01", "7", "Gi1/0/2", "desk \"2\""]],
        "switch": [["00-25-90-AA-00-01", "B1 core"], ["00-25-90-AA-00-02", "B2 core"]]}[kind]
addr = ["B1 Floor 1", "Contoso", "1", "", "", "Microsoft", "Way", "", "Redmond", "WA", "98052", "US"]
cols = address[::-1] + head + ["MSAGValid"]  # property order is not Lync's column order
rows = []
for i, k in enumerate(keys):
    values = dict(zip(head, k)) | dict(zip(address, addr)) | {"MSAGValid": "False"}
    values["Location"] = "B1 Floor %d" % (i + 1)
    rows.append([values[c] for c in cols])
quote = lambda r: ",".join('"' + v.replace('"', '""') + '"' for v in r)
text = "#TYPE Microsoft.Rtc.Management.WritableConfig.Policy.Location.Lis%s\r\n" % kind.capitalize()
text += quote(cols) + "\r\n" + "".join(quote(r) + "\r\n" for r in rows)
data = b"\xef\xbb\xbf" + text.encode() if encoding == "utf-8" else b"\xff\xfe" + text.encode("utf-16-le")
open(path, "wb").write(data)
PY
}

for kind in wap subnet port switch; do
  for enc in utf-8 utf-16; do
    export E911_DB=$WORK/$kind-$enc.db
    # The network site's subnets give the bare LIS subnets their masks (New-CsNetworkSubnet).
    if [ $kind = subnet ]; then
      run region set NA && run site set Redmond --region NA
      run subnet set 10.10.1.0/24 --site Redmond && run subnet set 10.20.0.0/16 --site Redmond
      expect_rc 0 "network-site subnets"
    fi
    powershell $kind $enc "$WORK/$kind-$enc.csv"
    run import lis --kind $kind "$WORK/$kind-$enc.csv"
    expect_rc 0 "$kind file written by PowerShell in $enc"
    expect_out "2 row(s):"
    expect_out "2 location(s) created"
    expect_err "warning[W022]: column 'MSAGValid' is not a $kind column and is ignored"
    [ "$(sqlite3 "$E911_DB" "select count(*) from location where rev_removed is null and city = 'Redmond' and country = 'US' and street_name = 'Microsoft'")" = 2 ] ||
      fail "$kind/$enc: the addresses were not read by column name"
    run import lis --kind $kind "$WORK/$kind-$enc.csv" --format json
    expect_out "\"elements_unchanged\": 2"
    [ $enc = utf-16 ] && expect_out '"encoding": "UTF-16 LE"'
    [ $enc = utf-8 ] && expect_out '"encoding": "UTF-8 with BOM"'
  done
done
export E911_DB=$WORK/subnet-utf-8.db
run subnet list
expect_out "10.10.1.0/24  Redmond  loc-"
expect_out "10.20.0.0/16  Redmond  loc-"
[ "$(sqlite3 "$E911_DB" "select count(*) from subnet where rev_removed is null")" = 2 ] || fail "bare subnets made new subnets"
run port list
export E911_DB=$WORK/port-utf-8.db
run port show 00-25-90-AA-00-01 Gi1/0/2 --format json
expect_out '"description": "desk \"2\""'

# Lync's own export form round-trips: export lis --lync writes bare subnets, which import back
# onto the same subnets.
export E911_DB=$WORK/subnet-utf-8.db
run export lis --kind subnet --lync -o "$WORK/lync.csv"
expect_rc 0 "export --lync"
grep -q '^10.20.0.0,warehouse,' "$WORK/lync.csv" || fail "export --lync does not write the bare address: $(cat "$WORK/lync.csv")"
run export lis --kind subnet -o "$WORK/cidr.csv"
grep -q '^10.20.0.0/16,warehouse,' "$WORK/cidr.csv" || fail "export lis does not write CIDR"
run import lis --kind subnet "$WORK/lync.csv"
expect_rc 0 "re-import of the Lync form"
expect_out "0 subnet(s) added, 0 changed, 2 unchanged"

# A bare subnet no site knows: refused at its row and column with both ways out, nothing written.
H='Subnet,Description,Location,CompanyName,HouseNumber,HouseNumberSuffix,PreDirectional,StreetName,StreetSuffix,PostDirectional,City,State,PostalCode,Country'
printf '%s\n%s\n' "$H" '10.30.5.0,lab,B3 Lab,Contoso,1,,,Microsoft,Way,,Redmond,WA,98052,US' >"$WORK/bare.csv"
before=$(db_state)
run import lis --kind subnet "$WORK/bare.csv"
expect_rc 3 "bare subnet without a site"
expect_err "$WORK/bare.csv:2:1: error[E110]: Subnet: '10.30.5.0' has no mask, and no network-site subnet has this address"
expect_err "--prefix-length"
expect_err "e911ctl subnet set 10.30.5.0/24 --site NAME"
[ "$(db_state)" = "$before" ] || fail "a refused import changed the database"
run import lis --kind subnet --prefix-length 24 "$WORK/bare.csv"
expect_rc 0 "bare subnet with --prefix-length"
run subnet show 10.30.5.0/24
expect_rc 0 "the subnet took the given length"
run import lis --kind subnet --prefix-length 16 "$WORK/bare.csv"
expect_rc 3 "a length that leaves host bits"
expect_err "error[E108]"
# subnet set takes the bare form the same way.
run subnet set 10.20.0.0 --description "warehouse floor"
expect_rc 0 "subnet set with a bare address"
run subnet show 10.20.0.0/16 --format json
expect_out '"description": "warehouse floor"'
run subnet set 10.40.0.0 --site Redmond
expect_rc 3 "subnet set: a bare address nobody knows"
expect_err "has no mask"
run subnet set 10.40.0.0 --site Redmond --prefix-length 16
expect_rc 0 "subnet set --prefix-length"

# The rules of apply, on the way in: an empty City or country XX is refused at its row and column.
printf '%s\n%s\n%s\n' "$H" '10.50.1.0/24,a,B5 F1,Contoso,1,,,Microsoft,Way,,,WA,98052,US' \
  '10.50.2.0/24,b,B5 F2,Contoso,1,,,Microsoft,Way,,Redmond,WA,98052,XX' >"$WORK/rules.csv"
before=$(db_state)
run import lis --kind subnet "$WORK/rules.csv"
expect_rc 3 "rows that break the rules"
expect_err "$WORK/rules.csv:2:11: error[E604]: address lacks city"
expect_err "$WORK/rules.csv:3:14: error[E105]: Country: 'XX' is not an assigned ISO 3166-1 alpha-2 country code"
[ "$(db_state)" = "$before" ] || fail "an import that breaks the rules changed the database"
# ... and the same row through apply gets the same code.
cat >"$WORK/xx.yaml" <<'YAML'
kind: Location
id: b5-f2
location: B5 F2
house_number: '1'
street_name: Microsoft
city: Redmond
state: WA
country: XX
YAML
run apply -f "$WORK/xx.yaml"
expect_rc 3 "country XX through apply"
expect_err "error[E105]"

# A header without a required column is one error, with the likely mistake named.
printf '%s\n%s\n' "$(sed 's/^Subnet/BSSID/' <<<"$H")" '00-1A-2B-3C-4D-09,x,B1,Contoso,1,,,Microsoft,Way,,Redmond,WA,98052,US' >"$WORK/wap-as-subnet.csv"
run import lis --kind subnet "$WORK/wap-as-subnet.csv"
expect_rc 3 "missing key column"
expect_err "error[E021]: the header has no column 'Subnet'"
expect_err "use --kind wap"

# One systematic mistake on many rows: the first 20, then a count and the ways to see the rest.
python3 -c '
import sys
print(sys.argv[1])
for i in range(300): print("10.60.%d.0/24,d,F%d,Contoso,1,,,Microsoft,Way,,Redmond,WA,98052,USA" % (i % 250, i))' "$H" >"$WORK/many.csv"
run import lis --kind subnet "$WORK/many.csv"
expect_rc 3 "many bad rows"
[ "$(grep -c 'error\[E105\]' <<<"$err")" = 20 ] || fail "expected 20 diagnostics, got $(grep -c 'error\[' <<<"$err")"
expect_err "... and 280 more (--max-errors N, or --format json for all)"
run --max-errors 0 import lis --kind subnet "$WORK/many.csv"
[ "$(grep -c 'error\[E105\]' <<<"$err")" = 300 ] || fail "--max-errors 0 does not print every diagnostic"
run import lis --kind subnet "$WORK/many.csv" --format json
[ "$(grep -c '"code": "E105"' <<<"$out")" = 300 ] || fail "json does not carry every diagnostic"
finish
