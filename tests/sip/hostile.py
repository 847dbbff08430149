#!/usr/bin/env python3
"""Raw SIP traffic an attacker on the same network could send to `e911ctl serve` (issue 24).

Usage: hostile.py CASE PORT [ARGS...]. Each case talks to 127.0.0.1:PORT only, is bounded in
packets, connections and time, and prints one line the test checks (or nothing). A case never
decides whether the runtime survived: the test asks the runtime afterwards.
"""
import random
import re
import socket
import sys
import time

HOST = '127.0.0.1'
DOMAIN = 'contoso.example'


def tag():
    return '%x' % random.randrange(1 << 48)


def request(method, uri, via_transport, local_port, call_id, cseq, from_tag, to='', body=b'', extra='', branch=None,
            ctype='application/sdp', from_uri='sip:alice@' + DOMAIN, to_uri=None):
    branch = branch or 'z9hG4bK' + tag()
    head = ('%s %s SIP/2.0\r\nVia: SIP/2.0/%s %s:%d;branch=%s;rport\r\nMax-Forwards: 70\r\n'
            'From: <%s>;tag=%s\r\nTo: <%s>%s\r\nCall-ID: %s\r\nCSeq: %d %s\r\n'
            'Contact: <sip:alice@%s:%d;transport=%s>\r\n%s' %
            (method, uri, via_transport, HOST, local_port, branch, from_uri, from_tag, to_uri or uri,
             (';tag=' + to) if to else '', call_id, cseq, method, HOST, local_port, via_transport.lower(), extra))
    if body:
        head += 'Content-Type: %s\r\n' % ctype
    head += 'Content-Length: %d\r\n\r\n' % len(body)
    return head.encode() + body


SDP = (b'v=0\r\no=alice 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n'
       b'm=audio 40000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n')


def status_of(data):
    m = re.match(rb'SIP/2\.0 (\d{3}) ', data)
    return int(m.group(1)) if m else None


def header(data, name):
    m = re.search(rb'(?im)^' + re.escape(name.encode()) + rb'\s*:\s*(.*?)\r?$', data)
    return m.group(1).decode('latin-1') if m else ''


class Udp:
    def __init__(self, port):
        self.port = port
        self.s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.s.bind((HOST, 0))
        self.local = self.s.getsockname()[1]

    def send(self, data):
        self.s.sendto(data, (HOST, self.port))

    def recv_until(self, want, seconds=3.0):
        """Datagrams until one for which want(data) holds (returned) or the time is up (None)."""
        end = time.time() + seconds
        while time.time() < end:
            self.s.settimeout(max(0.01, end - time.time()))
            try:
                data = self.s.recv(70000)
            except OSError:
                return None
            if want(data):
                return data
        return None


def tcp_invite_options_close(port, rounds):
    """Crash 1: a TCP client sends an INVITE and an OPTIONS, then closes at once, `rounds` times.
    The runtime is still writing its 100 Trying (and the OPTIONS' 200) when the connection goes."""
    done = 0
    port = int(port)
    # In bursts of 20: the connections of a burst are all made, written and closed before the
    # runtime reads the first of them, so it finds the requests and the end of the stream in one
    # go, and its read of the end comes while its answers are still being written.
    for burst in range(0, int(rounds), 20):
        conns = []
        for i in range(burst, min(burst + 20, int(rounds))):
            try:
                s = socket.create_connection((HOST, port), timeout=2)
            except OSError:
                continue
            conns.append((i, s))
        for i, s in conns:
            local = s.getsockname()[1]
            cid = 'dbl-%d-%s' % (i, tag())
            data = request('INVITE', 'sip:nobody-%d@%s' % (i, DOMAIN), 'TCP', local, cid, 1, tag(), body=SDP)
            data += request('OPTIONS', 'sip:%s:%d' % (HOST, port), 'TCP', local, cid + 'o', 1, tag())
            try:
                s.sendall(data)
                if i % 2:
                    # Half of them reset the connection instead of closing it cleanly.
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b'\x01\x00\x00\x00\x00\x00\x00\x00')
            except OSError:
                pass
            s.close()
            done += 1
        time.sleep(0.05)
    print(done)


def test_call_in_dialog(port, method):
    """Crash 2: a test call (933) answered by the runtime gets `method` in its dialog before the
    caller's ACK. Prints the status of the in-dialog answer, then 'read-back' when the runtime's
    read-back MESSAGE came after the ACK."""
    u = Udp(int(port))
    cid = 'tc-%s@hostile' % tag()
    ftag = tag()
    invite_branch = 'z9hG4bK' + tag()
    u.send(request('INVITE', 'sip:933@' + DOMAIN + ';user=phone', 'UDP', u.local, cid, 1, ftag, body=SDP, branch=invite_branch))
    ok = u.recv_until(lambda d: status_of(d) == 200 and b'INVITE' in header(d, 'CSeq').encode())
    if not ok:
        print('no 200 to the test call')
        return
    to_tag = re.search(r';tag=([^;>\s]+)', header(ok, 'To')).group(1)
    body = SDP if method in ('INVITE', 'UPDATE') else b''
    u.send(request(method, 'sip:192.0.2.1:5060', 'UDP', u.local, cid, 2, ftag, to=to_tag, body=body,
                   to_uri='sip:933@' + DOMAIN + ';user=phone'))
    answer = u.recv_until(lambda d: status_of(d) is not None and method.encode() in header(d, 'CSeq').encode() and status_of(d) >= 200)
    out = [str(status_of(answer)) if answer else 'none']
    ack = ('ACK sip:933@%s SIP/2.0\r\nVia: SIP/2.0/UDP %s:%d;branch=%s;rport\r\nMax-Forwards: 70\r\n'
           'From: <sip:alice@%s>;tag=%s\r\nTo: <sip:933@%s;user=phone>;tag=%s\r\nCall-ID: %s\r\nCSeq: 1 ACK\r\n'
           'Content-Length: 0\r\n\r\n' % (DOMAIN, HOST, u.local, 'z9hG4bK' + tag(), DOMAIN, ftag, DOMAIN, to_tag, cid)).encode()
    u.send(ack)
    msg = u.recv_until(lambda d: d.startswith(b'MESSAGE '))
    if msg:
        out.append('read-back')
        u.send(('SIP/2.0 200 OK\r\n' + ''.join('%s: %s\r\n' % (h, header(msg, h)) for h in ('Via', 'From', 'To', 'Call-ID', 'CSeq'))
                + 'Content-Length: 0\r\n\r\n').encode())
    print(' '.join(out))


class Tcp:
    def __init__(self, port, source=HOST):
        self.port = port
        self.s = socket.create_connection((HOST, port), timeout=3, source_address=(source, 0))
        self.local = self.s.getsockname()[1]
        self.buf = b''

    def send(self, data):
        self.s.sendall(data)

    def recv_until(self, want, seconds=3.0):
        end = time.time() + seconds
        while time.time() < end:
            while True:
                m = re.search(rb'\r\n\r\n', self.buf)
                if not m:
                    break
                head = self.buf[:m.end()]
                n = re.search(rb'(?im)^(?:content-length|l)\s*:\s*(\d+)', head)
                size = m.end() + (int(n.group(1)) if n else 0)
                if len(self.buf) < size:
                    break
                data, self.buf = self.buf[:size], self.buf[size:]
                if want(data):
                    return data
            self.s.settimeout(max(0.01, end - time.time()))
            try:
                more = self.s.recv(70000)
            except OSError:
                return None
            if not more:
                return None
            self.buf += more
        return None


def place_call(port, uri, transport='udp', source=HOST):
    """One call to `uri` from alice over `transport`: prints the final status of the INVITE; a 200 is
    acknowledged and hung up (BYE) at once."""
    port = int(port)
    c = Tcp(port, source) if transport == 'tcp' else Udp(port)
    via = 'TCP' if transport == 'tcp' else 'UDP'
    cid = 'call-%s@hostile' % tag()
    ftag = tag()
    invite = request('INVITE', uri, via, c.local, cid, 1, ftag, body=SDP)
    c.send(invite)
    final = None
    if transport != 'tcp':
        # A phone retransmits over UDP (Timer A: 0.5 s, doubling) until it hears anything.
        wait = 0.5
        for _ in range(6):
            heard = c.recv_until(lambda d: status_of(d) is not None and b'INVITE' in header(d, 'CSeq').encode(), wait)
            if heard:
                final = heard if status_of(heard) >= 200 else None
                break
            c.send(invite)
            wait *= 2
    final = final or c.recv_until(lambda d: (status_of(d) or 0) >= 200 and b'INVITE' in header(d, 'CSeq').encode(), 10)
    if not final:
        print('none')
        return
    st = status_of(final)
    to_hdr = header(final, 'To')
    if 200 <= st < 300:
        for method, cseq in (('ACK', 1), ('BYE', 2)):
            out = ('%s %s SIP/2.0\r\nVia: SIP/2.0/%s %s:%d;branch=z9hG4bK%s;rport\r\nMax-Forwards: 70\r\n'
                   'From: <sip:alice@%s>;tag=%s\r\nTo: %s\r\nCall-ID: %s\r\nCSeq: %d %s\r\nContent-Length: 0\r\n\r\n' %
                   (method, uri, via, HOST, c.local, tag(), DOMAIN, ftag, to_hdr, cid, cseq, method)).encode()
            c.send(out)
        # The BYE again (Timer E) until it is answered: a flood may crowd a datagram out.
        for _ in range(8):
            if c.recv_until(lambda d: status_of(d) is not None and b'BYE' in header(d, 'CSeq').encode(), 0.5 if transport != 'tcp' else 5):
                break
            if transport == 'tcp':
                break
            c.send(out)
    print(st)


def hold_connections(port, sources, per_source, seconds):
    """Opens `per_source` idle TCP connections from each of `sources` loopback addresses
    (127.0.0.2, 127.0.0.3, ...) and holds them `seconds`. Prints how many were open at the start
    of the hold, then (when the hold ends) how many the runtime had closed meanwhile."""
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = int(sources) * int(per_source) + 64
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, want), hard))
    held = []
    for i in range(int(sources)):
        for _ in range(int(per_source)):
            try:
                s = socket.create_connection((HOST, int(port)), timeout=2, source_address=('127.0.0.%d' % (i + 2), 0))
                held.append(s)
            except OSError:
                pass
    time.sleep(0.5)  # connections reset at accept show as closed now
    alive = [s for s in held if not closed(s)]
    print(len(alive), flush=True)
    time.sleep(float(seconds))
    print(sum(1 for s in alive if closed(s)), flush=True)


def closed(s):
    s.setblocking(False)
    try:
        return s.recv(1) == b''
    except BlockingIOError:
        return False
    except OSError:
        return True


def flood(port, method, seconds, senders):
    """Requests of `method` outside any dialog, each with a fresh branch and Call-ID, over UDP from
    `senders` sockets for `seconds`, as fast as one Python process goes. Prints how many were sent."""
    socks = [Udp(int(port)) for _ in range(int(senders))]
    end = time.time() + float(seconds)
    n = 0
    while time.time() < end:
        for u in socks:
            for _ in range(50):
                u.send(request(method, 'sip:bob@' + DOMAIN, 'UDP', u.local, 'fl-%d-%s' % (n, tag()), 1, 'f', body=b'x' if method == 'MESSAGE' else b'',
                               ctype='text/plain'))
                n += 1
            try:
                u.s.setblocking(False)
                while u.s.recv(70000):
                    pass
            except OSError:
                pass
    print(n)


def many_vias(port, count, layout, method='OPTIONS', transport='udp'):
    """A request with `count` Via values besides its own top one, one a line (`lines`) or 200 to a
    line (`lists`). Prints the status of the answer and how many Via lines it carried."""
    port = int(port)
    count = int(count)
    c = Tcp(port) if transport == 'tcp' else Udp(port)
    via = 'TCP' if transport == 'tcp' else 'UDP'
    values = ['SIP/2.0/UDP 10.%d.%d.%d:5060;branch=z9hG4bKv%d' % (i >> 16 & 255, i >> 8 & 255, i & 255, i) for i in range(count)]
    if layout == 'lines':
        extra = ''.join('Via: %s\r\n' % v for v in values)
    else:
        extra = ''.join('Via: %s\r\n' % ', '.join(values[i:i + 200]) for i in range(0, count, 200))
    uri = 'sip:911@%s;user=phone' % DOMAIN if method == 'INVITE' else 'sip:%s:%d' % (HOST, port)
    data = request(method, uri, via, c.local, 'vias-%s@hostile' % tag(), 1, tag(), body=SDP if method == 'INVITE' else b'', extra=extra)
    # Our Via must stay on top: the extra ones follow it.
    c.send(data)
    answer = c.recv_until(lambda d: (status_of(d) or 0) >= 200, 5)
    if not answer:
        print('none')
        return
    print(status_of(answer), len(re.findall(rb'(?im)^via\s*:', answer)))


def trickle(port, seconds):
    """A TCP connection that sends the start of an OPTIONS one byte every 0.4 s. Prints after how
    many seconds the runtime closed it, or 'open' when it still was after `seconds`."""
    s = socket.create_connection((HOST, int(port)), timeout=2)
    data = request('OPTIONS', 'sip:%s:%s' % (HOST, port), 'TCP', s.getsockname()[1], 'tr-%s' % tag(), 1, tag())
    start = time.time()
    i = 0
    while time.time() - start < float(seconds):
        try:
            s.send(data[i:i + 1])
        except OSError:
            break
        i = (i + 1) % (len(data) - 4)  # never the blank line that would end the message
        time.sleep(0.4)
        if closed(s):
            break
        s.setblocking(True)
        s.settimeout(2)
    took = time.time() - start
    print('open' if took >= float(seconds) else '%.1f' % took)


def answer_to(req, status, reason, to_tag, body=b'', contact=None):
    out = 'SIP/2.0 %d %s\r\n' % (status, reason)
    for h in ('Via', 'From'):
        for v in re.findall(rb'(?im)^' + h.encode() + rb'\s*:\s*(.*?)\r?$', req):
            out += '%s: %s\r\n' % (h, v.decode('latin-1'))
    to = header(req, 'To')
    out += 'To: %s%s\r\n' % (to, '' if ';tag=' in to else ';tag=' + to_tag)
    out += 'Call-ID: %s\r\nCSeq: %s\r\n' % (header(req, 'Call-ID'), header(req, 'CSeq'))
    if contact:
        out += 'Contact: <%s>\r\n' % contact
    if body:
        out += 'Content-Type: application/sdp\r\n'
    out += 'Content-Length: %d\r\n\r\n' % len(body)
    return out.encode() + body


def reinvite_overlap(port, provider_port):
    """Issue 24 item 19: a 911 call answered by a stand-in provider (TCP on `provider_port`) that
    holds each re-INVITE 1.5 s before its 200. The caller sends two re-INVITEs back to back, then,
    while its first is held, the provider sends one of its own. Prints the caller's answers (the
    second re-INVITE's, then the first's) and the provider's (its crossing re-INVITE's)."""
    lst = socket.socket()
    lst.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lst.bind((HOST, int(provider_port)))
    lst.listen(4)
    lst.settimeout(10)
    caller = Udp(int(port))
    cid = 'ri-%s@hostile' % tag()
    ftag = tag()
    uri = 'sip:911@%s;user=phone' % DOMAIN
    caller.send(request('INVITE', uri, 'UDP', caller.local, cid, 1, ftag, body=SDP))
    conn, _ = lst.accept()
    prov = Tcp.__new__(Tcp)
    prov.s, prov.buf, prov.local, prov.port = conn, b'', conn.getsockname()[1], 0
    inv = prov.recv_until(lambda d: d.startswith(b'INVITE '), 5)
    ptag = tag()
    me = 'sip:provider@%s:%s;transport=tcp' % (HOST, provider_port)
    prov.send(answer_to(inv, 200, 'OK', ptag, SDP, me))
    ok = caller.recv_until(lambda d: status_of(d) == 200 and b'INVITE' in header(d, 'CSeq').encode(), 5)
    to_hdr = header(ok, 'To')
    to_tag = re.search(r';tag=([^;>\s]+)', to_hdr).group(1)
    ack = request('ACK', uri, 'UDP', caller.local, cid, 1, ftag, to=to_tag, to_uri=uri).replace(b'CSeq: 1 ACK', b'CSeq: 1 ACK')
    caller.send(ack)
    prov.recv_until(lambda d: d.startswith(b'ACK '), 5)
    caller.send(request('INVITE', uri, 'UDP', caller.local, cid, 2, ftag, to=to_tag, body=SDP, to_uri=uri))
    first = prov.recv_until(lambda d: d.startswith(b'INVITE '), 5)
    caller.send(request('INVITE', uri, 'UDP', caller.local, cid, 3, ftag, to=to_tag, body=SDP, to_uri=uri))
    second = caller.recv_until(lambda d: (status_of(d) or 0) >= 200 and b'3 INVITE' in header(d, 'CSeq').encode(), 3)
    # The provider's own re-INVITE, crossing the caller's first.
    contact = re.search(r'<([^>]+)>', header(inv, 'Contact')).group(1)
    own = ('INVITE %s SIP/2.0\r\nVia: SIP/2.0/TCP %s:%s;branch=z9hG4bK%s\r\nMax-Forwards: 70\r\nFrom: %s;tag=%s\r\nTo: %s\r\n'
           'Call-ID: %s\r\nCSeq: 7 INVITE\r\nContact: <%s>\r\nContent-Type: application/sdp\r\nContent-Length: %d\r\n\r\n' %
           (contact, HOST, provider_port, tag(), header(inv, 'To'), ptag, header(inv, 'From'), header(inv, 'Call-ID'), me, len(SDP))).encode() + SDP
    prov.send(own)
    glare = prov.recv_until(lambda d: (status_of(d) or 0) >= 200 and b'7 INVITE' in header(d, 'CSeq').encode(), 3)
    time.sleep(1.5)
    prov.send(answer_to(first, 200, 'OK', ptag, SDP, me))
    first_answer = caller.recv_until(lambda d: (status_of(d) or 0) >= 200 and b'2 INVITE' in header(d, 'CSeq').encode(), 3)
    caller.send(request('ACK', uri, 'UDP', caller.local, cid, 2, ftag, to=to_tag, to_uri=uri))
    caller.send(request('BYE', uri, 'UDP', caller.local, cid, 4, ftag, to=to_tag, to_uri=uri))
    bye = prov.recv_until(lambda d: d.startswith(b'BYE '), 5)
    if bye:
        prov.send(answer_to(bye, 200, 'OK', ptag))
    retry = header(second, 'Retry-After') if second else ''
    print(status_of(second) if second else 'none', 'retry-after' if retry.strip().isdigit() and int(retry) <= 10 else 'no-retry-after',
          status_of(first_answer) if first_answer else 'none', status_of(glare) if glare else 'none')


def unreadable_multipart(port):
    """A 911 INVITE whose multipart body names a boundary it does not use. Prints the final status."""
    u = Udp(int(port))
    body = (b'--real\r\nContent-Type: application/sdp\r\n\r\n' + SDP + b'\r\n--real\r\nContent-Type: text/plain\r\n\r\nhello\r\n--real--\r\n')
    uri = 'sip:911@%s;user=phone' % DOMAIN
    cid = 'mp-%s@hostile' % tag()
    ftag = tag()
    u.send(request('INVITE', uri, 'UDP', u.local, cid, 1, ftag, body=body, ctype='multipart/mixed;boundary=other'))
    final = u.recv_until(lambda d: (status_of(d) or 0) >= 200 and b'INVITE' in header(d, 'CSeq').encode(), 10)
    if final and status_of(final) == 200:
        to_tag = re.search(r';tag=([^;>\s]+)', header(final, 'To')).group(1)
        u.send(request('ACK', uri, 'UDP', u.local, cid, 1, ftag, to=to_tag, to_uri=uri))
        u.send(request('BYE', uri, 'UDP', u.local, cid, 2, ftag, to=to_tag, to_uri=uri))
        u.recv_until(lambda d: b'BYE' in header(d, 'CSeq').encode(), 3)
    print(status_of(final) if final else 'none')


CASES = {
    'many-vias': many_vias,
    'trickle': trickle,
    'reinvite-overlap': reinvite_overlap,
    'unreadable-multipart': unreadable_multipart,
    'call': place_call,
    'hold-connections': hold_connections,
    'flood': flood,
    'tcp-invite-options-close': tcp_invite_options_close,
    'test-call-in-dialog': test_call_in_dialog,
}

if __name__ == '__main__':
    CASES[sys.argv[1]](*sys.argv[2:])
