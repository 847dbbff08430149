// The runtime's metrics and recent calls (see runtime_metrics.hpp).
#include "e911/runtime_metrics.hpp"

#include "e911/runtime_memory.hpp"

#include <algorithm>
#include <iterator>

namespace e911::runtime {

namespace {

constexpr auto kRelaxed = std::memory_order_relaxed;

template <std::size_t N>
std::size_t index_of(const std::array<std::string_view, N>& names, std::string_view s) {
  for (std::size_t i = 0; i < N; ++i)
    if (names[i] == s) return i;
  return N;
}

// A label value as the exposition format wants it: backslash, quote and newline escaped.
std::string label_value(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    if (c == '\\') out += "\\\\";
    else if (c == '"') out += "\\\"";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

// Nanoseconds as seconds, exactly: 1500 -> "0.0000015".
std::string seconds(std::uint64_t ns) {
  std::string s = std::to_string(ns / 1'000'000'000) + "." + std::to_string(1'000'000'000 + ns % 1'000'000'000).substr(1);
  while (s.back() == '0') s.pop_back();
  if (s.back() == '.') s.pop_back();
  return s;
}

void header(std::string& out, const char* name, const char* type, const char* help) {
  out += "# HELP e911_runtime_";
  out += name;
  out += ' ';
  out += help;
  out += "\n# TYPE e911_runtime_";
  out += name;
  out += ' ';
  out += type;
  out += '\n';
}

void sample(std::string& out, const char* name, std::string_view labels, std::uint64_t value) {
  out += "e911_runtime_";
  out += name;
  out += labels;
  out += ' ';
  out += std::to_string(value);
  out += '\n';
}

}  // namespace

void Metrics::call_started() { in_progress_.fetch_add(1, kRelaxed); }

void Metrics::call_ended(std::string_view kind, std::string_view outcome) {
  // Never below zero, even if an end is reported twice: a gauge of -1 calls would mislead.
  std::int64_t now = in_progress_.load(kRelaxed);
  while (now > 0 && !in_progress_.compare_exchange_weak(now, now - 1, kRelaxed)) {
  }
  const std::size_t k = index_of(kKinds, kind), o = index_of(kOutcomes, outcome);
  if (k < kKinds.size() && o < kOutcomes.size()) {
    calls_[k * kOutcomes.size() + o].fetch_add(1, kRelaxed);
    return;
  }
  std::lock_guard lock(other_mutex_);
  ++other_calls_[{std::string(kind), std::string(outcome)}];
}

void Metrics::transaction_started(bool client) { (client ? client_transactions_ : server_transactions_).fetch_add(1, kRelaxed); }

void Metrics::retransmission() { retransmissions_.fetch_add(1, kRelaxed); }

void Metrics::parse_error() { parse_errors_.fetch_add(1, kRelaxed); }
void Metrics::tls_fallback() { tls_fallbacks_.fetch_add(1, kRelaxed); }
void Metrics::elin_callback_refused() { elin_callbacks_refused_.fetch_add(1, kRelaxed); }

void Metrics::auth_challenge(bool invite) { auth_challenges_[invite ? 1 : 0].fetch_add(1, kRelaxed); }
void Metrics::auth_failure(bool invite) { auth_failures_[invite ? 1 : 0].fetch_add(1, kRelaxed); }

void Metrics::set_registrations(std::size_t n) { registrations_.store(n, kRelaxed); }

void Metrics::observe_decision(std::chrono::nanoseconds d) {
  const std::uint64_t ns = d.count() > 0 ? static_cast<std::uint64_t>(d.count()) : 0;
  const auto at = std::lower_bound(kBucketsNs.begin(), kBucketsNs.end(), ns);  // le: bound >= ns
  buckets_[static_cast<std::size_t>(at - kBucketsNs.begin())].fetch_add(1, kRelaxed);
  decision_ns_sum_.fetch_add(ns, kRelaxed);
}

void Metrics::Latency::observe(std::chrono::nanoseconds d) {
  const std::uint64_t ns = d.count() > 0 ? static_cast<std::uint64_t>(d.count()) : 0;
  const auto at = std::lower_bound(kBucketsNs.begin(), kBucketsNs.end(), ns);
  buckets[static_cast<std::size_t>(at - kBucketsNs.begin())].fetch_add(1, kRelaxed);
  sum_ns.fetch_add(ns, kRelaxed);
}

void Metrics::observe_emergency_invite(std::chrono::nanoseconds d) { emergency_invite_.observe(d); }
void Metrics::observe_desk_notify(std::chrono::nanoseconds d) { desk_notify_.observe(d); }

void Metrics::location_request(LocationOutcome outcome) {
  const auto i = static_cast<std::size_t>(outcome);
  if (i < location_requests_.size()) location_requests_[i].fetch_add(1, kRelaxed);
}

void Metrics::notification(std::string_view kind, std::string_view outcome) {
  const std::size_t k = index_of(kNotificationKinds, kind), o = index_of(kNotificationOutcomes, outcome);
  if (k < kNotificationKinds.size() && o < kNotificationOutcomes.size()) notifications_[k * kNotificationOutcomes.size() + o].fetch_add(1, kRelaxed);
}

void Metrics::connection_refused(bool per_source) { connections_refused_[per_source ? 0 : 1].fetch_add(1, kRelaxed); }
void Metrics::connection_evicted() { connections_evicted_.fetch_add(1, kRelaxed); }
void Metrics::accept_failed() { accept_failures_.fetch_add(1, kRelaxed); }
void Metrics::request_shed(bool per_source) { requests_shed_[per_source ? 0 : 1].fetch_add(1, kRelaxed); }
void Metrics::call_refused(bool per_source) { calls_refused_[per_source ? 0 : 1].fetch_add(1, kRelaxed); }
void Metrics::call_over_limit_admitted(bool per_source) { calls_over_limit_[per_source ? 0 : 1].fetch_add(1, kRelaxed); }
void Metrics::heap_trimmed(std::uint64_t released) {
  heap_trims_.fetch_add(1, kRelaxed);
  heap_released_.fetch_add(released, kRelaxed);
}

std::uint64_t Metrics::calls_in_progress() const {
  const std::int64_t n = in_progress_.load(kRelaxed);
  return n > 0 ? static_cast<std::uint64_t>(n) : 0;
}

std::string Metrics::prometheus() const {
  std::string out;
  out.reserve(4096);

  header(out, "calls_total", "counter", "Calls ended, by kind and outcome.");
  for (std::size_t k = 0; k < kKinds.size(); ++k)
    for (std::size_t o = 0; o < kOutcomes.size(); ++o) {
      const std::string labels = "{kind=\"" + std::string(kKinds[k]) + "\",outcome=\"" + std::string(kOutcomes[o]) + "\"}";
      sample(out, "calls_total", labels, calls_[k * kOutcomes.size() + o].load(kRelaxed));
    }
  {
    std::lock_guard lock(other_mutex_);
    for (const auto& [key, n] : other_calls_)
      sample(out, "calls_total", "{kind=\"" + label_value(key.first) + "\",outcome=\"" + label_value(key.second) + "\"}", n);
  }

  header(out, "calls_in_progress", "gauge", "Calls started and not yet ended.");
  sample(out, "calls_in_progress", "", calls_in_progress());

  header(out, "transactions_total", "counter", "SIP transactions started, by side.");
  sample(out, "transactions_total", "{side=\"client\"}", client_transactions_.load(kRelaxed));
  sample(out, "transactions_total", "{side=\"server\"}", server_transactions_.load(kRelaxed));

  header(out, "retransmissions_total", "counter", "SIP retransmissions sent.");
  sample(out, "retransmissions_total", "", retransmissions_.load(kRelaxed));

  header(out, "parse_errors_total", "counter", "SIP messages that did not parse.");
  sample(out, "parse_errors_total", "", parse_errors_.load(kRelaxed));

  header(out, "tls_fallbacks_total", "counter", "Emergency calls tried again over TCP after TLS to a trunk failed (RFC 6881 SP-31).");
  sample(out, "tls_fallbacks_total", "", tls_fallbacks_.load(kRelaxed));

  {
    const MemoryUse mem = memory_use();
    header(out, "heap_bytes", "gauge", "Heap memory by state: in use, or free and kept for the next calls.");
    sample(out, "heap_bytes", "{state=\"in_use\"}", mem.heap_in_use);
    sample(out, "heap_bytes", "{state=\"free\"}", mem.heap_free);
    header(out, "heap_trims_total", "counter", "Times free heap was given back to the system (64 MB or more since the last time).");
    sample(out, "heap_trims_total", "", heap_trims_.load(kRelaxed));
    header(out, "heap_released_bytes_total", "counter", "Resident memory given back to the system by those trims.");
    sample(out, "heap_released_bytes_total", "", heap_released_.load(kRelaxed));
    out += "# HELP process_resident_memory_bytes Resident memory size in bytes.\n# TYPE process_resident_memory_bytes gauge\n";
    out += "process_resident_memory_bytes " + std::to_string(mem.resident) + "\n";
    out += "# HELP process_open_fds Number of open file descriptors.\n# TYPE process_open_fds gauge\n";
    out += "process_open_fds " + std::to_string(mem.open_fds) + "\n";
  }

  header(out, "registrations", "gauge", "Registered contacts bound.");
  sample(out, "registrations", "", registrations_.load(kRelaxed));

  header(out, "auth_challenges_total", "counter", "Digest challenges (401) sent to REGISTERs and ordinary INVITEs.");
  sample(out, "auth_challenges_total", "{method=\"REGISTER\"}", auth_challenges_[0].load(kRelaxed));
  sample(out, "auth_challenges_total", "{method=\"INVITE\"}", auth_challenges_[1].load(kRelaxed));
  header(out, "auth_failures_total", "counter", "REGISTERs and ordinary INVITEs refused (403) for their credentials.");
  sample(out, "auth_failures_total", "{method=\"REGISTER\"}", auth_failures_[0].load(kRelaxed));
  sample(out, "auth_failures_total", "{method=\"INVITE\"}", auth_failures_[1].load(kRelaxed));

  header(out, "connections_refused_total", "counter", "TCP and TLS connections closed at accept by a limit, by the limit.");
  sample(out, "connections_refused_total", "{reason=\"max_connections_per_source\"}", connections_refused_[0].load(kRelaxed));
  sample(out, "connections_refused_total", "{reason=\"max_connections\"}", connections_refused_[1].load(kRelaxed));
  header(out, "connections_evicted_total", "counter", "Idle TCP and TLS connections of the busiest source closed to make room for another source's.");
  sample(out, "connections_evicted_total", "", connections_evicted_.load(kRelaxed));
  header(out, "accept_failures_total", "counter", "Connections a listener could not accept for want of descriptors or memory (it pauses 100 ms).");
  sample(out, "accept_failures_total", "", accept_failures_.load(kRelaxed));
  header(out, "requests_shed_total", "counter", "Requests outside a call answered 503 without a transaction, past a limit on server transactions.");
  sample(out, "requests_shed_total", "{reason=\"max_transactions_per_source\"}", requests_shed_[0].load(kRelaxed));
  sample(out, "requests_shed_total", "{reason=\"max_transactions\"}", requests_shed_[1].load(kRelaxed));
  header(out, "calls_refused_total", "counter", "Ordinary and internal calls refused with 503 by a limit, by the limit.");
  sample(out, "calls_refused_total", "{reason=\"max_calls_per_source\"}", calls_refused_[0].load(kRelaxed));
  sample(out, "calls_refused_total", "{reason=\"max_calls\"}", calls_refused_[1].load(kRelaxed));
  header(out, "calls_over_limit_admitted_total", "counter", "Emergency, test and callback calls taken past a limit (never refused), by the limit.");
  sample(out, "calls_over_limit_admitted_total", "{reason=\"max_calls_per_source\"}", calls_over_limit_[0].load(kRelaxed));
  sample(out, "calls_over_limit_admitted_total", "{reason=\"max_calls\"}", calls_over_limit_[1].load(kRelaxed));
  header(out, "elin_callbacks_refused_total", "counter",
         "Calls to an ELIN in its callback window from no trunk's host or trusted network, not taken as the PSAP's callback.");
  sample(out, "elin_callbacks_refused_total", "", elin_callbacks_refused_.load(kRelaxed));

  header(out, "notifications_total", "counter", "Webhook and e-mail notifications ended, by kind and outcome.");
  for (std::size_t k = 0; k < kNotificationKinds.size(); ++k)
    for (std::size_t o = 0; o < kNotificationOutcomes.size(); ++o)
      sample(out, "notifications_total",
             "{kind=\"" + std::string(kNotificationKinds[k]) + "\",outcome=\"" + std::string(kNotificationOutcomes[o]) + "\"}",
             notifications_[k * kNotificationOutcomes.size() + o].load(kRelaxed));

  // Each bucket is read once and summed here, so the buckets are cumulative and +Inf equals
  // _count even while writers add observations.
  header(out, "decision_seconds", "histogram", "Time routing decide() took for one call.");
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i < buckets_.size(); ++i) {
    cumulative += buckets_[i].load(kRelaxed);
    const std::string le = i < kBucketsNs.size() ? seconds(kBucketsNs[i]) : "+Inf";
    sample(out, "decision_seconds_bucket", "{le=\"" + le + "\"}", cumulative);
  }
  out += "e911_runtime_decision_seconds_sum " + seconds(decision_ns_sum_.load(kRelaxed)) + "\n";
  sample(out, "decision_seconds_count", "", cumulative);
  emergency_invite_.render(out, "emergency_invite_seconds",
                           "Time from an emergency INVITE's handling to its INVITE to the first trunk on the wire.");
  desk_notify_.render(out, "desk_notify_seconds", "Time from an emergency INVITE's handling to the first security-desk MESSAGE on the wire.");

  // In LocationOutcome's order.
  static constexpr const char* kLocationLabels[] = {
      "{outcome=\"found\",source=\"wap\"}",     "{outcome=\"found\",source=\"port\"}",
      "{outcome=\"found\",source=\"chassis\"}", "{outcome=\"found\",source=\"subnet\"}",
      "{outcome=\"notLocatable\"}",             "{outcome=\"cannotProvideLiType\"}",
      "{outcome=\"badRequest\"}",               "{outcome=\"generalLisError\"}",
      "{outcome=\"identifierRefused\"}"};
  static_assert(std::size(kLocationLabels) == std::tuple_size_v<decltype(location_requests_)>);
  header(out, "location_requests_total", "counter", "HELD location requests answered, by outcome and, when found, by what located the client.");
  for (std::size_t i = 0; i < location_requests_.size(); ++i) sample(out, "location_requests_total", kLocationLabels[i], location_requests_[i].load(kRelaxed));
  return out;
}

CallLog::CallLog(std::size_t capacity) : ring_(std::max<std::size_t>(capacity, 1)) {}

void CallLog::add(Json record) { add(std::move(record), nullptr); }

void CallLog::add(Json record, std::function<Json()> decision) {
  add_text(record.dump(-1, ' ', false, Json::error_handler_t::replace), std::move(decision));
}

void CallLog::add_text(std::string record, std::function<Json()> decision) {
  Entry entry{std::make_shared<const std::string>(std::move(record)),
              decision ? std::make_shared<const std::function<Json()>>(std::move(decision)) : nullptr};
  Entry dropped;  // freed after the lock is released
  std::lock_guard lock(mutex_);
  dropped = std::exchange(ring_[next_], std::move(entry));
  next_ = (next_ + 1) % ring_.size();
  size_ = std::min(size_ + 1, ring_.size());
}

Json CallLog::recent(std::size_t limit) const {
  std::vector<Entry> picked;
  {
    std::lock_guard lock(mutex_);
    const std::size_t n = std::min(limit, size_);
    picked.reserve(n);
    for (std::size_t i = 1; i <= n; ++i) picked.push_back(ring_[(next_ + ring_.size() - i) % ring_.size()]);
  }
  Json out = Json::array();
  for (const auto& e : picked) {
    Json r = Json::parse(*e.record, nullptr, false);
    if (r.is_discarded()) r = Json{{"error", "the record could not be read back"}};
    if (e.decision) {
      try {
        r["decision"] = (*e.decision)();
      } catch (const std::exception& ex) {
        r["decision"] = {{"error", ex.what()}};
      }
    }
    out.push_back(std::move(r));
  }
  return out;
}

void Metrics::Latency::render(std::string& out, const std::string& name, const std::string& help) const {
  header(out, name.c_str(), "histogram", help.c_str());
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i < buckets.size(); ++i) {
    cumulative += buckets[i].load(kRelaxed);
    const std::string le = i < kBucketsNs.size() ? seconds(kBucketsNs[i]) : "+Inf";
    sample(out, (name + "_bucket").c_str(), "{le=\"" + le + "\"}", cumulative);
  }
  out += "e911_runtime_" + name + "_sum " + seconds(sum_ns.load(kRelaxed)) + "\n";
  sample(out, (name + "_count").c_str(), "", cumulative);
}

}  // namespace e911::runtime
