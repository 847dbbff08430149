#!/usr/bin/env python3
"""A stand-in for an E9-1-1 provider's MSAG validation service, for tests and benchmarks.

    provider_standin.py --cert CERT --key KEY --port-file FILE [--client-ca CA] [--delay-ms N]
                        [--slow-ms N] [--log FILE]

HTTPS (HTTP/1.1, keep-alive) on 127.0.0.1, on a port the OS chooses, written to FILE once the
server listens. With --client-ca, a client certificate signed by CA is required. Standard library
only: asyncio and ssl, so one thread answers thousands of requests a second and a 20 ms delay
costs no thread (a ThreadingHTTPServer tops out near 2,000 requests a second on two cores, which
would measure the stand-in instead of e911ctl).

It speaks e911ctl's protocol: POST {"schema": "e911ctl.msag-request/v1", "id", "address": {...}}
and checks it (400 for anything else: another method, content type, schema or an unknown address
field). The verdict depends on the street name:
  Typo  invalid, corrected to Main St, with a message
  Long  invalid, with a correction that breaks the field limits (state "Washington")
  Slow  the first request for an id waits --slow-ms (past the client's timeout), then valid
  Busy  the first request for an id gets 429 with Retry-After: 1, then valid
  Boom  HTTP 500, always
  Junk  HTTP 200 with a body that is not JSON
  else  valid
Every answer waits --delay-ms first (the provider's latency). With --log, one JSON line per
request: id, street, HTTP status, the client certificate's CN (or null).
"""
import argparse
import asyncio
import json
import os
import signal
import ssl
import sys

FIELDS = {"location", "company_name", "house_number", "house_number_suffix", "pre_directional", "street_name",
          "street_suffix", "post_directional", "city", "state", "postal_code", "country"}
REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed", 413: "Payload Too Large",
           429: "Too Many Requests", 500: "Internal Server Error"}
MAX_BODY = 64 * 1024

args = None
seen = {}  # requests per id
log = None


def verdict(req, count):
    """(status, body, extra headers, delay before answering) for a well-formed request."""
    street = req["address"].get("street_name", "")
    if street == "Typo":
        return 200, {"status": "invalid", "corrected": {"street_name": "Main", "street_suffix": "St"},
                     "message": "street not in MSAG; did you mean Main St"}, {}, 0
    if street == "Long":
        return 200, {"status": "invalid", "corrected": {"state": "Washington"}}, {}, 0
    if street == "Slow" and count == 1:
        return 200, {"status": "valid"}, {}, args.slow_ms / 1000.0
    if street == "Busy" and count == 1:
        return 429, {"message": "slow down"}, {"Retry-After": "1"}, 0
    if street == "Boom":
        return 500, {"message": "internal error"}, {}, 0
    if street == "Junk":
        return 200, b"<html>not json</html>", {}, 0
    return 200, {"status": "valid"}, {}, 0


def check(method, path, headers, body):
    """The request as JSON, or (status, message) when it breaks the protocol."""
    if method != "POST":
        return 405, "only POST"
    if path != "/msag":
        return 404, "no such endpoint"
    if headers.get("content-type", "").split(";")[0].strip() != "application/json":
        return 400, "content type is not application/json"
    try:
        req = json.loads(body)
    except ValueError:
        return 400, "body is not JSON"
    if not isinstance(req, dict) or req.get("schema") != "e911ctl.msag-request/v1":
        return 400, "not an e911ctl.msag-request/v1"
    if not isinstance(req.get("id"), str) or not isinstance(req.get("address"), dict):
        return 400, "id or address missing"
    for k, v in req["address"].items():
        if k not in FIELDS or not isinstance(v, str):
            return 400, "unknown or non-text address field '%s'" % k
    return req


async def handle(reader, writer):
    peer = writer.get_extra_info("peercert")
    cn = None
    if peer:
        for rdn in peer.get("subject", ()):
            for key, value in rdn:
                if key == "commonName":
                    cn = value
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            method, path, _version = lines[0].split(" ", 2)
            headers = {}
            for line in lines[1:]:
                if ":" in line:
                    k, v = line.split(":", 1)
                    headers[k.strip().lower()] = v.strip()
            length = int(headers.get("content-length", "0"))
            if length > MAX_BODY or "transfer-encoding" in headers:
                await answer(writer, 413, {"message": "body too large or chunked"}, {"Connection": "close"})
                return
            body = await reader.readexactly(length)
            req = check(method, path, headers, body)
            if isinstance(req, tuple):
                status, extra, wait = req[0], {}, 0
                payload = {"message": req[1]}
                rid, street = None, None
            else:
                rid, street = req["id"], req["address"].get("street_name")
                seen[rid] = seen.get(rid, 0) + 1
                status, payload, extra, wait = verdict(req, seen[rid])
            if log:
                log.write(json.dumps({"id": rid, "street": street, "status": status, "client_cn": cn}) + "\n")
                log.flush()
            await asyncio.sleep(args.delay_ms / 1000.0 + wait)
            await answer(writer, status, payload, extra)
            if headers.get("connection", "").lower() == "close":
                return
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError, ssl.SSLError, ValueError):
        pass  # the client went away (a timeout, say) or sent garbage
    finally:
        writer.close()


async def answer(writer, status, payload, extra):
    data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    head = "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n" % (
        status, REASONS.get(status, "Status"), len(data))
    head += "".join("%s: %s\r\n" % kv for kv in extra.items())
    writer.write(head.encode() + b"\r\n" + data)
    await writer.drain()


async def main():
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(args.cert, args.key)
    if args.client_ca:
        ctx.verify_mode = ssl.CERT_REQUIRED
        ctx.load_verify_locations(args.client_ca)
    server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=ctx, backlog=1024)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, server.close)
    with open(args.port_file + ".tmp", "w") as f:
        f.write(str(server.sockets[0].getsockname()[1]))
    os.rename(args.port_file + ".tmp", args.port_file)  # whole, or not there at all
    try:
        await server.serve_forever()
    except asyncio.CancelledError:
        pass


if __name__ == "__main__":
    p = argparse.ArgumentParser(description="MSAG validation stand-in (see the module text)")
    p.add_argument("--cert", required=True)
    p.add_argument("--key", required=True)
    p.add_argument("--port-file", required=True)
    p.add_argument("--client-ca")
    p.add_argument("--delay-ms", type=int, default=0)
    p.add_argument("--slow-ms", type=int, default=3000)
    p.add_argument("--log")
    args = p.parse_args()
    log = open(args.log, "a") if args.log else None
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
    sys.exit(0)
