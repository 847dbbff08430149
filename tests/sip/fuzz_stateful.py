#!/usr/bin/env python3
"""A stateful fuzzer of the running `e911ctl serve` (issue 24 item 3).

Usage:
  fuzz_stateful.py run PORT SERVER_PID SECONDS SEED OUT_DIR
  fuzz_stateful.py replay PORT SERVER_PID TIMES FILE...

`run` plays batches of random calls from one seeded PRNG against the runtime on 127.0.0.1:PORT:
UDP and TCP callers placing emergency (911), test (933, urn:service:test.sos) and ordinary calls,
requests inside the dialog at every state of the call (before any answer, ringing, answered before
the ACK, confirmed, after the BYE), CANCEL, ACK and BYE races, connections closed or reset before
the answers are read, and mutated messages (a reused Via branch, wrong CSeq, tags and
Content-Length, huge headers, bytes that are not text). Python stand-ins for the samples' trunks
(provider-primary 5070 and provider-backup 5071 over TCP, the PSTN gateways 5072 and 5074 over UDP,
the carrier 5073 over TCP) answer, ring, fail, hang up or never answer, from the same seed.

After every batch the runtime must still run and answer OPTIONS over UDP and over TCP. When it does
not, the batches played so far are written to OUT_DIR/stateful-SEED.json (replayable with
`replay`, and kept as tests/fuzz/regressions/stateful/<name>.json once the crash is fixed) and the
exit status is 1. The seed fixes the messages sent and the trunks' choices, not their timing
against the runtime's threads: a crash that needs a race may take a few replays.

Every wait is bounded (E911_TEST_TIME_SCALE stretches them, as under ASan), and only 127.0.0.1 is
ever addressed.
"""
import json
import os
import random
import re
import socket
import struct
import sys
import threading
import time

HOST = '127.0.0.1'
DOMAIN = 'contoso.example'
SCALE = float(os.environ.get('E911_TEST_TIME_SCALE') or 1)
IN_DIALOG = ['INFO', 'INVITE', 'UPDATE', 'OPTIONS', 'MESSAGE', 'BYE', 'PRACK', 'REFER']
TARGETS = {
    'emergency': ['sip:911@%s;user=phone' % DOMAIN, 'tel:911', 'sip:+911@%s;user=phone' % DOMAIN],
    'test': ['sip:933@%s;user=phone' % DOMAIN, 'urn:service:test.sos'],
    'ordinary': ['sip:+14255550199@%s;user=phone' % DOMAIN, 'sip:+13035550100@%s;user=phone' % DOMAIN,
                 'sip:bob@%s' % DOMAIN, 'sip:+442071234567@%s;user=phone' % DOMAIN],
}
SDP = (b'v=0\r\no=alice 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n'
       b'm=audio 40000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n')
# FUZZ_KINDS narrows the calls (a comma-separated list, repeats weigh more); a seed replays only
# with the same list.
KINDS = os.environ.get('FUZZ_KINDS', 'emergency,emergency,test,ordinary,ordinary').split(',')
MUTATIONS = ['branch-reuse', 'cseq-low', 'cseq-huge', 'cseq-text', 'cseq-method', 'no-to-tag', 'wrong-to-tag',
             'wrong-from-tag', 'length-short', 'length-long', 'length-negative', 'length-huge', 'huge-header',
             'bad-bytes', 'nul', 'truncate', 'drop-header', 'many-vias', 'folded', 'compact']


def status_of(data):
    m = re.match(rb'SIP/2\.0 (\d{3}) ', data)
    return int(m.group(1)) if m else None


def header(data, name):
    m = re.search(rb'(?im)^' + re.escape(name.encode()) + rb'[ \t]*:[ \t]*(.*?)\r?$', data)
    return m.group(1) if m else b''


def split_stream(buf):
    """Whole messages at the front of a TCP stream buffer, and what is left."""
    out = []
    while True:
        end = buf.find(b'\r\n\r\n')
        if end < 0:
            return out, buf
        n = re.search(rb'(?im)^(?:content-length|l)[ \t]*:[ \t]*(\d+)', buf[:end + 4])
        size = end + 4 + (int(n.group(1)) if n else 0)
        if len(buf) < size:
            return out, buf
        out.append(buf[:size])
        buf = buf[size:]


# --- Trunk stand-ins ----------------------------------------------------------------------------------

class Trunk:
    """One of the samples' trunks: answers the runtime's requests as the seed decides."""

    def __init__(self, port, transport):
        self.port, self.transport = port, transport
        self.lock = threading.Lock()
        self.pending = {}   # Call-ID -> the INVITE, while it has no final answer
        self.reseed('')
        if transport == 'udp':
            self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self.sock.bind((HOST, port))
            self.sock.settimeout(0.2)
            threading.Thread(target=self.serve_udp, daemon=True).start()
        else:
            self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self.sock.bind((HOST, port))
            self.sock.listen(64)
            self.sock.settimeout(0.2)
            threading.Thread(target=self.serve_tcp, daemon=True).start()

    def reseed(self, seed):
        """The trunk's choices from here on follow the seed (a replay starts where its run did)."""
        with self.lock:
            self.rng = random.Random('%s-trunk-%d' % (seed, self.port))
            self.invites = 0
            self.force = None   # 'answer': every INVITE answered (the clean 911 at the end)
            self.seen = []      # the INVITEs received

    def serve_udp(self):
        while True:
            try:
                data, peer = self.sock.recvfrom(70000)
            except OSError:
                continue
            self.handle(data, lambda d, p=peer: self.send_udp(d, p), None)

    def send_udp(self, data, peer):
        try:
            self.sock.sendto(data, peer)
        except OSError:
            pass  # closed at the end of the batches

    def serve_tcp(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            threading.Thread(target=self.serve_conn, args=(conn,), daemon=True).start()

    def serve_conn(self, conn):
        conn.settimeout(0.2)
        buf = b''
        def send(d):
            try:
                conn.sendall(d)
            except OSError:
                pass
        while True:
            try:
                more = conn.recv(70000)
            except socket.timeout:
                continue
            except OSError:
                break
            if not more:
                break
            msgs, buf = split_stream(buf + more)
            for m in msgs:
                self.handle(m, send, conn)
        conn.close()

    def reply(self, req, code, reason, to_tag=None, body=b''):
        to = header(req, 'To')
        if to_tag and b';tag=' not in to:
            to += b';tag=' + to_tag.encode()
        vias = b''.join(b'Via: ' + v + b'\r\n' for v in re.findall(rb'(?im)^(?:via|v)[ \t]*:[ \t]*(.*?)\r?$', req))
        out = (b'SIP/2.0 %d %s\r\n' % (code, reason.encode()) + vias + b'From: ' + header(req, 'From') + b'\r\nTo: ' + to +
               b'\r\nCall-ID: ' + header(req, 'Call-ID') + b'\r\nCSeq: ' + header(req, 'CSeq') +
               b'\r\nContact: <sip:trunk@127.0.0.1:%d;transport=%s>\r\n' % (self.port, self.transport.encode()))
        if body:
            out += b'Content-Type: application/sdp\r\n'
        return out + b'Content-Length: %d\r\n\r\n' % len(body) + body

    def handle(self, req, send, conn):
        if status_of(req) is not None:
            return  # an answer to a BYE of ours
        method = req.split(b' ', 1)[0].decode('latin-1')
        call_id = header(req, 'Call-ID')
        if method == 'INVITE' and b';tag=' not in header(req, 'To'):
            with self.lock:
                self.invites += 1
                mode = self.force or self.rng.choice(['answer', 'answer', 'answer', 'ring', 'fail', 'silent', 'hangup', 'reset'])
                self.seen.append(req)
                code = self.rng.choice([486, 500, 503, 404, 408, 603])
                delay = self.rng.choice([0, 0, 0.05, 0.3])
                tag = 'tr%x' % self.rng.randrange(1 << 32)
            threading.Thread(target=self.play, args=(req, send, conn, mode, code, delay, tag), daemon=True).start()
        elif method == 'CANCEL':
            send(self.reply(req, 200, 'OK'))
            with self.lock:
                pend = self.pending.pop(call_id, None)
            if pend:
                send(self.reply(pend, 487, 'Request Terminated', 'cancelled'))
        elif method != 'ACK':
            send(self.reply(req, 200, 'OK', 'x'))

    def play(self, req, send, conn, mode, code, delay, tag):
        call_id = header(req, 'Call-ID')
        with self.lock:
            self.pending[call_id] = req
        if mode == 'silent':
            return
        send(self.reply(req, 100, 'Trying'))
        time.sleep(delay)
        send(self.reply(req, 180, 'Ringing', tag))
        if mode == 'ring':
            return
        if mode == 'reset' and conn is not None:
            try:
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0))
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        time.sleep(delay)
        with self.lock:
            if self.pending.pop(call_id, None) is None:
                return  # cancelled meanwhile
        if mode == 'fail':
            send(self.reply(req, code, 'Failed', tag))
            return
        send(self.reply(req, 200, 'OK', tag, SDP))
        if mode == 'hangup':
            time.sleep(delay + 0.1)
            contact = re.search(rb'<([^>]+)>', header(req, 'Contact') or b'<sip:127.0.0.1>')
            via = 'SIP/2.0/%s 127.0.0.1:%d;branch=z9hG4bKtb%x' % (self.transport.upper(), self.port, random.randrange(1 << 40))
            send(('BYE %s SIP/2.0\r\nVia: %s\r\nMax-Forwards: 70\r\nFrom: %s;tag=%s\r\nTo: %s\r\nCall-ID: %s\r\n'
                  'CSeq: 1 BYE\r\nContent-Length: 0\r\n\r\n' %
                  (contact.group(1).decode('latin-1') if contact else 'sip:127.0.0.1', via,
                   re.sub(r';tag=.*', '', header(req, 'To').decode('latin-1')), tag,
                   header(req, 'From').decode('latin-1'), call_id.decode('latin-1'))).encode())


# --- Callers --------------------------------------------------------------------------------------

def make_batch(rng, calls):
    """A batch: `calls` calls, each a list of steps, drawn from rng alone (so a seed replays it)."""
    batch = []
    for _ in range(calls):
        kind = rng.choice(KINDS)
        call = {'transport': rng.choice(['udp', 'tcp']), 'uri': rng.choice(TARGETS[kind]),
                'tag': '%x' % rng.randrange(1 << 40), 'id': '%x' % rng.randrange(1 << 60), 'steps': []}
        steps = call['steps']

        def mutated():
            return rng.choice(MUTATIONS) if rng.random() < 0.25 else None
        steps.append(['INVITE', mutated()])
        for _ in range(rng.randrange(1, 9)):
            r = rng.random()
            if r < 0.3:
                steps.append(['wait', rng.choice(['any', 'provisional', 'final', 'final']), rng.choice([0.05, 0.3, 1.0])])
            elif r < 0.55:
                steps.append([rng.choice(IN_DIALOG), mutated()])
            elif r < 0.65:
                steps.append(['ACK', mutated()])
            elif r < 0.73:
                steps.append(['CANCEL', mutated()])
            elif r < 0.8:
                steps.append(['BYE', mutated()])
            elif r < 0.86:
                steps.append(['garbage', rng.randrange(1 << 30)])
            elif r < 0.9:
                steps.append(['retransmit'])
            else:
                steps.append([rng.choice(['close', 'reset', 'reconnect'])])
        if rng.random() < 0.5:
            steps.append(['wait', 'final', 1.0])
            steps.append(['ACK', None])
            steps.append(['BYE', None])
        steps.append([rng.choice(['close', 'reset', 'linger'])])
        batch.append(call)
    if rng.random() < 0.3:
        # A storm: TCP connections each written an INVITE and more in one go, then all closed or
        # reset before anything is read, while the runtime is still writing its answers.
        batch.append({'storm': rng.randrange(5, 30), 'uri': rng.choice(TARGETS[rng.choice(KINDS)]),
                      'more': [rng.choice(IN_DIALOG + ['OPTIONS', 'CANCEL', 'ACK']) for _ in range(rng.randrange(1, 4))],
                      'reset': rng.randrange(1 << 30), 'id': '%x' % rng.randrange(1 << 60)})
    return batch


class Caller:
    def __init__(self, port, call):
        self.port, self.call = port, call
        self.rng = random.Random(call['id'])
        self.transport = call['transport']
        self.sock = None
        self.buf = b''
        self.cseq = 1
        self.to_tag = None
        self.final = None
        self.provisional = False
        self.invite = None
        self.invite_branch = 'z9hG4bK' + call['id']
        self.connect()

    def connect(self):
        try:
            if self.transport == 'tcp':
                self.sock = socket.create_connection((HOST, self.port), timeout=1 * SCALE)
            else:
                self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                self.sock.bind((HOST, 0))
            self.local = self.sock.getsockname()[1]
        except OSError:
            self.sock = None
            self.local = 9

    def build(self, method, mutation, branch=None, to_tag=True, cseq=None, body=b''):
        via = 'SIP/2.0/%s %s:%d;branch=%s;rport' % (self.transport.upper(), HOST, self.local,
                                                    branch or 'z9hG4bK%x' % self.rng.randrange(1 << 48))
        cs = '%d %s' % (cseq if cseq is not None else self.cseq, method)
        to = '<%s>' % self.call['uri']
        if to_tag and self.to_tag:
            to += ';tag=' + self.to_tag
        from_tag = self.call['tag']
        hdrs = [('Via', via), ('Max-Forwards', '70'), ('From', '<sip:alice@%s>;tag=%s' % (DOMAIN, from_tag)), ('To', to),
                ('Call-ID', self.call['id'] + '@fuzz'), ('CSeq', cs),
                ('Contact', '<sip:alice@%s:%d;transport=%s>' % (HOST, self.local, self.transport))]
        if method == 'PRACK':
            hdrs.append(('RAck', '1 1 INVITE'))
        if method == 'REFER':
            hdrs.append(('Refer-To', '<sip:+14255550199@%s;user=phone>' % DOMAIN))
        if method in ('INFO', 'MESSAGE'):
            body = b'fuzz'
            hdrs.append(('Content-Type', 'text/plain'))
        elif body:
            hdrs.append(('Content-Type', 'application/sdp'))
        length = str(len(body))
        rng = self.rng
        if mutation == 'branch-reuse':
            hdrs[0] = ('Via', 'SIP/2.0/%s %s:%d;branch=%s;rport' % (self.transport.upper(), HOST, self.local, self.invite_branch))
        elif mutation == 'cseq-low':
            hdrs[5] = ('CSeq', '0 ' + method)
        elif mutation == 'cseq-huge':
            hdrs[5] = ('CSeq', '%d %s' % (rng.choice([2 ** 31, 2 ** 32 + 1, 10 ** 30]), method))
        elif mutation == 'cseq-text':
            hdrs[5] = ('CSeq', rng.choice(['abc ' + method, method, '', '-1 ' + method, '1']))
        elif mutation == 'cseq-method':
            hdrs[5] = ('CSeq', '%d %s' % (self.cseq, rng.choice(IN_DIALOG + ['ACK', 'CANCEL', 'FOO'])))
        elif mutation == 'no-to-tag':
            hdrs[3] = ('To', '<%s>' % self.call['uri'])
        elif mutation == 'wrong-to-tag':
            hdrs[3] = ('To', '<%s>;tag=%s' % (self.call['uri'], rng.choice(['', 'x', 'zz' * 200])))
        elif mutation == 'wrong-from-tag':
            hdrs[2] = ('From', '<sip:alice@%s>;tag=%s' % (DOMAIN, rng.choice(['', 'other', ';;;'])))
        elif mutation == 'length-short':
            length = str(max(0, len(body) - rng.randrange(1, 20)))
        elif mutation == 'length-long':
            length = str(len(body) + rng.randrange(1, 2000))
        elif mutation == 'length-negative':
            length = '-%d' % rng.randrange(1, 100)
        elif mutation == 'length-huge':
            length = rng.choice(['99999999999999999999', '4294967296', '2147483648'])
        elif mutation == 'huge-header':
            hdrs.append(('Subject', 'x' * rng.choice([1000, 8000, 60000 if self.transport == 'tcp' else 30000])))
        elif mutation == 'many-vias':
            hdrs[1:1] = [('Via', 'SIP/2.0/UDP 192.0.2.%d:5060;branch=z9hG4bKv%d' % (i % 250 + 1, i))
                         for i in range(rng.choice([70, 300, 1200]))]
        elif mutation == 'folded':
            hdrs.append(('Subject', 'a\r\n b\r\n\tc'))
        elif mutation == 'drop-header':
            del hdrs[rng.randrange(len(hdrs))]
        head = '%s %s SIP/2.0\r\n' % (method, self.call['uri'])
        if mutation == 'compact':
            short = {'Via': 'v', 'From': 'f', 'To': 't', 'Call-ID': 'i', 'Contact': 'm', 'Content-Type': 'c'}
            hdrs = [(short.get(k, k), v) for k, v in hdrs]
        head += ''.join('%s: %s\r\n' % h for h in hdrs) + 'Content-Length: %s\r\n\r\n' % length
        data = head.encode('latin-1') + body
        if mutation == 'bad-bytes':
            pos = rng.randrange(len(head))
            data = data[:pos] + bytes(rng.randrange(128, 256) for _ in range(rng.randrange(1, 8))) + data[pos:]
        elif mutation == 'nul':
            pos = rng.randrange(len(head))
            data = data[:pos] + b'\0' + data[pos:]
        elif mutation == 'truncate':
            data = data[:rng.randrange(1, len(data))]
        return data

    def send(self, data):
        if self.sock is None:
            return
        try:
            if self.transport == 'tcp':
                self.sock.sendall(data)
            else:
                self.sock.sendto(data[:65000], (HOST, self.port))
        except OSError:
            pass

    def pump(self, until, seconds):
        """Reads what comes for up to `seconds`, answering the runtime's requests, until
        until() holds."""
        end = time.time() + seconds * SCALE
        while self.sock is not None and not until() and time.time() < end:
            self.sock.settimeout(max(0.01, end - time.time()))
            try:
                more = self.sock.recv(70000)
            except OSError:
                return
            if self.transport == 'tcp':
                if not more:
                    self.sock.close()
                    self.sock = None
                    return
                msgs, self.buf = split_stream(self.buf + more)
            else:
                msgs = [more]
            for m in msgs:
                self.take(m)

    def take(self, m):
        st = status_of(m)
        if st is None:
            # A request of the runtime's (a test call's read-back MESSAGE, a BYE): answered 200.
            if m[:3] != b'ACK':
                vias = b''.join(b'Via: ' + v + b'\r\n' for v in re.findall(rb'(?im)^(?:via|v)[ \t]*:[ \t]*(.*?)\r?$', m))
                self.send(b'SIP/2.0 200 OK\r\n' + vias + b''.join(b'%s: %s\r\n' % (h, header(m, h.decode()))
                                                                   for h in (b'From', b'To', b'Call-ID', b'CSeq'))
                          + b'Content-Length: 0\r\n\r\n')
            return
        if b'INVITE' not in header(m, 'CSeq'):
            return
        t = re.search(rb';tag=([^;>\s]+)', header(m, 'To'))
        if t and self.to_tag is None:
            self.to_tag = t.group(1).decode('latin-1')
        if st < 200:
            self.provisional = True
        elif self.final is None:
            self.final = st

    def step(self, s, port):
        op = s[0]
        if op == 'wait':
            want = {'any': lambda: self.provisional or self.final is not None,
                    'provisional': lambda: self.provisional, 'final': lambda: self.final is not None}[s[1]]
            self.pump(want, s[2])
        elif op == 'INVITE' and self.invite is None:
            self.invite = self.build('INVITE', s[1], branch=self.invite_branch, to_tag=False, body=SDP)
            self.send(self.invite)
        elif op == 'retransmit' and self.invite:
            self.send(self.invite)
        elif op == 'ACK':
            # The ACK of a 2xx is a new transaction; of a failure, the INVITE's.
            branch = self.invite_branch if self.final and self.final >= 300 else None
            self.send(self.build('ACK', s[1], branch=branch, cseq=1))
        elif op == 'CANCEL':
            self.send(self.build('CANCEL', s[1], branch=self.invite_branch, to_tag=False, cseq=1))
        elif op in IN_DIALOG:
            self.cseq += 1
            self.send(self.build(op, s[1], body=SDP if op in ('INVITE', 'UPDATE') else b''))
        elif op == 'garbage':
            g = random.Random(s[1])
            data = bytes(g.randrange(256) for _ in range(g.randrange(1, 3000)))
            if g.random() < 0.5 and self.invite:
                cut = g.randrange(len(self.invite))
                data = self.invite[:cut] + data
            self.send(data)
        elif op in ('close', 'reset', 'reconnect', 'linger') and self.sock is not None:
            if op == 'linger':
                self.pump(lambda: False, 0.05)
                if self.sock is None:
                    return
            if op == 'reset' and self.transport == 'tcp':
                try:
                    self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0))
                except OSError:
                    pass
            if self.transport == 'tcp' or op != 'reconnect':
                self.sock.close()
                self.sock = None
                if op == 'reconnect':
                    self.connect()
        # Whatever has come meanwhile is read (a TCP caller that closes reads nothing).
        if self.sock is not None and op != 'wait':
            self.pump(lambda: False, 0.0)


def play_storm(port, storm):
    resets = random.Random(storm['reset'])
    callers = []
    for i in range(storm['storm']):
        c = Caller(port, {'transport': 'tcp', 'uri': storm['uri'], 'tag': 's%d' % i, 'id': '%s-%d' % (storm['id'], i)})
        if c.sock is not None:
            callers.append(c)
    for c in callers:
        data = c.build('INVITE', None, branch=c.invite_branch, to_tag=False, body=SDP)
        for method in storm['more']:
            c.cseq += 1
            data += c.build(method, None, branch=c.invite_branch if method in ('CANCEL', 'ACK') else None,
                            cseq=1 if method in ('CANCEL', 'ACK') else None)
        c.send(data)
        if resets.random() < 0.5:
            try:
                c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0))
            except OSError:
                pass
        c.sock.close()


def play_call(port, call):
    if 'storm' in call:
        play_storm(port, call)
        return
    c = Caller(port, call)
    for s in call['steps']:
        c.step(s, port)
    if c.sock is not None:
        c.sock.close()


def play_batch(port, batch):
    """The calls of a batch at once, each in a thread of its own."""
    threads = [threading.Thread(target=play_call, args=(port, call), daemon=True) for call in batch]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30 * SCALE)


# --- The runtime's health -----------------------------------------------------------------------

def running(pid):
    try:
        with open('/proc/%d/stat' % pid) as f:
            return f.read().rsplit(')', 1)[1].split()[0] not in ('Z', 'X')
    except OSError:
        return False


def options_ok(port, transport):
    branch = 'z9hG4bKfzprobe%d' % random.randrange(10 ** 9)
    for _ in range(3):
        try:
            if transport == 'tcp':
                s = socket.create_connection((HOST, port), timeout=2 * SCALE)
            else:
                s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                s.bind((HOST, 0))
                s.settimeout(2 * SCALE)
            cp = s.getsockname()[1]
            req = ('OPTIONS sip:127.0.0.1:%d SIP/2.0\r\nVia: SIP/2.0/%s 127.0.0.1:%d;branch=%s;rport\r\n'
                   'Max-Forwards: 70\r\nFrom: <sip:probe@127.0.0.1>;tag=p\r\nTo: <sip:127.0.0.1:%d>\r\n'
                   'Call-ID: %s@probe\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n' %
                   (port, transport.upper(), cp, branch, port, branch)).encode()
            if transport == 'tcp':
                s.sendall(req)
            else:
                s.sendto(req, (HOST, port))
            end = time.time() + 2 * SCALE
            while time.time() < end:
                data = s.recv(70000)
                if not data:
                    break
                if status_of(data) == 200:
                    s.close()
                    return True
            s.close()
        except OSError:
            pass
    return False


def healthy(port, pid):
    if not running(pid):
        return 'e911ctl serve died'
    for transport in ('udp', 'tcp'):
        if not options_ok(port, transport):
            return 'no 200 to OPTIONS over %s' % transport.upper()
    return None


TRUNKS = []


def play(port, pid, batches, source):
    """Plays batches (a list, or made on the fly), checking the runtime after each. Returns (the
    batches played, what went wrong or None, the INVITEs the trunks got)."""
    if not TRUNKS:
        TRUNKS.extend([Trunk(5070, 'tcp'), Trunk(5071, 'tcp'), Trunk(5072, 'udp'), Trunk(5073, 'tcp'), Trunk(5074, 'udp')])
    for t in TRUNKS:
        t.reseed(source)
    played = []
    problem = None
    for batch in batches:
        played.append(batch)
        play_batch(port, batch)
        problem = healthy(port, pid)
        if problem:
            break
    return played, problem, sum(t.invites for t in TRUNKS)


def clean_911(port):
    """A clean 911 over UDP once the batches are over, every trunk answering: the caller must get
    200 from a provider trunk (5070 or 5071), and the BYE its 200. Calls the fuzzer left behind may
    still send the trunks their BYEs meanwhile, which these stand-ins answer."""
    for t in TRUNKS:
        t.force = 'answer'
        t.seen = []
    c = Caller(port, {'transport': 'udp', 'uri': 'sip:911@%s;user=phone' % DOMAIN, 'tag': 'clean', 'id': 'clean911%x' % random.randrange(1 << 40),
                      'steps': []})
    c.step(['INVITE', None], port)
    for _ in range(6):
        c.pump(lambda: c.final is not None, 2)
        if c.final is not None or c.provisional:
            break
        c.send(c.invite)  # Timer A
    c.pump(lambda: c.final is not None, 15)
    if c.final != 200:
        return 'a clean 911: final status %s, want 200' % c.final
    by = [t.port for t in TRUNKS if any(b'911@' in r.split(b' ', 2)[1] for r in t.seen)]
    if not set(by) & {5070, 5071}:
        return 'a clean 911 was answered, but no provider trunk got it (trunks: %s)' % by
    c.step(['ACK', None], port)
    c.cseq += 1
    bye = c.build('BYE', None)
    got = {}
    orig = c.take

    def take(m):
        if status_of(m) is not None and b'BYE' in header(m, 'CSeq') and status_of(m) >= 200:
            got['bye'] = status_of(m)
        orig(m)
    c.take = take
    for _ in range(4):
        c.send(bye)  # again after 2 s (Timer E, roughly)
        c.pump(lambda: 'bye' in got, 2)
        if 'bye' in got:
            break
    return None if got.get('bye') == 200 else 'a clean 911: the BYE got %s, want 200' % got.get('bye')


def main():
    mode, port, pid = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    if mode == 'replay':
        # Each file `times` times: the crashes they keep needed a race, which one replay may miss.
        times = int(sys.argv[4])
        for path in sys.argv[5:] * times:
            with open(path) as f:
                saved = json.load(f)
            start = time.time()
            played, problem, invites = play(port, pid, saved['batches'], saved['seed'])
            print('replay %s: %d batches, %d INVITEs to the trunks in %.1f s: %s' %
                  (path, len(played), invites, time.time() - start, problem or 'ok'), flush=True)
            if problem:
                sys.exit(1)
        return
    seconds, seed, out_dir = float(sys.argv[4]), sys.argv[5], sys.argv[6]
    rng = random.Random(seed)
    end = time.time() + seconds

    def batches():
        while time.time() < end:
            yield make_batch(rng, rng.randrange(2, 9))
    print('fuzz_stateful: seed %s, %g s%s' % (seed, seconds, ', FUZZ_KINDS=' + os.environ['FUZZ_KINDS'] if 'FUZZ_KINDS' in os.environ else ''),
          flush=True)
    played, problem, invites = play(port, pid, batches(), seed)
    if not problem:
        problem = clean_911(port) or healthy(port, pid)
        print('fuzz_stateful: seed %s: a clean 911 afterwards: %s' % (seed, problem or 'answered by the provider, hung up'))
    calls = sum(len(b) for b in played)  # a storm counts as one
    print('fuzz_stateful: seed %s: %d batches, %d calls, %d INVITEs to the trunks' % (seed, len(played), calls, invites))
    if problem:
        os.makedirs(out_dir, exist_ok=True)
        path = os.path.join(out_dir, 'stateful-%s.json' % seed)
        with open(path, 'w') as f:
            json.dump({'seed': seed, 'problem': problem, 'batches': played}, f, indent=1)
        print('fuzz_stateful: seed %s: %s after batch %d; the batches are in %s (replay: fuzz_stateful.py replay)'
              % (seed, problem, len(played), path))
        sys.exit(1)


if __name__ == '__main__':
    main()
