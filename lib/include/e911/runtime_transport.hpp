#pragma once
// The SIP transports of the runtime on one asio io_context (RFC 3261 §18): a UDP socket and a TCP
// acceptor on one address, IPv4 or IPv6. Datagrams and stream-framed messages go to the Chain;
// responses go back on the socket they came on (UDP, to the Via's destination) or on the same
// connection (TCP). No name is ever resolved.
#include <asio.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "e911/runtime_chain.hpp"
#include "e911/sip_message.hpp"

namespace e911::runtime {

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
  bool udp = true;                                 ///< receive datagrams (sending works either way)
  bool tcp = true;                                 ///< accept connections (connecting out works either way)
};

class Transport {
 public:
  /// Binds and starts receiving; throws std::system_error when the address cannot be bound.
  /// With port 0, TCP and UDP get the same free port when possible.
  Transport(asio::io_context& io, Chain& chain, const ListenAddress& where, TransportOptions options = {});
  ~Transport();
  Transport(const Transport&) = delete;
  Transport& operator=(const Transport&) = delete;

  unsigned short udp_port() const;
  unsigned short tcp_port() const;
  /// `udp 127.0.0.1:5060, tcp 127.0.0.1:5060`.
  std::string describe() const;
  /// This transport's address as a Via sent-by or Contact host-port: `127.0.0.1:5060`, `[::1]:5060`.
  std::string sent_by() const;
  bool v6() const;
  /// Sends bytes the runtime originates (a request, an ACK, a 2xx retransmission) to `to`, an
  /// IP literal of this transport's family: over UDP from this socket, or over TCP on an open
  /// connection to `to` (one the peer opened to us counts, RFC 3261 §18.1.1), else a new one.
  /// `failed` runs on the loop, never inside this call, when the bytes cannot be delivered: not
  /// an IP literal of this family, connection refused or reset before they were written.
  void send(const sip::Endpoint& to, bool stream, std::string bytes, std::function<void()> failed = {});
  /// True when a TCP connection to `peer` (an IP literal) is open, whichever side opened it.
  bool connected(const sip::Endpoint& peer) const;
  /// Stops receiving and closes every connection.
  void close();

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace e911::runtime
