#pragma once
// The runtime's HTTP listeners (admin API, HELD location service) share this small HTTP/1.1
// server on asio. One thread of its own reads every connection without blocking, so a client
// that trickles its request holds a buffer, never a thread that another client needs; a request
// must arrive whole within a deadline, however slowly its bytes come; a body is counted as it is
// received, whatever its framing (Content-Length or chunked), and refused with 413 once over the
// limit; requests pipelined on one connection are answered in order. Internal to lib/runtime.
#include <asio.hpp>
#include <asio/ssl.hpp>

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

namespace e911::runtime::http {

/// A request read whole.
struct Request {
  std::string method;  ///< as sent ("GET", "POST"...)
  std::string path;    ///< the target up to '?', as sent
  std::string query;   ///< after '?', as sent
  std::string version;  ///< "HTTP/1.1" or "HTTP/1.0"
  std::vector<std::pair<std::string, std::string>> headers;  ///< in order; values trimmed
  std::string body;      ///< decoded (chunks joined)
  std::string remote_addr;  ///< the TCP peer's address (an IPv4-mapped IPv6 one as IPv4)

  bool has_header(std::string_view name) const;
  /// The first header `name` (case-insensitive), or empty.
  std::string header(std::string_view name) const;
  bool has_param(std::string_view name) const;
  /// The query parameter `name`, percent-decoded ('+' as a space), or empty.
  std::string param(std::string_view name) const;
};

/// An answer: Content-Length and Connection are the server's to write.
struct Response {
  int status = 200;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;

  void set_header(std::string name, std::string value) { headers.emplace_back(std::move(name), std::move(value)); }
  void set_content(std::string text, std::string type) {
    body = std::move(text);
    set_header("Content-Type", std::move(type));
  }
};

/// What a listener accepts.
struct Settings {
  std::string what;  ///< "the admin API": for the errors of binding
  std::size_t max_header_bytes = 8192;  ///< request line and headers (and a chunked body's trailers)
  std::size_t max_body_bytes = 4096;    ///< the body as decoded; more is 413
  /// From a request's first byte to its last (a TLS handshake included): past it, 408 and close.
  std::chrono::milliseconds request_deadline{10000};
  /// Silence allowed between requests of a connection (and before the first).
  std::chrono::milliseconds idle_timeout{5000};
  /// To write an answer, once the client reads nothing.
  std::chrono::milliseconds write_timeout{5000};
  std::size_t max_connections = 256;  ///< connections beyond are closed when accepted
  std::size_t max_requests_per_connection = 100;
};

/// Answers a request; callable once, from any thread (the handler's or a worker's).
using Respond = std::function<void(Response)>;
/// Called on the listener's thread for each request read whole: it must answer through
/// `respond` (at once, or later from another thread) and never block the listener's thread.
using Handler = std::function<void(Request&, Respond)>;
/// Fills the body of an answer the server gives by itself (400, 408, 413, 431...): its status
/// is set.
using ErrorBody = std::function<void(Response&)>;

/// A listener, serving from construction to stop() or destruction on a thread of its own.
class Server {
 public:
  /// Binds `host` (an IP literal, never a name) and `port` (0 picks a free one) with
  /// SO_REUSEADDR only (a second runtime must fail to bind, not share the port), over TLS when
  /// `tls` is set. Throws Error(failure) naming settings.what when it cannot bind.
  Server(const std::string& host, unsigned short port, Settings settings, Handler handler, ErrorBody error_body,
         std::shared_ptr<asio::ssl::context> tls = nullptr);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  unsigned short port() const { return port_; }
  /// Stops accepting and reading and joins the thread; connections are dropped when the server
  /// is destroyed. An answer given later through a Respond is discarded; none may be given once
  /// the server is destroyed. Idempotent.
  void stop();

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
  std::thread thread_;
  unsigned short port_ = 0;
};

}  // namespace e911::runtime::http
