#pragma once
// The B2BUA core of the runtime (ARCHITECTURE.md "The runtime"), the part of Lync's Mediation
// Server and front end that carries calls. Each call is an inbound dialog (the caller, leg A:
// the runtime is its UAS) and one or more outbound legs (the runtime is their UAC), mapped to
// each other:
//
// - An INVITE to a user of the snapshot (its SIP URI, or its line number after the dial plan)
//   forks in parallel to every registered contact: the first 2xx wins and the others are
//   cancelled. Any other number goes to routing::decide() on the snapshot in service: an
//   ordinary call to the routes of the caller's voice policy, an emergency call to the routes of
//   its location policy; each attempt (route and trunk) in turn, the next on the trunk's
//   failover time without a ringing answer, on 408, 5xx, a transaction timeout or a transport
//   failure (and for an emergency call 6xx but 603 too: only the PSAP's side may refuse it).
// - Provisional and final responses cross back to the caller (best final answer when every
//   leg failed); the caller's ACK for the 2xx goes to the winning leg (with its body, so a
//   delayed offer works); CANCEL from the caller cancels every leg (487 to the caller).
// - In-dialog requests cross over from either side with their bodies: BYE (answered at once and
//   the call ends), re-INVITE, UPDATE, INFO, PRACK, MESSAGE, NOTIFY, OPTIONS; their responses
//   come back.
// - A call that rings longer than the ring timeout gets 408; a trunk that rings that long is
//   cancelled and the next one tried (RFC 3261 Timer C).
// - A connected call is kept honest (CoreOptions::dialog_keepalive): both sides get an OPTIONS
//   in the dialog now and then, and one that answers 481 or 408, or not at all, is gone (RFC
//   5057): the other side gets a BYE and the call ends, rather than be held for ever. The
//   provider's silence never ends an emergency call (only its 481, 408 or BYE does).
//
// The facts decide() needs come from the message and the socket: the packet's source address
// (never a Via), From or P-Asserted-Identity, the Request-URI, Priority and a PIDF-LO body. The
// hot path is decide() without its trace, the INVITE built into one buffer and sent; the trace
// for the call record is computed after the INVITE has left.
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>

#include "e911/json.hpp"
#include "e911/runtime_call_record.hpp"
#include "e911/runtime_chain.hpp"
#include "e911/runtime_elin.hpp"
#include "e911/runtime_limits.hpp"

namespace e911::routing {
struct CallFacts;
struct Decision;
}

namespace e911::runtime {

struct Binding;

class B2bua {
 public:
  explicit B2bua(Chain& chain);
  ~B2bua();
  B2bua(const B2bua&) = delete;
  B2bua& operator=(const B2bua&) = delete;

  /// A new INVITE (no To tag) in server transaction `key`, arrived as `in`.
  void on_invite(const sip::TransactionKey& key, const sip::Message& invite, const Inbound& in, const std::string& top_via);
  /// A request with a To tag (but ACK) in server transaction `key`: crosses to the other leg of
  /// its call, or gets 481 when no call has that dialog.
  void on_in_dialog(const sip::TransactionKey& key, const sip::Message& request, const std::string& top_via);
  /// An ACK that matched no transaction: the ACK for a 2xx the runtime sent.
  void on_ack(const sip::Message& ack);
  /// True when `request` (with a To tag) is in the dialog of a call here, ended ones lingering included.
  bool knows_dialog(const sip::Message& request) const;
  /// A CANCEL for INVITE server transaction `invite`: true when it stopped a call that had no
  /// final answer yet (then the caller has its 487).
  bool on_cancel(const sip::TransactionKey& invite);

  /// A webhook or e-mail delivery of a call ended: into its record, or a log line when it is over.
  void on_notify_outcome(const DeliveryOutcome& outcome);

  /// Trunk health from OPTIONS pings (`options_ping`): the trunks that did not answer the last
  /// one, or answered 503/408. Calls try them last, never skip them.
  std::vector<std::string> trunks_down() const;

  /// Calls not yet finished.
  std::size_t calls() const { return active_; }
  /// Emergency calls not yet finished (a drain waits for them past its timeout).
  std::size_t emergency_calls() const { return emergency_; }
  /// The calls in progress, oldest first, at most `limit` of them: {"total", "emergency",
  /// "items": [{"id", "kind", "state", "age_seconds", "from", "request_uri", "source",
  /// "call_id", "answered_by", "legs": [{"target", "state", "status"}]}]} (GET /v1/calls/active).
  Json active_json(std::size_t limit) const;

  struct Call;
  struct Branch;
  struct Delivery;

  /// Attempts per security-desk MESSAGE, and the pause between them.
  static constexpr int kDeliveryAttempts = 3;
  static constexpr std::chrono::milliseconds kDeliveryRetry{2000};

 private:
  void start_next(Call& call);
  void start_branch(Call& call, std::size_t index);
  void send_branch_invite(Call& call, std::size_t index, std::string invite, bool with_pidf);
  void on_branch_event(std::uint64_t call_id, std::size_t branch, const ClientEvent& event);
  void branch_failed(Call& call, std::size_t index, int status, const std::string& reason, bool failover);
  void answer_a(Call& call, int status, const std::string& reason, const sip::HeaderList& extra = {}, std::string_view body = {});
  void cancel_branches(Call& call, int except);
  void finish(Call& call, const std::string& outcome, int status);
  void end_call(std::uint64_t id);
  void retransmit_2xx(std::uint64_t id);
  // Timer callbacks of the chain's wheel: `self` is the B2BUA; the call is found again by id.
  static void ring_expired(void* self, std::uint64_t id);
  static void failover_expired(void* self, std::uint64_t id_and_branch);
  static void retransmit_2xx_due(void* self, std::uint64_t id);
  static void linger_over(void* self, std::uint64_t id);
  static void trunk_ring_expired(void* self, std::uint64_t id_and_branch);
  void expire_branch(std::uint64_t id_and_branch, bool ringing);
  static void keepalive_due(void* self, std::uint64_t id);
  void probe_dialogs(std::uint64_t id);
  void dialog_gone(Call& call, bool caller, const std::string& why);
  void relay(Call& call, bool from_a, const sip::TransactionKey& key, const sip::Message& request, const std::string& top_via);
  void bye(Call& call, bool to_a);
  Call* find(std::uint64_t id);
  Destination reach(const Binding& b) const;
  void notify_desk(Call& call);
  void answer_test_call(Call& call, const routing::CallFacts& facts, const std::shared_ptr<const Snapshot>& snap);
  void test_call_acked(Call& call);
  void answer_in_test_call(const sip::TransactionKey& key, const sip::Message& request, const std::string& top_via);
  void send_delivery(std::uint64_t id);
  void on_delivery_event(std::uint64_t id, const ClientEvent& e);
  void delivery_done(std::uint64_t id, bool ok, const std::string& detail);
  static void delivery_retry_due(void* self, std::uint64_t id);
  static void ping_due(void* self, std::uint64_t unused);
  void ping_trunks();
  /// The limits on calls in progress (CoreOptions::max_calls_per_source, max_calls): true when
  /// `call` was refused (503 with Retry-After, ended); never when `may_refuse` is false (an
  /// emergency, test or callback call), which is only counted and logged when past a limit.
  bool refused_by_limits(Call& call, bool may_refuse, const Snapshot& snap);
  void trunk_health(const std::string& trunk, bool up, const std::string& why);
  /// A caller's PIDF-LO that failed the checks (`d` says why, and where the call was located
  /// instead): the call's record says so (caller_pidf_refused), and the log, as a warning.
  void caller_pidf_refused(Call& call, const routing::Decision& d);
  /// A new entry of the call's record for branch `b`'s attempt: target, Request-URI, destination,
  /// transport, and how its INVITE was degraded.
  CallRecord::Attempt& record_attempt(Call& call, const Branch& b);

  Chain& chain_;
  std::uint64_t next_id_ = 1;
  std::size_t active_ = 0;
  std::size_t emergency_ = 0;
  PerSource per_source_;  ///< calls in progress (active_) by the caller's source address
  std::unordered_map<std::uint64_t, std::unique_ptr<Call>> calls_;
  std::unordered_map<std::uint64_t, std::unique_ptr<Delivery>> deliveries_;
  /// ELIN gateway mode (DOMAIN.md §5): the ELINs sent and whom each stands for, for PSAP callbacks
  /// (taken only from a trunk's host or a trusted network: anyone else makes an ordinary call).
  ElinPool elins_;
  struct TrunkHealth {
    bool down = false;
    bool in_flight = false;
    std::chrono::steady_clock::time_point next;  ///< the next OPTIONS is due
    std::string why;
  };
  std::unordered_map<std::string, TrunkHealth> trunks_;  ///< by trunk name
  TimerWheel::Handle ping_timer_;  ///< security-desk MESSAGEs under way
  std::uint64_t next_delivery_ = 1;
  /// Dialogs and the call they belong to: key Call-ID \x1f local tag; side 0 = caller, 1+n = branch n.
  std::unordered_map<std::string, std::pair<std::uint64_t, std::size_t>> dialogs_;
  /// INVITE server transactions of calls still without a final answer (for CANCEL).
  std::unordered_map<sip::TransactionKey, std::uint64_t, sip::TransactionKeyHash> pending_;
};

}  // namespace e911::runtime
