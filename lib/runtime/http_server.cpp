// The HTTP/1.1 server of the runtime's listeners (see http_server.hpp): an acceptor and one
// Connection per client on an io_context of the listener's own, each connection reading into a
// bounded buffer, parsed as it comes by a Parser that keeps its place.
#include "http_server.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdint>
#include <cstring>

#include "e911/error.hpp"

namespace e911::runtime::http {

namespace {

bool iequal(std::string_view a, std::string_view b) {
  return a.size() == b.size() &&
         std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) { return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y)); });
}

std::string_view trim_ows(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// RFC 9110 §5.6.2 tchar.
bool is_tchar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || std::strchr("!#$%&'*+-.^_`|~", c) != nullptr;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string percent_decode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '+') out += ' ';
    else if (s[i] == '%' && i + 2 < s.size() && hex_value(s[i + 1]) >= 0 && hex_value(s[i + 2]) >= 0) {
      out += static_cast<char>(hex_value(s[i + 1]) * 16 + hex_value(s[i + 2]));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

// Calls `each(name, value)` for every name=value of a query string, undecoded.
template <typename Each>
bool find_param(std::string_view query, std::string_view name, Each each) {
  while (!query.empty()) {
    const std::size_t amp = query.find('&');
    const std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    const std::size_t eq = pair.find('=');
    if (percent_decode(pair.substr(0, eq)) == name) {
      each(eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1));
      return true;
    }
  }
  return false;
}

const char* reason(int status) {
  switch (status) {
    case 100: return "Continue";
    case 200: return "OK";
    case 202: return "Accepted";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 411: return "Length Required";
    case 413: return "Content Too Large";
    case 415: return "Unsupported Media Type";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    case 505: return "HTTP Version Not Supported";
    default: return "Unknown";
  }
}

// Reads one request out of the bytes a connection receives, keeping its place between calls, so
// a request trickled in a byte at a time is scanned once. What it has consumed the caller drops.
class Parser {
 public:
  enum class Step { more, done, fail, expect_continue };

  explicit Parser(const Settings& s) : s_(s) {}

  Request request;
  int status = 0;  ///< on fail: the answer's status

  void reset() {
    request = Request{};
    status = 0;
    state_ = State::head;
    head_bytes_ = 0;
    scanned_ = 0;
    remaining_ = 0;
    trailer_bytes_ = 0;
    continue_asked_ = false;
  }

  /// Reads what it can of `in` and erases what it consumed.
  Step feed(std::string& in) {
    std::size_t pos = 0;
    const Step step = run(in, pos);
    in.erase(0, pos);
    return step;
  }

 private:
  enum class State { head, body, chunk_size, chunk_data, chunk_end, trailers, done };

  Step fail(int code) {
    status = code;
    return Step::fail;
  }

  Step run(const std::string& in, std::size_t& pos) {
    for (;;) {
      switch (state_) {
        case State::head: {
          // Empty lines before a request line are skipped (RFC 9112 §2.2).
          while (head_bytes_ == 0 && pos < in.size() && (in[pos] == '\r' || in[pos] == '\n')) ++pos;
          if (pos >= in.size()) return Step::more;
          head_bytes_ = in.size() - pos;
          const std::size_t from = pos + (scanned_ > 3 ? scanned_ - 3 : 0);
          const std::size_t end = in.find("\r\n\r\n", from);
          if (end == std::string::npos) {
            scanned_ = in.size() - pos;
            return scanned_ > s_.max_header_bytes ? fail(431) : Step::more;
          }
          if (end - pos + 4 > s_.max_header_bytes) return fail(431);
          const Step head = read_head(std::string_view(in).substr(pos, end - pos + 2));
          pos = end + 4;
          if (head != Step::more) return head;
          if (continue_asked_) {
            continue_asked_ = false;
            return Step::expect_continue;
          }
          break;
        }
        case State::body: {
          const std::size_t n = std::min(remaining_, in.size() - pos);
          request.body.append(in, pos, n);
          pos += n;
          remaining_ -= n;
          if (remaining_ > 0) return Step::more;
          state_ = State::done;
          break;
        }
        case State::chunk_size: {
          const std::size_t eol = in.find("\r\n", pos);
          if (eol == std::string::npos) return in.size() - pos > kMaxChunkLine ? fail(400) : Step::more;
          if (eol - pos > kMaxChunkLine) return fail(400);
          std::string_view line(in.data() + pos, eol - pos);
          pos = eol + 2;
          std::size_t size = 0, digits = 0;
          while (digits < line.size() && hex_value(line[digits]) >= 0) {
            if (digits == 15) return fail(413);  // over 2^60: no body is that large
            size = size * 16 + static_cast<std::size_t>(hex_value(line[digits]));
            ++digits;
          }
          const std::string_view rest = trim_ows(line.substr(digits));
          if (digits == 0 || (!rest.empty() && rest.front() != ';')) return fail(400);
          if (size == 0) {
            state_ = State::trailers;
            break;
          }
          if (size > s_.max_body_bytes - request.body.size()) return fail(413);
          remaining_ = size;
          state_ = State::chunk_data;
          break;
        }
        case State::chunk_data: {
          const std::size_t n = std::min(remaining_, in.size() - pos);
          request.body.append(in, pos, n);
          pos += n;
          remaining_ -= n;
          if (remaining_ > 0) return Step::more;
          state_ = State::chunk_end;
          break;
        }
        case State::chunk_end:
          if (in.size() - pos < 2) return Step::more;
          if (in.compare(pos, 2, "\r\n") != 0) return fail(400);
          pos += 2;
          state_ = State::chunk_size;
          break;
        case State::trailers: {
          const std::size_t eol = in.find("\r\n", pos);
          if (eol == std::string::npos) return trailer_bytes_ + (in.size() - pos) > s_.max_header_bytes ? fail(431) : Step::more;
          trailer_bytes_ += eol - pos + 2;
          if (trailer_bytes_ > s_.max_header_bytes) return fail(431);
          const bool last = eol == pos;
          pos = eol + 2;
          if (last) state_ = State::done;  // trailer fields are read and dropped
          break;
        }
        case State::done: return Step::done;
      }
    }
  }

  // The request line and headers (each line ending in CRLF); sets the body's framing.
  Step read_head(std::string_view head) {
    std::size_t eol = head.find("\r\n");
    const std::string_view line = head.substr(0, eol);
    const std::size_t sp1 = line.find(' '), sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
    if (sp2 == std::string_view::npos || line.find(' ', sp2 + 1) != std::string_view::npos) return fail(400);
    const std::string_view method = line.substr(0, sp1), target = line.substr(sp1 + 1, sp2 - sp1 - 1), version = line.substr(sp2 + 1);
    if (method.empty() || !std::all_of(method.begin(), method.end(), is_tchar)) return fail(400);
    if (target.empty() || std::any_of(target.begin(), target.end(), [](char c) { return static_cast<unsigned char>(c) <= 0x20 || c == 0x7f; }))
      return fail(400);
    if (version.size() != 8 || version.compare(0, 5, "HTTP/") != 0 || !std::isdigit(static_cast<unsigned char>(version[5])) || version[6] != '.' ||
        !std::isdigit(static_cast<unsigned char>(version[7])))
      return fail(400);
    if (version != "HTTP/1.1" && version != "HTTP/1.0") return fail(505);
    request.method = method;
    request.version = version;
    const std::size_t q = target.find('?');
    request.path = target.substr(0, q);
    if (q != std::string_view::npos) request.query = target.substr(q + 1);

    for (std::size_t at = eol + 2; at < head.size(); at = eol + 2) {
      eol = head.find("\r\n", at);
      const std::string_view field = head.substr(at, eol - at);
      const std::size_t colon = field.find(':');
      // No white space before the colon, no line folding (RFC 9112 §5.1, §5.2).
      if (colon == 0 || colon == std::string_view::npos || !std::all_of(field.begin(), field.begin() + static_cast<std::ptrdiff_t>(colon), is_tchar))
        return fail(400);
      const std::string_view value = trim_ows(field.substr(colon + 1));
      if (std::any_of(value.begin(), value.end(), [](char c) { return (static_cast<unsigned char>(c) < 0x20 && c != '\t') || c == 0x7f; }))
        return fail(400);
      if (request.headers.size() >= kMaxHeaders) return fail(431);
      request.headers.emplace_back(field.substr(0, colon), value);
    }

    // The body's framing (RFC 9112 §6.3): chunked, else Content-Length, else none. Both is how
    // requests are smuggled past proxies: refused.
    bool chunked = false, has_length = false;
    std::size_t length = 0;
    for (const auto& [name, value] : request.headers) {
      if (iequal(name, "Transfer-Encoding")) {
        if (chunked || !iequal(value, "chunked")) return fail(chunked ? 400 : 501);
        chunked = true;
      } else if (iequal(name, "Content-Length")) {
        if (value.empty() || value.size() > 18 || value.find_first_not_of("0123456789") != std::string::npos) return fail(400);
        const std::size_t n = std::stoull(value);
        if (has_length && n != length) return fail(400);
        has_length = true;
        length = n;
      }
    }
    if (chunked && has_length) return fail(400);
    if (has_length && length > s_.max_body_bytes) return fail(413);  // refused before a byte of it is read
    const bool body = chunked || length > 0;
    continue_asked_ = body && iequal(request.header("Expect"), "100-continue");
    state_ = chunked ? State::chunk_size : body ? State::body : State::done;
    remaining_ = length;
    return Step::more;
  }

  static constexpr std::size_t kMaxChunkLine = 1024;  // a size and its extensions
  static constexpr std::size_t kMaxHeaders = 100;

  const Settings& s_;
  State state_ = State::head;
  std::size_t head_bytes_ = 0, scanned_ = 0, remaining_ = 0, trailer_bytes_ = 0;
  bool continue_asked_ = false;
};

}  // namespace

bool Request::has_header(std::string_view name) const {
  return std::any_of(headers.begin(), headers.end(), [&](const auto& h) { return iequal(h.first, name); });
}

std::string Request::header(std::string_view name) const {
  for (const auto& [n, v] : headers)
    if (iequal(n, name)) return v;
  return {};
}

bool Request::has_param(std::string_view name) const {
  return find_param(query, name, [](std::string_view) {});
}

std::string Request::param(std::string_view name) const {
  std::string value;
  find_param(query, name, [&](std::string_view v) { value = percent_decode(v); });
  return value;
}

// Members in the order they must outlive each other: the io_context (and the connections its
// pending handlers hold) goes first.
struct Server::Impl {
  Settings settings;
  Handler handler;
  ErrorBody error_body;
  std::shared_ptr<asio::ssl::context> tls;
  std::size_t connections = 0;  // on the listener's thread only
  asio::io_context io;
  asio::ip::tcp::acceptor acceptor{io};
  asio::steady_timer backoff{io};

  void accept();
};

namespace {

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(Server::Impl& server, asio::ip::tcp::socket socket)
      : server_(server), s_(server.settings), socket_(std::move(socket)), timer_(server.io), parser_(s_) {
    ++server_.connections;
  }
  ~Connection() { --server_.connections; }

  void start() {
    std::error_code ec;
    socket_.set_option(asio::ip::tcp::no_delay(true), ec);
    auto remote = socket_.remote_endpoint(ec);
    if (ec) return close();
    asio::ip::address a = remote.address();
    if (a.is_v6() && a.to_v6().is_v4_mapped()) a = asio::ip::make_address_v4(asio::ip::v4_mapped, a.to_v6());
    peer_ = a.to_string();
    if (!server_.tls) return next_request();
    tls_ = std::make_unique<asio::ssl::stream<asio::ip::tcp::socket&>>(socket_, *server_.tls);
    arm(s_.request_deadline, false);
    tls_->async_handshake(asio::ssl::stream_base::server, [self = shared_from_this()](const std::error_code& e) {
      if (self->closed_) return;
      if (e) return self->close();
      self->next_request();
    });
  }

 private:
  // The deadline of what the connection waits for: past it, a request begun gets 408 (`answer`)
  // and the connection is closed. A later arm() replaces it.
  void arm(std::chrono::milliseconds after, bool answer) {
    const std::uint64_t generation = ++armed_;
    timer_.expires_after(after);
    timer_.async_wait([self = shared_from_this(), answer, generation](const std::error_code& e) {
      if (e || self->closed_ || generation != self->armed_ || self->handling_) return;
      if (!answer || self->writing_) return self->close();
      self->fail(408);
    });
  }
  void disarm() {
    ++armed_;
    timer_.cancel();
  }

  void next_request() {
    if (served_ >= s_.max_requests_per_connection) return close();
    parser_.reset();
    begun_ = !in_.empty();  // pipelined: the next request's deadline runs from now
    arm(begun_ ? s_.request_deadline : s_.idle_timeout, begun_);
    parse();
  }

  void parse() {
    switch (parser_.feed(in_)) {
      case Parser::Step::more: return read();
      case Parser::Step::fail: return fail(parser_.status);
      case Parser::Step::expect_continue: {
        // The client waits for this before it sends its body (curl does for chunked uploads).
        writing_ = true;
        return write_buffer(kContinue, [self = shared_from_this()](const std::error_code& e) {
          self->writing_ = false;
          if (e || self->closed_) return self->close();
          self->parse();
        });
      }
      case Parser::Step::done: return dispatch();
    }
  }

  void read() {
    const auto done = [self = shared_from_this()](const std::error_code& e, std::size_t n) {
      if (self->closed_ || self->writing_) return;  // answered meanwhile (408): this read was cancelled
      if (e) return self->close();
      self->in_.append(self->buffer_.data(), n);
      if (!self->begun_) {  // the first byte of a request: from now on it has its deadline to arrive whole
        self->begun_ = true;
        self->arm(self->s_.request_deadline, true);
      }
      self->parse();
    };
    if (tls_) tls_->async_read_some(asio::buffer(buffer_), done);
    else socket_.async_read_some(asio::buffer(buffer_), done);
  }

  void dispatch() {
    disarm();  // the handler's time is its own; the answer has its deadline to be written
    handling_ = true;
    Request& req = parser_.request;
    req.remote_addr = peer_;
    keep_alive_ = req.version == "HTTP/1.1" ? !iequal(req.header("Connection"), "close") : iequal(req.header("Connection"), "keep-alive");
    head_ = req.method == "HEAD";
    asio::io_context* io = &server_.io;
    try {
      server_.handler(req, [io, self = shared_from_this()](Response res) {
        asio::post(*io, [self, res = std::move(res)]() mutable { self->answer(std::move(res)); });
      });
    } catch (const std::exception&) {  // never out of the listener's loop, which would end the process
      fail(500);
    }
  }

  // An answer the server gives by itself; the connection closes after it.
  void fail(int status) {
    std::error_code ec;
    socket_.cancel(ec);  // a read under way (the deadline struck) stops
    Response res;
    res.status = status;
    if (server_.error_body) server_.error_body(res);
    keep_alive_ = false;
    head_ = false;
    answer(std::move(res));
  }

  void answer(Response res) {
    handling_ = false;
    if (closed_) return;
    ++served_;
    const bool keep = keep_alive_ && served_ < s_.max_requests_per_connection;
    out_.clear();
    out_ += "HTTP/1.1 " + std::to_string(res.status) + " " + reason(res.status) + "\r\n";
    for (const auto& [name, value] : res.headers) out_ += name + ": " + value + "\r\n";
    out_ += "Content-Length: " + std::to_string(res.body.size()) + "\r\n";
    if (!keep) out_ += "Connection: close\r\n";
    out_ += "\r\n";
    if (!head_) out_ += res.body;
    writing_ = true;
    arm(s_.write_timeout, false);
    write_buffer(out_, [self = shared_from_this(), keep](const std::error_code& e) {
      self->writing_ = false;
      if (e || self->closed_) return self->close();
      if (!keep) return self->linger();
      self->next_request();
    });
  }

  template <typename Done>
  void write_buffer(std::string_view text, Done done) {
    const auto wrote = [done = std::move(done)](const std::error_code& e, std::size_t) { done(e); };
    if (tls_) asio::async_write(*tls_, asio::buffer(text.data(), text.size()), wrote);
    else asio::async_write(socket_, asio::buffer(text.data(), text.size()), wrote);
  }

  // Closing with unread bytes (the rest of a body refused with 413) would reset the connection
  // and could take the answer with it: stop sending, then read and drop what still comes for up
  // to 2 s (no memory: one buffer), before closing.
  void linger() {
    std::error_code ec;
    socket_.shutdown(asio::ip::tcp::socket::shutdown_send, ec);
    arm(std::chrono::seconds(2), false);
    discard();
  }
  void discard() {
    socket_.async_read_some(asio::buffer(buffer_), [self = shared_from_this()](const std::error_code& e, std::size_t n) {
      self->discarded_ += n;
      if (e || self->closed_ || self->discarded_ > kMaxDiscarded) return self->close();
      self->discard();
    });
  }

  void close() {
    if (closed_) return;
    closed_ = true;
    disarm();
    std::error_code ec;
    socket_.shutdown(asio::ip::tcp::socket::shutdown_both, ec);
    socket_.close(ec);
  }

  static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
  static constexpr std::size_t kMaxDiscarded = std::size_t{256} << 20;

  Server::Impl& server_;
  const Settings& s_;
  asio::ip::tcp::socket socket_;
  std::unique_ptr<asio::ssl::stream<asio::ip::tcp::socket&>> tls_;
  asio::steady_timer timer_;
  std::uint64_t armed_ = 0;
  Parser parser_;
  std::array<char, 8192> buffer_{};
  std::string in_, out_, peer_;
  std::size_t served_ = 0, discarded_ = 0;
  bool begun_ = false, keep_alive_ = false, head_ = false, writing_ = false, handling_ = false, closed_ = false;
};

}  // namespace

void Server::Impl::accept() {
  acceptor.async_accept([this](const std::error_code& e, asio::ip::tcp::socket socket) {
    if (e == asio::error::operation_aborted || !acceptor.is_open()) return;
    if (e) {
      // Out of descriptors (EMFILE, ENFILE) or the like: try again shortly rather than spin.
      backoff.expires_after(std::chrono::milliseconds(100));
      backoff.async_wait([this](const std::error_code& w) {
        if (!w) accept();
      });
      return;
    }
    if (connections >= settings.max_connections) {
      std::error_code ec;
      socket.close(ec);
    } else {
      std::make_shared<Connection>(*this, std::move(socket))->start();
    }
    accept();
  });
}

Server::Server(const std::string& host, unsigned short port, Settings settings, Handler handler, ErrorBody error_body,
               std::shared_ptr<asio::ssl::context> tls)
    : impl_(std::make_unique<Impl>()) {
  impl_->settings = std::move(settings);
  impl_->handler = std::move(handler);
  impl_->error_body = std::move(error_body);
  impl_->tls = std::move(tls);
  std::error_code ec;
  const asio::ip::address address = asio::ip::make_address(host, ec);  // a literal: never DNS
  const std::string where = (host.find(':') != std::string::npos ? "[" + host + "]" : host) + ":" + std::to_string(port);
  if (ec)
    throw Error(ErrorKind::usage, "cannot serve " + impl_->settings.what + " on '" + where + "': not an IP address",
                "give an IPv4 or IPv6 address; names are never resolved");
  const asio::ip::tcp::endpoint at(address, port);
  auto& acceptor = impl_->acceptor;
  // SO_REUSEADDR only, never SO_REUSEPORT: a second runtime must fail to bind, not share the port.
  acceptor.open(at.protocol(), ec);
  if (!ec) acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor.bind(at, ec);
  if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec)
    throw Error(ErrorKind::failure, "cannot serve " + impl_->settings.what + " on '" + where + "'",
                port == 0 ? "is the address one of this machine's?" : "is another process using the port, or is the address not one of this machine's?");
  port_ = acceptor.local_endpoint().port();
  impl_->accept();
  thread_ = std::thread([impl = impl_.get()] { impl->io.run(); });
}

Server::~Server() { stop(); }

void Server::stop() {
  if (!thread_.joinable()) return;
  asio::post(impl_->io, [impl = impl_.get()] {
    std::error_code ec;
    impl->acceptor.close(ec);
    impl->backoff.cancel();
    impl->io.stop();
  });
  thread_.join();
}

}  // namespace e911::runtime::http
