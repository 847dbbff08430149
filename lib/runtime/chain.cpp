// The request chain: parse and validate -> server transaction match -> the method's answer.
#include "e911/runtime_chain.hpp"

#include <iostream>

namespace e911::runtime {

namespace {

bool ip_literal(const std::string& host) {
  std::error_code ec;
  (void)asio::ip::make_address(host, ec);
  return !ec;
}

bool blank(std::string_view bytes) { return bytes.find_first_not_of("\r\n \t") == std::string_view::npos; }

// The methods this build answers with anything but 501. INVITE and BYE join when the routing
// step lands (see Chain::answer).
constexpr std::string_view kAnswered = "OPTIONS, ACK, CANCEL";

}  // namespace

sip::Endpoint reply_destination(const std::optional<sip::Via>& top, const sip::Endpoint& source) {
  if (!top) return source;
  sip::Endpoint to = sip::response_destination(*top, source);
  // Never resolve a name: a destination that is not an IP literal (an maddr or a sent-by without
  // received, which stamp_received never leaves) is answered at the packet's source.
  if (!ip_literal(to.host)) return sip::Endpoint{source.host, source.port, to.same_connection};
  return to;
}

struct Chain::Live {
  Sender send;
  sip::Endpoint destination;
  std::map<sip::Timer, std::unique_ptr<asio::steady_timer>> timers;
};

Chain::Chain(asio::io_context& io, sip::Limits limits, sip::TimerConfig timers, const SnapshotSlot* snapshots)
    : io_(io), limits_(limits), timers_(timers), snapshots_(snapshots) {}

std::string Chain::server_header(const std::shared_ptr<const Snapshot>& snap) {
  return std::string("e911ctl/") + E911_VERSION + " snapshot/" + SnapshotSlot::revision_text(snap);
}

Chain::~Chain() = default;

void Chain::on_message(Inbound in) {
  const sip::Transport kind = in.stream ? sip::Transport::stream : sip::Transport::datagram;
  // Step 1: parse. A message that does not parse is answered with its error when it can be
  // routed and matched (make_error_response), else dropped; responses that fail are dropped.
  if (blank(in.bytes)) return;  // a keep-alive on a datagram transport
  sip::Parsed parsed = sip::parse(in.bytes, kind, limits_);
  if (!parsed) {
    auto response = sip::make_error_response(in.bytes, parsed.error);
    if (!response) return;
    std::optional<sip::Via> via;
    if (auto reparsed = sip::parse(*response, sip::Transport::datagram, limits_); reparsed) via = sip::top_via(*reparsed.message);
    in.send(reply_destination(via, in.source), std::move(*response));
    return;
  }
  const sip::Message& message = *parsed.message;
  if (!message.is_request()) {
    // No client transactions yet (they come with routing): every response is a stray (§18.1.2).
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
  if (reject && ack) return;  // an ACK never gets a response

  // Step 3: the server transaction (RFC 3261 §17.2.3): a retransmission is absorbed (the last
  // response is sent again by the transaction), an ACK for our non-2xx ends an INVITE's.
  const sip::TransactionTable::Route route = table_.route(message);
  switch (route.kind) {
    case sip::TransactionTable::Route::Kind::server: {
      const sip::TransactionKey key = *route.server->key();
      apply(key, route.server->on_request(message));
      return;
    }
    case sip::TransactionTable::Route::Kind::new_server: {
      if (ack) return;
      sip::ServerTransaction* tx = table_.add(sip::ServerTransaction(message, in.stream, timers_, top_via));
      if (!tx) break;  // answered statelessly below
      const sip::TransactionKey key = *route.key;
      auto live = std::make_unique<Live>();
      live->send = in.send;
      live->destination = destination;
      live_[key] = std::move(live);
      apply(key, tx->start());
      if (sip::ServerTransaction* again = table_.find_server(key))
        apply(key, again->on_tu_response(reject ? sip::make_response(message, *reject, {}, top_via) : answer(message, top_via)));
      return;
    }
    case sip::TransactionTable::Route::Kind::ack_for_2xx:
    case sip::TransactionTable::Route::Kind::client:
    case sip::TransactionTable::Route::Kind::stray_response:
      return;  // no dialogs and no client transactions yet
    case sip::TransactionTable::Route::Kind::unmatchable:
      break;
  }
  // No usable transaction key (e.g. an RFC 2543 branch): answered statelessly; the answer is
  // the same for every retransmission (the To tag is derived from the request).
  if (ack) return;
  in.send(destination, reject ? sip::make_response(message, *reject, {}, top_via) : answer(message, top_via));
}

std::string Chain::answer(const sip::Message& request, const std::string& top_via) {
  const std::string_view method = request.method();
  // The snapshot this request is answered on: copied out once, kept to the end of the request
  // even when a reload swaps another one in meanwhile.
  const std::shared_ptr<const Snapshot> snap = snapshots_ ? snapshots_->current() : nullptr;
  if (method == "OPTIONS")
    return sip::make_response(request, 200, "OK", {},
                              {{"Server", server_header(snap)},
                               {"Allow", std::string(kAnswered)},
                               {"Accept", "application/sdp, application/pidf+xml"},
                               {"Supported", ""}},
                              top_via);
  if (method == "CANCEL") {
    // Every INVITE has been answered finally by the time its CANCEL comes (see below), so a
    // CANCEL that matches one gets 200 and changes nothing (RFC 3261 §9.2); others get 481.
    if (table_.cancelled(request)) return sip::make_response(request, 200, "OK", {}, {}, top_via);
    return sip::make_response(request, 481, "Call/Transaction Does Not Exist", {}, {}, top_via);
  }
  // The contract of the next step (issue 12 continues): an INVITE that passed validation goes to
  // decide() on the snapshot in service and out to the first attempt; an emergency INVITE is
  // then never rejected for anything but malformation (the parse and validate steps above):
  // no snapshot, an unknown caller or a failed trunk still route it, to the policy's trunks or
  // the default. Until that step is in this chain every INVITE, BYE and other method gets this
  // well-formed 501, and `e911ctl serve` says so when it starts: it is not to carry live calls.
  return sip::make_response(request, 501, "Not Implemented", {}, {{"Allow", std::string(kAnswered)}}, top_via);
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
        live.timers.erase(action.timer);  // destroying the timer cancels it
        break;
      case sip::Action::Kind::terminated:
        drop(key);
        return;
      case sip::Action::Kind::to_tu:            // the chain is the TU: it answers inline
      case sip::Action::Kind::timeout:          // no ACK came for a final response: nothing to do
      case sip::Action::Kind::transport_error:  // the connection went away: nothing to do
        break;
    }
  }
}

void Chain::arm(const sip::TransactionKey& key, sip::Timer timer, sip::Duration after) {
  Live& live = *live_.at(key);
  auto t = std::make_unique<asio::steady_timer>(io_, after);
  t->async_wait([this, key, timer](const std::error_code& ec) {
    if (ec) return;  // cancelled: replaced, stopped or its transaction dropped
    auto it = live_.find(key);
    if (it == live_.end()) return;
    sip::ServerTransaction* tx = table_.find_server(key);
    if (!tx) return drop(key);
    apply(key, tx->on_timer(timer));
  });
  live.timers[timer] = std::move(t);  // replaces (and so cancels) a running one
}

void Chain::drop(const sip::TransactionKey& key) {
  table_.remove_server(key);
  live_.erase(key);
}

}  // namespace e911::runtime
