#pragma once
// The request chain of the runtime (ARCHITECTURE.md "The runtime"): the one place that says in
// which order an incoming message is handled. Steps so far: parse and validate (400/416/420/
// 483/505) -> server transaction match (retransmissions absorbed, timers on asio) -> the answer
// of the method. The transports hand every message here with a way to send back.
#include <asio.hpp>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "e911/runtime_snapshot.hpp"
#include "e911/sip_message.hpp"
#include "e911/sip_transaction.hpp"
#include "e911/sip_wire.hpp"

namespace e911::runtime {

/// Sends bytes towards `destination` on the socket or connection the request came on (a stream
/// connection ignores `destination`: it answers on itself).
using Sender = std::function<void(const sip::Endpoint& destination, std::string bytes)>;

/// One message as a transport received it.
struct Inbound {
  std::string bytes;
  sip::Endpoint source;  ///< the packet's real source address (IP literal, no brackets) and port
  bool stream = false;   ///< came on a connection (TCP); else a datagram (UDP)
  Sender send;
};

/// Where a response to a request goes (RFC 3261 §18.2.2, RFC 3581), never resolving a name: when
/// the destination is not an IP literal (e.g. an maddr that is a host name) the packet's source.
sip::Endpoint reply_destination(const std::optional<sip::Via>& top, const sip::Endpoint& source);

class Chain {
 public:
  /// `snapshots` (may be null: no snapshot) must outlive the chain; each request copies the
  /// snapshot in service out of it once and keeps that copy to its end.
  Chain(asio::io_context& io, sip::Limits limits = {}, sip::TimerConfig timers = {}, const SnapshotSlot* snapshots = nullptr);
  ~Chain();
  Chain(const Chain&) = delete;
  Chain& operator=(const Chain&) = delete;

  /// Handles one message; everything it sends goes through `in.send`.
  void on_message(Inbound in);

  /// Server transactions alive (for tests and logs).
  std::size_t transactions() const { return table_.size(); }

 private:
  struct Live;  // the timers and the way back of one server transaction
  void apply(const sip::TransactionKey& key, sip::Actions actions);
  void arm(const sip::TransactionKey& key, sip::Timer timer, sip::Duration after);
  void drop(const sip::TransactionKey& key);
  std::string answer(const sip::Message& request, const std::string& top_via);
  /// `e911ctl/<version> snapshot/<revision in service or none>`, for the Server header.
  static std::string server_header(const std::shared_ptr<const Snapshot>& snap);

  asio::io_context& io_;
  sip::Limits limits_;
  sip::TimerConfig timers_;
  const SnapshotSlot* snapshots_;
  sip::TransactionTable table_;
  std::map<sip::TransactionKey, std::unique_ptr<Live>> live_;
};

}  // namespace e911::runtime
