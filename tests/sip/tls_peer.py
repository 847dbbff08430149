#!/usr/bin/env python3
"""A TLS end for the runtime tests, on 127.0.0.1, in front of a plain-TCP sipp (sipp has no TLS
on this machine). Bytes are copied both ways unchanged, one TCP connection per TLS connection.

  server: tls_peer.py server LISTEN_PORT SIPP_PORT --cert C --key K [--ca CA --require-client-cert]
          the runtime connects over TLS (a trunk); its bytes go to sipp at SIPP_PORT over TCP.
  client: tls_peer.py client LISTEN_PORT RUNTIME_PORT --ca CA [--name NAME] [--cert C --key K]
          sipp connects over TCP (a phone); its bytes go to the runtime at RUNTIME_PORT over TLS,
          the runtime's certificate checked against CA and NAME (default 127.0.0.1).

Each handshake is one line on standard output: "handshake ok <peer certificate subject or ->"
or "handshake failed <reason>", flushed, so a test can wait for it. Exits after --seconds."""
import argparse, select, socket, ssl, sys, threading, time


def say(line):
    print(line, flush=True)


def pump(a, b):
    """Copies bytes between a and b until either side closes."""
    try:
        while True:
            ready, _, _ = select.select([a, b], [], [], 1.0)
            for s in ready:
                # An SSL socket may hold decrypted bytes select() cannot see: read all it has.
                data = s.recv(65536)
                if not data:
                    return
                (b if s is a else a).sendall(data)
                while isinstance(s, ssl.SSLSocket) and s.pending():
                    (b if s is a else a).sendall(s.recv(s.pending()))
    except OSError:
        pass
    finally:
        for s in (a, b):
            try:
                s.close()
            except OSError:
                pass


def subject(s):
    cert = s.getpeercert()
    if not cert:
        return "-"
    return ",".join("%s=%s" % kv for rdn in cert.get("subject", ()) for kv in rdn) or "-"


def serve(args):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(args.cert, args.key)
    if args.ca:
        ctx.load_verify_locations(args.ca)
        ctx.verify_mode = ssl.CERT_REQUIRED if args.require_client_cert else ssl.CERT_OPTIONAL
    listener = socket.create_server(("127.0.0.1", args.listen))
    listener.settimeout(0.5)

    def one(raw):
        try:
            raw.settimeout(5)
            tls = ctx.wrap_socket(raw, server_side=True)
            tls.settimeout(None)
        except (ssl.SSLError, OSError) as e:
            say("handshake failed %s" % (getattr(e, "reason", None) or e))
            raw.close()
            return
        say("handshake ok %s" % subject(tls))
        try:
            plain = socket.create_connection(("127.0.0.1", args.to), timeout=5)
        except OSError as e:
            say("sipp unreachable %s" % e)
            tls.close()
            return
        pump(tls, plain)

    return listener, one


def client(args):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_verify_locations(args.ca)
    if args.cert:
        ctx.load_cert_chain(args.cert, args.key)
    listener = socket.create_server(("127.0.0.1", args.listen))
    listener.settimeout(0.5)

    def one(plain):
        try:
            raw = socket.create_connection(("127.0.0.1", args.to), timeout=5)
            tls = ctx.wrap_socket(raw, server_hostname=args.name)
            # TLS 1.3 sends the server's verdict on our certificate after the handshake: a
            # refusal shows on the first read, so wait a moment for it before saying ok.
            tls.settimeout(0.3)
            try:
                early = tls.recv(65536)
                if early == b"":
                    raise ssl.SSLError("closed by the runtime")
            except socket.timeout:
                early = b""
            tls.settimeout(None)
        except (ssl.SSLError, OSError) as e:
            say("handshake failed %s" % (getattr(e, "reason", None) or e))
            plain.close()
            return
        say("handshake ok %s" % subject(tls))
        if early:
            plain.sendall(early)
        pump(plain, tls)

    return listener, one


def main():
    p = argparse.ArgumentParser()
    p.add_argument("mode", choices=["server", "client"])
    p.add_argument("listen", type=int)
    p.add_argument("to", type=int)
    p.add_argument("--cert")
    p.add_argument("--key")
    p.add_argument("--ca")
    p.add_argument("--name", default="127.0.0.1")
    p.add_argument("--require-client-cert", action="store_true")
    p.add_argument("--seconds", type=float, default=90)
    args = p.parse_args()
    listener, one = (serve if args.mode == "server" else client)(args)
    say("listening %d" % args.listen)
    deadline = time.monotonic() + args.seconds
    while time.monotonic() < deadline:
        try:
            conn, _ = listener.accept()
        except socket.timeout:
            continue
        threading.Thread(target=one, args=(conn,), daemon=True).start()
    return 0


if __name__ == "__main__":
    sys.exit(main())
