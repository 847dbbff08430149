// UDP and TCP transports on asio (RFC 3261 §18, RFC 5626 §3.5.1 keep-alives).
#include "e911/runtime_transport.hpp"

#include <array>
#include <deque>
#include <set>

namespace e911::runtime {

std::string ListenAddress::text() const {
  const std::string host = address.is_v6() ? "[" + address.to_string() + "]" : address.to_string();
  return host + ":" + std::to_string(port);
}

std::optional<ListenAddress> parse_listen(const std::string& text, std::string& why) {
  std::string host, port;
  if (!text.empty() && text[0] == '[') {
    const auto close = text.find(']');
    if (close == std::string::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      why = "an IPv6 address is written [ADDR]:PORT";
      return std::nullopt;
    }
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
  } else {
    const auto colon = text.rfind(':');
    if (colon == std::string::npos || text.find(':') != colon) {
      why = "expected ADDR:PORT (IPv6 as [ADDR]:PORT)";
      return std::nullopt;
    }
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
  }
  std::error_code ec;
  ListenAddress out;
  out.address = asio::ip::make_address(host, ec);
  if (ec || host.find('%') != std::string::npos) {
    why = "'" + host + "' is not an IP address (names are never resolved)";
    return std::nullopt;
  }
  if (port.empty() || port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos || std::stoul(port) > 65535) {
    why = "'" + port + "' is not a port (0-65535)";
    return std::nullopt;
  }
  out.port = static_cast<unsigned short>(std::stoul(port));
  return out;
}

namespace {

sip::Endpoint endpoint_of(const asio::ip::address& a, unsigned short port) {
  return sip::Endpoint{a.to_string(), port, false};
}

}  // namespace

struct Transport::Impl : std::enable_shared_from_this<Transport::Impl> {
  struct Connection : std::enable_shared_from_this<Connection> {
    Connection(asio::ip::tcp::socket s, Impl& owner)
        : socket(std::move(s)), idle(socket.get_executor()), framer(owner.options.limits), impl(owner.weak_from_this()),
          options(owner.options) {}
    asio::ip::tcp::socket socket;
    asio::steady_timer idle;
    sip::StreamFramer framer;
    std::weak_ptr<Impl> impl;
    TransportOptions options;
    sip::Endpoint source;
    std::array<char, 16 * 1024> buffer{};
    std::deque<std::string> queue;
    bool close_after_write = false;
    bool closed = false;

    void start() {
      std::error_code ec;
      const auto remote = socket.remote_endpoint(ec);
      if (ec) return close();
      source = endpoint_of(remote.address(), remote.port());
      touch();
      read();
    }
    void touch() {
      idle.expires_after(options.idle_timeout);
      idle.async_wait([self = shared_from_this()](const std::error_code& ec) {
        if (!ec) self->close();
      });
    }
    void read() {
      socket.async_read_some(asio::buffer(buffer), [self = shared_from_this()](const std::error_code& ec, std::size_t n) {
        if (ec || self->closed) return self->close();
        self->touch();
        self->received(std::string_view(self->buffer.data(), n));
        if (!self->closed && !self->close_after_write) self->read();
      });
    }
    void received(std::string_view bytes) {
      framer.feed(bytes);
      // The framer counts keep-alive pings as next() scans past them: answer them after each.
      while (auto message = framer.next()) {
        for (std::size_t pongs = framer.take_pongs(); pongs > 0; --pongs) write("\r\n");
        auto owner = impl.lock();
        if (!owner) return close();
        std::weak_ptr<Connection> weak = weak_from_this();
        owner->chain.on_message(Inbound{std::move(*message), source, true, [weak](const sip::Endpoint&, std::string out) {
                                          if (auto c = weak.lock()) c->write(std::move(out));
                                        }});
      }
      for (std::size_t pongs = framer.take_pongs(); pongs > 0; --pongs) write("\r\n");
      if (framer.failed()) {
        // The next message's start can no longer be found: answer if possible, then close.
        if (auto response = sip::make_error_response(framer.pending(), framer.error())) write(std::move(*response));
        close_after_write = true;
        if (queue.empty()) close();
      }
    }
    void write(std::string bytes) {
      if (closed) return;
      queue.push_back(std::move(bytes));
      if (queue.size() == 1) flush();
    }
    void flush() {
      asio::async_write(socket, asio::buffer(queue.front()), [self = shared_from_this()](const std::error_code& ec, std::size_t) {
        if (ec) return self->close();
        self->queue.pop_front();
        if (!self->queue.empty()) return self->flush();
        if (self->close_after_write) self->close();
      });
    }
    void close() {
      if (closed) return;
      closed = true;
      std::error_code ignored;
      idle.cancel();
      socket.shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
      socket.close(ignored);
      if (auto owner = impl.lock()) owner->connections.erase(this);
    }
  };

  Impl(asio::io_context& io_, Chain& chain_, TransportOptions options_)
      : io(io_), chain(chain_), options(options_), udp(io_), acceptor(io_) {}

  asio::io_context& io;
  Chain& chain;
  TransportOptions options;
  asio::ip::udp::socket udp;
  asio::ip::tcp::acceptor acceptor;
  asio::ip::udp::endpoint from;
  std::array<char, 65536> datagram{};
  std::set<Connection*> connections;
  std::vector<std::weak_ptr<Connection>> all;
  bool closed = false;

  void receive() {
    udp.async_receive_from(asio::buffer(datagram), from, [self = shared_from_this()](const std::error_code& ec, std::size_t n) {
      if (self->closed || ec == asio::error::operation_aborted) return;
      if (!ec) {
        std::weak_ptr<Impl> weak = self;
        self->chain.on_message(Inbound{std::string(self->datagram.data(), n), endpoint_of(self->from.address(), self->from.port()), false,
                                       [weak](const sip::Endpoint& to, std::string out) {
                                         auto impl = weak.lock();
                                         if (!impl || impl->closed) return;
                                         std::error_code err;
                                         const auto address = asio::ip::make_address(to.host, err);
                                         if (err || to.port <= 0 || to.port > 65535) return;
                                         impl->udp.send_to(asio::buffer(out), asio::ip::udp::endpoint(address, static_cast<unsigned short>(to.port)), 0, err);
                                       }});
      }
      self->receive();
    });
  }
  void accept() {
    acceptor.async_accept([self = shared_from_this()](const std::error_code& ec, asio::ip::tcp::socket socket) {
      if (self->closed || ec == asio::error::operation_aborted) return;
      if (!ec && self->connections.size() < self->options.max_connections) {
        auto c = std::make_shared<Connection>(std::move(socket), *self);
        self->connections.insert(c.get());
        std::erase_if(self->all, [](const auto& w) { return w.expired(); });
        self->all.push_back(c);
        c->start();
      }
      self->accept();
    });
  }
};

Transport::Transport(asio::io_context& io, Chain& chain, const ListenAddress& where, TransportOptions options)
    : impl_(std::make_shared<Impl>(io, chain, options)) {
  const asio::ip::tcp::endpoint tcp_at(where.address, where.port);
  impl_->acceptor.open(tcp_at.protocol());
  impl_->acceptor.set_option(asio::ip::tcp::acceptor::reuse_address(true));
  if (where.address.is_v6()) impl_->acceptor.set_option(asio::ip::v6_only(true));
  impl_->acceptor.bind(tcp_at);
  impl_->acceptor.listen();
  // With port 0, UDP takes the port TCP got so that one ADDR:PORT serves both.
  const unsigned short port = where.port ? where.port : impl_->acceptor.local_endpoint().port();
  const asio::ip::udp::endpoint udp_at(where.address, port);
  impl_->udp.open(udp_at.protocol());
  if (where.address.is_v6()) impl_->udp.set_option(asio::ip::v6_only(true));
  impl_->udp.bind(udp_at);
  impl_->receive();
  impl_->accept();
}

Transport::~Transport() { close(); }

unsigned short Transport::udp_port() const { return impl_->udp.local_endpoint().port(); }
unsigned short Transport::tcp_port() const { return impl_->acceptor.local_endpoint().port(); }

std::string Transport::describe() const {
  std::error_code ec;
  const auto u = impl_->udp.local_endpoint(ec);
  const auto t = impl_->acceptor.local_endpoint(ec);
  auto text = [](const asio::ip::address& a, unsigned short p) {
    return (a.is_v6() ? "[" + a.to_string() + "]" : a.to_string()) + ":" + std::to_string(p);
  };
  return "udp " + text(u.address(), u.port()) + ", tcp " + text(t.address(), t.port());
}

void Transport::close() {
  if (!impl_ || impl_->closed) return;
  impl_->closed = true;
  std::error_code ignored;
  impl_->udp.close(ignored);
  impl_->acceptor.close(ignored);
  for (auto& weak : impl_->all)
    if (auto c = weak.lock()) c->close();
  impl_->all.clear();
}

}  // namespace e911::runtime
