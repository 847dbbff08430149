// The request chain: parse and validate -> transaction match -> the method's handler.
#include "e911/runtime_chain.hpp"

#include <algorithm>
#include <array>

#include "e911/runtime_b2bua.hpp"
#include "e911/runtime_limits.hpp"
#include "e911/runtime_metrics.hpp"
#include "e911/runtime_registrar.hpp"
#include "e911/runtime_transport.hpp"
#include "e911/sip_text.hpp"

namespace e911::runtime {

namespace {

bool ip_literal(const std::string& host) {
  std::error_code ec;
  (void)asio::ip::make_address(host, ec);
  return !ec;
}

bool blank(std::string_view bytes) { return bytes.find_first_not_of("\r\n \t") == std::string_view::npos; }

// The methods the runtime handles; others get 405 with this list.
constexpr std::string_view kAllowed = "INVITE, ACK, CANCEL, BYE, OPTIONS, REGISTER, UPDATE, INFO, PRACK, MESSAGE, NOTIFY";

bool has_to_tag(const sip::Message& m) {
  auto to = sip::parse_name_addr(m.first("To").value_or(""));
  return to && !to->tag().empty();
}

std::int64_t unix_now() { return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count(); }

}  // namespace

sip::Endpoint reply_destination(const std::optional<sip::Via>& top, const sip::Endpoint& source) {
  if (!top) return source;
  sip::Endpoint to = sip::response_destination(*top, source);
  // Never resolve a name: a destination that is not an IP literal (an maddr or a sent-by without
  // received, which stamp_received never leaves) is answered at the packet's source.
  if (!ip_literal(to.host)) return sip::Endpoint{source.host, source.port, to.same_connection};
  return to;
}

constexpr std::size_t kTimers = static_cast<std::size_t>(sip::Timer::trying) + 1;

struct Chain::Live {
  Chain* chain = nullptr;
  sip::TransactionKey key;
  std::string counted_source;  ///< set when counted in server_by_source_ (a sheddable request)
  Sender send;
  sip::Endpoint destination;
  std::array<TimerWheel::Handle, kTimers> timers;  ///< by sip::Timer
  void stop_all(TimerWheel& wheel) {
    for (auto& h : timers) wheel.cancel(h);
  }
};

struct Chain::ClientLive {
  Chain* chain = nullptr;
  sip::TransactionKey key;
  Destination destination;
  ClientCallback on_event;
  std::array<TimerWheel::Handle, kTimers> timers;  ///< by sip::Timer
  void stop_all(TimerWheel& wheel) {
    for (auto& h : timers) wheel.cancel(h);
  }
};

Chain::Chain(asio::io_context& io, sip::Limits limits, sip::TimerConfig timers, const SnapshotSlot* snapshots, CoreOptions options)
    : io_(io),
      // A tick of T1/10, at most 50 ms: expiries of one tick share one wake-up (under load a
      // 10 ms tick woke the loop a hundred times a second for timers nobody waits on: J, K, L,
      // the linger of ended calls), and a retransmission is never more than a tenth of T1 late.
      wheel_(io, std::clamp(std::chrono::duration_cast<std::chrono::milliseconds>(timers.t1) / 10, std::chrono::milliseconds(1),
                            std::chrono::milliseconds(50))),
      limits_(limits),
      timers_(timers),
      snapshots_(snapshots),
      options_(std::move(options)),
      limit_log_(options_.on_event),
      auth_(std::make_unique<Authenticator>(options_.auth, options_.metrics, options_.on_event)),
      registrar_(std::make_unique<Registrar>(options_.bindings_path)),
      b2bua_(std::make_unique<B2bua>(*this)),
      housekeeping_(io) {
  if (!registrar_->load_warning().empty() && options_.on_event) options_.on_event("warn", registrar_->load_warning());
  if (options_.metrics) options_.metrics->set_registrations(registrar_->size());
  // Once a second: expired bindings swept, the bindings file written when it changed.
  auto loop = std::make_shared<std::function<void()>>();
  *loop = [this, weak = std::weak_ptr<std::function<void()>>(loop)] {
    housekeeping_.expires_after(std::chrono::seconds(1));
    housekeeping_.async_wait([this, weak](const std::error_code& ec) {
      if (ec) return;
      registrar_->sweep(unix_now());
      limit_log_.flush();
      save_bindings();
      if (options_.metrics) options_.metrics->set_registrations(registrar_->size());
      if (auto next = weak.lock()) (*next)();
    });
  };
  housekeeping_loop_ = loop;
  (*loop)();
}

std::string Chain::server_header(const std::shared_ptr<const Snapshot>& snap) {
  return std::string("e911ctl/") + E911_VERSION + " snapshot/" + SnapshotSlot::revision_text(snap);
}

Chain::~Chain() {
  housekeeping_.cancel();
  try {
    save_bindings();
  } catch (...) {
  }
}

void Chain::save_bindings() {
  if (!registrar_->dirty()) return;
  try {
    registrar_->save();
  } catch (const std::exception& e) {
    if (options_.on_event) options_.on_event("error", e.what());
  }
}

std::size_t Chain::calls() const { return b2bua_->calls(); }
void Chain::notification_outcome(const DeliveryOutcome& outcome) { b2bua_->on_notify_outcome(outcome); }
std::size_t Chain::emergency_calls() const { return b2bua_->emergency_calls(); }
Json Chain::active_calls(std::size_t limit) const { return b2bua_->active_json(limit); }

void Chain::add_transport(Transport* transport) { transports_.push_back(transport); }

Transport* Chain::transport_for(const std::string& host, bool tls) const {
  std::error_code ec;
  const auto address = asio::ip::make_address(host, ec);
  if (ec) return nullptr;
  // TLS leaves from a TLS listener when there is one (its address is where the peer comes back
  // to); anything else from a UDP/TCP transport, else from whatever serves the family.
  Transport* any = nullptr;
  for (Transport* t : transports_) {
    if (t->v6() != address.is_v6()) continue;
    if (t->tls_listener() == tls) return t;
    if (!any) any = t;
  }
  return any;
}

Transport* Chain::transport_to(const Destination& to) const {
  // A connection the peer opened (a phone's, to the listener it chose) belongs to that listener.
  if (to.stream && transports_.size() > 1)
    for (Transport* t : transports_)
      if (t->connected(to.to)) return t;
  return transport_for(to.to.host, to.tls);
}

std::optional<std::pair<std::string, std::string>> Chain::local(const Destination& to) const {
  Transport* t = transport_to(to);
  if (!t) return std::nullopt;
  return std::pair<std::string, std::string>{to.tls || (to.stream && t->tls_listener()) ? "TLS" : to.stream ? "TCP" : "UDP", t->sent_by()};
}

std::string Chain::transport_failure(const Destination& to) const {
  Transport* t = transport_to(to);
  return t ? t->failure(to.to, to.tls) : std::string();
}

bool Chain::connected(const sip::Endpoint& peer) const {
  for (Transport* t : transports_)
    if (t->connected(peer)) return true;
  return false;
}

bool Chain::ours(const sip::Via& via) const {
  if (via.branch.rfind("z9hG4bKe911", 0) != 0) return false;
  const std::string sent_by = (via.ipv6 ? "[" + via.host + "]" : via.host) + ":" + std::to_string(via.port);
  for (Transport* t : transports_)
    if (t->sent_by() == sent_by) return true;
  return false;
}

std::vector<std::string> Chain::domains(const Snapshot* snap) const {
  std::vector<std::string> out = options_.domains;
  if (out.empty() && snap) out = snap->user_domains();
  // Our own addresses are ours too (sip:bob@127.0.0.1).
  for (Transport* t : transports_) {
    std::string host = t->sent_by();
    host = host.substr(0, host.rfind(':'));
    if (!host.empty() && host.front() == '[') host = host.substr(1, host.size() - 2);
    out.push_back(host);
  }
  return out;
}

void Chain::send(const Destination& to, std::string bytes, std::function<void()> failed) {
  Transport* t = transport_to(to);
  if (!t) {
    if (failed) asio::post(io_, std::move(failed));
    return;
  }
  if (to.tls) t->send_tls(to.to, to.tls_name, std::move(bytes), std::move(failed));
  else t->send(to.to, to.stream, std::move(bytes), std::move(failed));
}

void Chain::on_message(Inbound in) {
  const sip::Transport kind = in.stream ? sip::Transport::stream : sip::Transport::datagram;
  // Step 1: parse. A message that does not parse is answered with its error when it can be
  // routed and matched (make_error_response), else dropped; responses that fail are dropped.
  if (blank(in.bytes)) return;  // a keep-alive on a datagram transport
  sip::Parsed parsed = sip::parse(in.bytes, kind, limits_);
  if (!parsed) {
    if (options_.metrics) options_.metrics->parse_error();
    auto response = sip::make_error_response(in.bytes, parsed.error);
    if (!response) return;
    std::optional<sip::Via> via;
    if (auto reparsed = sip::parse(*response, sip::Transport::datagram, limits_); reparsed) via = sip::top_via(*reparsed.message);
    in.send(reply_destination(via, in.source), std::move(*response));
    return;
  }
  const sip::Message& message = *parsed.message;
  if (!message.is_request()) {
    // A response: to its client transaction (§17.1.3), else stray and dropped (§18.1.2).
    if (sip::validate_response(message)) {  // true: malformed, drop it
      if (options_.metrics) options_.metrics->parse_error();
      return;
    }
    const sip::TransactionTable::Route route = table_.route(message);
    if (route.kind == sip::TransactionTable::Route::Kind::client) {
      const sip::TransactionKey& key = *route.key;
      apply_client(key, route.client->on_response(message));
    }
    return;
  }
  const bool ack = message.method() == "ACK";

  // Step 2: validate. The top Via is stamped with the real source (received, rport) for the
  // answer, which goes where RFC 3261 §18.2.2 / RFC 3581 say, never to a resolved name.
  const std::optional<std::string> stamped = sip::stamp_received(message, in.source.host, in.source.port);
  const std::string top_via = stamped.value_or(std::string());
  const std::optional<sip::Via> via = stamped ? sip::parse_via(*stamped) : sip::top_via(message);
  const sip::Endpoint destination = reply_destination(via, in.source);
  std::optional<sip::Reject> reject = sip::validate_request(message, limits_);
  if (!reject && !ack && message.method() != "CANCEL") {
    // §16.3 step 4 (482): a request carrying a Via of ours came back to us.
    for (std::string_view v : message.values("Via"))
      if (auto parsed_via = sip::parse_via(v); parsed_via && ours(*parsed_via)) {
        reject = sip::Reject{482, "Loop Detected", {}};
        break;
      }
  }
  if (reject && ack) return;  // an ACK never gets a response

  // Step 3: the transaction (RFC 3261 §17.2.3): a retransmission is absorbed (the last
  // response is sent again by the transaction), an ACK for our non-2xx ends an INVITE's.
  const sip::TransactionTable::Route route = table_.route(message);
  switch (route.kind) {
    case sip::TransactionTable::Route::Kind::server: {
      // An RFC 2543 ACK for our 2xx matches the INVITE's key: it is for the TU (§17.2.3).
      if (ack && route.server->state() == sip::TxState::accepted) {
        if (!reject) b2bua_->on_ack(message);
        return;
      }
      const sip::TransactionKey& key = *route.key;
      sip::Actions actions = route.server->on_request(message);
      if (options_.metrics && !ack)
        for (const auto& a : actions)
          if (a.kind == sip::Action::Kind::send) options_.metrics->retransmission();
      apply(key, std::move(actions));
      return;
    }
    case sip::TransactionTable::Route::Kind::new_server: {
      if (ack) return;
      // OPTIONS outside a dialog is answered statelessly (RFC 3261 §8.2.7): the answer holds no
      // state and is the same for a retransmission, so a flood of them with fresh branches costs
      // no memory (issue 24: it kept 32 s of transactions, 1 GB in 12 s).
      if (!reject && message.method() == "OPTIONS" && !has_to_tag(message)) return in.send(destination, answer(message, top_via));
      const bool can_shed = sheddable(message);
      if (can_shed && shed(message, in, destination, top_via)) return;
      sip::ServerTransaction* tx = table_.add(sip::ServerTransaction(message, in.stream, timers_, top_via));
      if (!tx) break;  // answered statelessly below
      if (options_.metrics) options_.metrics->transaction_started(false);
      const sip::TransactionKey key = *route.key;
      auto live = std::make_unique<Live>();
      live->chain = this;
      live->key = key;
      live->send = in.send;
      live->destination = destination;
      if (can_shed) {
        live->counted_source = in.source.host;
        server_by_source_.add(in.source.host);
        ++sheddable_;
      }
      live_[key] = std::move(live);
      apply(key, tx->start());
      if (!table_.find_server(key)) return;
      if (reject) return respond(key, sip::make_response(message, *reject, {}, top_via, kAllowed));
      dispatch(key, message, in, destination, top_via);
      return;
    }
    case sip::TransactionTable::Route::Kind::ack_for_2xx:
      if (!reject) b2bua_->on_ack(message);
      return;
    case sip::TransactionTable::Route::Kind::client:
    case sip::TransactionTable::Route::Kind::stray_response:
      return;
    case sip::TransactionTable::Route::Kind::unmatchable:
      break;
  }
  // No usable transaction key (e.g. an RFC 2543 branch): answered statelessly; the answer is
  // the same for every retransmission (the To tag is derived from the request). Calls need a
  // transaction: an INVITE without one gets 400.
  if (ack) return;
  if (reject) return in.send(destination, sip::make_response(message, *reject, {}, top_via, kAllowed));
  in.send(destination, answer(message, top_via));
}

bool Chain::sheddable(const sip::Message& request) const {
  if (request.method() == "INVITE") return false;
  return !has_to_tag(request) || !b2bua_->knows_dialog(request);
}

bool Chain::shed(const sip::Message& request, const Inbound& in, const sip::Endpoint& destination, const std::string& top_via) {
  const std::size_t per_source = options_.max_transactions_per_source, total = options_.max_transactions;
  const std::size_t held = server_by_source_.count(in.source.host);
  const bool by_source = per_source != 0 && held >= per_source;
  if (!by_source && (total == 0 || sheddable_ < total)) return false;
  if (options_.metrics) options_.metrics->request_shed(by_source);
  const std::string what = std::string(request.method()) + " from " + in.source.host + " answered 503 without a transaction: ";
  if (by_source)
    limit_log_.refused("max_transactions_per_source " + in.source.host,
                       what + std::to_string(held) + " requests of that address are still in their transactions (max_transactions_per_source " +
                           std::to_string(per_source) + ")");
  else
    limit_log_.refused("max_transactions " + in.source.host, what + std::to_string(sheddable_) +
                                                                 " requests outside calls are in their transactions (max_transactions " +
                                                                 std::to_string(total) + ")");
  in.send(destination, sip::make_response(request, 503, "Service Unavailable", {}, {{"Retry-After", "5"}}, top_via));
  return true;
}

void Chain::dispatch(const sip::TransactionKey& key, const sip::Message& request, const Inbound& in, const sip::Endpoint& reply_to,
                     const std::string& top_via) {
  (void)reply_to;
  const std::string_view method = request.method();
  if (method == "CANCEL") {
    // RFC 3261 §9.2: 200 for the CANCEL of a transaction we have; the INVITE gets 487 when its
    // call had no final answer yet. Otherwise 481.
    sip::ServerTransaction* invite = table_.cancelled(request);
    if (!invite) return respond(key, sip::make_response(request, 481, "Call/Transaction Does Not Exist", {}, {}, top_via));
    const sip::TransactionKey invite_key = *invite->key();
    respond(key, sip::make_response(request, 200, "OK", {}, {}, top_via));
    b2bua_->on_cancel(invite_key);
    return;
  }
  if (has_to_tag(request)) return b2bua_->on_in_dialog(key, request, top_via);
  if (method == "INVITE") return b2bua_->on_invite(key, request, in, top_via);
  if (method == "REGISTER") {
    const std::shared_ptr<const Snapshot> snap = snapshots_ ? snapshots_->current() : nullptr;
    Registrar::Answer a = registrar_->on_register(request, in.source, in.stream, snap.get(), domains(snap.get()), unix_now(), auth_.get());
    if (options_.metrics) options_.metrics->set_registrations(registrar_->size());
    return respond(key, sip::make_response(request, a.status, a.reason, {}, a.headers, top_via));
  }
  respond(key, answer(request, top_via));
}

std::string Chain::answer(const sip::Message& request, const std::string& top_via) {
  const std::string_view method = request.method();
  // The snapshot this request is answered on: copied out once, kept to the end of the request
  // even when a reload swaps another one in meanwhile.
  const std::shared_ptr<const Snapshot> snap = snapshots_ ? snapshots_->current() : nullptr;
  if (method == "OPTIONS")
    return sip::make_response(request, 200, "OK", {},
                              {{"Server", server_header(snap)},
                               {"Allow", std::string(kAllowed)},
                               {"Accept", "application/sdp, application/pidf+xml, multipart/mixed"},
                               {"Supported", ""}},
                              top_via);
  if (method == "CANCEL") return sip::make_response(request, 481, "Call/Transaction Does Not Exist", {}, {}, top_via);
  if (method == "INVITE") return sip::make_response(request, 400, "Bad Request (no RFC 3261 branch in the top Via)", {}, {}, top_via);
  if (method == "BYE" || method == "UPDATE" || method == "INFO" || method == "PRACK" || method == "NOTIFY")
    return sip::make_response(request, 481, "Call/Transaction Does Not Exist", {}, {}, top_via);
  if (method == "REGISTER" || method == "MESSAGE")
    return sip::make_response(request, 403, "Forbidden", {}, {}, top_via);
  // §8.2.1: a method we know but do not take here is 405; one we do not know is 501.
  for (std::string_view known : {"SUBSCRIBE", "PUBLISH", "REFER"})
    if (method == known) return sip::make_response(request, 405, "Method Not Allowed", {}, {{"Allow", std::string(kAllowed)}}, top_via);
  return sip::make_response(request, 501, "Not Implemented", {}, {{"Allow", std::string(kAllowed)}}, top_via);
}

void Chain::respond(const sip::TransactionKey& key, std::string response) {
  sip::ServerTransaction* tx = table_.find_server(key);
  if (!tx) return;
  apply(key, tx->on_tu_response(std::move(response)));
}

std::optional<sip::TransactionKey> Chain::request(std::string request, const Destination& to, ClientCallback on_event) {
  sip::Parsed parsed = sip::parse(std::move(request), sip::Transport::datagram, limits_);
  if (!parsed) return std::nullopt;
  sip::ClientTransaction* tx = table_.add(sip::ClientTransaction(std::move(*parsed.message), to.stream, timers_));
  if (!tx) return std::nullopt;
  const sip::TransactionKey key = *tx->key();
  auto live = std::make_unique<ClientLive>();
  live->chain = this;
  live->key = key;
  live->destination = to;
  live->on_event = std::move(on_event);
  client_live_[key] = std::move(live);
  apply_client(key, tx->start());
  return key;
}

bool Chain::cancel(const sip::TransactionKey& invite) {
  sip::ClientTransaction* tx = table_.find_client(invite);
  if (!tx) return true;  // gone: nothing to cancel
  std::optional<std::string> text = tx->cancel();
  if (!text) return false;
  auto it = client_live_.find(invite);
  if (it == client_live_.end()) return true;
  request(std::move(*text), it->second->destination, [](const ClientEvent&) {});
  return true;
}

void Chain::apply(const sip::TransactionKey& key, sip::Actions actions) {
  for (sip::Action& action : actions) {
    auto it = live_.find(key);
    if (it == live_.end()) return;
    Live& live = *it->second;
    switch (action.kind) {
      case sip::Action::Kind::send:
        live.send(live.destination, std::move(action.bytes));
        break;
      case sip::Action::Kind::start_timer:
        arm(key, action.timer, action.duration);
        break;
      case sip::Action::Kind::stop_timer:
        wheel_.cancel(live.timers[static_cast<std::size_t>(action.timer)]);
        break;
      case sip::Action::Kind::terminated:
        drop(key);
        return;
      case sip::Action::Kind::to_tu:            // requests reach the TU through dispatch()
      case sip::Action::Kind::timeout:          // no ACK came for a final response: nothing to do
      case sip::Action::Kind::transport_error:  // the connection went away: nothing to do
        break;
    }
  }
}

void Chain::stream_closed(const sip::Endpoint& peer) {
  // Over TCP a response comes back on the connection the request went out on (RFC 3261 §18.2.2):
  // once it is gone, an INVITE that had rung would otherwise wait for Timer C, minutes, and an
  // emergency call with it. A transport error moves the call on to its next trunk at once.
  std::vector<sip::TransactionKey> lost;
  for (const auto& [key, live] : client_live_)
    if (live->destination.stream && live->destination.to.host == peer.host && live->destination.to.port == peer.port) lost.push_back(key);
  for (const sip::TransactionKey& key : lost)
    if (sip::ClientTransaction* tx = table_.find_client(key)) apply_client(key, tx->on_transport_error());
}

void Chain::apply_client(const sip::TransactionKey& key, sip::Actions actions) {
  for (sip::Action& action : actions) {
    auto it = client_live_.find(key);
    if (it == client_live_.end()) return;
    ClientLive& live = *it->second;
    switch (action.kind) {
      case sip::Action::Kind::send: {
        // A failure to deliver reaches the transaction (and through it the TU) on the loop.
        send(live.destination, std::move(action.bytes), [this, key] {
          sip::ClientTransaction* tx = table_.find_client(key);
          if (tx) apply_client(key, tx->on_transport_error());
        });
        break;
      }
      case sip::Action::Kind::start_timer:
        arm_client(key, action.timer, action.duration);
        break;
      case sip::Action::Kind::stop_timer:
        wheel_.cancel(live.timers[static_cast<std::size_t>(action.timer)]);
        break;
      case sip::Action::Kind::to_tu:
        if (live.on_event && action.message) {
          ClientCallback cb = live.on_event;  // the TU may start transactions that rehash the map
          ClientEvent e{ClientEvent::Kind::response, &*action.message};
          cb(e);
        }
        break;
      case sip::Action::Kind::timeout:
        if (live.on_event) {
          ClientCallback cb = live.on_event;
          cb(ClientEvent{ClientEvent::Kind::timeout, nullptr});
        }
        break;
      case sip::Action::Kind::transport_error:
        if (live.on_event) {
          ClientCallback cb = live.on_event;
          cb(ClientEvent{ClientEvent::Kind::transport_error, nullptr});
        }
        break;
      case sip::Action::Kind::terminated: {
        live.stop_all(wheel_);
        table_.remove_client(key);  // `key` may be the live entry's own: erased last
        client_live_.erase(it);
        return;
      }
    }
  }
}

void Chain::arm(const sip::TransactionKey& key, sip::Timer timer, sip::Duration after) {
  Live& live = *live_.at(key);
  wheel_.restart(live.timers[static_cast<std::size_t>(timer)], after, &Chain::fire_server, &live, static_cast<std::uint64_t>(timer));
}

void Chain::fire_server(void* context, std::uint64_t which) {
  // The wheel handle was reset by firing; the transaction is alive (drop() cancels its timers).
  Live& live = *static_cast<Live*>(context);
  Chain& self = *live.chain;
  const sip::TransactionKey key = live.key;  // apply() may drop the live entry
  const auto timer = static_cast<sip::Timer>(which);
  live.timers[which] = TimerWheel::Handle{};
  sip::ServerTransaction* tx = self.table_.find_server(key);
  if (!tx) return self.drop(key);
  sip::Actions actions = tx->on_timer(timer);
  if (self.options_.metrics && timer == sip::Timer::G) self.options_.metrics->retransmission();
  self.apply(key, std::move(actions));
}

void Chain::arm_client(const sip::TransactionKey& key, sip::Timer timer, sip::Duration after) {
  ClientLive& live = *client_live_.at(key);
  wheel_.restart(live.timers[static_cast<std::size_t>(timer)], after, &Chain::fire_client, &live, static_cast<std::uint64_t>(timer));
}

void Chain::fire_client(void* context, std::uint64_t which) {
  ClientLive& live = *static_cast<ClientLive*>(context);
  Chain& self = *live.chain;
  const sip::TransactionKey key = live.key;
  const auto timer = static_cast<sip::Timer>(which);
  live.timers[which] = TimerWheel::Handle{};
  sip::ClientTransaction* tx = self.table_.find_client(key);
  if (!tx) {
    live.stop_all(self.wheel_);
    self.client_live_.erase(key);
    return;
  }
  sip::Actions actions = tx->on_timer(timer);
  if (self.options_.metrics && (timer == sip::Timer::A || timer == sip::Timer::E)) self.options_.metrics->retransmission();
  self.apply_client(key, std::move(actions));
}

void Chain::drop(const sip::TransactionKey& key) {
  auto it = live_.find(key);
  if (it == live_.end()) {
    table_.remove_server(key);
    return;
  }
  it->second->stop_all(wheel_);
  if (!it->second->counted_source.empty()) {
    server_by_source_.remove(it->second->counted_source);
    --sheddable_;
  }
  table_.remove_server(key);  // `key` may be the live entry's own: erased last
  live_.erase(it);
}

}  // namespace e911::runtime
