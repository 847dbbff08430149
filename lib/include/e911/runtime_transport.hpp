#pragma once
// The SIP transports of the runtime on one asio io_context (RFC 3261 §18): a UDP socket and a TCP
// acceptor on one address, IPv4 or IPv6, or a TLS acceptor alone (RFC 3261 §26.3.1). Datagrams
// and stream-framed messages go to the Chain; responses go back on the socket they came on (UDP,
// to the Via's destination) or on the same connection (TCP, TLS). Any transport may open TLS
// connections to peers (trunks), verifying their certificates. No name is ever resolved.
#include <asio.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "e911/runtime_chain.hpp"
#include "e911/sip_message.hpp"

namespace e911::runtime {

class TlsContexts;

/// `127.0.0.1:5060` or `[::1]:5060` (an IP literal, never a name; port 0 picks a free one).
struct ListenAddress {
  asio::ip::address address;
  unsigned short port = 5060;
  std::string text() const;  ///< as above, IPv6 in brackets
};
/// Parses ADDR:PORT; nullopt with `why` set when it is not one.
std::optional<ListenAddress> parse_listen(const std::string& text, std::string& why);

struct TransportOptions {
  sip::Limits limits;                              ///< max message size and header count
  std::chrono::seconds idle_timeout{300};          ///< a TCP connection silent this long is closed
  std::size_t max_connections = 1024;              ///< TCP connections beyond this are refused
  /// TCP or TLS connections one source address may have open to this transport; one more is
  /// closed at accept, counted (connections_refused_total) and logged (rate-limited). 0: no limit.
  std::size_t max_connections_per_source = 64;
  bool udp = true;                                 ///< receive datagrams (sending works either way)
  bool tcp = true;                                 ///< accept connections (connecting out works either way)
  bool tls_listen = false;                         ///< accept TLS connections only (no UDP, no plain TCP)
  std::shared_ptr<TlsContexts> tls;                ///< for TLS listeners and TLS connections out; null: no TLS
};

/// What the process's descriptors allow (RLIMIT_NOFILE), checked once at start.
struct DescriptorCheck {
  std::size_t wanted = 0;       ///< descriptors the connections asked for need, with the reserve
  std::size_t limit = 0;        ///< the soft RLIMIT_NOFILE now
  std::size_t raised_from = 0;  ///< the soft limit before it was raised; 0 when it was not
  std::size_t connections = 0;  ///< accepted connections the descriptors allow (at most those asked for)
};
/// Raises the soft RLIMIT_NOFILE toward what `connections` accepted connections (every listener's
/// max_connections together) need, plus 128 kept for the trunks' connections, HTTP and files, as
/// far as the hard limit allows. Accepted connections never take the reserve, on any listener:
/// past it a new one makes room or is refused as past max_connections. Call it before the first
/// Transport is made: the budget is read once.
DescriptorCheck ensure_descriptors(std::size_t connections);

class Transport {
 public:
  /// Binds and starts receiving; throws std::system_error when the address cannot be bound, and
  /// Error(usage) for a TLS listener without a certificate. With port 0, TCP and UDP get the same
  /// free port when possible.
  Transport(asio::io_context& io, Chain& chain, const ListenAddress& where, TransportOptions options = {});
  ~Transport();
  Transport(const Transport&) = delete;
  Transport& operator=(const Transport&) = delete;

  unsigned short udp_port() const;  ///< 0 for a TLS listener
  unsigned short tcp_port() const;
  /// True for a TLS listener.
  bool tls_listener() const;
  /// `udp 127.0.0.1:5060, tcp 127.0.0.1:5060`, or `tls 127.0.0.1:5061`.
  std::string describe() const;
  /// This transport's address as a Via sent-by or Contact host-port: `127.0.0.1:5060`, `[::1]:5060`.
  std::string sent_by() const;
  bool v6() const;
  /// Sends bytes the runtime originates (a request, an ACK, a 2xx retransmission) to `to`, an
  /// IP literal of this transport's family: over UDP from this socket, or over TCP on an open
  /// connection to `to` (one the peer opened to us counts, RFC 3261 §18.1.1), else a new one.
  /// `failed` runs on the loop, never inside this call, when the bytes cannot be delivered: not
  /// an IP literal of this family, connection refused or reset before they were written.
  /// With `stream`, an open TLS connection to `to` is taken as well as a TCP one.
  void send(const sip::Endpoint& to, bool stream, std::string bytes, std::function<void()> failed = {});
  /// Sends bytes over TLS: on an open TLS connection to `to`, else a new one whose peer must
  /// show a certificate valid under the TLS options' CA and naming `peer_name` (an IP literal or
  /// a host name; empty: `to`'s address). `failed` as for send(): connecting, the handshake or
  /// the check of the certificate failed (failure() says which), or there is no TLS.
  void send_tls(const sip::Endpoint& to, const std::string& peer_name, std::string bytes, std::function<void()> failed = {});
  /// Why the last connection this transport opened to `peer` (TLS or not) failed before it
  /// carried anything: "TLS handshake failed: certificate verify failed: ...", "cannot connect:
  /// Connection refused"; empty when it did not fail or is not known.
  std::string failure(const sip::Endpoint& peer, bool tls) const;
  /// True when a TCP or TLS connection to `peer` (an IP literal) is open, whichever side opened it.
  bool connected(const sip::Endpoint& peer) const;
  /// Stops receiving and closes every connection.
  void close();

 private:
  void deliver(const sip::Endpoint& to, bool stream, const std::string* tls_name, std::string bytes, std::function<void()> failed);
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace e911::runtime
