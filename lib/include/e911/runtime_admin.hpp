#pragma once
// The runtime's admin HTTP API (ARCHITECTURE.md "The runtime"), on the runtime's HTTP server (a
// listener thread that never blocks, and two workers for the hooks), bound to the loopback address
// by default; bound to any other address it speaks HTTPS only, with a certificate of its own.
// Every route but /healthz needs
// `Authorization: Bearer <token>` (compared in constant time); answers are JSON, except /healthz
// and /metrics.
//
//   GET  /healthz            200 "ok", no token
//   GET  /v1/status          AdminHooks::status()
//   POST /v1/reload          AdminHooks::reload()
//   GET  /v1/calls?limit=N   AdminHooks::calls(N): N is 1..10000, default 50
//   GET  /v1/registrations   AdminHooks::registrations()
//   GET  /metrics            AdminHooks::metrics(), text/plain; version=0.0.4
//
// Failures answer {"error": {"message": "...", "hint": "..."}}: 400 a bad query, 401 (with
// WWW-Authenticate: Bearer) no token or the wrong one, 404 an unknown path, 405 (with Allow) a
// method the path does not take, 408 a request not whole within 10 s, 413 a request body over 4 KiB
// (counted as received, chunked or not), 500 a hook that threw, 501 a hook that is not set.
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "e911/json.hpp"

namespace asio {
class thread_pool;
}
namespace e911::runtime::http {
class Server;
}

namespace e911::runtime {

/// What the admin API asks the runtime. Called on an admin thread, one hook at a time (never two
/// concurrently), while SIP workers run: each must be safe against them. A hook left empty
/// answers 501; one that throws answers 500 with its message.
struct AdminHooks {
  /// {"version", "snapshot": {"revision", "checksum", "created_at"} or null, "uptime_seconds",
  ///  "calls_in_progress", "registrations", "listening": ["udp:127.0.0.1:5060", ...]}
  std::function<Json()> status;
  /// Reloads the snapshot: {"reloaded": bool, "message": "..."}; a refused file is "reloaded": false.
  std::function<Json()> reload;
  /// The most recent calls, newest first, at most the count given (CallLog::recent).
  std::function<Json(std::size_t)> calls;
  /// The calls in progress, oldest first, at most the count given (B2bua::active_json).
  std::function<Json(std::size_t)> active_calls;
  /// One object per binding, live ones only: [{"aor", "contact", "source" (ADDR:PORT), "transport",
  ///  "expires_in" (seconds), "call_id"}, ...] (Registrar::to_json)
  std::function<Json()> registrations;
  /// The Prometheus text (Metrics::prometheus).
  std::function<std::string()> metrics;
};

/// The bearer token in `path`, its trailing newline (and any trailing white space) removed.
/// Throws Error(failure) with a hint when the file is missing, unreadable, not a regular file,
/// empty, over 4 KiB, holds white space or control characters inside the token, or is readable
/// or writable by group or others (mode & 077), which is refused as ssh refuses such keys.
std::string read_token_file(const std::string& path);

/// The admin API's certificate: with both files it serves HTTPS (TLS 1.2 at least) only.
struct AdminTls {
  std::string certificate;  ///< PEM chain
  std::string private_key;  ///< PEM key of `certificate`
};

/// True when `token` equals `expected`, in a time that depends on neither's contents nor on
/// `expected`'s length (both are hashed with SHA-256 and the digests compared with CRYPTO_memcmp).
bool same_token(std::string_view given, std::string_view expected);

/// The admin API, serving from construction to stop() or destruction.
class AdminServer {
 public:
  /// Binds `address` (an IPv4 or IPv6 literal, brackets allowed, never a name to resolve) and
  /// `port` (0 picks a free one) and starts serving on its own threads, over HTTPS when `tls`
  /// names its files. Throws Error(usage) for an address that is not an IP literal, an empty
  /// token, an address other than loopback (127.0.0.0/8, ::1) without `tls`, or only one of its
  /// files; Error(failure) when the certificate or key cannot be used or it cannot bind.
  AdminServer(const std::string& address, unsigned short port, std::string token, AdminHooks hooks, AdminTls tls = {});
  /// Stops and joins.
  ~AdminServer();
  AdminServer(const AdminServer&) = delete;
  AdminServer& operator=(const AdminServer&) = delete;

  /// The port bound (the one picked, when 0 was asked).
  unsigned short port() const { return port_; }
  /// Stops serving and joins its threads; requests under way are cut. Idempotent.
  void stop();

 private:
  std::unique_ptr<asio::thread_pool> workers_;  ///< where hooks run
  std::unique_ptr<http::Server> server_;
  unsigned short port_ = 0;
};

}  // namespace e911::runtime
