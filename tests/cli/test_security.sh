#!/usr/bin/env bash
# Security (issue 14): SQL only through bound parameters, files written with safe permissions,
# secrets never shown. Everything runs under umask 000, the most permissive there is.
#   1. Hostile text (quotes, "'; DROP TABLE", SQL comments, non-ASCII) stored through the CLI as a
#      location's name and description, a street, a user's display name and a port ID reads back
#      byte for byte, is found by its key (port show, a dry run by LLDP port: the query of candidate
#      keys), survives export and apply, and leaves the store whole (integrity_check, its tables,
#      one revision per write).
#   2. Files that can hold users' digest secrets are mode 0600 whatever the umask: the store
#      (created under a draft name: the same inode), the -wal and -shm files beside it, the
#      snapshot (also at -o), an export, and the runtime's last-good copy and bindings file. A
#      snapshot its owner shared with a group stays readable by that group, never by others.
#   3. A user's password and HA1 hashes are in no output but export's (show, list, diff, history,
#      rollback, apply's plan, validate, call dry-run, publish, in every format); a credential in a
#      webhook URL, a runtime URL or an SMTP URL is refused without being repeated, from an option
#      or a YAML file (whose line is then not quoted either), and so is a malformed HA1.
source "$(dirname "$0")/lib.sh" "$@"
command -v python3 >/dev/null || { echo "skip: no python3"; exit 0; }
command -v sqlite3 >/dev/null || { echo "skip: no sqlite3"; exit 0; }
umask 000
server_pid=
trap '[ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null; rm -rf "$WORK"' EXIT
mode() { stat -c %a "$1" 2>/dev/null || echo missing; }
expect_mode() {  # FILE MODE WHAT
  local m
  m=$(mode "$1")
  [ "$m" = "$2" ] || fail "$3: '$1' is mode $m, not $2"
}

# ---- 2a. A new store is 0600, whatever the umask (SQLite alone would make it 0644).
run init
expect_rc 0 "init"
expect_mode "$E911_DB" 600 "a new store"
run --db "$WORK/deep/er/e911.db" init
expect_rc 0 "init in a new folder"
expect_mode "$WORK/deep/er/e911.db" 600 "a new store in a new folder"
expect_mode "$WORK/deep" 755 "a folder a new store made (never writable by others, whatever the umask)"
expect_mode "$WORK/deep/er" 755 "a folder a new store made"
ls "$E911_DB".new.* >/dev/null 2>&1 && fail "a draft of the store was left behind: $(ls "$E911_DB".new.*)"
run apply -f "$ROOT/samples/enterprise"
expect_rc 0 "apply the samples"
expect_mode "$E911_DB" 600 "the store after apply"

# ---- 1. Hostile text, through bound parameters.
NAME="O'B\"; DROP TABLE t;-"  # the location field holds 20 characters
DESC="x'); DELETE FROM revision; /* 日本語 Ünïcødé 🚑 */ --"
STREET="Main'; UPDATE location SET city = 'pwned'; --"
DISPLAY="Robert'); DROP TABLE sip_user;-- Ω"
PORT_ID="Gi1/0/1'); DROP TABLE port; --"
CHASSIS=00-25-90-AA-0F-01
revs_before=$(sqlite3 "$E911_DB" 'SELECT count(*) FROM revision')
run location set hostile-1 --location "$NAME" --description "$DESC" --house-number 1 --street-name "$STREET" \
  --city Redmond --state WA --postal-code 98052 --country US
expect_rc 0 "location set with hostile text"
run user set sip:bobby@contoso.example --display-name "$DISPLAY" --line-uri tel:+14255550199
expect_rc 0 "user set with a hostile display name"
run port set "$CHASSIS" "$PORT_ID" --location hostile-1
expect_rc 0 "port set with a hostile port ID"
run location show hostile-1 --format json
python3 - "$out" "$NAME" "$DESC" "$STREET" <<'PY' || fail "the location does not read back unchanged"
import json, sys
d = json.loads(sys.argv[1])["object"]
assert (d["location"], d["description"], d["street_name"], d["city"]) == (sys.argv[2], sys.argv[3], sys.argv[4], "Redmond"), d
PY
run user show sip:bobby@contoso.example --format json
python3 -c 'import json,sys; d=json.loads(sys.argv[1])["object"]; assert d["display_name"]==sys.argv[2], d' "$out" "$DISPLAY" ||
  fail "the display name does not read back unchanged"
run port show "$CHASSIS" "$PORT_ID" --format json
python3 -c 'import json,sys; d=json.loads(sys.argv[1])["object"]; assert d["port_id"]==sys.argv[2] and d["location"]=="hostile-1", d' "$out" "$PORT_ID" ||
  fail "the port is not found by its hostile ID"
# A dry run by LLDP port reads only the candidate keys: the port ID goes to SQL as a bound value.
run call dry-run --from sip:alice@contoso.example --dial 911 --ip 192.0.2.7 --chassis "$CHASSIS" --port "$PORT_ID" --format json
python3 -c 'import json,sys; d=json.loads(sys.argv[1]); assert d["location"]["id"]=="hostile-1" and d["location_source"]=="switch-port", d' "$out" ||
  fail "a dry run does not locate the caller by the hostile port ID"
run call dry-run --from sip:alice@contoso.example --dial 911 --ip 192.0.2.7 --chassis "$CHASSIS" --port "x') OR 1=1 --" --format json
python3 -c 'import json,sys; d=json.loads(sys.argv[1]); assert d["location_source"]!="switch-port", d' "$out" ||
  fail "a port ID that is SQL matched a port"
[ "$(sqlite3 "$E911_DB" 'PRAGMA integrity_check')" = ok ] || fail "the store fails its integrity check"
[ "$(sqlite3 "$E911_DB" "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name IN ('location', 'sip_user', 'port', 'revision')")" = 4 ] ||
  fail "a table of the store is gone"
[ "$(sqlite3 "$E911_DB" 'SELECT count(*) FROM revision')" = $((revs_before + 3)) ] || fail "not one revision per write"
[ "$(sqlite3 "$E911_DB" "SELECT count(*) FROM location WHERE city = 'pwned'")" = 0 ] || fail "a street name ran as SQL"
run history --format json
python3 - "$out" "$PORT_ID" <<'PY' || fail "history lacks the command line with the hostile port ID, shell-quoted"
import json, sys
quoted = "'" + sys.argv[2].replace("'", "'\\''") + "'"
commands = [r["command"] for r in json.loads(sys.argv[1])["items"]]
assert any(c.endswith("port set 00-25-90-AA-0F-01 " + quoted + " --location hostile-1") for c in commands), commands
PY
run diff "$revs_before" --format json
python3 - "$out" "$NAME" "$DISPLAY" <<'PY' || fail "diff does not show the hostile values as they are"
import json, sys
def strings(v):
    if isinstance(v, dict): v = list(v.values())
    if isinstance(v, list): return [s for x in v for s in strings(x)]
    return [v] if isinstance(v, str) else []
found = strings(json.loads(sys.argv[1]))
assert sys.argv[2] in found and sys.argv[3] in found, found
PY
# A past revision (diff --routes builds the snapshot of revision N) is a bound :rev too.
run diff --routes "$revs_before" --format json
expect_rc 0 "diff --routes from before the hostile writes"
run export -o "$WORK/round.yaml"
expect_rc 0 "export"
run apply -f "$WORK/round.yaml"
expect_rc 0 "apply of the export"
[ "$(sqlite3 "$E911_DB" 'SELECT count(*) FROM revision')" = $((revs_before + 3)) ] || fail "apply of an export of hostile text made a revision"

# ---- 2b. The files beside the store, the snapshot, an export.
expect_mode "$WORK/round.yaml" 600 "an export (it carries users' digest secrets)"
# -wal and -shm exist while a connection is open: one holds a read while e911ctl writes.
python3 - "$E911" "$E911_DB" <<'PY' || fail "the store's -wal or -shm file is not mode 0600"
import os, sqlite3, stat, subprocess, sys
e911, db = sys.argv[1], sys.argv[2]
c = sqlite3.connect(db)
c.execute("SELECT count(*) FROM revision").fetchone()
subprocess.run([e911, "location", "set", "hostile-1", "--floor", "2"], check=True, capture_output=True)
modes = {s: oct(stat.S_IMODE(os.stat(db + s).st_mode)) for s in ("-wal", "-shm")}
c.close()
assert modes == {"-wal": "0o600", "-shm": "0o600"}, modes
PY
run publish
expect_rc 0 "publish"
expect_mode "$E911_DB.snapshot" 600 "the snapshot (it carries users' digest secrets to the runtime)"
run publish -o "$WORK/pub/snap"
expect_rc 0 "publish -o into a new folder"
expect_mode "$WORK/pub/snap" 600 "a snapshot written with -o"
expect_mode "$WORK/pub" 755 "a folder publish made (never writable by others, whatever the umask)"
ls "$WORK/pub" | grep -q '\.tmp\.' && fail "publish left its temporary file: $(ls "$WORK/pub")"
# Shared with a group by its owner (the runtime's, on a packaged system): the group keeps reading,
# others never do.
group=$(getent group daemon >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && echo daemon || id -gn)
chgrp "$group" "$WORK/pub/snap" && chmod 0644 "$WORK/pub/snap"
run publish -o "$WORK/pub/snap"
expect_rc 0 "publish over a shared snapshot"
expect_mode "$WORK/pub/snap" 640 "a snapshot shared with group $group (others lose their read)"
[ "$(stat -c %G "$WORK/pub/snap")" = "$group" ] || fail "the shared snapshot lost its group $group: $(stat -c %G "$WORK/pub/snap")"

# The runtime's own files: the last-good copy at start, the bindings after a REGISTER.
port=$(python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$E911" serve --listen "127.0.0.1:$port" --snapshot "$E911_DB.snapshot" --domain contoso.example --admin off --log-format json \
  >/dev/null 2>"$WORK/serve.err" &
server_pid=$!
for _ in $(seq 50); do grep -q '"msg":"listening"' "$WORK/serve.err" 2>/dev/null && break; sleep 0.1; done
status=$(python3 - "$port" <<'PY'
import random, socket, sys
port = int(sys.argv[1])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0)); s.settimeout(2)
lp = s.getsockname()[1]
b = "z9hG4bKsec%d" % random.randrange(10**9)
s.sendto(("REGISTER sip:contoso.example SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:%d;branch=%s;rport\r\nMax-Forwards: 70\r\n"
          "From: <sip:alice@contoso.example>;tag=s\r\nTo: <sip:alice@contoso.example>\r\nCall-ID: %s@sec\r\nCSeq: 1 REGISTER\r\n"
          "Contact: <sip:alice@127.0.0.1:%d>\r\nExpires: 600\r\nContent-Length: 0\r\n\r\n" % (lp, b, b, lp)).encode(), ("127.0.0.1", port))
try:
    print(s.recv(65535).decode().split(" ", 2)[1])
except OSError:
    print("none")
PY
)
[ "$status" = 200 ] || fail "the REGISTER got '$status', not 200: $(tail -n 5 "$WORK/serve.err")"
for _ in $(seq 30); do [ -e "$E911_DB.snapshot.bindings" ] && break; sleep 0.1; done
expect_mode "$E911_DB.snapshot.bindings" 600 "the runtime's bindings file"
expect_mode "$E911_DB.snapshot.last-good" 600 "the runtime's last-good copy of the snapshot"
kill "$server_pid" 2>/dev/null
wait "$server_pid" 2>/dev/null
server_pid=

# ---- 3. Secrets are never shown.
PASSWORD="Pl4nted-pw-$RANDOM$RANDOM"
printf '%s\n' "$PASSWORD" >"$WORK/alice.pw"
run user set sip:alice@contoso.example --password-file "$WORK/alice.pw"
expect_rc 0 "user set --password-file"
HA1_SHA=$(python3 -c 'import hashlib,sys; print(hashlib.sha256(("alice:contoso.example:"+sys.argv[1]).encode()).hexdigest())' "$PASSWORD")
HA1_MD5=$(python3 -c 'import hashlib,sys; print(hashlib.md5(("alice:contoso.example:"+sys.argv[1]).encode()).hexdigest())' "$PASSWORD")
secret_free() {  # WHAT: fails when the last run's output holds the password or a hash
  local s
  for s in "$PASSWORD" "$HA1_SHA" "$HA1_MD5"; do
    if grep -qF -- "$s" <<<"$out$err"; then fail "$1 shows a secret"; return; fi
  done
}
run export
grep -qF "$HA1_SHA" <<<"$out" || fail "export does not carry the SHA-256 HA1 (the checks below would prove nothing)"
grep -qF "$PASSWORD" <<<"$out" && fail "export carries the password itself"
rev=$(sqlite3 "$E911_DB" 'SELECT max(rev) FROM revision')
for fmt in text json yaml; do
  run user show sip:alice@contoso.example --format "$fmt"; secret_free "user show --format $fmt"
  run user list --format "$fmt"; secret_free "user list --format $fmt"
  run diff $((rev - 1)) --format "$fmt"; secret_free "diff --format $fmt"
  run history --format "$fmt"; secret_free "history --format $fmt"
  run rollback $((rev - 1)) --dry-run --format "$fmt"; secret_free "rollback --dry-run --format $fmt"
  run validate --format "$fmt"; secret_free "validate --format $fmt"
  run call dry-run --from sip:alice@contoso.example --dial 911 --ip 10.10.1.20 --format "$fmt"; secret_free "call dry-run --format $fmt"
  run publish --dry-run --format "$fmt"; secret_free "publish --dry-run --format $fmt"
done
run user show sip:alice@contoso.example
expect_out "(hidden)"
run publish
expect_rc 0 "publish with a password set"; secret_free "publish"
# apply's plan of a change to a secret says it changed, not to what.
run export -o "$WORK/with-secret.yaml"
sed "s/$HA1_SHA/$(printf '%064d' 7)/" "$WORK/with-secret.yaml" >"$WORK/changed.yaml"
run apply -f "$WORK/changed.yaml" --dry-run
expect_rc 0 "apply --dry-run of a changed HA1"
expect_out "(hidden)"
secret_free "apply --dry-run"
# A malformed HA1 (capitals: the right secret in the wrong spelling) is refused without a quote.
UPPER=$(tr 'a-f' 'A-F' <<<"$HA1_SHA")
sed "s/$HA1_SHA/$UPPER/" "$WORK/with-secret.yaml" >"$WORK/upper.yaml"
for fmt in text json; do
  run apply -f "$WORK/upper.yaml" --format "$fmt"
  expect_rc 3 "an HA1 in capitals"
  grep -qF "$UPPER" <<<"$out$err" && fail "the refusal of a malformed HA1 quotes it (--format $fmt)"
  grep -qF "ha1_sha256" <<<"$out$err" || fail "the refusal of a malformed HA1 does not name the field (--format $fmt)"
done

# Credentials in URLs: refused, never repeated.
URLPW="url-pw-$RANDOM$RANDOM"
run policy set global --notification-webhooks "https://bot:$URLPW@alerts.contoso.example/e911"
expect_rc 3 "a webhook with a password"
expect_err "https://***@alerts.contoso.example/e911"
grep -qF "$URLPW" <<<"$out$err" && fail "the refusal of a webhook with a password repeats it"
cat >"$WORK/hook.yaml" <<EOF
kind: LocationPolicy
identity: global
notification_webhooks:
  - https://bot:$URLPW@alerts.contoso.example/e911
EOF
for fmt in text json; do
  run apply -f "$WORK/hook.yaml" --format "$fmt"
  expect_rc 3 "a webhook with a password in YAML"
  grep -qF "$URLPW" <<<"$out$err" && fail "apply quotes a webhook's password (--format $fmt)"
done
run runtime add node9 --url "https://ops:$URLPW@127.0.0.1:5080" --token-file /etc/e911ctl/admin.token
[ "$rc" -ne 0 ] || fail "a runtime URL with a password was stored"
grep -qF "$URLPW" <<<"$out$err" && fail "the refusal of a runtime URL with a password repeats it"
printf 'tok-%s\n' "$RANDOM" >"$WORK/token" && chmod 600 "$WORK/token"
run runtime status --runtime "https://ops:$URLPW@127.0.0.1:9" --token-file "$WORK/token"
expect_rc 2 "runtime status with a password in --runtime"
expect_err "https://***@127.0.0.1:9"
grep -qF "$URLPW" <<<"$out$err" && fail "runtime status repeats the password of --runtime"
cat >"$WORK/serve.yaml" <<EOF
listen:
  - 127.0.0.1:$port
smtp_url: smtps://desk:$URLPW@mail.contoso.example
smtp_from: e911@contoso.example
EOF
timeout 10 "$E911" serve --config "$WORK/serve.yaml" --snapshot "$E911_DB.snapshot" --admin off >"$WORK/out" 2>"$WORK/err"
rc=$? out=$(cat "$WORK/out") err=$(cat "$WORK/err")
[ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] || fail "serve took an SMTP URL with a password (exit $rc)"
expect_err "smtp_credentials_file"
grep -qF "$URLPW" <<<"$out$err" && fail "serve repeats the SMTP URL's password"
finish
