// UDP, TCP and TLS transports on asio (RFC 3261 §18, §26.3.1; RFC 5626 §3.5.1 keep-alives).
#include "e911/runtime_transport.hpp"

#include <asio/ssl.hpp>

#include <array>
#include <atomic>
#include <sys/resource.h>
#include <sys/socket.h>
#include <deque>
#include <functional>
#include <map>
#include <set>

#include "e911/error.hpp"
#include "e911/runtime_limits.hpp"
#include "e911/runtime_metrics.hpp"
#include "e911/runtime_tls.hpp"

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

// A TLS connection is kept apart from a plain one to the same peer: a request that must go over
// TLS never takes a TCP connection, whatever is open.
std::string remote_key(const sip::Endpoint& e, bool tls = false) { return e.host + "|" + std::to_string(e.port) + (tls ? "|tls" : ""); }

// Connecting and the TLS handshake together take at most this long: a peer that takes the
// connection and never answers it fails the request while a call can still go elsewhere.
constexpr std::chrono::seconds kHandshakeTimeout{4};

// Descriptors accepted connections may never take (issue 24): the trunks' connections, the
// listeners, HELD and the admin API, log and snapshot files, webhooks. With RLIMIT_NOFILE at
// 1024, a flood of connections otherwise took the last descriptor and the provider's TCP trunk
// could not be reached: the 911 call went to the PSTN gateway without its location.
constexpr std::size_t kReservedDescriptors = 128;
// Connections accepted and open, on every listener of the process (each has its own limits, but
// the descriptors are shared).
std::atomic<std::size_t> g_accepted{0};

std::size_t nofile_soft() {
  rlimit r{};
  if (::getrlimit(RLIMIT_NOFILE, &r) != 0 || r.rlim_cur == RLIM_INFINITY) return std::size_t(1) << 20;
  return static_cast<std::size_t>(r.rlim_cur);
}
// Accepted connections the descriptors allow, whatever max_connections says; read once (serve
// raises the limit before any listener starts: ensure_descriptors).
std::size_t descriptor_budget() {
  static const std::size_t budget = [] {
    const std::size_t n = nofile_soft();
    return n > 2 * kReservedDescriptors ? n - kReservedDescriptors : n / 2;
  }();
  return budget;
}

// After a failed accept that is not the peer's doing (no descriptor left, no memory) the listener
// waits this long before the next one, instead of spinning on the same error.
constexpr std::chrono::milliseconds kAcceptBackoff{100};

// The longest a message may take to arrive on a connection, from its first byte (64*T1).
constexpr std::chrono::seconds kMessageDeadline{32};

bool resource_exhausted(const std::error_code& ec) {
  return ec == std::errc::too_many_files_open || ec == std::errc::too_many_files_open_in_system || ec == std::errc::no_buffer_space ||
         ec == std::errc::not_enough_memory;
}

}  // namespace

DescriptorCheck ensure_descriptors(std::size_t connections) {
  DescriptorCheck out;
  out.wanted = connections + kReservedDescriptors;
  rlimit r{};
  if (::getrlimit(RLIMIT_NOFILE, &r) == 0 && r.rlim_cur != RLIM_INFINITY && r.rlim_cur < out.wanted) {
    // Raise the soft limit as far as the hard one allows: no privilege needed.
    rlimit raised = r;
    raised.rlim_cur = r.rlim_max == RLIM_INFINITY ? out.wanted : std::min<rlim_t>(r.rlim_max, out.wanted);
    if (raised.rlim_cur > r.rlim_cur && ::setrlimit(RLIMIT_NOFILE, &raised) == 0) out.raised_from = static_cast<std::size_t>(r.rlim_cur);
  }
  out.limit = nofile_soft();
  out.connections = std::min(connections, descriptor_budget());
  return out;
}

struct Transport::Impl : std::enable_shared_from_this<Transport::Impl> {
  struct Connection : std::enable_shared_from_this<Connection> {
    Connection(asio::ip::tcp::socket s, Impl& owner)
        : socket(std::move(s)), idle(socket.get_executor()), framer(owner.options.limits), impl(owner.weak_from_this()),
          options(owner.options) {}
    asio::ip::tcp::socket socket;
    std::unique_ptr<asio::ssl::stream<asio::ip::tcp::socket&>> tls;  ///< set on a TLS connection
    bool handshaken = false;
    asio::steady_timer idle;
    sip::StreamFramer framer;
    std::weak_ptr<Impl> impl;
    TransportOptions options;
    sip::Endpoint source;
    std::array<char, 16 * 1024> buffer{};
    struct Pending {
      std::string bytes;
      std::function<void()> failed;  ///< called when the bytes cannot be written
    };
    std::deque<Pending> queue;
    bool close_after_write = false;
    bool writing = false;  ///< an async write of queue.front() is in flight: its bytes must outlive it
    bool closed = false;
    bool connecting = false;
    std::string key;  ///< remote "host|port" ("host|port|tls") in the owner's registry
    std::string accepted_from;  ///< an accepted connection: its source address, counted in the owner's `inbound`
    std::string failure;  ///< why connecting or the handshake failed, kept by the owner at close
    std::chrono::steady_clock::time_point last_active = std::chrono::steady_clock::now();  ///< its last bytes read
    std::chrono::steady_clock::time_point partial_since{};  ///< when the message now arriving began; epoch: none is

    /// Makes this a TLS connection; `peer_name` (a client's) is what the peer's certificate must hold.
    bool secure(asio::ssl::context& ctx, const std::string& peer_name = {}) {
      tls = std::make_unique<asio::ssl::stream<asio::ip::tcp::socket&>>(socket, ctx);
      return peer_name.empty() || expect_peer(tls->native_handle(), peer_name);
    }
    void start(bool client = false) {
      std::error_code ec;
      const auto remote = socket.remote_endpoint(ec);
      if (ec) return close();
      source = endpoint_of(remote.address(), remote.port());
      key = remote_key(source, tls != nullptr);
      if (auto owner = impl.lock()) owner->by_remote[key] = weak_from_this();
      if (!tls) {
        touch();
        return read();
      }
      connecting = true;  // writes wait in the queue until the handshake is done
      handshake_deadline();
      tls->async_handshake(client ? asio::ssl::stream_base::client : asio::ssl::stream_base::server,
                           [self = shared_from_this()](const std::error_code& ec) {
                             self->connecting = false;
                             if (self->closed) return;
                             if (ec) {
                               self->failure = "TLS handshake failed: " + handshake_failure(self->tls->native_handle(), ec);
                               return self->close();
                             }
                             self->handshaken = true;
                             self->touch();
                             self->read();
                             if (!self->closed && !self->queue.empty()) self->flush();
                           });
    }
    /// An outbound connection: connects (and with TLS shakes hands), then reads like an accepted
    /// one; what was written meanwhile waits in the queue.
    void connect(const asio::ip::tcp::endpoint& to) {
      connecting = true;
      if (tls) handshake_deadline();
      socket.async_connect(to, [self = shared_from_this()](const std::error_code& ec) {
        if (self->closed) return;
        if (ec) {
          self->failure = "cannot connect: " + ec.message();
          return self->close();
        }
        std::error_code nodelay;
        self->socket.set_option(asio::ip::tcp::no_delay(true), nodelay);
        self->connecting = self->tls != nullptr;
        self->start(true);
        if (!self->closed && !self->connecting && !self->queue.empty()) self->flush();
      });
    }
    void handshake_deadline() {
      idle.expires_after(std::min<std::chrono::steady_clock::duration>(kHandshakeTimeout, options.idle_timeout));
      idle.async_wait([self = shared_from_this()](const std::error_code& ec) {
        if (ec || self->closed) return;
        self->failure = "no TLS handshake within " + std::to_string(kHandshakeTimeout.count()) + " s";
        self->close();
      });
    }
    void touch() {
      last_active = std::chrono::steady_clock::now();
      // A message begun must end within the idle timeout (at most 32 s, 64*T1) of its first byte,
      // however its bytes trickle: a byte every few seconds otherwise held a connection for ever.
      auto deadline = last_active + options.idle_timeout;
      if (partial_since != std::chrono::steady_clock::time_point{})
        deadline = std::min(deadline, partial_since + std::min<std::chrono::steady_clock::duration>(options.idle_timeout, kMessageDeadline));
      idle.expires_at(deadline);
      idle.async_wait([self = shared_from_this()](const std::error_code& ec) {
        if (!ec) self->close();
      });
    }
    void read() {
      auto done = [self = shared_from_this()](const std::error_code& ec, std::size_t n) {
        if (ec || self->closed) return self->close();
        const bool completed = self->received(std::string_view(self->buffer.data(), n));
        if (self->closed) return;
        if (self->framer.pending().empty()) self->partial_since = {};
        else if (completed || self->partial_since == std::chrono::steady_clock::time_point{}) self->partial_since = std::chrono::steady_clock::now();
        self->touch();
        if (!self->close_after_write) self->read();
      };
      if (tls) tls->async_read_some(asio::buffer(buffer), std::move(done));
      else socket.async_read_some(asio::buffer(buffer), std::move(done));
    }
    /// Feeds the framer and hands each complete message to the chain; true when one was.
    bool received(std::string_view bytes) {
      framer.feed(bytes);
      bool completed = false;
      // The framer counts keep-alive pings as next() scans past them: answer them after each.
      while (auto message = framer.next()) {
        completed = true;
        for (std::size_t pongs = framer.take_pongs(); pongs > 0; --pongs) write("\r\n");
        auto owner = impl.lock();
        if (!owner) {
          close();
          return completed;
        }
        std::weak_ptr<Connection> weak = weak_from_this();
        owner->chain.on_message(Inbound{std::move(*message), source, true,
                                        [weak](const sip::Endpoint&, std::string out) {
                                          if (auto c = weak.lock()) c->write(std::move(out));
                                        },
                                        tls != nullptr});
      }
      for (std::size_t pongs = framer.take_pongs(); pongs > 0; --pongs) write("\r\n");
      if (framer.failed()) {
        // The next message's start can no longer be found: answer if possible, then close.
        if (auto response = sip::make_error_response(framer.pending(), framer.error())) write(std::move(*response));
        close_after_write = true;
        if (queue.empty()) close();
      }
      return completed;
    }
    void write(std::string bytes, std::function<void()> failed = {}) {
      if (closed) {
        if (failed) asio::post(socket.get_executor(), std::move(failed));
        return;
      }
      queue.push_back(Pending{std::move(bytes), std::move(failed)});
      if (queue.size() == 1 && !connecting) flush();
    }
    void flush() {
      if (writing || closed || queue.empty()) return;
      writing = true;
      auto done = [self = shared_from_this()](const std::error_code& ec, std::size_t) {
        self->writing = false;
        // Closed meanwhile (the peer went, a framing error): close() already failed the queue
        // and kept only the bytes this write was reading; nothing is left to pop or send.
        if (self->closed) return self->queue.clear();
        if (ec) return self->close();
        self->queue.pop_front();
        if (!self->queue.empty()) return self->flush();
        if (self->close_after_write) self->close();
      };
      if (tls) asio::async_write(*tls, asio::buffer(queue.front().bytes), std::move(done));
      else asio::async_write(socket, asio::buffer(queue.front().bytes), std::move(done));
    }
    void close() {
      if (closed) return;
      closed = true;
      std::error_code ignored;
      idle.cancel();
      socket.shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
      socket.close(ignored);
      // Whatever was not written failed: its owners hear it on the loop, never inside this call.
      for (auto& p : queue)
        if (p.failed) asio::post(socket.get_executor(), std::move(p.failed));
      // A write in flight still reads queue.front() until its handler runs: keep those bytes.
      queue.erase(writing && !queue.empty() ? queue.begin() + 1 : queue.begin(), queue.end());
      if (auto owner = impl.lock()) {
        // The requests that went out on it will hear nothing more on it; told on the loop.
        if (!key.empty() && source.port != 0)  // it was open (a refused connect had no peer yet)
          asio::post(socket.get_executor(), [weak = impl, peer = source] {
            if (auto o = weak.lock()) o->chain.stream_closed(peer);
          });
        owner->connections.erase(this);
        if (!accepted_from.empty()) {
          owner->inbound.remove(accepted_from);
          g_accepted.fetch_sub(1, std::memory_order_relaxed);
        }
        auto it = owner->by_remote.find(key);
        if (it != owner->by_remote.end() && it->second.lock().get() == this) owner->by_remote.erase(it);
        if (!failure.empty()) owner->remember_failure(key, failure);
      }
    }
  };

  Impl(asio::io_context& io_, Chain& chain_, TransportOptions options_)
      : io(io_), chain(chain_), options(options_), udp(io_), acceptor(io_), backoff(io_) {}

  asio::io_context& io;
  Chain& chain;
  TransportOptions options;
  asio::ip::udp::socket udp;
  asio::ip::tcp::acceptor acceptor;
  asio::steady_timer backoff;  ///< the pause after an accept that failed for want of descriptors
  asio::ip::udp::endpoint from;
  std::array<char, 65536> datagram{};
  std::set<Connection*> connections;
  std::vector<std::weak_ptr<Connection>> all;
  std::map<std::string, std::weak_ptr<Connection>> by_remote;  ///< open connections by peer, either direction
  std::map<std::string, std::string> failures;  ///< why the last connection to a peer failed to open
  PerSource inbound;  ///< accepted connections open, by source address
  bool closed = false;
  asio::ip::address address;
  unsigned short port = 0;
  bool serve_udp = true;  ///< false: datagrams other than responses to our requests are dropped

  void remember_failure(const std::string& key, const std::string& why) {
    if (failures.size() >= 1024) failures.clear();  // only the most recent matter, to the calls that hit them
    failures[key] = why;
  }

  void send_udp(const sip::Endpoint& to, const std::string& out) {
    std::error_code err;
    const auto address = asio::ip::make_address(to.host, err);
    if (err || to.port <= 0 || to.port > 65535) return;
    udp.send_to(asio::buffer(out), asio::ip::udp::endpoint(address, static_cast<unsigned short>(to.port)), 0, err);
  }

  void receive() {
    udp.async_receive_from(asio::buffer(datagram), from, [self = shared_from_this()](const std::error_code& ec, std::size_t n) {
      if (self->closed || ec == asio::error::operation_aborted) return;
      // Listening on TCP only: a datagram is taken only when it answers a request we sent.
      const bool wanted = self->serve_udp || std::string_view(self->datagram.data(), n).substr(0, 4) == "SIP/";
      if (!ec && wanted) {
        std::weak_ptr<Impl> weak = self;
        self->chain.on_message(Inbound{std::string(self->datagram.data(), n), endpoint_of(self->from.address(), self->from.port()), false,
                                       [weak](const sip::Endpoint& to, std::string out) {
                                         auto impl = weak.lock();
                                         if (!impl || impl->closed) return;
                                         impl->send_udp(to, out);
                                       }});
      }
      self->receive();
    });
  }
  // Limits at accept (runtime_limits.hpp): max_connections_per_source from one address, so
  // that one source cannot take every connection from the phones that need one; max_connections
  // in all (and the descriptors the process has, less a reserve for the trunks). A table full of
  // other sources' connections never shuts a new source out: the oldest idle connection of the
  // busiest source makes room (issue 24: 17 addresses holding 64 idle connections each made
  // every new connection, a 911 included, fail). A connection refused is reset at once, before
  // any TLS handshake or read; refusals and evictions are counted and logged at most once per
  // source in 10 s.
  bool admit(asio::ip::tcp::socket& socket, std::string& from) {
    std::error_code ec;
    const auto remote = socket.remote_endpoint(ec);
    if (ec) return false;  // gone already
    from = remote.address().to_string();
    const std::size_t open = inbound.count(from);
    const bool per_source = options.max_connections_per_source != 0 && open >= options.max_connections_per_source;
    const bool full = connections.size() >= options.max_connections || g_accepted.load(std::memory_order_relaxed) >= descriptor_budget();
    if (!per_source && (!full || evict_for(from, open))) return true;
    socket.set_option(asio::socket_base::linger(true, 0), ec);  // RST: nothing lingers for a flood
    socket.close(ec);
    if (Metrics* m = chain.options().metrics) m->connection_refused(per_source);
    const std::string what = std::string(options.tls_listen ? "TLS" : "TCP") + " connection from " + from + " to " + listener() + " refused: ";
    if (per_source)
      chain.limit_log().refused("max_connections_per_source " + listener() + " " + from,
                                what + std::to_string(open) + " already open from that address (max_connections_per_source " +
                                    std::to_string(options.max_connections_per_source) + ")");
    else if (connections.size() >= options.max_connections)
      chain.limit_log().refused("max_connections " + listener() + " " + from,
                                what + std::to_string(connections.size()) + " connections open (max_connections " +
                                    std::to_string(options.max_connections) + "), none from an address holding more than this one");
    else
      chain.limit_log().refused("max_connections " + listener() + " " + from,
                                what + std::to_string(g_accepted.load(std::memory_order_relaxed)) +
                                    " connections accepted on every listener, all the descriptors allow (RLIMIT_NOFILE " +
                                    std::to_string(nofile_soft()) + " less 128 kept for trunks), none from an address holding more than this one");
    return false;
  }
  std::string listener() const { return (address.is_v6() ? "[" + address.to_string() + "]" : address.to_string()) + ":" + std::to_string(port); }
  // Closes the longest-idle accepted connection of the source holding the most, when that is
  // more than `newcomer` (holding `held`) does. Returns true when room was made.
  bool evict_for(const std::string& newcomer, std::size_t held) {
    std::string busiest;
    std::size_t most = held;
    for (const Connection* c : connections)
      if (!c->accepted_from.empty() && c->accepted_from != busiest)
        if (const std::size_t n = inbound.count(c->accepted_from); n > most) most = n, busiest = c->accepted_from;
    if (busiest.empty()) return false;
    Connection* victim = nullptr;
    for (Connection* c : connections)
      if (c->accepted_from == busiest && !c->closed && (!victim || c->last_active < victim->last_active)) victim = c;
    if (!victim) return false;
    const auto idle_s = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - victim->last_active).count();
    if (Metrics* m = chain.options().metrics) m->connection_evicted();
    chain.limit_log().refused("evicted " + listener() + " for " + newcomer,
                              "room made for " + newcomer + " on " + listener() + ", the connections being full (" +
                                  std::to_string(connections.size()) + " open): the " + (options.tls_listen ? "TLS" : "TCP") +
                                  " connection idle longest (" + std::to_string(idle_s) + " s) of " + busiest + ", which holds the most (" +
                                  std::to_string(most) + "), closed");
    auto keep = victim->shared_from_this();  // close() takes it out of `connections`
    victim->close();
    return true;
  }
  void accept() {
    acceptor.async_accept([self = shared_from_this()](const std::error_code& ec, asio::ip::tcp::socket socket) {
      if (self->closed || ec == asio::error::operation_aborted) return;
      if (resource_exhausted(ec)) {
        // Out of descriptors (or memory) for the moment: the connection waits in the backlog. Try
        // again shortly rather than at once: accepting in a loop on the same error took a whole core.
        if (Metrics* m = self->chain.options().metrics) m->accept_failed();
        self->chain.limit_log().refused("accept " + self->listener(), std::string(self->options.tls_listen ? "TLS" : "TCP") + " listener " +
                                                                         self->listener() + " cannot accept: " + ec.message() +
                                                                         " (RLIMIT_NOFILE " + std::to_string(nofile_soft()) + ")");
        self->backoff.expires_after(kAcceptBackoff);
        self->backoff.async_wait([self](const std::error_code& e) {
          if (!e && !self->closed) self->accept();
        });
        return;
      }
      std::string from;
      if (!ec && self->admit(socket, from)) {
        auto c = std::make_shared<Connection>(std::move(socket), *self);
        c->accepted_from = from;
        g_accepted.fetch_add(1, std::memory_order_relaxed);
        self->inbound.add(from);
        self->connections.insert(c.get());
        std::erase_if(self->all, [](const auto& w) { return w.expired(); });
        self->all.push_back(c);
        if (self->options.tls_listen) c->secure(self->options.tls->server());
        c->start();
      }
      self->accept();
    });
  }
};

Transport::Transport(asio::io_context& io, Chain& chain, const ListenAddress& where, TransportOptions options)
    : impl_(std::make_shared<Impl>(io, chain, options)) {
  if (options.tls_listen && (!options.tls || !options.tls->can_serve()))
    throw Error(ErrorKind::usage, "listen 'tls:" + where.text() + "': no TLS certificate", "give tls_certificate and tls_private_key (--tls-certificate, --tls-private-key)");
  unsigned short port = where.port;
  if (options.tcp || options.tls_listen || !options.udp) {
    const asio::ip::tcp::endpoint tcp_at(where.address, where.port);
    impl_->acceptor.open(tcp_at.protocol());
    impl_->acceptor.set_option(asio::ip::tcp::acceptor::reuse_address(true));
    if (where.address.is_v6()) impl_->acceptor.set_option(asio::ip::v6_only(true));
    impl_->acceptor.bind(tcp_at);
    impl_->acceptor.listen();
    // With port 0, UDP takes the port TCP got so that one ADDR:PORT serves both.
    port = impl_->acceptor.local_endpoint().port();
  }
  if (options.tls_listen) {
    // A TLS listener is that alone: UDP and TCP on the same address have ports of their own.
    impl_->address = where.address;
    impl_->port = port;
    impl_->serve_udp = false;
    impl_->accept();
    return;
  }
  // The UDP socket is bound even when only TCP is served: requests the runtime sends over UDP
  // leave from it, and their responses come back to it.
  const asio::ip::udp::endpoint udp_at(where.address, port);
  impl_->udp.open(udp_at.protocol());
  if (where.address.is_v6()) impl_->udp.set_option(asio::ip::v6_only(true));
  impl_->udp.bind(udp_at);
  // A burst of datagrams (a busy hour's calls, retransmissions after a pause) must wait in the
  // socket, not be dropped by the kernel: 4 MiB, past net.core.rmem_max where the process may
  // (SO_RCVBUFFORCE needs CAP_NET_ADMIN), else as much as rmem_max allows.
  {
    const int want = 4 << 20;
    const int fd = impl_->udp.native_handle();
    if (::setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &want, sizeof want) != 0) ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &want, sizeof want);
    if (::setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &want, sizeof want) != 0) ::setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &want, sizeof want);
  }
  port = impl_->udp.local_endpoint().port();
  impl_->address = where.address;
  impl_->port = port;
  impl_->serve_udp = options.udp;
  impl_->receive();
  if (impl_->acceptor.is_open()) impl_->accept();
}

Transport::~Transport() { close(); }

unsigned short Transport::udp_port() const {
  std::error_code ec;
  return impl_->udp.is_open() ? impl_->udp.local_endpoint(ec).port() : 0;
}

bool Transport::tls_listener() const { return impl_->options.tls_listen; }
unsigned short Transport::tcp_port() const {
  std::error_code ec;
  return impl_->acceptor.is_open() ? impl_->acceptor.local_endpoint(ec).port() : 0;
}

std::string Transport::describe() const {
  const std::string at = sent_by();
  if (impl_->options.tls_listen) return "tls " + at;
  if (!impl_->serve_udp) return "tcp " + at;
  if (!impl_->acceptor.is_open()) return "udp " + at;
  return "udp " + at + ", tcp " + at;
}

bool Transport::v6() const { return impl_->address.is_v6(); }

std::string Transport::sent_by() const {
  const auto& a = impl_->address;
  return (a.is_v6() ? "[" + a.to_string() + "]" : a.to_string()) + ":" + std::to_string(impl_->port);
}

bool Transport::connected(const sip::Endpoint& peer) const {
  std::error_code ec;
  const auto address = asio::ip::make_address(peer.host, ec);
  if (ec) return false;
  for (bool tls : {false, true}) {
    auto it = impl_->by_remote.find(remote_key(sip::Endpoint{address.to_string(), peer.port, false}, tls));
    if (it == impl_->by_remote.end()) continue;
    if (auto c = it->second.lock(); c && !c->closed) return true;
  }
  return false;
}

std::string Transport::failure(const sip::Endpoint& peer, bool tls) const {
  std::error_code ec;
  const auto address = asio::ip::make_address(peer.host, ec);
  if (ec) return {};
  auto it = impl_->failures.find(remote_key(sip::Endpoint{address.to_string(), peer.port, false}, tls));
  return it == impl_->failures.end() ? std::string() : it->second;
}

void Transport::send(const sip::Endpoint& to, bool stream, std::string bytes, std::function<void()> failed) {
  deliver(to, stream, nullptr, std::move(bytes), std::move(failed));
}

void Transport::send_tls(const sip::Endpoint& to, const std::string& peer_name, std::string bytes, std::function<void()> failed) {
  const std::string name = peer_name.empty() ? to.host : peer_name;
  deliver(to, true, &name, std::move(bytes), std::move(failed));
}

void Transport::deliver(const sip::Endpoint& to, bool stream, const std::string* tls_name, std::string bytes, std::function<void()> failed) {
  auto fail = [&] {
    if (failed) asio::post(impl_->io, std::move(failed));
  };
  if (impl_->closed) return fail();
  std::error_code ec;
  const auto address = asio::ip::make_address(to.host, ec);
  if (ec || to.port <= 0 || to.port > 65535 || address.is_v6() != v6()) return fail();
  if (!stream) {
    if (!impl_->udp.is_open()) return fail();
    std::error_code err;
    impl_->udp.send_to(asio::buffer(bytes), asio::ip::udp::endpoint(address, static_cast<unsigned short>(to.port)), 0, err);
    if (err) fail();
    return;
  }
  // RFC 3261 §18.1.1: reuse an open connection to the peer (one it opened to us included);
  // else open one. Its failure reaches every write queued on it. A request that needs no TLS
  // may take a TLS connection (a phone's, registered over TLS); one that needs TLS only a TLS one.
  const sip::Endpoint peer{address.to_string(), to.port, false};
  const std::string key = remote_key(peer, tls_name != nullptr);
  for (const std::string& k : tls_name ? std::vector<std::string>{key} : std::vector<std::string>{key, remote_key(peer, true)})
    if (auto it = impl_->by_remote.find(k); it != impl_->by_remote.end())
      if (auto c = it->second.lock(); c && !c->closed) return c->write(std::move(bytes), std::move(failed));
  if (tls_name && !impl_->options.tls) return fail();
  auto c = std::make_shared<Impl::Connection>(asio::ip::tcp::socket(impl_->io), *impl_);
  if (tls_name && !c->secure(impl_->options.tls->client(), *tls_name)) {
    impl_->remember_failure(key, "'" + *tls_name + "' cannot be checked in a certificate");
    return fail();
  }
  impl_->failures.erase(key);
  c->key = key;
  impl_->by_remote[key] = c;
  impl_->connections.insert(c.get());
  std::erase_if(impl_->all, [](const auto& w) { return w.expired(); });
  impl_->all.push_back(c);
  c->connecting = true;  // the bytes wait in the queue until the connection is up
  c->write(std::move(bytes), std::move(failed));
  c->connect(asio::ip::tcp::endpoint(address, static_cast<unsigned short>(to.port)));
}

void Transport::close() {
  if (!impl_ || impl_->closed) return;
  impl_->closed = true;
  std::error_code ignored;
  impl_->udp.close(ignored);
  impl_->acceptor.close(ignored);
  impl_->backoff.cancel();
  for (auto& weak : impl_->all)
    if (auto c = weak.lock()) c->close();
  impl_->all.clear();
}

}  // namespace e911::runtime
