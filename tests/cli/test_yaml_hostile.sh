#!/usr/bin/env bash
# Hostile YAML end to end: each file is refused at file:line:col with exit 3 and the store as it
# was, and what was stored before still lists, diffs and publishes as JSON.
source "$(dirname "$0")/lib.sh" "$@"

cat >"$WORK/good.yaml" <<'YAML'
kind: PstnUsage
name: Emergency
---
kind: Trunk
name: provider
host: 127.0.0.1
accepts_pidf_lo: true
---
kind: VoiceRoute
name: emergency
number_pattern: '^\+?911$'
pstn_usages: [Emergency]
trunks: [provider]
---
kind: Location
id: b1-f1
location: B1 Floor 1
house_number: 1
street_name: Main
city: Redmond
state: WA
postal_code: 98052
country: US
---
kind: LocationPolicy
identity: global
enhanced_emergency_services: true
pstn_usage: Emergency
emergency_dial_string: 911
notification_uris: [sip:desk@contoso.example]
YAML
run apply -f "$WORK/good.yaml"
expect_rc 0 "apply good"

# refused FILE LINE:COL CODE: apply must exit 3, name the place and code, and write nothing.
refused() {
  local file=$1 where=$2 code=$3 before
  before=$(db_state)
  run apply -f "$WORK/$file" --format json
  expect_rc 3 "$file as json"
  python3 -c 'import json,sys; json.loads(sys.stdin.read())' <<<"$out" || fail "$file: json output does not parse"
  run apply -f "$WORK/$file"
  expect_rc 3 "$file"
  expect_err "$WORK/$file:$where: error[$code]"
  [ "$(db_state)" = "$before" ] || fail "$file changed the store"
}

# A Latin-1 byte in a description (it used to apply, then break every JSON output with exit 70).
printf 'kind: Location\nid: b1-f2\ndescription: Caf\xe9 du parc\n' >"$WORK/latin1.yaml"
refused latin1.yaml 3:17 E001
expect_err "byte 0xE9 is not UTF-8"

printf 'kind: Location\nid: b1-f2\ncity: "Redmond\nstate: WA\n' >"$WORK/unclosed.yaml"
refused unclosed.yaml 3:7 E001
expect_err "never closed"

{
  echo "kind: Location"
  echo "id: b1-f2"
  echo "l0: &l0 [x, x, x, x, x, x, x, x, x, x]"
  for i in 1 2 3 4 5 6 7 8 9; do
    p="*l$((i - 1))"
    echo "l$i: &l$i [$p, $p, $p, $p, $p, $p, $p, $p, $p, $p]"
  done
} >"$WORK/laughs.yaml"
refused laughs.yaml 7:45 E001

printf 'kind: Location\nid: b1-f2\ncity: &a [x, *a]\n' >"$WORK/cycle.yaml"
refused cycle.yaml 3:14 E001

printf 'kind: Location\nid: b1-f2\nlatitude: 1e400\n' >"$WORK/huge.yaml"
refused huge.yaml 3:11 E100
expect_err "'1e400' is out of range for a number"

printf 'kind: Port\nchassis_id: 00-1A-2B-3C-4D-5E\nport_id: "ge-0/0/1\\x1b[2J"\nlocation: b1-f1\n' >"$WORK/ctl.yaml"
refused ctl.yaml 3:10 E100
expect_err "control character U+001B"

{ printf 'kind: Location\nid: b1-f2\ncity: '; head -c 100000 /dev/zero | tr '\0' '['; echo; } >"$WORK/deep.yaml"
# yaml-cpp's own depth guard stops where it gives up: the line after.
refused deep.yaml 4:1 E001

{ printf 'kind: Location\nid: b1-f2\nstate: '; head -c 5000 /dev/zero | tr '\0' 'W'; echo; } >"$WORK/long.yaml"
refused long.yaml 3:8 E104
expect_err "... (4920 more bytes)' is 5000 characters"
[ "$(wc -L <"$WORK/err")" -lt 300 ] || fail "a long line is printed whole"

# What is accepted: a byte-order mark before a comment, a %YAML directive, a leading ---.
printf '\xef\xbb\xbf# sites\n%%YAML 1.2\n---\nkind: Location\nid: b1-f3\ncity: Z\xc3\xbcrich\n' >"$WORK/bom.yaml"
run apply -f "$WORK/bom.yaml"
expect_rc 0 "bom and directive"

# What was stored still goes out as JSON.
run location list --format json
expect_rc 0 "list json"
run diff 1 --format json
expect_rc 0 "diff json"
run publish -o "$WORK/e911.snapshot"
[ "$rc" -ne 70 ] || fail "publish: internal error"
finish
