"""Sends every RFC 4475 torture message (../shared/sip-torture/) to a running e911ctl serve over
UDP or TCP and checks what comes back against the README there: the status of a rejection, an
answer that is no rejection for a message that must parse, silence for a response that must be
dropped. One line per failure ("FAIL ..."), notes ("NOTE ...") and a last line "ok" or the count.

Usage: torture.py PORT TORTURE_DIR udp|tcp [--pending-501 METHOD,...]

Every message goes from a socket of its own, so whatever arrives on it answers that message. The
messages name other hosts in their top Via (host1.example.com, 192.0.2.1, ...), where a response
over UDP would go (RFC 3261 §18.2.2); each is sent with its top Via's sent-by rewritten to
127.0.0.1:<the socket's port>, the only change made to its bytes. Nothing leaves the loopback.
"""
import re
import socket
import sys
import time

port, torture, transport = int(sys.argv[1]), sys.argv[2], sys.argv[3]
pending = set()
if '--pending-501' in sys.argv:
    pending = set(sys.argv[sys.argv.index('--pending-501') + 1].split(','))

# A rejection for malformation: what a message that must parse may never get.
MALFORMED = {400, 416, 420, 483, 505, 513}

# file: (expectation, statuses). accept: answered (a provisional counts) with no status of
# MALFORMED, and 501 only for a method the runtime does not implement; reject: a final response
# with one of statuses; either: accept or reject; drop: nothing within a second; any: no check.
EXPECT = {
    'wsinv': ('accept', ()), 'intmeth': ('reject', (501,)), 'esc01': ('accept', ()),
    'escnull': ('accept', ()), 'esc02': ('reject', (501,)), 'lwsdisp': ('accept', ()),
    'longreq': ('accept', ()), 'dblreq': ('accept', ()), 'semiuri': ('accept', ()),
    'transports': ('accept', ()), 'mpart01': ('accept', ()), 'unreason': ('drop', ()),
    'noreason': ('drop', ()), 'badinv01': ('reject', (400,)), 'clerr': ('reject', (400,)),
    'ncl': ('reject', (400,)), 'scalar02': ('reject', (400,)), 'scalarlg': ('drop', ()),
    'quotbal': ('reject', (400,)), 'ltgtruri': ('reject', (400,)), 'lwsruri': ('reject', (400,)),
    'lwsstart': ('either', (400,)), 'trws': ('either', (400,)), 'escruri': ('either', (400,)),
    'baddate': ('accept', ()), 'regbadct': ('reject', (400,)), 'badaspec': ('reject', (400,)),
    'baddn': ('reject', (400,)), 'badvers': ('reject', (505,)), 'mismatch01': ('reject', (400,)),
    'mismatch02': ('reject', (501, 400)), 'bigcode': ('drop', ()), 'badbranch': ('either', (400,)),
    'insuf': ('reject', (400,)), 'unkscm': ('reject', (416,)), 'novelsc': ('reject', (416, 404)),
    'unksm2': ('accept', ()), 'bext01': ('reject', (420,)), 'invut': ('accept', ()),
    'regaut01': ('accept', ()), 'multi01': ('reject', (400,)), 'mcl01': ('reject', (400,)),
    'bcast': ('drop', ()), 'zeromf': ('reject', (483,)), 'cparam01': ('accept', ()),
    'cparam02': ('accept', ()), 'regescrt': ('accept', ()), 'sdp01': ('reject', (406, 400)),
    'inv2543': ('accept', ()), 'test': ('any', ()),
}
# Over a stream a message is framed by its Content-Length (RFC 3261 §18.3), which changes the
# handling of four: clerr declares 9999 octets and baddn never ends its headers, so the runtime
# waits for the rest (silence) or refuses them (400); inv2543 has no Content-Length at all
# (400, or accepted as the README says); a negative or conflicting Content-Length leaves the
# stream unframeable: 400, then the connection is closed (README: "on TCP close the connection").
TCP_EXPECT = {
    'clerr': ('reject_or_silent', (400,)), 'baddn': ('reject_or_silent', (400,)),
    'inv2543': ('either', (400,)),
}
CLOSES_TCP = {'ncl', 'mcl01'}
# Methods the runtime implements: 501 to one of these is wrong unless listed as pending.
IMPLEMENTED = {'INVITE', 'REGISTER', 'OPTIONS', 'ACK', 'BYE', 'CANCEL'}

LWS = rb'(?:[ \t]*\r?\n)?[ \t]*'
TOP_VIA = re.compile(rb'^((?:via|v)' + LWS + rb':' + LWS + rb'SIP' + LWS + rb'/' + LWS + rb'\d\.\d' + LWS + rb'/' + LWS +
                     rb'[\w-]+' + LWS + rb')[^;,\s]+', re.M | re.I)


def prepared(name, client_port):
    data = open('%s/%s.dat' % (torture, name), 'rb').read()
    if data.startswith(b'SIP/'):
        return data, True  # a response: sent as it is
    new, n = TOP_VIA.subn(lambda m: m.group(1) + b'127.0.0.1:%d' % client_port, data, count=1)
    return new, n == 1


def status_of(msg):
    m = re.match(rb'SIP/2\.0 (\d{3})', msg)
    return int(m.group(1)) if m else None


def method_of(data):
    return data.split(b' ', 1)[0].decode('latin-1')


def exchange_udp(name):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(('127.0.0.1', 0))
    data, rewritten = prepared(name, s.getsockname()[1])
    s.sendto(data, ('127.0.0.1', port))
    answers = []
    deadline = time.time() + (1.0 if EXPECT[name][0] in ('drop', 'any') else 2.0)
    while time.time() < deadline:
        s.settimeout(max(0.01, deadline - time.time()))
        try:
            answers.append(s.recvfrom(70000)[0])
        except socket.timeout:
            break
        if status_of(answers[-1]) and status_of(answers[-1]) >= 200:
            break
        deadline = min(deadline, time.time() + 0.5)  # a provisional: a final may follow soon
    s.close()
    return data, rewritten, answers, None


def exchange_tcp(name):
    c = socket.create_connection(('127.0.0.1', port), timeout=2)
    data, rewritten = prepared(name, c.getsockname()[1])
    c.sendall(data)
    buf, closed = b'', False
    wait = 1.0 if EXPECT[name][0] in ('drop', 'any') or name in TCP_EXPECT else 2.0
    deadline = time.time() + wait
    while time.time() < deadline:
        c.settimeout(max(0.01, deadline - time.time()))
        try:
            chunk = c.recv(65536)
        except socket.timeout:
            break
        except ConnectionResetError:
            closed = True
            break
        if not chunk:
            closed = True
            break
        buf += chunk
        finals = [s for s in re.findall(rb'^SIP/2\.0 (\d{3})', buf, re.M) if int(s) >= 200]
        if finals and name not in CLOSES_TCP:
            break
        if finals:
            deadline = min(deadline, time.time() + 2.0)  # wait for the close
        elif buf:
            deadline = min(deadline, time.time() + 0.5)
    c.close()
    answers = [m for m in re.split(rb'(?=^SIP/2\.0 )', buf, flags=re.M) if m.startswith(b'SIP/')]
    return data, rewritten, answers, closed


failures = 0
notes = []


def check(ok, what):
    global failures
    if not ok:
        failures += 1
        print('FAIL %s over %s: %s' % (name, transport.upper(), what))


for name in sorted(EXPECT):
    want, statuses = (TCP_EXPECT.get(name) if transport == 'tcp' else None) or EXPECT[name]
    try:
        data, rewritten, answers, closed = (exchange_tcp if transport == 'tcp' else exchange_udp)(name)
    except OSError as e:
        check(False, 'socket error %s' % e)
        continue
    if not rewritten and want not in ('drop', 'any'):
        check(False, 'its top Via was not found to rewrite (the test is wrong)')
    codes = [status_of(a) for a in answers]
    final = next((c for c in codes if c and c >= 200), None)
    first = codes[0] if codes else None
    seen = 'got %s' % (','.join(str(c) for c in codes) if codes else 'nothing')
    method = method_of(data)
    if want == 'drop':
        check(not answers, 'a response must be dropped, %s' % seen)
    elif want == 'reject':
        check(final in statuses, 'want %s, %s' % ('/'.join(map(str, statuses)), seen))
    elif want == 'reject_or_silent':
        check(not answers or final in statuses, 'want %s or nothing, %s' % ('/'.join(map(str, statuses)), seen))
    elif want in ('accept', 'either'):
        if want == 'either' and final in statuses:
            pass
        elif first is None:
            check(False, 'no answer to a message that must parse')
        elif first in MALFORMED or (final in MALFORMED):
            check(False, 'must parse, was rejected: %s' % seen)
        elif final == 501 and method in IMPLEMENTED:
            if method in pending:
                notes.append(name)
            else:
                check(False, '501 to %s, which the runtime implements: %s' % (method, seen))
    if transport == 'tcp' and name in CLOSES_TCP:
        check(closed, 'the connection stays open after an unframeable message (%s)' % seen)
    if '-v' in sys.argv:
        print('%-10s %s %-16s %s%s' % (name, transport, want, seen, ' closed' if closed else ''))

if notes:
    print('NOTE over %s, 501 accepted (pending: %s) for %s' % (transport.upper(), ', '.join(sorted(pending)), ' '.join(notes)))
print('ok' if failures == 0 else '%d failure(s)' % failures)
sys.exit(1 if failures else 0)
