#!/usr/bin/env bash
# e911ctl serve: the transports and the first steps of the request chain, on the loopback
# address with a python3 client. Every wait is bounded; the server is killed on exit.
#
# The RFC 4475 torture messages name other hosts in their Via (host1.example.com, ...). A
# response goes where the top Via says (RFC 3261 §18.2.2): to the packet's source address, but at
# the sent-by port (5060) unless the Via asks rport. So before sending, the client rewrites the
# top Via's sent-by to 127.0.0.1:<its own port>; nothing here ever sends off the loopback.
source "$(dirname "$0")/lib.sh" "$@"
TORTURE=$ROOT/../shared/sip-torture
command -v python3 >/dev/null || { echo "skip: no python3"; exit 0; }
[ -d "$TORTURE" ] || { echo "skip: no $TORTURE"; exit 0; }

free_port() {  # a port free for both TCP and UDP on $1
  python3 - "$1" <<'PY'
import socket, sys
fam = socket.AF_INET6 if ':' in sys.argv[1] else socket.AF_INET
for _ in range(50):
    t = socket.socket(fam, socket.SOCK_STREAM); t.bind((sys.argv[1], 0)); port = t.getsockname()[1]
    u = socket.socket(fam, socket.SOCK_DGRAM)
    try:
        u.bind((sys.argv[1], port)); print(port); break
    except OSError:
        pass
    finally:
        t.close(); u.close()
PY
}

server_pid=
stop_server() { [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null; wait "$server_pid" 2>/dev/null; server_pid=; }
trap 'stop_server; rm -rf "$WORK"' EXIT

start_server() {  # host port
  "$E911" serve --listen "$(if [[ $1 == *:* ]]; then echo "[$1]:$2"; else echo "$1:$2"; fi)" 2>"$WORK/serve.err" &
  server_pid=$!
  for _ in $(seq 50); do
    grep -q '"msg":"listening"' "$WORK/serve.err" 2>/dev/null && return 0
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.1
  done
  err=$(cat "$WORK/serve.err"); fail "serve did not start on $1:$2"; return 1
}

cat >"$WORK/client.py" <<'PY'
# The SIP client of the test: one scenario per run, a line "ok" or "FAIL ..." per check.
import re, socket, sys, time
host, port, torture, scenario = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
fam = socket.AF_INET6 if ':' in host else socket.AF_INET
failures = 0
def check(cond, what):
    global failures
    if not cond:
        failures += 1
        print("FAIL " + what)

def udp():
    s = socket.socket(fam, socket.SOCK_DGRAM); s.bind((host, 0)); s.settimeout(2); return s
def recv(s, timeout=2):
    s.settimeout(timeout)
    try:
        return s.recvfrom(70000)[0].decode('utf-8', 'replace')
    except socket.timeout:
        return None
def header(msg, name):
    m = re.search(r'^' + name + r'\s*:\s*(.*?)\r?$', msg or '', re.M | re.I)
    return m.group(1) if m else None
def status(msg):
    m = re.match(r'SIP/2\.0 (\d{3}) ', msg or '')
    return int(m.group(1)) if m else None
uri_host = '[%s]' % host if ':' in host else host
def options(client_port, branch, rport=True, transport='UDP'):
    via = 'SIP/2.0/%s %s:%d;branch=%s%s' % (transport, uri_host, client_port, branch, ';rport' if rport else '')
    return ('OPTIONS sip:%s SIP/2.0\r\nVia: %s\r\nMax-Forwards: 70\r\nFrom: <sip:test@example.com>;tag=abc\r\n'
            'To: <sip:%s>\r\nCall-ID: %s@test\r\nCSeq: 7 OPTIONS\r\nContent-Length: 0\r\n\r\n' % (uri_host, via, uri_host, branch)).encode()
def torture_bytes(name, client_port):
    data = open('%s/%s' % (torture, name), 'rb').read()
    sent_by = uri_host + ':%d' % client_port
    # Only the first Via's sent-by, whatever its spacing and version (badvers has SIP/7.0).
    return re.sub(rb'^(Via:\s*SIP/\d\.\d/\w+\s+)[^;\s]+', lambda m: m.group(1) + sent_by.encode(), data, count=1, flags=re.M | re.I)

if scenario == 'udp':
    s = udp(); cp = s.getsockname()[1]
    req = options(cp, 'z9hG4bKopt1')
    s.sendto(req, (host, port)); r1 = recv(s)
    check(status(r1) == 200, 'OPTIONS -> 200, got %r' % r1)
    check(header(r1, 'Call-ID') == 'z9hG4bKopt1@test', 'Call-ID echoed')
    check(header(r1, 'CSeq') == '7 OPTIONS', 'CSeq echoed')
    check(header(r1, 'From') == '<sip:test@example.com>;tag=abc', 'From echoed')
    check(';tag=' in (header(r1, 'To') or ''), 'To has a tag')
    via = header(r1, 'Via') or ''
    check(';rport=%d' % cp in via, 'Via rport stamped: %r' % via)
    check(';received=' in via, 'Via received stamped: %r' % via)
    check(header(r1, 'Accept') == 'application/sdp, application/pidf+xml, multipart/mixed', 'Accept')
    check(header(r1, 'Allow') is not None, 'Allow')
    check(re.search(r'^Supported\s*:', r1 or '', re.M) is not None, 'Supported')
    s.sendto(req, (host, port)); r2 = recv(s)
    check(r2 == r1, 'a retransmission gets the same 200: %r' % r2)
    for name, want in (('zeromf.dat', 483), ('badvers.dat', 505), ('unkscm.dat', 416), ('bext01.dat', 420)):
        s.sendto(torture_bytes(name, cp), (host, port)); r = recv(s)
        check(status(r) == want, '%s -> %d, got %r' % (name, want, (r or '')[:80]))
        if want == 420: check(header(r, 'Unsupported') is not None, 'bext01: 420 has Unsupported')
    # INVITE with no snapshot in service: a well-formed 503 (Retry-After), absorbed when retransmitted, and
    # the ACK for it is absorbed by its transaction (no answer).
    inv = options(cp, 'z9hG4bKinv1').replace(b'OPTIONS', b'INVITE')
    s.sendto(inv, (host, port)); r1 = recv(s)
    check(status(r1) == 503 and ';tag=' in (header(r1, 'To') or ''), 'INVITE without a snapshot -> 503 with a To tag, got %r' % (r1 or '')[:80])
    s.sendto(inv, (host, port)); r2 = recv(s)
    check(r2 == r1, 'a retransmitted INVITE gets the same 503')
    ack = inv.replace(b'INVITE', b'ACK').replace(b'To: <sip:%s>' % uri_host.encode(), ('To: ' + (header(r1, 'To') or '')).encode())
    s.sendto(ack, (host, port))
    check(recv(s, 1.2) is None, 'the ACK ends the INVITE transaction: no answer, no more 503 (Timer G)')
    s.sendto(b'\x00garbage\xff not sip at all', (host, port))
    check(recv(s, 0.5) is None, 'garbage gets no answer')
    s.sendto(options(cp, 'z9hG4bKopt2'), (host, port))
    check(status(recv(s)) == 200, 'OPTIONS after garbage -> 200')
elif scenario == 'tcp':
    c = socket.create_connection((host, port), timeout=2); cp = c.getsockname()[1]
    req = options(cp, 'z9hG4bKtcp1', rport=False, transport='TCP')
    c.sendall(req[:30]); time.sleep(0.2); c.sendall(req[30:])
    buf = b''
    deadline = time.time() + 2
    while b'\r\n\r\n' not in buf and time.time() < deadline:
        chunk = c.recv(65536)
        if not chunk: break
        buf += chunk
    r = buf.decode()
    check(status(r) == 200, 'TCP OPTIONS in two writes -> 200 on the same connection, got %r' % r)
    c.sendall(b'\r\n\r\n')
    check(c.recv(16) == b'\r\n', 'CRLFCRLF ping -> CRLF pong')
    c.close()
    c = socket.create_connection((host, port), timeout=2)
    c.sendall(open('%s/ncl.dat' % torture, 'rb').read())
    buf = b''
    deadline = time.time() + 2
    while time.time() < deadline:
        try:
            chunk = c.recv(65536)
        except socket.timeout:
            break
        if not chunk:
            buf += b'<closed>'
            break
        buf += chunk
    check(status(buf.decode('utf-8', 'replace')) == 400, 'ncl.dat over TCP -> 400, got %r' % buf[:80])
    check(buf.endswith(b'<closed>'), 'ncl.dat: then the connection closes')
print('ok' if failures == 0 else '%d failure(s)' % failures)
sys.exit(1 if failures else 0)
PY

client() {  # host port scenario
  out=$(timeout 20 python3 "$WORK/client.py" "$1" "$2" "$TORTURE" "$3" 2>&1) || fail "$3 on $1: $(grep FAIL <<<"$out")"
}

# A wrong --listen is a usage error; nothing is bound.
run serve --listen localhost:5060
expect_rc 2 "--listen with a name"
expect_err "never resolves"

for host in 127.0.0.1 ::1; do
  if [ "$host" = ::1 ] && ! python3 -c 'import socket; s=socket.socket(socket.AF_INET6); s.bind(("::1", 0))' 2>/dev/null; then
    echo "skip: ::1 cannot be bound here"
    continue
  fi
  port=$(free_port "$host")
  [ -n "$port" ] || { fail "no free port on $host"; continue; }
  start_server "$host" "$port" || continue
  client "$host" "$port" udp
  client "$host" "$port" tcp
  kill -0 "$server_pid" 2>/dev/null || fail "serve on $host died"
  # SIGTERM stops it, with exit 0, within a second.
  expect_sigterm_exit "serve on $host"
  stop_server
done
finish
