#!/usr/bin/env python3
"""A stand-in for an E9-1-1 provider's MSAG validation service, for tests and benchmarks.
HTTPS on 127.0.0.1 with the given certificate; writes the port it listens on to PORTFILE.
Verdicts by street name: Typo -> invalid with a correction, Slow -> the first request for an
id sleeps past any sane timeout, Boom -> HTTP 500, anything else -> valid. DELAY_MS delays
every answer (a provider's latency)."""
import json, os, socket, ssl, sys, threading, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

cert, key, portfile = sys.argv[1], sys.argv[2], sys.argv[3]
delay = int(os.environ.get("DELAY_MS", "0")) / 1000.0
seen = {}
lock = threading.Lock()

class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def setup(self):
        super().setup()
        # Headers and body go out in separate writes: without this, Nagle and delayed ACKs add
        # 40 ms to every answer, and the benchmark would measure the stand-in.
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def answer(self, code, body):
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self):
        req = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
        assert req["schema"] == "e911ctl.msag-request/v1", req
        street = req["address"].get("street_name", "")
        with lock:
            seen[req["id"]] = seen.get(req["id"], 0) + 1
            count = seen[req["id"]]
        if delay:
            time.sleep(delay)
        if street == "Slow" and count == 1:
            time.sleep(5)
        if street == "Boom":
            return self.answer(500, {"error": "internal"})
        if street == "Typo":
            return self.answer(200, {"status": "invalid", "corrected": {"street_name": "Main", "street_suffix": "St"},
                                     "message": "street not in MSAG; did you mean Main St"})
        self.answer(200, {"status": "valid"})

server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
server.daemon_threads = True
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(cert, key)
server.socket = ctx.wrap_socket(server.socket, server_side=True)
with open(portfile + ".tmp", "w") as f:
    f.write(str(server.server_address[1]))
os.rename(portfile + ".tmp", portfile)
server.serve_forever()
