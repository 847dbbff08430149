#!/usr/bin/env bash
# Text is what it claims: bytes that are not UTF-8 are refused where they enter (CSV, options),
# Windows-1252 is converted only on request, keys hold no control characters, and text output
# shows control characters escaped instead of sending them to the terminal.
source "$(dirname "$0")/lib.sh" "$@"
run location set b1 --location "B1 Lobby" --house-number 1 --street-name Main --city Redmond --state WA --country US
H='Subnet,Description,Location,CompanyName,HouseNumber,HouseNumberSuffix,PreDirectional,StreetName,StreetSuffix,PostDirectional,City,State,PostalCode,Country'
printf '%s\n10.1.1.0/24,caf\xe9,B1 F1,Contoso,1,,,Rue Principale,,,Montr\xe9al,QC,H2X,CA\n' "$H" >"$WORK/latin1.csv"
before=$(db_state)
run import lis --kind subnet "$WORK/latin1.csv"
expect_rc 3 "Latin-1 CSV"
expect_err "$WORK/latin1.csv:2:2: error[E023]: Description: byte 0xe9 at byte 4 of 'caf\\xE9' is not UTF-8"
expect_err "--encoding windows-1252"
[ "$(db_state)" = "$before" ] || fail "a refused import changed the store"
run import lis --kind subnet --encoding windows-1252 "$WORK/latin1.csv"
expect_rc 0 "Windows-1252 on request"
run location list --format json
expect_out '"city": "Montréal"'
run publish -o "$WORK/snap"
expect_rc 0 "publish after a converted import"
# Keys: no control characters, from CSV or options.
printf '%s\n%s\n' 'BSSID,Description,Location,CompanyName,HouseNumber,HouseNumberSuffix,PreDirectional,StreetName,StreetSuffix,PostDirectional,City,State,PostalCode,Country' \
  $'00-1A-2B-3C-4D-5\x1bE,x,B1 Lobby,,1,,,Main,,,Redmond,WA,,US' >"$WORK/esc.csv"
run import lis --kind wap "$WORK/esc.csv"
expect_rc 3 "control character in a key"
expect_err "holds the control character U+001B, which a key may not"
run port set 00-25-90-AA-00-01 $'Gi1/0/1\n' --location b1
expect_rc 3 "newline in a port ID"
expect_err "which a key may not"
run location set b1 --description $'caf\xe9'
expect_rc 3 "Latin-1 option value"
expect_err "is not UTF-8 text"
# A description may hold anything printable; a terminal sees escapes, JSON the exact value.
run location set b1 --description $'lobby\x1b[31m red\nsecond line'
expect_rc 0 "escape sequence in a description"
run location show b1
grep -q $'\x1b' <<<"$out" && fail "text output sent ESC to the terminal"
expect_out 'lobby\x1B[31m red\nsecond line'
run location show b1 --format json
expect_out '"description": "lobby\u001b[31m red\nsecond line"'
finish
