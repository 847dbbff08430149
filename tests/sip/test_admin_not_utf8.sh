#!/usr/bin/env bash
# Bytes that are not UTF-8 in SIP requests never break the admin API (issue 24, item 18): raw
# UDP requests from a python3 socket with 0xff in a From display name, a Call-ID and a Contact:
#   1. a REGISTER for alice: /v1/registrations answers 200 with valid UTF-8 JSON listing her;
#   2. a test call (933) left without its ACK: /v1/calls/active answers 200, valid JSON, with it;
#   3. a call to nobody (refused at once): /v1/calls answers 200, valid JSON, with it recorded;
#   every answer parses as strict UTF-8 JSON, the 0xff shown as U+FFFD.
source "$(dirname "$0")/lib.sh" "$@"
publish_samples || { finish; exit 1; }
serve_with_admin "" || { finish; exit 1; }

# send METHOD RURI CALL_ID: one request over UDP with 0xff bytes; prints the status answered.
send() {
  python3 - "$SIP_PORT" "$1" "$2" "$3" <<'PY'
import re, socket, sys
port, method, ruri, call_id = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(('127.0.0.1', 0)); s.settimeout(3)
me = s.getsockname()[1]
body = b''
if method == 'INVITE':
    body = b'v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n'
msg = (b'%s %s SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bK%s;rport\r\nMax-Forwards: 70\r\n'
       b'From: "Al\xffice" <sip:alice@contoso.example>;tag=t\xff1\r\nTo: <sip:alice@contoso.example>\r\n'
       b'Call-ID: %s\xff@127.0.0.1\r\nCSeq: 1 %s\r\nContact: "Al\xffice" <sip:alice@127.0.0.1:%d>\r\n'
       b'Subject: caf\xff\r\n%sContent-Length: %d\r\n\r\n' % (
           method.encode(), ruri.encode(), me, call_id.encode(), call_id.encode(), method.encode(), me,
           b'Content-Type: application/sdp\r\n' if body else b'', len(body))) + body
s.sendto(msg, ('127.0.0.1', port))
status = ''
try:
    while True:  # the final answer, past any 100 Trying
        m = re.match(rb'SIP/2\.0 (\d{3}) ', s.recv(65536))
        status = m.group(1).decode() if m else '?'
        if not status.startswith('1'):
            break
except OSError:
    pass
print(status)
PY
}
# expect_json WHAT PATH PYTHON: PATH answers 200 with strict UTF-8 JSON for which PYTHON (d the
# document) is true.
expect_json() {
  local code
  code=$(curl -s -m 5 -o "$WORK/answer" -w '%{http_code}' -H "Authorization: Bearer $(cat "$WORK/token")" "http://127.0.0.1:5081$2")
  [ "$code" = 200 ] || { fail "$1: $2 answered HTTP '$code': $(head -c 300 "$WORK/answer")"; return 1; }
  python3 - "$WORK/answer" "$3" <<'PY' || fail "$1: $2 is not strict UTF-8 JSON holding it: $(head -c 400 "$WORK/answer")"
import json, sys
d = json.loads(open(sys.argv[1], 'rb').read().decode('utf-8'))
assert eval(sys.argv[2]), sys.argv[2]
PY
}

st=$(send REGISTER sip:contoso.example reg-ff)
[ "$st" = 200 ] || fail "REGISTER with 0xff: '$st', expected 200"
expect_json "a REGISTER with 0xff" /v1/registrations 'any("\ufffd" in r["call_id"] and r["aor"].startswith("sip:alice@") for r in d)'

st=$(send INVITE sip:933@contoso.example test-ff)
[ "$st" = 200 ] || fail "test call with 0xff: '$st', expected 200"
expect_json "a test call with 0xff" /v1/calls/active 'any("\ufffd" in c["call_id"] for c in d["items"])'

st=$(send INVITE sip:nobody-here@contoso.example nobody-ff)
case "$st" in 4* | 5*) ;; *) fail "a call to nobody with 0xff: '$st', expected a refusal" ;; esac
expect_json "a refused call with 0xff" "/v1/calls?limit=10" 'any("\ufffd" in json.dumps(c, ensure_ascii=False) for c in d)'
expect_json "every record" "/v1/calls/active" 'True'
expect_json "every registration" "/v1/registrations" 'True'

expect_serving "after requests with 0xff"
finish
