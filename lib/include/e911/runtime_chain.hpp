#pragma once
// The request chain of the runtime (ARCHITECTURE.md "The runtime"): the one place that says in
// which order an incoming message is handled:
//
//   parse -> validate (400/416/420/482/483/505) -> transaction match (retransmissions absorbed,
//   responses to our client transactions) -> the method: OPTIONS answered, REGISTER to the
//   registrar, CANCEL to the call it cancels, INVITE to the B2BUA (decide() on the snapshot in
//   service, then out to the first attempt), in-dialog requests and ACKs to their call.
//
// The chain also drives the transactions of the transaction user (the B2BUA): it starts client
// transactions, arms their timers on asio and hands their responses, timeouts and transport
// errors back; and it sends what the TU sends outside a transaction (ACK for 2xx, 2xx
// retransmissions) on the transports. One chain belongs to one io_context thread: nothing in it
// takes a lock.
#include <asio.hpp>
#include <chrono>
#include <functional>
#include <map>
#include <unordered_map>
#include <memory>
#include <string>
#include <vector>

#include "e911/json.hpp"
#include "e911/runtime_auth.hpp"
#include "e911/runtime_limits.hpp"
#include "e911/runtime_snapshot.hpp"
#include "e911/runtime_timer_wheel.hpp"
#include "e911/sip_message.hpp"
#include "e911/sip_transaction.hpp"
#include "e911/sip_wire.hpp"

namespace e911::runtime {

class Transport;
class Registrar;
class B2bua;
class Metrics;
class CallLog;
class CallRecord;
struct NotifyFacts;
struct NotifyTarget;
struct DeliveryOutcome;

/// Sends bytes towards `destination` on the socket or connection the request came on (a stream
/// connection ignores `destination`: it answers on itself).
using Sender = std::function<void(const sip::Endpoint& destination, std::string bytes)>;

/// One message as a transport received it.
struct Inbound {
  std::string bytes;
  sip::Endpoint source;  ///< the packet's real source address (IP literal, no brackets) and port
  bool stream = false;   ///< came on a connection (TCP or TLS); else a datagram (UDP)
  Sender send;
  bool tls = false;      ///< came on a TLS connection
};

/// Where the runtime sends a request it originates: an IP literal and port, over TCP, TLS or UDP.
struct Destination {
  sip::Endpoint to;
  bool stream = false;
  bool tls = false;      ///< over TLS (stream too): never on a plain TCP connection
  std::string tls_name;  ///< with tls: the name the peer's certificate must hold; empty: its address
};

/// What happened to a client transaction, for its owner.
struct ClientEvent {
  enum class Kind { response, timeout, transport_error } kind = Kind::response;
  const sip::Message* response = nullptr;  ///< with Kind::response
};
using ClientCallback = std::function<void(const ClientEvent&)>;

/// Where a response to a request goes (RFC 3261 §18.2.2, RFC 3581), never resolving a name: when
/// the destination is not an IP literal (e.g. an maddr that is a host name) the packet's source.
sip::Endpoint reply_destination(const std::optional<sip::Via>& top, const sip::Endpoint& source);

/// How the runtime behaves, beyond the SIP limits and timers.
struct CoreOptions {
  std::vector<std::string> domains;         ///< SIP domains served; empty: the snapshot users' domains
  std::chrono::seconds ring_timeout{180};   ///< a call not answered this long gets 408
  /// A connected call's sides are asked this often whether they still hold the dialog (an
  /// OPTIONS in it, RFC 5057): one gone ends the call. 0: never asked.
  std::chrono::seconds dialog_keepalive{60};
  std::chrono::minutes callback_window{30}; ///< ELIN gateway mode: an ELIN rings its last caller this long
  std::string bindings_path;                ///< where registrations are kept ("" : memory only)
  Metrics* metrics = nullptr;               ///< counters (may be null)
  CallLog* call_log = nullptr;              ///< recent calls (may be null)
  std::function<void(const CallRecord&)> on_call; ///< one record per finished call (the log line)
  std::function<void(const std::string& level, const std::string& message)> on_event;  ///< other log lines
  /// Hands a call's webhook and e-mail deliveries to the notifier (Notifier::submit: never
  /// blocks); their outcomes come back through Chain::notification_outcome. Empty: none sent.
  std::function<std::size_t(const NotifyFacts&, const std::vector<NotifyTarget>&)> notify;
  AuthOptions auth;                         ///< digest authentication of REGISTERs and ordinary calls
  /// Ordinary and internal calls in progress one source address may hold (the trunks' hosts are
  /// not limited: a gateway carries many callers); one more gets 503 with Retry-After. 0: no limit.
  std::size_t max_calls_per_source = 100;
  /// Ordinary and internal calls beyond this many calls in progress (of any kind) get 503 with
  /// Retry-After. 0: no limit. Emergency, test and PSAP callback calls are never refused by either.
  std::size_t max_calls = 10000;
  /// Server transactions one source address may hold for requests outside any call (REGISTER,
  /// MESSAGE, in-dialog requests of no dialog here); one more is answered 503 with Retry-After,
  /// statelessly. INVITEs and requests in a call's dialog are never shed. 0: no limit.
  std::size_t max_transactions_per_source = 1000;
  /// The same for all sources together (each lives up to 32 s over UDP: a flood of fresh branches
  /// otherwise grew memory without bound). 0: no limit.
  std::size_t max_transactions = 50000;
};

class Chain {
 public:
  /// `snapshots` (may be null: no snapshot) must outlive the chain; each request copies the
  /// snapshot in service out of it once and keeps that copy to its end.
  Chain(asio::io_context& io, sip::Limits limits = {}, sip::TimerConfig timers = {}, const SnapshotSlot* snapshots = nullptr,
        CoreOptions options = {});
  ~Chain();
  Chain(const Chain&) = delete;
  Chain& operator=(const Chain&) = delete;

  /// A transport the runtime may send its own requests on (the first of each address family is
  /// used); the transport must outlive the chain's use of it.
  void add_transport(Transport* transport);

  /// Handles one message; every response to it goes through `in.send`.
  void on_message(Inbound in);
  /// A TCP or TLS connection to `peer` closed: every client transaction whose request went to it
  /// hears a transport error now (a trunk that died after ringing), not minutes later.
  void stream_closed(const sip::Endpoint& peer);

  /// Transactions alive (for tests, status and logs).
  std::size_t transactions() const { return table_.size(); }
  /// Calls in progress, and of them emergency calls.
  std::size_t calls() const;
  std::size_t emergency_calls() const;
  /// The calls in progress and their state (B2bua::active_json).
  Json active_calls(std::size_t limit) const;
  Registrar& registrar() { return *registrar_; }
  /// Digest authentication (runtime_auth.hpp), for the registrar and the B2BUA.
  Authenticator& auth() { return *auth_; }
  const SnapshotSlot* snapshots() const { return snapshots_; }
  const CoreOptions& options() const { return options_; }
  /// What a message may be (max_message...): every request sent is parsed against them first.
  const sip::Limits& limits() const { return limits_; }
  const sip::TimerConfig& timers() const { return timers_; }
  asio::io_context& io() { return io_; }
  /// The loop's timers (transactions, calls): one wheel for the whole chain.
  TimerWheel& wheel() { return wheel_; }
  /// The domains served now: the configured ones, else those of the users of `snap`.
  std::vector<std::string> domains(const Snapshot* snap) const;
  /// Stops taking new calls (SIGTERM): INVITEs get 503 with Retry-After, except emergency
  /// calls, which are still routed; calls in progress go on.
  void drain() { draining_ = true; }
  bool draining() const { return draining_; }
  /// A webhook or e-mail delivery ended (posted to the loop by the notifier's thread).
  void notification_outcome(const DeliveryOutcome& outcome);
  /// Writes the bindings file now if it changed (also done every second while serving).
  void save_bindings();
  /// The log lines of refusals by the limits (connections, calls), at most one per source and
  /// limit in 10 s; the transports and the B2BUA write through it.
  LimitLog& limit_log() { return limit_log_; }

  // For the transaction user (the B2BUA).
  /// Sends `response` (wire text) through server transaction `key`; ignored when it is gone.
  void respond(const sip::TransactionKey& key, std::string response);
  /// Starts a client transaction for `request` (wire text, its top Via ours) towards `to`.
  /// Its responses, timeout or transport error reach `on_event` (not after it terminates).
  /// Returns its key, or nullopt when the bytes do not parse or have no key.
  std::optional<sip::TransactionKey> request(std::string request, const Destination& to, ClientCallback on_event);
  /// Sends the CANCEL of client INVITE `invite` when it may be sent (a provisional came);
  /// returns false when not yet (send it when the first provisional comes).
  bool cancel(const sip::TransactionKey& invite);
  /// Sends bytes outside any transaction (ACK for a 2xx, 2xx retransmissions, requests toward a
  /// dialog peer whose failure only matters to the log).
  void send(const Destination& to, std::string bytes, std::function<void()> failed = {});
  /// The transport name and sent-by (`UDP`, `127.0.0.1:5060`; `TLS` and a TLS listener's address
  /// when there is one) a request to `to` leaves with; nullopt when no transport serves its
  /// address family.
  std::optional<std::pair<std::string, std::string>> local(const Destination& to) const;
  /// True when a TCP or TLS connection to `peer` is open (either side opened it).
  bool connected(const sip::Endpoint& peer) const;
  /// Why the last connection toward `to` failed to open (Transport::failure); empty when not known.
  std::string transport_failure(const Destination& to) const;
  /// True when a Via sent-by and branch are ours (a request that looped back: 482).
  bool ours(const sip::Via& via) const;

 private:
  struct Live;        // the timers and the way back of one server transaction
  struct ClientLive;  // the timers, destination and owner of one client transaction
  void apply(const sip::TransactionKey& key, sip::Actions actions);
  void apply_client(const sip::TransactionKey& key, sip::Actions actions);
  void arm(const sip::TransactionKey& key, sip::Timer timer, sip::Duration after);
  void arm_client(const sip::TransactionKey& key, sip::Timer timer, sip::Duration after);
  void drop(const sip::TransactionKey& key);
  static void fire_server(void* live, std::uint64_t timer);
  static void fire_client(void* live, std::uint64_t timer);
  void dispatch(const sip::TransactionKey& key, const sip::Message& request, const Inbound& in, const sip::Endpoint& reply_to,
                const std::string& top_via);
  std::string answer(const sip::Message& request, const std::string& top_via);
  /// Whether a new server transaction for `request` from `source` may be refused by the limits:
  /// false for an INVITE (an emergency call is never shed) and a request in a call's dialog.
  bool sheddable(const sip::Message& request) const;
  /// True (answered 503) when sheddable `request` from `source` is past a limit.
  bool shed(const sip::Message& request, const Inbound& in, const sip::Endpoint& destination, const std::string& top_via);
  Transport* transport_for(const std::string& host, bool tls = false) const;
  /// The transport a request to `to` leaves from: the one with an open connection to it, else
  /// transport_for.
  Transport* transport_to(const Destination& to) const;
  /// `e911ctl/<version> snapshot/<revision in service or none>`, for the Server header.
  static std::string server_header(const std::shared_ptr<const Snapshot>& snap);

  asio::io_context& io_;
  TimerWheel wheel_;  ///< before everything that starts timers on it
  sip::Limits limits_;
  sip::TimerConfig timers_;
  const SnapshotSlot* snapshots_;
  CoreOptions options_;
  LimitLog limit_log_;
  sip::TransactionTable table_;
  std::unordered_map<sip::TransactionKey, std::unique_ptr<Live>, sip::TransactionKeyHash> live_;
  std::unordered_map<sip::TransactionKey, std::unique_ptr<ClientLive>, sip::TransactionKeyHash> client_live_;
  std::vector<Transport*> transports_;
  std::unique_ptr<Authenticator> auth_;
  std::unique_ptr<Registrar> registrar_;
  std::unique_ptr<B2bua> b2bua_;
  asio::steady_timer housekeeping_;
  std::shared_ptr<std::function<void()>> housekeeping_loop_;
  bool draining_ = false;
  PerSource server_by_source_;     ///< server transactions that can be shed, by source address
  std::size_t sheddable_ = 0;      ///< their number
};

}  // namespace e911::runtime
