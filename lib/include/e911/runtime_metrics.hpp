#pragma once
// What the runtime counts and remembers (ARCHITECTURE.md "The runtime", observability): the one
// place that lists every metric it exports, and the ring of recent calls behind
// `e911ctl runtime calls`. SIP worker threads write, the admin thread reads; neither locks the
// other out of the hot path.
//
// Metrics exported (Prometheus text format 0.0.4, all prefixed e911_runtime_):
//   calls_total{kind,outcome}   counter    calls ended, by kind and outcome
//   calls_in_progress           gauge      calls started and not yet ended
//   transactions_total{side}    counter    SIP transactions started, side="client"|"server"
//   retransmissions_total       counter    SIP retransmissions sent
//   parse_errors_total          counter    messages that did not parse
//   tls_fallbacks_total         counter    emergency calls tried again over TCP after TLS to a trunk
//                                          failed (RFC 6881 SP-31)
//   registrations               gauge      registered contacts bound
//   auth_challenges_total{method}  counter  401 digest challenges sent, method="REGISTER"|"INVITE"
//   auth_failures_total{method}    counter  requests refused with 403 for their credentials (wrong
//                                          password, another user's name, none set under auth: required)
//   decision_seconds            histogram  time decide() took for one call, 1 us .. 100 ms buckets
//   emergency_invite_seconds    histogram  an emergency INVITE's way through the runtime: from its
//                                          handling to the provider's INVITE on the wire
//   desk_notify_seconds         histogram  from the emergency INVITE's handling to the security desk's
//                                          MESSAGE on the wire (the first one of the call)
//   notifications_total{kind,outcome}  counter  security-desk MESSAGEs (kind="sip"), webhook and e-mail deliveries ended
//   connections_refused_total{reason}  counter  TCP and TLS connections closed at accept, reason=
//                               "max_connections_per_source"|"max_connections" (runtime_limits.hpp)
//   connections_evicted_total   counter    idle connections of the busiest source closed when the table was full
//   accept_failures_total       counter    accepts that failed for want of descriptors or memory
//   requests_shed_total{reason}  counter  requests outside a call answered 503 statelessly, reason=
//                               "max_transactions_per_source"|"max_transactions"
//   calls_refused_total{reason}  counter  ordinary and internal calls refused with 503 by a limit,
//                               reason="max_calls_per_source"|"max_calls"
//   calls_over_limit_admitted_total{reason}  counter  emergency, test and PSAP callback calls taken
//                               though their source or the runtime was past that limit (never refused)
//   elin_callbacks_refused_total  counter  calls to an ELIN within its callback window from an address
//                               that is no trunk's host and in no trusted network: not taken as the
//                               PSAP's callback (DOMAIN.md §5), served as ordinary calls
//   heap_bytes{state}           gauge      malloc's heap, state="in_use"|"free" (free: kept for the next
//                                          calls, given back once over 64 MB: runtime_memory.hpp)
//   heap_trims_total            counter    times free heap was given back to the system
//   heap_released_bytes_total   counter    resident memory those trims gave back
// and the two standard process metrics, unprefixed: process_resident_memory_bytes, process_open_fds.
//   location_requests_total{outcome,source}  counter  HELD location requests answered (runtime_held.hpp):
//                               outcome="found" with source="wap"|"port"|"chassis"|"subnet", or
//                               outcome="notLocatable"|"cannotProvideLiType"|"badRequest"|"generalLisError"
#include <array>
#include <atomic>
#include <chrono>
#include <functional>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "e911/json.hpp"

namespace e911::runtime {

/// How a HELD location request ended (location_requests_total).
enum class LocationOutcome : std::uint8_t {
  found_wap,
  found_port,
  found_chassis,
  found_subnet,
  not_locatable,
  cannot_provide_li_type,
  bad_request,  ///< xmlError, unsupportedMessage, badIdentifier, or refused at the HTTP level
  lis_error,    ///< generalLisError: no snapshot in service
  identifier_refused,  ///< notLocatable: a device named by a client not in held_trusted_clients
};

/// The runtime's counters, gauges and decision-latency histogram. Every writer is wait-free
/// (relaxed atomics, no allocation) for the kinds and outcomes below; any other kind or outcome
/// is still counted, under a mutex, with one allocation the first time it is seen.
class Metrics {
 public:
  /// The call kinds and outcomes counted without a lock, in the order they are exported.
  static constexpr std::array<std::string_view, 4> kKinds = {"emergency", "test", "ordinary", "internal"};
  static constexpr std::array<std::string_view, 7> kOutcomes = {"answered",   "busy",       "no-answer", "cancelled",
                                                                "failed",     "unroutable", "rejected"};
  /// The notification kinds and outcomes counted (Notifier's deliveries), in the order exported.
  static constexpr std::array<std::string_view, 3> kNotificationKinds = {"sip", "webhook", "email"};
  static constexpr std::array<std::string_view, 3> kNotificationOutcomes = {"ok", "failed", "dropped"};
  /// Upper bounds of the decision_seconds buckets in nanoseconds (+Inf follows the last).
  static constexpr std::array<std::uint64_t, 16> kBucketsNs = {
      1'000,     2'500,     5'000,      10'000,     25'000,     50'000,     100'000,    250'000,
      500'000,   1'000'000, 2'500'000,  5'000'000,  10'000'000, 25'000'000, 50'000'000, 100'000'000};

  Metrics() = default;
  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;

  /// A call began: calls in progress + 1.
  void call_started();
  /// A call ended: calls in progress - 1 (never below 0), calls_total{kind,outcome} + 1.
  /// `kind` is emergency|test|ordinary|internal, `outcome` answered|busy|no-answer|cancelled|
  /// failed|unroutable|rejected; other text is counted too, more slowly.
  void call_ended(std::string_view kind, std::string_view outcome);
  /// A SIP transaction began: a client one (`client`) or a server one.
  void transaction_started(bool client);
  void retransmission();
  void parse_error();
  /// An emergency call's TLS to a trunk failed and it is tried again over TCP.
  void tls_fallback();
  /// A REGISTER (`invite` false) or an ordinary INVITE got a 401 digest challenge.
  void auth_challenge(bool invite);
  /// A REGISTER or an ordinary INVITE was refused (403) for its credentials.
  void auth_failure(bool invite);
  /// The registered contacts now bound (a gauge: the last value set is exported).
  void set_registrations(std::size_t n);
  /// How long one decide() took; negative durations count as 0.
  void observe_decision(std::chrono::nanoseconds d);
  /// An emergency INVITE went out to its first trunk this long after its handling began.
  void observe_emergency_invite(std::chrono::nanoseconds d);
  /// The first security-desk MESSAGE of an emergency call went out this long after the same.
  void observe_desk_notify(std::chrono::nanoseconds d);
  /// A webhook or e-mail delivery ended: notifications_total{kind,outcome} + 1, `kind` webhook|email,
  /// `outcome` ok|failed|dropped. Wait-free; other text is not counted.
  void notification(std::string_view kind, std::string_view outcome);
  /// A HELD location request was answered (from the location service's threads).
  void location_request(LocationOutcome outcome);
  /// A TCP or TLS connection was closed at accept: past max_connections_per_source
  /// (`per_source`), else past max_connections.
  void connection_refused(bool per_source);
  /// The longest-idle connection of the busiest source was closed to let another source's in.
  void connection_evicted();
  /// A listener could not accept a connection: no descriptor or no memory left.
  void accept_failed();
  /// A request outside any call was answered 503 without a transaction: its source held
  /// max_transactions_per_source server transactions (`per_source`), else the runtime held max_transactions.
  void request_shed(bool per_source);
  /// An ordinary or internal call got 503: past max_calls_per_source (`per_source`), else max_calls.
  void call_refused(bool per_source);
  /// An emergency, test or callback call was taken past max_calls_per_source or max_calls.
  void call_over_limit_admitted(bool per_source);
  /// A call to a mapped ELIN came from no trunk's host and no trusted network: not a PSAP callback.
  void elin_callback_refused();
  /// Free heap was given back to the system; resident memory fell by `released` bytes.
  void heap_trimmed(std::uint64_t released);

  std::uint64_t calls_in_progress() const;
  /// Every metric in the Prometheus text exposition format 0.0.4, with HELP and TYPE lines.
  /// Histogram buckets are cumulative and the +Inf bucket equals _count, even while writers run.
  std::string prometheus() const;

 private:
  static constexpr std::size_t kCells = kKinds.size() * kOutcomes.size();

  std::atomic<std::int64_t> in_progress_{0};
  std::array<std::atomic<std::uint64_t>, kCells> calls_{};
  std::atomic<std::uint64_t> client_transactions_{0}, server_transactions_{0};
  std::atomic<std::uint64_t> retransmissions_{0}, parse_errors_{0}, tls_fallbacks_{0};
  std::atomic<std::uint64_t> registrations_{0};
  std::array<std::atomic<std::uint64_t>, 2> auth_challenges_{}, auth_failures_{};  // [0] REGISTER, [1] INVITE
  std::array<std::atomic<std::uint64_t>, kBucketsNs.size() + 1> buckets_{};  // per bucket, not cumulative
  std::atomic<std::uint64_t> decision_ns_sum_{0};
  struct Latency {  ///< a histogram on kBucketsNs, wait-free to write
    std::array<std::atomic<std::uint64_t>, kBucketsNs.size() + 1> buckets{};
    std::atomic<std::uint64_t> sum_ns{0};
    void observe(std::chrono::nanoseconds d);
    void render(std::string& out, const std::string& name, const std::string& help) const;
  };
  Latency emergency_invite_, desk_notify_;
  std::array<std::atomic<std::uint64_t>, kNotificationKinds.size() * kNotificationOutcomes.size()> notifications_{};
  std::array<std::atomic<std::uint64_t>, 9> location_requests_{};  // by LocationOutcome
  // [0] per source, [1] in total: connections refused, calls refused, calls admitted past a limit.
  std::array<std::atomic<std::uint64_t>, 2> connections_refused_{}, calls_refused_{}, calls_over_limit_{}, requests_shed_{};
  std::atomic<std::uint64_t> connections_evicted_{0}, accept_failures_{0};
  std::atomic<std::uint64_t> heap_trims_{0}, heap_released_{0};
  std::atomic<std::uint64_t> elin_callbacks_refused_{0};

  mutable std::mutex other_mutex_;  // calls of a kind or outcome outside the tables
  std::map<std::pair<std::string, std::string>, std::uint64_t> other_calls_;
};

/// The most recent call records, newest first, in a ring of fixed capacity: adding to a full
/// ring drops the oldest. Safe to add from any thread while another reads.
///
/// A record is the runtime's JSON for one call. `e911ctl runtime calls` shows these fields in its
/// table when present: "time" (RFC 3339 UTC), "kind", "from", "dialled" (else "callee", else
/// "request_uri"), "outcome", "call_id"; the rest ("decision", "attempts", ...) is shown with
/// --format json or yaml.
class CallLog {
 public:
  /// `capacity` 0 is taken as 1.
  explicit CallLog(std::size_t capacity = 1000);
  CallLog(const CallLog&) = delete;
  CallLog& operator=(const CallLog&) = delete;

  /// Adds one record (build it after the call's messages have left: it allocates).
  void add(Json record);
  /// Adds one record whose `decision` member is computed only when the record is read
  /// (recent(), on the reader's thread): a busy runtime does not build a trace per call that
  /// nobody asks for. `decision` must be safe to call from another thread.
  void add(Json record, std::function<Json()> decision);
  /// The same with the record already written as one JSON object (CallRecord::json_text): the
  /// ring keeps the text, and parses it only when it is read.
  void add_text(std::string record, std::function<Json()> decision);
  /// A JSON array of at most `limit` records, newest first.
  Json recent(std::size_t limit) const;
  std::size_t capacity() const { return ring_.size(); }

 private:
  mutable std::mutex mutex_;
  struct Entry {
    std::shared_ptr<const std::string> record;  // one JSON object
    std::shared_ptr<const std::function<Json()>> decision;  // may be null
  };
  std::vector<Entry> ring_;  // readers copy pointers under the lock, JSON after
  std::size_t next_ = 0;                           // the slot the next record goes to
  std::size_t size_ = 0;
};

}  // namespace e911::runtime
