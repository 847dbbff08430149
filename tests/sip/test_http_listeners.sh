#!/usr/bin/env bash
# The runtime's HTTP listeners (admin API, HELD location service) against hostile clients
# (issue 24), with curl and python3 sockets:
#   1. chunked bodies count against the limits: 50 MB chunked to /v1/reload without a token, and
#      to HELD, are refused with 413 and the runtime's resident memory stays within 20 MB of what
#      it was; a POST without Content-Length has no body (RFC 9112 §6.3) and is answered at once;
#   2. clients trickling a header byte at a time (and one that stalls in its body) hold no thread
#      another needs: /healthz and a HELD request still answer within 2 s, and each trickler is
#      cut (408 or closed) once its request has not arrived whole within 10 s;
#   3. two requests pipelined in one send on a keep-alive connection are both answered, in order,
#      on the admin API (/healthz, then /v1/status) and on HELD.
source "$(dirname "$0")/lib.sh" "$@"
publish_samples || { finish; exit 1; }

HELD_PORT=5083
ADMIN_PORT=5081
printf 'test-token-%s\n' "$RANDOM$RANDOM" >"$WORK/token"
chmod 600 "$WORK/token"
start_serve --snapshot "$E911_DB.snapshot" --location-service "127.0.0.1:$HELD_PORT" --admin "127.0.0.1:$ADMIN_PORT" --token-file "$WORK/token" || {
  finish
  exit 1
}
rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$server_pid/status"; }
held_request='<?xml version="1.0" encoding="UTF-8"?><locationRequest xmlns="urn:ietf:params:xml:ns:geopriv:held"><locationType exact="false">civic</locationType></locationRequest>'

# 1. Chunked bodies, and a POST without Content-Length.
before=$(rss_kb)
code=$(head -c 50000000 /dev/zero | curl -s -m 20 -o "$WORK/reload.body" -w '%{http_code}' -H 'Transfer-Encoding: chunked' \
  --data-binary @- "http://127.0.0.1:$ADMIN_PORT/v1/reload")
[ "$code" = 413 ] || fail "50 MB chunked to /v1/reload without a token: HTTP '$code', expected 413"
code=$(head -c 50000000 /dev/zero | curl -s -m 20 -o "$WORK/held.body" -w '%{http_code}' -H 'Transfer-Encoding: chunked' \
  -H 'Content-Type: application/held+xml' --data-binary @- "http://127.0.0.1:$HELD_PORT/held")
[ "$code" = 413 ] || fail "50 MB chunked to HELD: HTTP '$code', expected 413"
after=$(rss_kb)
[ $((after - before)) -lt 20000 ] || fail "chunked bodies grew the runtime from $before kB to $after kB"
# A chunked body within the limit is read whole.
code=$(printf '%s' "$held_request" | curl -s -m 5 -o "$WORK/held-chunked.xml" -w '%{http_code}' -H 'Transfer-Encoding: chunked' \
  -H 'Content-Type: application/held+xml' --data-binary @- "http://127.0.0.1:$HELD_PORT/held")
[ "$code" = 200 ] && grep -q 'code="notLocatable"' "$WORK/held-chunked.xml" ||
  fail "a small chunked HELD request: HTTP '$code', $(head -c 300 "$WORK/held-chunked.xml")"
got=$(python3 - "$ADMIN_PORT" <<'PY'
import socket, sys, time
s = socket.create_connection(('127.0.0.1', int(sys.argv[1])), timeout=5)
start = time.monotonic()
s.sendall(b'POST /v1/reload HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n')  # no Content-Length, and the connection left open
data = s.recv(4096)
print(data.split(b'\r\n', 1)[0].decode(errors='replace'), '%.1f' % (time.monotonic() - start))
PY
)
case "$got" in
  "HTTP/1.1 401 "*) [ "${got##* }" \< 1.0 ] || fail "a POST without Content-Length was answered after ${got##* } s" ;;
  *) fail "a POST without Content-Length: '$got', expected 401 at once" ;;
esac

# 2. Trickling clients: 6 on each listener, a byte of the request line every 0.5 s, and one
# that sends its headers with Content-Length: 100 and then nothing more.
python3 - "$ADMIN_PORT" "$HELD_PORT" "$WORK/trickle.out" <<'PY' &
import socket, sys, time
ports, out = [int(sys.argv[1]), int(sys.argv[2])], sys.argv[3]
conns = []
for port in ports:
    for _ in range(6):
        conns.append(socket.create_connection(('127.0.0.1', port), timeout=5))
    s = socket.create_connection(('127.0.0.1', port), timeout=5)
    s.sendall(b'POST /held HTTP/1.1\r\nHost: x\r\nContent-Type: application/held+xml\r\nContent-Length: 100\r\n\r\n<')
    conns.append(s)
line = b'GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n'
start, ended = time.monotonic(), {}
for i in range(60):  # 30 s at most
    for n, c in enumerate(conns):
        if n in ended:
            continue
        try:
            if n % 7 != 6:
                c.send(line[i % len(line):i % len(line) + 1])
            c.setblocking(False)
            try:
                got = c.recv(4096)
                ended[n] = (time.monotonic() - start, got.split(b'\r\n', 1)[0].decode(errors='replace') or 'closed')
            except BlockingIOError:
                pass
            c.setblocking(True)
        except OSError:
            ended[n] = (time.monotonic() - start, 'closed')
    if len(ended) == len(conns):
        break
    time.sleep(0.5)
with open(out, 'w') as f:
    for n in range(len(conns)):
        t, what = ended.get(n, (None, 'still open'))
        f.write('%s %s\n' % ('-' if t is None else '%.1f' % t, what))
PY
trickler=$!
background+=("$trickler")
sleep 3
start=$(date +%s%N)
code=$(curl -s -m 10 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$ADMIN_PORT/healthz")
ms=$((($(date +%s%N) - start) / 1000000))
[ "$code" = 200 ] && [ "$ms" -lt 2000 ] || fail "/healthz beside trickling clients: HTTP '$code' after $ms ms, expected 200 within 2 s"
start=$(date +%s%N)
code=$(printf '%s' "$held_request" | curl -s -m 10 -o /dev/null -w '%{http_code}' -H 'Content-Type: application/held+xml' --data-binary @- \
  "http://127.0.0.1:$HELD_PORT/held")
ms=$((($(date +%s%N) - start) / 1000000))
[ "$code" = 200 ] && [ "$ms" -lt 2000 ] || fail "HELD beside trickling clients: HTTP '$code' after $ms ms, expected 200 within 2 s"
for _ in $(seq 400); do kill -0 "$trickler" 2>/dev/null || break; sleep 0.1; done
wait "$trickler"
while read -r t what; do
  case "$what" in
    "HTTP/1.1 408 "* | closed) awk -v t="$t" 'BEGIN { exit !(t != "-" && t <= 13) }' || fail "a trickling client was cut after $t s, expected within 13 s" ;;
    *) fail "a trickling client: '$what' after $t s, expected 408 or a close" ;;
  esac
done <"$WORK/trickle.out"

# 3. Two requests in one send on a keep-alive connection.
pipelined() {  # PORT REQUEST: sends REQUEST twice in one write; prints the status lines answered
  python3 - "$1" "$2" <<'PY'
import re, socket, sys, time
s = socket.create_connection(('127.0.0.1', int(sys.argv[1])), timeout=5)
req = sys.argv[2].encode().decode('unicode_escape').encode('latin-1')
s.sendall(req + req)
data, deadline = b'', time.monotonic() + 5
while data.count(b'HTTP/1.1 ') < 2 and time.monotonic() < deadline:
    try:
        chunk = s.recv(65536)
    except socket.timeout:
        break
    if not chunk:
        break
    data += chunk
print(' | '.join(l.decode() for l in re.findall(rb'HTTP/1\.1 [0-9]{3} [^\r]*', data)))
PY
}
got=$(pipelined "$ADMIN_PORT" 'GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n')
[ "$got" = "HTTP/1.1 200 OK | HTTP/1.1 200 OK" ] || fail "two pipelined /healthz: '$got'"
got=$(pipelined "$ADMIN_PORT" "GET /v1/status HTTP/1.1\\r\\nHost: 127.0.0.1\\r\\nAuthorization: Bearer $(cat "$WORK/token")\\r\\n\\r\\n")
[ "$got" = "HTTP/1.1 200 OK | HTTP/1.1 200 OK" ] || fail "two pipelined /v1/status: '$got'"
got=$(pipelined "$HELD_PORT" "POST /held HTTP/1.1\\r\\nHost: 127.0.0.1\\r\\nContent-Type: application/held+xml\\r\\nContent-Length: ${#held_request}\\r\\n\\r\\n$held_request")
[ "$got" = "HTTP/1.1 200 OK | HTTP/1.1 200 OK" ] || fail "two pipelined HELD requests: '$got'"

expect_serving "after the hostile HTTP clients"
finish
