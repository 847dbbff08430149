#!/usr/bin/env bash
# location validate-addresses against a real local HTTPS stand-in of the provider's MSAG service
# (tests/cli/provider_standin.py): mutual TLS, valid, invalid with a correction, slow (timeout then
# retry), 429, 500, a body that is not JSON, a correction that breaks the limits, unreachable.
source "$(dirname "$0")/lib.sh" "$@"
command -v openssl >/dev/null || { fail "openssl is needed (scripts/install-deps)"; finish; }
CHECK=$(dirname "$E911")/tests/check_output
server=
# shellcheck disable=SC2317  # called by the EXIT trap
cleanup() {
  [ -n "$server" ] && kill "$server" 2>/dev/null && wait "$server" 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT

# The provider's certificate (for 127.0.0.1, self-signed: it is also the CA bundle), and a client
# CA with the certificate e911ctl presents.
ssl() { openssl "$@" >/dev/null 2>&1 || { fail "openssl $1"; finish; }; }
ssl req -x509 -newkey rsa:2048 -nodes -keyout "$WORK/server.key" -out "$WORK/server.pem" -days 2 \
  -subj "/CN=127.0.0.1" -addext "subjectAltName=IP:127.0.0.1"
ssl req -x509 -newkey rsa:2048 -nodes -keyout "$WORK/clientca.key" -out "$WORK/clientca.pem" -days 2 -subj "/CN=e911ctl test client CA"
ssl req -new -newkey rsa:2048 -nodes -keyout "$WORK/client.key" -out "$WORK/client.csr" -subj "/CN=contoso-e911"
printf 'extendedKeyUsage=clientAuth\n' >"$WORK/client.ext"
ssl x509 -req -in "$WORK/client.csr" -CA "$WORK/clientca.pem" -CAkey "$WORK/clientca.key" -CAcreateserial \
  -out "$WORK/client.pem" -days 2 -extfile "$WORK/client.ext"

python3 "$ROOT/tests/cli/provider_standin.py" --cert "$WORK/server.pem" --key "$WORK/server.key" \
  --client-ca "$WORK/clientca.pem" --port-file "$WORK/port" --log "$WORK/requests.log" --slow-ms 3000 2>"$WORK/standin.err" &
server=$!
for _ in $(seq 100); do [ -s "$WORK/port" ] && break; sleep 0.05; done
[ -s "$WORK/port" ] || { fail "the stand-in did not start: $(cat "$WORK/standin.err")"; finish; }
URL="https://127.0.0.1:$(cat "$WORK/port")/msag"
export E911_PROVIDER_URL=$URL E911_PROVIDER_CA=$WORK/server.pem E911_PROVIDER_CERT=$WORK/client.pem E911_PROVIDER_KEY=$WORK/client.key
unset E911_PROVIDER_TIMEOUT_MS E911_PROVIDER_RETRIES E911_PROVIDER_CONCURRENCY

for street in Valid Typo Slow Busy Boom Junk Long; do
  "$E911" location set "$street" --location "Floor 1" --house-number 1 --street-name "$street" --city Redmond --state WA \
    --country US >/dev/null || fail "location set $street"
done
revs() { sqlite3 "$E911_DB" 'select count(*) from revision'; }
requests() { grep -c "\"id\": \"$1\"" "$WORK/requests.log"; }  # requests the stand-in got for an id
field() { "$E911" location show "$1" --format json | python3 -c 'import json,sys; print(json.load(sys.stdin)["object"].get(sys.argv[1], ""))' "$2"; }

# ---- refusals before anything is sent ----------------------------------------------------------
before=$(db_state)
run location validate-addresses
expect_rc 2 "neither ids nor --all"
run location validate-addresses Valid --all
expect_rc 2 "ids and --all"
run location validate-addresses Valid --url "http://127.0.0.1:$(cat "$WORK/port")/msag"
expect_rc 2 "plain http"
expect_err "is not https://"
run location validate-addresses Valid --timeout-ms 0
expect_rc 2 "a timeout of 0 would mean none"
run location validate-addresses Valid --ca "$WORK/missing.pem"
expect_rc 2 "unreadable CA bundle"
expect_err "cannot read the CA bundle"
E911_PROVIDER_URL= run location validate-addresses Valid
expect_rc 2 "no endpoint"
expect_err "no provider endpoint"
run location validate-addresses Valid Nowhere
expect_rc 1 "unknown location"
expect_err "no location 'Nowhere'"
[ "$(db_state)" = "$before" ] || fail "a refused command changed the database"
[ ! -s "$WORK/requests.log" ] || fail "a refused command sent requests: $(cat "$WORK/requests.log")"

# ---- mutual TLS: without the client certificate the stand-in refuses the handshake -------------
E911_PROVIDER_CERT= E911_PROVIDER_KEY= run location validate-addresses Valid --retries 0
expect_rc 4 "no client certificate"
expect_err "could not be reached"
[ "$(db_state)" = "$before" ] || fail "a refused handshake changed the database"

# ---- valid, invalid with a correction, slow (timeout, retried), 429 (Retry-After, retried) -----
revs_before=$(revs)
run location validate-addresses Valid Typo Slow Busy Valid --timeout-ms 1000 --format json
expect_rc 0 "valid, invalid with a correction, slow and busy retried"
printf '%s\n' "$out" >"$WORK/doc.json"
[ ! -x "$CHECK" ] || "$CHECK" <"$WORK/doc.json" 2>"$WORK/why" || fail "output breaks its schema: $(cat "$WORK/why")"
python3 - "$out" <<'PY' || fail "verdicts"
import json, sys
d = json.loads(sys.argv[1])
assert d["schema"] == "e911ctl.location.validate-addresses/v1", d
assert [x["id"] for x in d["results"]] == ["Valid", "Typo", "Slow", "Busy"], d["results"]  # given order, once each
r = {x["id"]: x for x in d["results"]}
assert r["Valid"]["status"] == "valid" and r["Valid"]["attempts"] == 1, r["Valid"]
assert r["Typo"]["status"] == "invalid" and r["Typo"]["applied"] is True, r["Typo"]
assert r["Typo"]["corrected"] == {"street_name": "Main", "street_suffix": "St"}, r["Typo"]
assert "did you mean Main St" in r["Typo"]["message"]
assert r["Slow"]["status"] == "valid" and r["Slow"]["attempts"] == 2, r["Slow"]
assert r["Busy"]["status"] == "valid" and r["Busy"]["attempts"] == 2, r["Busy"]
assert (d["valid"], d["invalid"], d["failed"], d["corrected"]) == (3, 1, 0, 1), d
assert d["revision"] > 0
PY
[ "$(revs)" = $((revs_before + 1)) ] || fail "verdicts took $(($(revs) - revs_before)) revisions, not one"
[ "$(field Typo street_name) $(field Typo street_suffix)" = "Main St" ] || fail "correction not stored"
[ "$(field Typo validation_status)" = invalid ] || fail "Typo: validation_status"
[ "$(field Valid validation_status)" = valid ] || fail "Valid: validation_status"
[ "$(field Slow validation_status)" = valid ] || fail "Slow: validation_status"
[[ $(field Valid validated_at) =~ ^20[0-9][0-9]-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-5][0-9]Z$ ]] || fail "validated_at: '$(field Valid validated_at)'"
[ "$(requests Slow)" = 2 ] && [ "$(requests Busy)" = 2 ] && [ "$(requests Valid)" = 1 ] || fail "requests: $(cat "$WORK/requests.log")"
grep -q '"client_cn": "contoso-e911"' "$WORK/requests.log" || fail "the client certificate was not presented"
run history
expect_out "location validate-addresses"

# ---- 500, not JSON, a correction that breaks the limits: those fail, the rest is recorded -------
revs_before=$(revs)
run location validate-addresses Boom Junk Long Valid --retries 1
expect_rc 1 "500 after retries, a body that is not JSON"
expect_out "the provider answered HTTP 500 after 2 attempts"
expect_out "the provider's answer is not a JSON object"
expect_out "correction not applied"
expect_out "1 valid, 1 invalid, 2 failed; recorded as revision"
expect_err "2 addresses have no verdict"
grep -q '^Boom  *failed' <<<"$out" || fail "Boom is not reported failed"
[ "$(requests Boom)" = 2 ] || fail "Boom: $(requests Boom) requests, not 1 + 1 retry"
[ "$(requests Junk)" = 1 ] || fail "an answer that is not JSON was retried"
[ "$(revs)" = $((revs_before + 1)) ] || fail "partial verdicts took $(($(revs) - revs_before)) revisions, not one"
[ "$(field Boom validation_status)" = unvalidated ] || [ -z "$(field Boom validation_status)" ] || fail "Boom got a status"
[ -z "$(field Boom validated_at)" ] || fail "Boom got a validation time"
[ "$(field Long validation_status)" = invalid ] && [ "$(field Long state)" = WA ] || fail "Long: the verdict is recorded, the bad correction is not"

# ---- an unreachable provider: exit 4, nothing written, quickly ---------------------------------
before=$(db_state)
closed=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')
start=$(date +%s)
run location validate-addresses --all --url "https://127.0.0.1:$closed/msag" --retries 2 --timeout-ms 500
expect_rc 4 "unreachable"
expect_err "could not be reached"
expect_err "nothing was changed"
[ "$(db_state)" = "$before" ] || fail "an unreachable provider changed the database"
[ $(($(date +%s) - start)) -le 10 ] || fail "finding the provider unreachable took $(($(date +%s) - start)) s"

# ---- TLS is verified: against the system CAs the stand-in's certificate is refused -------------
if [ -r /etc/ssl/certs/ca-certificates.crt ]; then
  run location validate-addresses Valid --ca /etc/ssl/certs/ca-certificates.crt --retries 0
  expect_rc 4 "unverified certificate"
  [ "$(db_state)" = "$before" ] || fail "an unverified provider changed the database"
fi
finish
