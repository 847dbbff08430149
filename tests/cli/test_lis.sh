#!/usr/bin/env bash
# Lync LIS CSV import and export end to end.
source "$(dirname "$0")/lib.sh" "$@"
H='BSSID,Description,Location,CompanyName,HouseNumber,HouseNumberSuffix,PreDirectional,StreetName,StreetSuffix,PostDirectional,City,State,PostalCode,Country'
printf '%s\r\n%s\r\n%s\r\n' "$H" \
  '00-1A-2B-3C-4D-*,wing,B1 Lobby,Contoso,1,,,Main,St,,Redmond,WA,98052,US' \
  '00-1A-2B-3C-4D-01,lobby,B1 Lobby,Contoso,1,,,Main,St,,Redmond,WA,98052,US' >"$WORK/wap.csv"
run import lis --kind wap "$WORK/wap.csv"
expect_rc 0 "import"
expect_out "2 wap(s) added"
expect_out "1 location(s) created, 1 reused"
# export writes rows ordered by key, so the file above is in that order
run export lis --kind wap -o "$WORK/back.csv"
cmp -s "$WORK/wap.csv" "$WORK/back.csv" || fail "export differs from the imported file"

printf '%s\n%s\n' "$H" '00-1A-2B-3C-4D-0G,bad,B1 Lobby,Contoso,1,,,Main,St,,Redmond,WA,98052,US' >"$WORK/bad.csv"
before=$(db_state)
run import lis --kind wap "$WORK/bad.csv"
expect_rc 3 "bad row"
expect_err "$WORK/bad.csv:2:1: error[E020]: BSSID: '00-1A-2B-3C-4D-0G' is not a BSSID"
[ "$(db_state)" = "$before" ] || fail "bad import changed the database"
finish
