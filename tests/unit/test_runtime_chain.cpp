// The request chain of the runtime, driven without sockets: a fake sender records what would go
// out, the asio loop runs the transaction timers in real (short) time.
#include <catch2/catch.hpp>
#include <chrono>
#include <fstream>
#include <string>
#include <vector>

#include "e911/runtime_chain.hpp"
#include "e911/runtime_snapshot.hpp"
#include "e911/runtime_transport.hpp"
#include "helpers.hpp"

using namespace e911;

namespace {

struct Sent {
  sip::Endpoint to;
  std::string bytes;
};

std::string request(std::string_view method, std::string_view via, std::string_view extra = {}) {
  return std::string(method) + " sip:svc@127.0.0.1 SIP/2.0\r\nVia: " + std::string(via) +
         "\r\nMax-Forwards: 70\r\nFrom: <sip:a@example.com>;tag=f1\r\nTo: <sip:svc@127.0.0.1>\r\nCall-ID: c1@x\r\nCSeq: 1 " +
         std::string(method) + "\r\n" + std::string(extra) + "Content-Length: 0\r\n\r\n";
}

std::string status_line(const std::string& bytes) { return bytes.substr(0, bytes.find("\r\n")); }

struct Rig {
  asio::io_context io;
  sip::TimerConfig timers{std::chrono::milliseconds(20), std::chrono::milliseconds(80), std::chrono::milliseconds(100),
                          std::chrono::milliseconds(200)};
  runtime::Chain chain;
  std::vector<Sent> sent;
  explicit Rig(runtime::CoreOptions options = {}) : chain(io, {}, timers, nullptr, std::move(options)) {}
  void in(std::string bytes, sip::Endpoint source = {"127.0.0.1", 5070, false}, bool stream = false) {
    chain.on_message(runtime::Inbound{std::move(bytes), source, stream,
                                      [this](const sip::Endpoint& to, std::string b) { sent.push_back({to, std::move(b)}); }});
  }
};

}  // namespace

TEST_CASE("chain: OPTIONS outside a dialog gets 200 without a transaction, its retransmission the same 200") {
  Rig rig;
  rig.in(request("OPTIONS", "SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKo1;rport"));
  REQUIRE(rig.sent.size() == 1);
  CHECK(status_line(rig.sent[0].bytes) == "SIP/2.0 200 OK");
  CHECK(rig.sent[0].bytes.find("Accept: application/sdp, application/pidf+xml, multipart/mixed\r\n") != std::string::npos);
  CHECK(rig.sent[0].bytes.find("rport=5070") != std::string::npos);
  CHECK(rig.sent[0].to == sip::Endpoint{"127.0.0.1", 5070, false});
  rig.in(request("OPTIONS", "SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKo1;rport"));
  REQUIRE(rig.sent.size() == 2);
  CHECK(rig.sent[1].bytes == rig.sent[0].bytes);
  // Stateless (issue 24): a flood of OPTIONS with fresh branches held 32 s of transactions each.
  CHECK(rig.chain.transactions() == 0);
}

TEST_CASE("chain: requests outside calls past max_transactions_per_source get 503 without a transaction; INVITEs never") {
  runtime::CoreOptions o;
  o.max_transactions_per_source = 3;
  o.max_transactions = 5;
  Rig rig(o);
  for (int i = 0; i < 5; ++i) rig.in(request("MESSAGE", "SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKm" + std::to_string(i)));
  REQUIRE(rig.sent.size() == 5);
  for (int i = 0; i < 3; ++i) CHECK(status_line(rig.sent[i].bytes) == "SIP/2.0 403 Forbidden");
  for (int i = 3; i < 5; ++i) {
    CHECK(status_line(rig.sent[i].bytes) == "SIP/2.0 503 Service Unavailable");
    CHECK(rig.sent[i].bytes.find("Retry-After: 5\r\n") != std::string::npos);
  }
  CHECK(rig.chain.transactions() == 3);
  // An INVITE from that source is never shed: an emergency call may be in it (without a
  // snapshot it gets 503 "no snapshot in service", not the limit's Retry-After: 5).
  rig.in(request("INVITE", "SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKinv"));
  REQUIRE(rig.sent.size() == 6);
  CHECK(status_line(rig.sent[5].bytes) == "SIP/2.0 503 Service Unavailable (no snapshot in service)");
  CHECK(rig.chain.transactions() == 4);
  // Another source: its own 3 would fit, but the runtime holds 5 in all after two of them.
  for (int i = 0; i < 3; ++i) rig.in(request("MESSAGE", "SIP/2.0/UDP 127.0.0.2:5070;branch=z9hG4bKn" + std::to_string(i)), {"127.0.0.2", 5070, false});
  REQUIRE(rig.sent.size() == 9);
  CHECK(status_line(rig.sent[6].bytes) == "SIP/2.0 403 Forbidden");
  CHECK(status_line(rig.sent[7].bytes) == "SIP/2.0 403 Forbidden");
  CHECK(status_line(rig.sent[8].bytes) == "SIP/2.0 503 Service Unavailable");
  CHECK(rig.chain.transactions() == 6);
  // When their transactions end (Timer J: 64*T1 on UDP), the room comes back.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (rig.chain.transactions() > 0 && std::chrono::steady_clock::now() < deadline) rig.io.run_one_for(std::chrono::milliseconds(10));
  CHECK(rig.chain.transactions() == 0);
  rig.in(request("MESSAGE", "SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKlater"));
  CHECK(status_line(rig.sent.back().bytes) == "SIP/2.0 403 Forbidden");
}

TEST_CASE("chain: a final answer to an INVITE is retransmitted (Timer G) until the ACK") {
  Rig rig;
  const std::string via = "SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKi1";
  rig.in(request("INVITE", via));
  REQUIRE(rig.sent.size() == 1);
  // No snapshot in service: the call cannot be routed, a final 503 the transaction resends.
  CHECK(status_line(rig.sent[0].bytes) == "SIP/2.0 503 Service Unavailable (no snapshot in service)");
  // Timer G fires at 20 ms; wait for it at most 2 s, so a loaded machine cannot fail the test.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  while (rig.sent.size() < 2 && std::chrono::steady_clock::now() < deadline) rig.io.run_one_for(std::chrono::milliseconds(10));
  REQUIRE(rig.sent.size() == 2);
  CHECK(rig.sent[1].bytes == rig.sent[0].bytes);
  const auto to = rig.sent[0].bytes.find("To: ");
  const std::string to_line = rig.sent[0].bytes.substr(to, rig.sent[0].bytes.find("\r\n", to) - to);
  std::string ack = request("ACK", via);
  ack.replace(ack.find("To: "), std::string("To: <sip:svc@127.0.0.1>").size(), to_line);
  rig.in(ack);
  rig.io.run_for(std::chrono::milliseconds(100));
  CHECK(rig.sent.size() == 2);  // the ACK is absorbed and stops Timer G
}

TEST_CASE("chain: rejects, drops and never answers an ACK") {
  Rig rig;
  rig.in(request("OPTIONS", "SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKr1", "Require: foo\r\n"));
  REQUIRE(rig.sent.size() == 1);
  CHECK(status_line(rig.sent[0].bytes) == "SIP/2.0 420 Bad Extension");
  CHECK(rig.sent[0].bytes.find("Unsupported: foo") != std::string::npos);
  rig.in("\x01garbage");
  rig.in("SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1;branch=z9hG4bKs\r\nContent-Length: 0\r\n\r\n");
  rig.in(request("ACK", "SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKnone", "Require: foo\r\n"));
  rig.in("\r\n\r\n");
  CHECK(rig.sent.size() == 1);
}

TEST_CASE("chain: a response never goes to a name; a Via host name is answered at its source address") {
  Rig rig;
  rig.in(request("OPTIONS", "SIP/2.0/UDP phone.example.com:5080;branch=z9hG4bKn1"), {"127.0.0.1", 40000, false});
  REQUIRE(rig.sent.size() == 1);
  CHECK(rig.sent[0].to.host == "127.0.0.1");
  CHECK(rig.sent[0].to.port == 5080);  // RFC 3261 §18.2.2: received address, sent-by port
  rig.in(request("OPTIONS", "SIP/2.0/UDP 127.0.0.1:5080;maddr=relay.example.com;branch=z9hG4bKn2"), {"127.0.0.1", 40000, false});
  REQUIRE(rig.sent.size() == 2);
  CHECK(rig.sent[1].to == sip::Endpoint{"127.0.0.1", 40000, false});
}

TEST_CASE("serve: --listen addresses are IP literals with a port") {
  std::string why;
  auto v4 = runtime::parse_listen("127.0.0.1:5060", why);
  REQUIRE(v4);
  CHECK(v4->port == 5060);
  auto v6 = runtime::parse_listen("[::1]:0", why);
  REQUIRE(v6);
  CHECK(v6->address.is_v6());
  CHECK(v6->text() == "[::1]:0");
  CHECK_FALSE(runtime::parse_listen("localhost:5060", why));
  CHECK_FALSE(runtime::parse_listen("::1:5060", why));
  CHECK_FALSE(runtime::parse_listen("127.0.0.1:70000", why));
  CHECK_FALSE(runtime::parse_listen("127.0.0.1", why));
  CHECK_FALSE(runtime::parse_listen("[::1]5060", why));
}

TEST_CASE("runtime: a reload swaps the snapshot in; a holder keeps its own; a bad file is refused") {
  TempDb t;
  auto store = Store::open(t.path, true);
  const auto first = Snapshot::build(*store);
  const std::string path = t.file("snap");
  first->save(path);

  runtime::SnapshotSlot slot;
  CHECK(slot.current() == nullptr);
  CHECK(runtime::SnapshotSlot::revision_text(slot.current()) == "none");
  auto r = slot.reload(path);
  CHECK(r.swapped);
  CHECK(r.message == "snapshot revision " + std::to_string(first->revision()) + " in service (was none)");
  const auto held = slot.current();  // a request in progress
  REQUIRE(held);

  auto again = slot.reload(path);
  CHECK(again.swapped);
  CHECK(slot.current() != held);                      // a new snapshot object is in service
  CHECK(held->revision() == first->revision());       // the holder's copy is still whole
  CHECK(held.use_count() >= 1);

  std::ofstream(path, std::ios::trunc) << "garbage";
  const auto before = slot.current();
  auto bad = slot.reload(path);
  CHECK_FALSE(bad.swapped);
  CHECK(bad.message.find("refused") != std::string::npos);
  CHECK(bad.message.find("revision " + std::to_string(first->revision()) + " stays in service") != std::string::npos);
  CHECK(slot.current() == before);
  CHECK_FALSE(slot.reload(t.file("missing")).swapped);
  CHECK(slot.current() == before);

  // OPTIONS names the revision in service in its Server header.
  asio::io_context io;
  runtime::Chain chain(io, {}, {}, &slot);
  std::vector<std::string> out;
  chain.on_message(runtime::Inbound{request("OPTIONS", "SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKsrv1"), {"127.0.0.1", 5070, false}, false,
                                    [&](const sip::Endpoint&, std::string b) { out.push_back(std::move(b)); }});
  REQUIRE(out.size() == 1);
  CHECK(out[0].find(std::string("\r\nServer: e911ctl/") + E911_VERSION + " snapshot/" + std::to_string(first->revision()) + "\r\n") !=
        std::string::npos);
}
