"""A phone that places one 911 call over TCP with a PIDF-LO of any bytes (UTF-16, NUL bytes, 64 KiB:
what sipp's scenario files cannot carry), then hangs up once answered. Prints the final status of
the INVITE on the last line ("200", "503", "none"); exits 0 when the call was answered and its BYE
got 200.

Usage: pidf_phone.py RUNTIME_PORT SOURCE_IP PIDF_FILE FROM TO CALL_ID

Every wait is bounded: 35 s for the INVITE's final answer, 5 s for the BYE's.
"""
import random
import re
import socket
import sys
import time

port, source, pidf_file, from_uri, to_uri, call_id = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5], sys.argv[6]
pidf = open(pidf_file, 'rb').read()
tag = 'ph%d' % random.randrange(10**9)
boundary = b'b-' + str(random.randrange(10**9)).encode()  # short: the INVITE of a 64,700-byte PIDF-LO must fit 64 KiB
while boundary in pidf:
    boundary += b'x'

s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.bind((source, 0))
s.settimeout(35)
s.connect(('127.0.0.1', port))
local = '%s:%d' % s.getsockname()
sdp = ('v=0\r\no=caller 1 1 IN IP4 %s\r\ns=-\r\nc=IN IP4 %s\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0\r\n'
       'a=rtpmap:0 PCMU/8000\r\n' % (source, source)).encode()
body = (b'--' + boundary + b'\r\nContent-Type: application/sdp\r\n\r\n' + sdp + b'\r\n--' + boundary +
        b'\r\nContent-Type: application/pidf+xml\r\nContent-ID: <loc@a.invalid>\r\n\r\n' + pidf +
        b'\r\n--' + boundary + b'--\r\n')


def request(method, uri, cseq, to, branch, extra=b'', content=b''):
    return (('%s %s SIP/2.0\r\nVia: SIP/2.0/TCP %s;branch=%s;rport\r\nMax-Forwards: 70\r\n'
             'From: <%s>;tag=%s\r\nTo: %s\r\nCall-ID: %s\r\nCSeq: %d %s\r\n'
             'Contact: <sip:caller@%s;transport=tcp>\r\n' % (method, uri, local, branch, from_uri, tag, to, call_id, cseq, method, local)).encode()
            + extra + b'Content-Length: %d\r\n\r\n' % len(content) + content)


buffered = b''


def next_message(deadline):
    """The next whole message on the connection (framed by Content-Length), or None at the deadline."""
    global buffered
    while True:
        head_end = buffered.find(b'\r\n\r\n')
        if head_end >= 0:
            m = re.search(rb'(?im)^(?:content-length|l)\s*:\s*(\d+)', buffered[:head_end])
            total = head_end + 4 + (int(m.group(1)) if m else 0)
            if len(buffered) >= total:
                msg, buffered = buffered[:total], buffered[total:]
                return msg
        left = deadline - time.monotonic()
        if left <= 0:
            return None
        s.settimeout(left)
        try:
            chunk = s.recv(65536)
        except socket.timeout:
            return None
        if not chunk:
            return None
        buffered += chunk


def answer_request(msg):
    """200 to a request the runtime sends inside the call (an OPTIONS keep-alive, say)."""
    head = msg.split(b'\r\n\r\n', 1)[0].decode('utf-8', 'replace')
    keep = [l for l in head.split('\r\n')[1:] if re.match(r'(?i)(via|from|to|call-id|cseq)\s*:', l)]
    s.sendall(('SIP/2.0 200 OK\r\n' + '\r\n'.join(keep) + '\r\nContent-Length: 0\r\n\r\n').encode())


s.sendall(request('INVITE', to_uri, 1, '<%s>' % to_uri, 'z9hG4bKinv' + tag,
                  b'Priority: emergency\r\nGeolocation: <cid:loc@a.invalid>\r\nGeolocation-Routing: yes\r\n'
                  b'Content-Type: multipart/mixed;boundary=' + boundary + b'\r\n', body))
deadline = time.monotonic() + 35
final = None
while final is None:
    msg = next_message(deadline)
    if msg is None:
        print('none')
        sys.exit(1)
    if not msg.startswith(b'SIP/2.0 '):
        answer_request(msg)
        continue
    status = int(msg[8:11])
    if status >= 200 and b'INVITE' in re.search(rb'(?im)^cseq\s*:([^\r\n]*)', msg).group(1):
        final = msg
status = int(final[8:11])
if status != 200:
    print(status)  # the runtime sent its ACK for a failure answer itself (RFC 3261 §17.2.1)
    sys.exit(1)
head = final.split(b'\r\n\r\n', 1)[0].decode('utf-8', 'replace')
to = re.search(r'(?im)^(?:to|t)\s*:\s*([^\r\n]+)', head).group(1)
contact = re.search(r'(?im)^(?:contact|m)\s*:[^<\r\n]*<([^>]+)>', head).group(1)
s.sendall(request('ACK', contact, 1, to, 'z9hG4bKack' + tag))
s.sendall(request('BYE', contact, 2, to, 'z9hG4bKbye' + tag))
deadline = time.monotonic() + 5
while True:
    msg = next_message(deadline)
    if msg is None:
        print('200 (no answer to BYE)')
        sys.exit(1)
    if msg.startswith(b'SIP/2.0 ') and re.search(rb'(?im)^cseq\s*:\s*2 BYE', msg):
        print('200' if msg.startswith(b'SIP/2.0 200') else '200 (BYE got %s)' % msg[8:11].decode())
        sys.exit(0 if msg.startswith(b'SIP/2.0 200') else 1)
    if not msg.startswith(b'SIP/2.0 '):
        answer_request(msg)
