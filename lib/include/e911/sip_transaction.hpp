#pragma once
// The SIP transaction layer (RFC 3261 §17, with the RFC 6026 Accepted state) as sans-I/O state
// machines: no sockets, no clock, no threads. Each transaction is driven by one function per
// event (start, a message received, a timer fired, the TU sending a response, a transport error)
// and answers with Actions: send these bytes, start or stop a timer, pass a message to the TU,
// report a timeout or a transport error, terminate. The owner holds the clock and the timer wheel:
// starting a timer that runs replaces it; once `terminated` is returned the owner cancels every
// timer of the transaction and drops it. So tests can run a whole RFC timeline in microseconds.
#include <chrono>
#include <compare>
#include <map>
#include <unordered_map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "e911/sip_message.hpp"

namespace e911::sip {

using Duration = std::chrono::milliseconds;

/// RFC 3261 §17.1.1.1 / table 4 defaults.
struct TimerConfig {
  Duration t1{500};   ///< RTT estimate
  Duration t2{4000};  ///< maximum retransmit interval for non-INVITE requests and INVITE responses
  Duration t4{5000};  ///< maximum duration a message remains in the network
  /// How long an INVITE server transaction waits for the TU's first response before it sends
  /// 100 Trying itself (RFC 3261 §17.2.1: "200 ms"); 0 sends it at once, with the INVITE.
  Duration trying_delay{200};
};

/// The timers of RFC 3261 table 4 and RFC 6026, plus `trying`, the 200 ms 100 Trying timer.
enum class Timer { A, B, D, E, F, G, H, I, J, K, L, M, trying };

/// Its name for logs: "A" ... "M", "Trying".
std::string_view timer_name(Timer t);

struct Action {
  enum class Kind {
    send,             ///< `bytes` to the transport (to the request's destination / the response's)
    start_timer,      ///< start (or restart) `timer` to fire after `duration`
    stop_timer,       ///< cancel `timer`
    to_tu,            ///< pass `message` up to the transaction user
    timeout,          ///< report a transaction timeout to the TU (Timer B, F or H)
    transport_error,  ///< report a transport failure to the TU
    terminated,       ///< the transaction is over; drop it and its timers
  };
  Kind kind;
  std::string bytes;
  Timer timer = Timer::A;
  Duration duration{0};
  std::optional<Message> message;
};
using Actions = std::vector<Action>;

enum class TxState { calling, trying, proceeding, completed, confirmed, accepted, terminated };
std::string_view state_name(TxState s);

/// What identifies a transaction. Client side (§17.1.3): top Via branch + CSeq method, sent_by
/// empty. Server side (§17.2.3): top Via branch (with the z9hG4bK magic cookie) + sent-by (host
/// lower-cased, port as written) + request method, ACK counted as INVITE.
struct TransactionKey {
  std::string branch;
  std::string sent_by;
  std::string method;
  auto operator<=>(const TransactionKey&) const = default;
  bool operator==(const TransactionKey&) const = default;
};

/// Hash of a key, for the hash tables of live transactions (a busy runtime holds tens of
/// thousands: an ordered map's string comparisons cost more than the rest of a lookup).
struct TransactionKeyHash {
  std::size_t operator()(const TransactionKey& k) const noexcept {
    std::size_t h = std::hash<std::string>()(k.branch);
    h ^= std::hash<std::string>()(k.method) + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2);
    if (!k.sent_by.empty()) h ^= std::hash<std::string>()(k.sent_by) + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2);
    return h;
  }
};

}  // namespace e911::sip

#ifdef __GLIBCXX__
// libstdc++ recomputes a node's hash while it walks a bucket unless the hash is "slow"; keys are
// strings of 20-40 bytes, so each node keeps its hash code instead.
template <>
struct std::__is_fast_hash<e911::sip::TransactionKeyHash> : std::false_type {};
#endif

namespace e911::sip {

/// Key of a client transaction for its request or for a response to it; nullopt without a
/// top Via branch or a CSeq.
std::optional<TransactionKey> client_key(const Message& message);
/// Key of the server transaction a request belongs to; nullopt when the top Via has no branch
/// Without the z9hG4bK cookie (an RFC 2543 client) the key is built from the Request-URI, From
/// tag, Call-ID, CSeq number and top Via (§17.2.3). nullopt without a top Via or a CSeq.
std::optional<TransactionKey> server_key(const Message& request);
/// For a CANCEL: the key of the INVITE server transaction it cancels (§9.2: same branch and
/// sent-by, method INVITE); nullopt when `cancel` is not a CANCEL or has no key.
std::optional<TransactionKey> cancelled_key(const Message& cancel);

/// The CANCEL for a client INVITE (§9.1): same Request-URI, Call-ID, To, From, CSeq number and
/// top Via (hence branch), Route headers copied, method CANCEL, Max-Forwards 70.
std::string make_cancel(const Message& invite);
/// The ACK for a non-2xx final response to `invite` (§17.1.1.3): same Request-URI, Call-ID, From,
/// CSeq number with method ACK, top Via, Route headers; To from the response (with its tag).
std::string make_ack(const Message& invite, const Message& response);

/// A client transaction (§17.1.1 INVITE with RFC 6026 Accepted; §17.1.2 non-INVITE).
class ClientTransaction {
 public:
  /// `reliable`: the transport keeps a connection (TCP, TLS): no retransmissions, Timers D and K 0.
  ClientTransaction(Message request, bool reliable, TimerConfig config = {});

  /// Sends the request and starts A+B (INVITE) or E+F (non-INVITE); A and E on UDP only.
  Actions start();
  Actions on_response(const Message& response);
  Actions on_timer(Timer timer);
  Actions on_transport_error();

  /// The CANCEL for this INVITE (§9.1), only once a provisional response came (Proceeding):
  /// before that a CANCEL MUST NOT be sent. It goes out in its own non-INVITE client transaction.
  std::optional<std::string> cancel() const;

  TxState state() const { return state_; }
  bool invite() const { return invite_; }
  const std::optional<TransactionKey>& key() const { return key_; }
  /// Octets of message text the transaction holds (its request, the copy it retransmits, the
  /// ACK it resends): what a transaction costs while its timers run down.
  std::size_t held_bytes() const { return request_.size() + bytes_.size() + ack_.size(); }

 private:
  Actions invite_response(const Message& response, int status);
  Actions non_invite_response(const Message& response, int status);
  Actions terminate(Actions actions);
  /// Lets go of the request and its wire text once a final response came: nothing is sent
  /// again from here (an INVITE's Accepted state only passes 2xx up, Completed resends ack_), and
  /// a busy runtime holds tens of thousands of such transactions for their 32 s (Timers M, D).
  void shed();
  Message request_;
  std::optional<TransactionKey> key_;
  std::string bytes_;
  bool reliable_;
  bool invite_;
  TimerConfig config_;
  TxState state_;
  Duration interval_{0};  ///< the current Timer A / E interval
  std::string ack_;       ///< the ACK sent for a non-2xx final response
};

/// A server transaction (§17.2.1 INVITE with RFC 6026 Accepted; §17.2.2 non-INVITE).
class ServerTransaction {
 public:
  /// `top_via`: the request's top Via as stamp_received returned it, for the 100 Trying.
  ServerTransaction(Message request, bool reliable, TimerConfig config = {}, std::string top_via = {});

  /// Passes the request to the TU; an INVITE also starts the 100 Trying timer (or sends it).
  Actions start();
  /// A retransmitted request, or for an INVITE the ACK (matched by server_key).
  Actions on_request(const Message& request);
  /// The TU sends a response (wire text, e.g. from make_response).
  Actions on_tu_response(std::string response);
  Actions on_timer(Timer timer);
  Actions on_transport_error();

  TxState state() const { return state_; }
  bool invite() const { return invite_; }
  const std::optional<TransactionKey>& key() const { return key_; }
  /// Octets of message text the transaction holds (its request, the response it resends).
  std::size_t held_bytes() const { return request_.size() + top_via_.size() + last_response_.size(); }

 private:
  Actions invite_tu_response(std::string response, int status);
  Actions non_invite_tu_response(std::string response, int status);
  Actions terminate(Actions actions);
  /// Lets go of the request (and in Accepted of the 2xx, which the TU retransmits) once a final
  /// response is sent: a retransmitted request is answered from last_response_ alone, and
  /// Accepted (Timer L) and Completed (Timers H, J) last 32 s on UDP.
  void shed();
  Message request_;
  std::optional<TransactionKey> key_;
  bool reliable_;
  bool invite_;
  TimerConfig config_;
  std::string top_via_;
  TxState state_;
  std::string last_response_;  ///< resent on request retransmissions and by Timer G
  Duration interval_{0};       ///< the current Timer G interval
};

/// The transactions of one worker, keyed as above, and the routing of incoming messages to them.
class TransactionTable {
 public:
  struct Route {
    enum class Kind {
      client,          ///< a response for `client`
      server,          ///< a retransmission (or the ACK) for `server`
      new_server,      ///< a request that starts a server transaction with `key`
      stray_response,  ///< no client transaction: drop it (§18.1.2)
      ack_for_2xx,     ///< an ACK matching no INVITE transaction: for a 2xx, pass to the TU (§17.2.3)
      unmatchable,     ///< no usable branch or CSeq: handle statelessly or drop
    };
    Kind kind;
    ClientTransaction* client = nullptr;
    ServerTransaction* server = nullptr;
    std::optional<TransactionKey> key;
  };

  /// Adds a transaction under its key; nullptr when it has no key or the key is taken.
  ClientTransaction* add(ClientTransaction transaction);
  ServerTransaction* add(ServerTransaction transaction);
  ClientTransaction* find_client(const TransactionKey& key);
  ServerTransaction* find_server(const TransactionKey& key);
  void remove_client(const TransactionKey& key) { clients_.erase(key); }
  void remove_server(const TransactionKey& key) { servers_.erase(key); }
  std::size_t size() const { return clients_.size() + servers_.size(); }

  /// Where an incoming message goes (§17.1.3 for responses, §17.2.3 for requests).
  Route route(const Message& message);
  /// The INVITE server transaction a CANCEL cancels, or nullptr (then the CANCEL gets 481).
  ServerTransaction* cancelled(const Message& cancel);

 private:
  std::unordered_map<TransactionKey, ClientTransaction, TransactionKeyHash> clients_;
  std::unordered_map<TransactionKey, ServerTransaction, TransactionKeyHash> servers_;
};

}  // namespace e911::sip
