#!/usr/bin/env bash
# Keys are stored in one spelling, whatever came in: a second spelling of a BSSID, chassis or IPv6
# network is the same object, through set, show, remove, YAML and CSV alike.
source "$(dirname "$0")/lib.sh" "$@"
run location set b1 --location "B1 Lobby" --house-number 1 --street-name Main --city Redmond --state WA --country US
run wap set 00:1a:2b:3c:4d:5e --location b1
expect_rc 0 "wap with colons"
expect_out "wap '00-1A-2B-3C-4D-5E' created"
run wap set 00-1A-2B-3C-4D-5E --description lobby
expect_out "wap '00-1A-2B-3C-4D-5E' updated"
run wap show 001a.2b3c.4d5e --format json
expect_out '"description": "lobby"'
run switch set 00:25:90:aa:00:01 --location b1
run port set 00-25-90-aa-00-01 Gi1/0/1 --location b1
expect_out "port '00-25-90-AA-00-01 Gi1/0/1' created"
run subnet set 2001:DB8:0:0::/64 --location b1
expect_out "subnet '2001:db8::/64' created"
cat >"$WORK/same.yaml" <<'YAML'
kind: WirelessAccessPoint
bssid: 00:1A:2b:3C:4d:5E
location: b1
description: lobby
---
kind: Subnet
subnet: 2001:0db8::/64
location: b1
YAML
run apply -f "$WORK/same.yaml"
expect_rc 0 "the same objects in other spellings"
expect_out "no changes"
H='BSSID,Description,Location,CompanyName,HouseNumber,HouseNumberSuffix,PreDirectional,StreetName,StreetSuffix,PostDirectional,City,State,PostalCode,Country'
printf '%s\n%s\n' "$H" '00:1a:2b:3c:4d:5e,lobby,B1 Lobby,,1,,,Main,,,Redmond,WA,,US' >"$WORK/wap.csv"
run import lis --kind wap "$WORK/wap.csv"
expect_rc 0 "import another spelling"
expect_out "0 wap(s) added, 0 changed, 1 unchanged"
[ "$(sqlite3 "$E911_DB" "select count(*) from wap where rev_removed is null")" = 1 ] || fail "a second spelling made a second access point"
run wap remove 00:1A:2B:3C:4D:5E
expect_rc 0 "remove by another spelling"
run subnet remove 2001:db8:0::/64
expect_rc 0 "remove a v6 subnet by another spelling"
finish
