#!/usr/bin/env bash
# MSAG address validation against a real local HTTPS stand-in of the provider.
source "$(dirname "$0")/lib.sh" "$@"
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$WORK/key.pem" -out "$WORK/cert.pem" -days 1 \
  -subj "/CN=127.0.0.1" -addext "subjectAltName=IP:127.0.0.1" >/dev/null 2>&1 || { fail "openssl"; finish; }
python3 "$(dirname "$0")/provider_standin.py" "$WORK/cert.pem" "$WORK/key.pem" "$WORK/port" &
server=$!
trap 'kill $server 2>/dev/null; rm -rf "$WORK"' EXIT
for _ in $(seq 100); do [ -s "$WORK/port" ] && break; sleep 0.05; done
[ -s "$WORK/port" ] || { fail "stand-in did not start"; finish; }
export E911_PROVIDER_URL="https://127.0.0.1:$(cat "$WORK/port")/msag" E911_PROVIDER_CA="$WORK/cert.pem"
for street in Valid Typo Slow Boom; do
  "$E911" location set "$street" --location "Floor 1" --house-number 1 --street-name "$street" --city Redmond --state WA --country US >/dev/null
done

run location validate-addresses Valid Typo Slow --timeout-ms 1000 --format json
expect_rc 0 "valid, invalid with a correction, slow then retried"
python3 - "$out" <<'PY' || fail "verdicts"
import json, sys
d = json.loads(sys.argv[1])
assert d["schema"] == "e911ctl.location.validate-addresses/v1"
r = {x["id"]: x for x in d["results"]}
assert r["Valid"]["status"] == "valid" and r["Valid"]["attempts"] == 1
assert r["Typo"]["status"] == "invalid" and r["Typo"]["corrected"]["street_name"] == "Main"
assert r["Slow"]["status"] == "valid" and r["Slow"]["attempts"] == 2, r["Slow"]
assert d["revision"] > 0
PY
run location show Typo --format json
python3 -c 'import json,sys; o=json.loads(sys.argv[1])["object"]; assert o["street_name"]=="Main" and o["validation_status"]=="invalid" and o["validated_at"].endswith("Z")' "$out" || fail "correction recorded"
run location show Valid --format json
python3 -c 'import json,sys; assert json.loads(sys.argv[1])["object"]["validation_status"]=="valid"' "$out" || fail "valid recorded"

# A provider error after retries: that address fails, the others are recorded, exit 1.
run location validate-addresses Boom Valid --retries 1
expect_rc 1 "500 after retries"
expect_out "Boom      failed"
expect_out "the provider answered HTTP 500"

# An unreachable provider: exit 4 and nothing changes.
before=$(sqlite3 "$E911_DB" 'select max(rev) from revision')
closed=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')
run location validate-addresses --all --url "https://127.0.0.1:$closed/msag" --retries 1 --timeout-ms 500
expect_rc 4 "unreachable"
expect_err "could not be reached"
[ "$(sqlite3 "$E911_DB" 'select max(rev) from revision')" = "$before" ] || fail "unreachable provider changed the database"
# TLS is verified: without the CA bundle the stand-in's certificate is refused, so nothing is reachable.
run location validate-addresses Valid --ca /etc/ssl/certs/ca-certificates.crt --retries 0
expect_rc 4 "unverified certificate"
finish
