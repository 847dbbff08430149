#include <catch2/catch.hpp>
#include <map>
#include <string>
#include <vector>

#include "e911/sip_message.hpp"
#include "e911/sip_transaction.hpp"
#include "e911/sip_wire.hpp"

using namespace e911::sip;
using namespace std::chrono_literals;
using Kind = Action::Kind;

namespace {

Message must_parse(const std::string& text) {
  Parsed p = parse(text, Transport::datagram);
  INFO(p.error.reason << "\n" << text);
  REQUIRE(p);
  return *p.message;
}

std::string invite_text(std::string_view transport = "UDP", std::string_view branch = "z9hG4bKinv1") {
  return "INVITE sip:911@psap.example.net SIP/2.0\r\n"
         "Via: SIP/2.0/" + std::string(transport) + " 192.0.2.7:5060;branch=" + std::string(branch) + "\r\n"
         "Route: <sip:proxy.example.net;lr>\r\n"
         "Max-Forwards: 70\r\n"
         "From: <sip:alice@example.com>;tag=a1\r\n"
         "To: <sip:911@psap.example.net>\r\n"
         "Call-ID: call-1@192.0.2.7\r\n"
         "CSeq: 314 INVITE\r\n"
         "Contact: <sip:alice@192.0.2.7>\r\n"
         "Content-Length: 0\r\n\r\n";
}

std::string options_text(std::string_view transport = "UDP") {
  return "OPTIONS sip:trunk@provider.example.net SIP/2.0\r\n"
         "Via: SIP/2.0/" + std::string(transport) + " 192.0.2.7:5060;branch=z9hG4bKopt1\r\n"
         "Max-Forwards: 70\r\n"
         "From: <sip:e911@example.com>;tag=o1\r\n"
         "To: <sip:trunk@provider.example.net>\r\n"
         "Call-ID: ping-1@192.0.2.7\r\n"
         "CSeq: 7 OPTIONS\r\n"
         "Content-Length: 0\r\n\r\n";
}

Message response(const Message& request, int status, std::string_view reason) {
  return must_parse(make_response(request, status, reason, "b2"));
}

/// A fake clock and timer wheel: applies actions, records the others with their time.
struct Wheel {
  Duration now{0};
  std::map<Timer, Duration> deadlines;
  std::vector<std::pair<Duration, Action>> log;  // everything but timer starts/stops
  std::vector<std::pair<Timer, Duration>> started;
  bool terminated = false;

  void apply(const Actions& actions) {
    for (const Action& a : actions) {
      if (a.kind == Kind::start_timer) {
        deadlines[a.timer] = now + a.duration;
        started.push_back({a.timer, a.duration});
      } else if (a.kind == Kind::stop_timer) {
        deadlines.erase(a.timer);
      } else {
        if (a.kind == Kind::terminated) {
          terminated = true;
          deadlines.clear();
        }
        log.push_back({now, a});
      }
    }
  }
  /// Fires the earliest timer; false when none runs.
  template <class Tx>
  bool step(Tx& tx) {
    if (deadlines.empty()) return false;
    auto next = deadlines.begin();
    for (auto it = deadlines.begin(); it != deadlines.end(); ++it)
      if (it->second < next->second) next = it;
    Timer t = next->first;
    now = next->second;
    deadlines.erase(next);
    apply(tx.on_timer(t));
    return true;
  }
  template <class Tx>
  void run(Tx& tx) {
    while (step(tx)) {
    }
  }
  std::vector<Duration> times(Kind kind) const {
    std::vector<Duration> out;
    for (auto& [t, a] : log)
      if (a.kind == kind) out.push_back(t);
    return out;
  }
};

std::vector<Kind> kinds(const Actions& actions) {
  std::vector<Kind> out;
  for (auto& a : actions) out.push_back(a.kind);
  return out;
}

bool has_start(const Actions& actions, Timer t, Duration d) {
  for (auto& a : actions)
    if (a.kind == Kind::start_timer && a.timer == t && a.duration == d) return true;
  return false;
}

bool has_timer(const Actions& actions, Timer t) {
  for (auto& a : actions)
    if ((a.kind == Kind::start_timer || a.kind == Kind::stop_timer) && a.timer == t) return true;
  return false;
}

}  // namespace

TEST_CASE("INVITE client over UDP: Timer A doubles until Timer B times out at 64*T1 (RFC 3261 17.1.1.2)") {
  ClientTransaction tx(must_parse(invite_text()), false);
  Wheel w;
  Actions first = tx.start();
  CHECK(kinds(first) == std::vector{Kind::send, Kind::start_timer, Kind::start_timer});
  CHECK(has_start(first, Timer::A, 500ms));
  CHECK(has_start(first, Timer::B, 32000ms));
  w.apply(first);
  w.run(tx);
  using D = Duration;
  CHECK(w.times(Kind::send) == std::vector<D>{0ms, 500ms, 1500ms, 3500ms, 7500ms, 15500ms, 31500ms});
  std::vector<std::pair<Timer, Duration>> a_starts;
  for (auto& s : w.started)
    if (s.first == Timer::A) a_starts.push_back(s);
  CHECK(a_starts.size() == 7);
  CHECK(a_starts[0].second == 500ms);
  CHECK(a_starts[1].second == 1000ms);
  CHECK(a_starts[2].second == 2000ms);
  CHECK(a_starts[3].second == 4000ms);
  CHECK(a_starts[6].second == 32000ms);
  CHECK(w.times(Kind::timeout) == std::vector<D>{32000ms});
  CHECK(w.times(Kind::terminated) == std::vector<D>{32000ms});
  CHECK(tx.state() == TxState::terminated);
  // every retransmission is the request itself
  for (auto& [t, a] : w.log)
    if (a.kind == Kind::send) CHECK(must_parse(a.bytes).method() == "INVITE");
}

TEST_CASE("INVITE client: 180 then 486 → ACK per 17.1.1.3, re-ACK on retransmission, Timer D") {
  Message invite = must_parse(invite_text());
  ClientTransaction tx(invite, false);
  tx.start();
  CHECK_FALSE(tx.cancel());  // §9.1: not before a provisional

  Actions ringing = tx.on_response(response(invite, 180, "Ringing"));
  CHECK(kinds(ringing) == std::vector{Kind::to_tu, Kind::stop_timer, Kind::stop_timer});
  CHECK(ringing[0].message->status() == 180);
  CHECK(tx.state() == TxState::proceeding);
  CHECK(tx.on_timer(Timer::A).empty());  // a late Timer A does nothing in Proceeding

  Message busy = response(invite, 486, "Busy Here");
  Actions final = tx.on_response(busy);
  REQUIRE(kinds(final) == std::vector{Kind::to_tu, Kind::send, Kind::start_timer});
  CHECK(final[0].message->status() == 486);
  CHECK(final[2].timer == Timer::D);
  CHECK(final[2].duration == 32000ms);
  CHECK(tx.state() == TxState::completed);

  Message ack = must_parse(final[1].bytes);
  CHECK(ack.method() == "ACK");
  CHECK(ack.uri() == invite.uri());
  CHECK(ack.values("Via") == std::vector<std::string_view>{invite.values("Via").front()});
  CHECK(ack.first("Route") == invite.first("Route"));
  CHECK(ack.first("From") == invite.first("From"));
  CHECK(ack.first("Call-ID") == invite.first("Call-ID"));
  CHECK(ack.first("CSeq") == "314 ACK");
  CHECK(ack.first("To") == busy.first("To"));
  CHECK(ack.first("To")->find(";tag=b2") != std::string_view::npos);
  CHECK(ack.body().empty());

  // §17.1.1.2: a retransmitted 486 is not passed up; the same ACK goes out again.
  Actions again = tx.on_response(busy);
  REQUIRE(kinds(again) == std::vector{Kind::send});
  CHECK(again[0].bytes == final[1].bytes);

  CHECK(kinds(tx.on_timer(Timer::D)) == std::vector{Kind::terminated});
  CHECK(tx.state() == TxState::terminated);
}

TEST_CASE("INVITE client: 2xx → Accepted with Timer M, every 2xx to the TU (RFC 6026 8.4)") {
  Message invite = must_parse(invite_text());
  ClientTransaction tx(invite, false);
  tx.start();
  Message ok = response(invite, 200, "OK");
  Actions a = tx.on_response(ok);
  CHECK(kinds(a) == std::vector{Kind::to_tu, Kind::stop_timer, Kind::stop_timer, Kind::start_timer});
  CHECK(has_start(a, Timer::M, 32000ms));
  CHECK(tx.state() == TxState::accepted);
  Actions again = tx.on_response(ok);
  CHECK(kinds(again) == std::vector{Kind::to_tu});  // no ACK from the transaction: the TU's job
  CHECK(tx.on_response(response(invite, 486, "Busy Here")).empty());
  CHECK(kinds(tx.on_timer(Timer::M)) == std::vector{Kind::terminated});
}

TEST_CASE("INVITE client over TCP: no Timer A, Timer D is zero") {
  Message invite = must_parse(invite_text("TCP"));
  ClientTransaction tx(invite, true);
  Actions first = tx.start();
  CHECK_FALSE(has_timer(first, Timer::A));
  CHECK(has_start(first, Timer::B, 32000ms));
  Actions final = tx.on_response(response(invite, 486, "Busy Here"));
  CHECK(kinds(final) == std::vector{Kind::to_tu, Kind::send, Kind::stop_timer, Kind::terminated});
  CHECK_FALSE(has_timer(final, Timer::D));
  CHECK(tx.state() == TxState::terminated);
}

TEST_CASE("INVITE client: a transport error goes to the TU and terminates") {
  ClientTransaction tx(must_parse(invite_text()), false);
  tx.start();
  CHECK(kinds(tx.on_transport_error()) == std::vector{Kind::transport_error, Kind::terminated});
}

TEST_CASE("non-INVITE client over UDP: Timer E doubles capped at T2, Timer F times out (17.1.2.2)") {
  ClientTransaction tx(must_parse(options_text()), false);
  Wheel w;
  Actions first = tx.start();
  CHECK(has_start(first, Timer::E, 500ms));
  CHECK(has_start(first, Timer::F, 32000ms));
  w.apply(first);
  w.run(tx);
  using D = Duration;
  CHECK(w.times(Kind::send) ==
        std::vector<D>{0ms, 500ms, 1500ms, 3500ms, 7500ms, 11500ms, 15500ms, 19500ms, 23500ms, 27500ms, 31500ms});
  std::vector<Duration> e;
  for (auto& s : w.started)
    if (s.first == Timer::E) e.push_back(s.second);
  CHECK(e == std::vector<D>{500ms, 1000ms, 2000ms, 4000ms, 4000ms, 4000ms, 4000ms, 4000ms, 4000ms, 4000ms, 4000ms});
  CHECK(w.times(Kind::timeout) == std::vector<D>{32000ms});
}

TEST_CASE("non-INVITE client: 1xx → Proceeding with Timer E at T2, 200 → Completed with Timer K") {
  Message options = must_parse(options_text());
  ClientTransaction tx(options, false);
  tx.start();
  CHECK(kinds(tx.on_response(response(options, 100, "Trying"))) == std::vector{Kind::to_tu});
  CHECK(tx.state() == TxState::proceeding);
  Actions e = tx.on_timer(Timer::E);
  CHECK(kinds(e) == std::vector{Kind::send, Kind::start_timer});
  CHECK(has_start(e, Timer::E, 4000ms));
  Message ok = response(options, 200, "OK");
  Actions done = tx.on_response(ok);
  CHECK(kinds(done) == std::vector{Kind::to_tu, Kind::stop_timer, Kind::stop_timer, Kind::start_timer});
  CHECK(has_start(done, Timer::K, 5000ms));
  CHECK(tx.on_response(ok).empty());  // absorbed in Completed
  CHECK(kinds(tx.on_timer(Timer::K)) == std::vector{Kind::terminated});
}

TEST_CASE("non-INVITE client over TCP: no Timer E, Timer K zero") {
  Message options = must_parse(options_text("TCP"));
  ClientTransaction tx(options, true);
  Actions first = tx.start();
  CHECK_FALSE(has_timer(first, Timer::E));
  CHECK(has_start(first, Timer::F, 32000ms));
  Actions done = tx.on_response(response(options, 200, "OK"));
  CHECK(kinds(done) == std::vector{Kind::to_tu, Kind::stop_timer, Kind::terminated});
}

TEST_CASE("INVITE server: 100 Trying after 200 ms, 486 retransmitted by Timer G until the ACK, then Timer I") {
  Message invite = must_parse(invite_text());
  ServerTransaction tx(invite, false);
  Wheel w;
  Actions first = tx.start();
  REQUIRE(kinds(first) == std::vector{Kind::to_tu, Kind::start_timer});
  CHECK(has_start(first, Timer::trying, 200ms));
  w.apply(first);
  REQUIRE(w.step(tx));  // the TU is silent for 200 ms
  REQUIRE(w.log.back().second.kind == Kind::send);
  Message trying = must_parse(w.log.back().second.bytes);
  CHECK(trying.status() == 100);
  CHECK(trying.first("CSeq") == "314 INVITE");

  // a retransmitted INVITE in Proceeding gets the 100 again
  Actions re = tx.on_request(invite);
  REQUIRE(kinds(re) == std::vector{Kind::send});
  CHECK(must_parse(re[0].bytes).status() == 100);

  std::string busy = make_response(invite, 486, "Busy Here", "s1");
  Actions final = tx.on_tu_response(busy);
  CHECK(kinds(final) == std::vector{Kind::stop_timer, Kind::send, Kind::start_timer, Kind::start_timer});
  CHECK(has_start(final, Timer::G, 500ms));
  CHECK(has_start(final, Timer::H, 32000ms));
  CHECK(tx.state() == TxState::completed);
  w.apply(final);
  std::size_t sent_before = w.times(Kind::send).size();
  for (int i = 0; i < 5; ++i) REQUIRE(w.step(tx));  // G at +0.5, +1.5, +3.5, +7.5, +11.5 s
  auto sends = w.times(Kind::send);
  REQUIRE(sends.size() == sent_before + 5);
  using D = Duration;
  CHECK(std::vector<D>(sends.end() - 5, sends.end()) == std::vector<D>{700ms, 1700ms, 3700ms, 7700ms, 11700ms});
  CHECK(w.log.back().second.bytes == busy);
  CHECK(w.started.back() == std::pair{Timer::G, Duration{4000ms}});

  // a retransmitted INVITE in Completed gets the 486
  Actions re2 = tx.on_request(invite);
  REQUIRE(kinds(re2) == std::vector{Kind::send});
  CHECK(re2[0].bytes == busy);

  // the ACK (same branch) → Confirmed, G and H stop, Timer I = T4
  Message ack = must_parse(make_ack(invite, must_parse(busy)));
  Actions confirmed = tx.on_request(ack);
  CHECK(kinds(confirmed) == std::vector{Kind::stop_timer, Kind::stop_timer, Kind::start_timer});
  CHECK(has_start(confirmed, Timer::I, 5000ms));
  CHECK(tx.state() == TxState::confirmed);
  CHECK(tx.on_request(ack).empty());
  CHECK(tx.on_request(invite).empty());
  CHECK(kinds(tx.on_timer(Timer::I)) == std::vector{Kind::terminated});
}

TEST_CASE("INVITE server: no ACK within Timer H → timeout") {
  Message invite = must_parse(invite_text());
  ServerTransaction tx(invite, false);
  Wheel w;
  w.apply(tx.start());
  w.apply(tx.on_tu_response(make_response(invite, 486, "Busy Here", "s1")));
  w.run(tx);
  CHECK(w.times(Kind::timeout) == std::vector<Duration>{32000ms});
  CHECK(tx.state() == TxState::terminated);
}

TEST_CASE("INVITE server: 100 Trying at once when trying_delay is 0; none when the TU answers first") {
  Message invite = must_parse(invite_text());
  TimerConfig now;
  now.trying_delay = 0ms;
  ServerTransaction at_once(invite, false, now);
  Actions a = at_once.start();
  REQUIRE(kinds(a) == std::vector{Kind::to_tu, Kind::send});
  CHECK(must_parse(a[1].bytes).status() == 100);

  ServerTransaction tx(invite, false);
  tx.start();
  Actions ringing = tx.on_tu_response(make_response(invite, 180, "Ringing", "s1"));
  CHECK(kinds(ringing) == std::vector{Kind::stop_timer, Kind::send});
  CHECK(tx.on_timer(Timer::trying).empty());
  CHECK(must_parse(tx.on_request(invite).at(0).bytes).status() == 180);
}

TEST_CASE("INVITE server: 2xx → Accepted with Timer L; INVITE retransmissions absorbed (RFC 6026 8.7)") {
  Message invite = must_parse(invite_text());
  ServerTransaction tx(invite, false);
  tx.start();
  std::string ok = make_response(invite, 200, "OK", "s1");
  Actions a = tx.on_tu_response(ok);
  CHECK(kinds(a) == std::vector{Kind::stop_timer, Kind::send, Kind::start_timer});
  CHECK(has_start(a, Timer::L, 32000ms));
  CHECK(tx.state() == TxState::accepted);
  CHECK(tx.on_request(invite).empty());
  CHECK(kinds(tx.on_tu_response(ok)) == std::vector{Kind::send});  // the TU's 2xx retransmission
  CHECK(tx.on_tu_response(make_response(invite, 486, "Busy Here", "s1")).empty());
  CHECK(kinds(tx.on_timer(Timer::L)) == std::vector{Kind::terminated});
}

TEST_CASE("INVITE server over TCP: no Timer G, Timer I zero") {
  Message invite = must_parse(invite_text("TCP"));
  ServerTransaction tx(invite, true);
  tx.start();
  std::string busy = make_response(invite, 486, "Busy Here", "s1");
  Actions final = tx.on_tu_response(busy);
  CHECK_FALSE(has_timer(final, Timer::G));
  CHECK(has_start(final, Timer::H, 32000ms));
  Actions done = tx.on_request(must_parse(make_ack(invite, must_parse(busy))));
  CHECK(kinds(done) == std::vector{Kind::stop_timer, Kind::terminated});
}

TEST_CASE("non-INVITE server: retransmissions absorbed in Trying, answered with the last response, Timer J") {
  Message options = must_parse(options_text());
  ServerTransaction tx(options, false);
  CHECK(kinds(tx.start()) == std::vector{Kind::to_tu});
  CHECK(tx.state() == TxState::trying);
  CHECK(tx.on_request(options).empty());
  std::string ok = make_response(options, 200, "OK", "s1");
  Actions a = tx.on_tu_response(ok);
  CHECK(kinds(a) == std::vector{Kind::send, Kind::start_timer});
  CHECK(has_start(a, Timer::J, 32000ms));
  CHECK(tx.state() == TxState::completed);
  Actions re = tx.on_request(options);
  REQUIRE(kinds(re) == std::vector{Kind::send});
  CHECK(re[0].bytes == ok);
  CHECK(tx.on_tu_response(make_response(options, 500, "Oops", "s1")).empty());
  CHECK(kinds(tx.on_timer(Timer::J)) == std::vector{Kind::terminated});

  ServerTransaction tcp(must_parse(options_text("TCP")), true);
  tcp.start();
  CHECK(kinds(tcp.on_tu_response(ok)) == std::vector{Kind::send, Kind::terminated});
}

TEST_CASE("CANCEL for a client INVITE once a provisional came (RFC 3261 9.1)") {
  Message invite = must_parse(invite_text());
  ClientTransaction tx(invite, false);
  tx.start();
  tx.on_response(response(invite, 180, "Ringing"));
  auto text = tx.cancel();
  REQUIRE(text);
  Message cancel = must_parse(*text);
  CHECK(cancel.method() == "CANCEL");
  CHECK(cancel.uri() == invite.uri());
  CHECK(cancel.values("Via") == std::vector<std::string_view>{invite.values("Via").front()});
  CHECK(cancel.first("To") == invite.first("To"));  // the request's To, no tag
  CHECK(cancel.first("From") == invite.first("From"));
  CHECK(cancel.first("Call-ID") == invite.first("Call-ID"));
  CHECK(cancel.first("CSeq") == "314 CANCEL");
  CHECK(cancel.first("Route") == invite.first("Route"));
  CHECK_FALSE(validate_request(cancel));
  // its own transaction: same branch, another method
  CHECK(client_key(cancel)->branch == client_key(invite)->branch);
  CHECK(client_key(cancel) != client_key(invite));
}

TEST_CASE("TransactionTable: responses by branch and CSeq method, stray responses (17.1.3)") {
  Message invite = must_parse(invite_text());
  TransactionTable table;
  ClientTransaction* c = table.add(ClientTransaction(invite, false));
  REQUIRE(c);
  CHECK_FALSE(table.add(ClientTransaction(invite, false)));  // key taken

  auto r = table.route(response(invite, 180, "Ringing"));
  CHECK(r.kind == TransactionTable::Route::Kind::client);
  CHECK(r.client == c);

  // a 200 for the CANCEL has the INVITE's branch but another CSeq method: not the INVITE's
  Message cancel = must_parse(make_cancel(invite));
  CHECK(table.route(response(cancel, 200, "OK")).kind == TransactionTable::Route::Kind::stray_response);
  ClientTransaction* cc = table.add(ClientTransaction(cancel, false));
  REQUIRE(cc);
  CHECK(table.route(response(cancel, 200, "OK")).client == cc);

  Message other = must_parse(invite_text("UDP", "z9hG4bKother"));
  CHECK(table.route(response(other, 180, "Ringing")).kind == TransactionTable::Route::Kind::stray_response);
  table.remove_client(*c->key());
  CHECK(table.route(response(invite, 180, "Ringing")).kind == TransactionTable::Route::Kind::stray_response);
}

TEST_CASE("TransactionTable: requests by branch, sent-by and method; ACK and CANCEL (17.2.3, 9.2)") {
  using K = TransactionTable::Route::Kind;
  Message invite = must_parse(invite_text());
  TransactionTable table;
  auto first = table.route(invite);
  CHECK(first.kind == K::new_server);
  REQUIRE(first.key);
  CHECK(first.key->method == "INVITE");
  CHECK(first.key->sent_by == "192.0.2.7:5060");
  ServerTransaction* s = table.add(ServerTransaction(invite, false));
  REQUIRE(s);

  auto re = table.route(invite);
  CHECK(re.kind == K::server);
  CHECK(re.server == s);

  // the ACK for a non-2xx has the INVITE's branch: it matches the INVITE transaction
  Message busy = must_parse(make_response(invite, 486, "Busy Here", "s1"));
  auto ack = table.route(must_parse(make_ack(invite, busy)));
  CHECK(ack.kind == K::server);
  CHECK(ack.server == s);

  // an ACK with a new branch (the ACK for a 2xx) matches nothing: for the TU
  Message other = must_parse(invite_text("UDP", "z9hG4bKack2"));
  CHECK(table.route(must_parse(make_ack(other, busy))).kind == K::ack_for_2xx);

  // CANCEL: its own transaction, but cancelled() finds the INVITE
  Message cancel = must_parse(make_cancel(invite));
  auto c = table.route(cancel);
  CHECK(c.kind == K::new_server);
  CHECK(c.key->method == "CANCEL");
  CHECK(table.cancelled(cancel) == s);
  CHECK(table.cancelled(must_parse(make_cancel(other))) == nullptr);
  CHECK(table.cancelled(invite) == nullptr);

  // same branch from another sent-by is another transaction
  std::string elsewhere = invite_text();
  elsewhere.replace(elsewhere.find("192.0.2.7:5060"), 14, "192.0.2.8:5060");
  CHECK(table.route(must_parse(elsewhere)).kind == K::new_server);

  // RFC 2543 branch (no magic cookie): keyed by Request-URI, From tag, Call-ID, CSeq, top Via
  auto old = table.route(must_parse(invite_text("UDP", "old1")));
  CHECK(old.kind == K::new_server);
  REQUIRE(old.key);
  CHECK(old.key->branch.rfind("rfc2543|", 0) == 0);
  CHECK(old.key->method == "INVITE");
}

TEST_CASE("a transaction past its final response holds only what it may still send") {
  // Accepted and Completed last 32 s on UDP (Timers L, M, D, J): a busy runtime holds tens of
  // thousands of transactions there, so they keep the one message they may resend, and their key.
  Message invite = must_parse(invite_text());
  const std::size_t invite_bytes = invite.size();

  ClientTransaction accepted(invite, false);
  accepted.start();
  CHECK(accepted.held_bytes() >= 2 * invite_bytes);  // the request, and the text Timer A resends
  accepted.on_response(response(invite, 200, "OK"));
  CHECK(accepted.state() == TxState::accepted);
  CHECK(accepted.held_bytes() == 0);
  REQUIRE(accepted.key());
  CHECK(accepted.key()->branch == "z9hG4bKinv1");
  CHECK(kinds(accepted.on_response(response(invite, 200, "OK"))) == std::vector{Kind::to_tu});

  ClientTransaction completed(invite, false);
  completed.start();
  completed.on_response(response(invite, 180, "Ringing"));
  CHECK(completed.cancel());  // Proceeding still has its request, for the CANCEL
  Actions final = completed.on_response(response(invite, 486, "Busy Here"));
  REQUIRE(kinds(final) == std::vector{Kind::to_tu, Kind::send, Kind::start_timer});
  CHECK(completed.held_bytes() == final[1].bytes.size());  // the ACK alone
  Actions again = completed.on_response(response(invite, 486, "Busy Here"));
  REQUIRE(kinds(again) == std::vector{Kind::send});
  CHECK(again[0].bytes == final[1].bytes);

  ServerTransaction answered(invite, false);
  answered.start();
  answered.on_tu_response(make_response(invite, 200, "OK", "s1"));
  CHECK(answered.state() == TxState::accepted);
  CHECK(answered.held_bytes() == 0);  // the TU retransmits its 2xx (RFC 6026 8.7)
  CHECK(answered.on_request(invite).empty());

  ServerTransaction refused(invite, false);
  refused.start();
  const std::string busy = make_response(invite, 486, "Busy Here", "s1");
  refused.on_tu_response(busy);
  CHECK(refused.held_bytes() == busy.size());  // the response Timer G resends
  Actions resent = refused.on_request(invite);
  REQUIRE(kinds(resent) == std::vector{Kind::send});
  CHECK(resent[0].bytes == busy);

  Message options = must_parse(options_text());
  ClientTransaction asking(options, false);
  CHECK(asking.held_bytes() == serialise(options).size());  // the text Timer E resends, alone
  Actions sent = asking.start();
  REQUIRE(kinds(sent)[0] == Kind::send);
  CHECK(sent[0].bytes == serialise(options));
  CHECK(asking.key() == client_key(options));

  ServerTransaction non_invite(options, false);
  non_invite.start();
  const std::string ok = make_response(options, 200, "OK", "s2");
  non_invite.on_tu_response(ok);
  CHECK(non_invite.held_bytes() == ok.size());
  CHECK(non_invite.on_request(options)[0].bytes == ok);
}
