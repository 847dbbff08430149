#include <catch2/catch.hpp>
#include <chrono>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "e911/sip_message.hpp"
#include "e911/sip_wire.hpp"

using namespace e911::sip;

namespace {

std::string torture(const std::string& name) {
  std::ifstream in(std::string(E911_SOURCE_DIR "/../shared/sip-torture/") + name + ".dat", std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

Message must_parse(const std::string& text, Transport t = Transport::datagram) {
  Parsed p = parse(text, t);
  INFO(p.error.reason);
  REQUIRE(p);
  return *p.message;
}

std::vector<std::string> lines(const std::string& text) {
  std::vector<std::string> out;
  std::size_t b = 0;
  while (true) {
    std::size_t e = text.find("\r\n", b);
    if (e == std::string::npos || e == b) break;
    out.push_back(text.substr(b, e - b));
    b = e + 2;
  }
  return out;
}

const std::string kSimple =
    "OPTIONS sip:user@example.com SIP/2.0\r\n"
    "Via: SIP/2.0/UDP 192.0.2.7:5070;branch=z9hG4bK1;rport\r\n"
    "To: <sip:user@example.com>\r\n"
    "From: <sip:caller@example.net>;tag=abc\r\n"
    "Call-ID: simple.1\r\n"
    "CSeq: 1 OPTIONS\r\n"
    "Max-Forwards: 70\r\n"
    "Content-Length: 0\r\n\r\n";

}  // namespace

TEST_CASE("make_response copies Vias, From, To, Call-ID, CSeq of a torture INVITE (wsinv)") {
  Message req = must_parse(torture("wsinv"));
  std::string r = make_response(req, 486, "Busy Here", "ignored");
  auto l = lines(r);
  REQUIRE(l.size() == 9);
  CHECK(l[0] == "SIP/2.0 486 Busy Here");
  auto vias = req.values("Via");
  REQUIRE(vias.size() == 3);
  CHECK(l[1] == "Via: " + std::string(vias[0]));
  CHECK(l[2] == "Via: " + std::string(vias[1]));
  CHECK(l[3] == "Via: " + std::string(vias[2]));
  CHECK(l[4] == "From: " + std::string(*req.first("From")));
  CHECK(l[5] == "To: " + std::string(*req.first("To")));  // already tagged: unchanged
  CHECK(l[6] == "Call-ID: wsinv.ndaksdj@192.0.2.1");
  CHECK(l[8] == "Content-Length: 0");
  Parsed back = parse(r, Transport::stream);
  REQUIRE(back);
  CHECK_FALSE(back.message->is_request());
  CHECK(back.message->status() == 486);
  CHECK_FALSE(validate_response(*back.message));
  CHECK(back.message->values("Via") == vias);
  CHECK(back.message->body().empty());
  REQUIRE(top_via(*back.message));
  CHECK(top_via(*back.message)->branch == "390skdjuw");
}

TEST_CASE("make_response: To tag added for >100, not for 100 Trying; derived tag is stable") {
  Message req = must_parse(kSimple);
  auto to_of = [](const std::string& r) { return std::string(*must_parse(r).first("To")); };
  CHECK(to_of(make_response(req, 200, "OK", "t1")) == "<sip:user@example.com>;tag=t1");
  CHECK(to_of(make_trying(req)) == "<sip:user@example.com>");
  std::string a = to_of(make_response(req, 404, "Not Found"));
  CHECK(a.find(";tag=") != std::string::npos);
  CHECK(a == to_of(make_response(req, 404, "Not Found")));
  std::string with_ts = kSimple;
  with_ts.insert(with_ts.find("Max-Forwards"), "Timestamp: 54\r\n");
  Message r100 = must_parse(make_trying(must_parse(with_ts)));
  CHECK(r100.first("Timestamp") == std::optional<std::string_view>("54"));
  CHECK(r100.status() == 100);
}

TEST_CASE("make_response for rejects: 420 bext01 with Unsupported, 483 zeromf, 405 Allow") {
  Message bext = must_parse(torture("bext01"));
  auto rej = validate_request(bext);
  REQUIRE(rej);
  REQUIRE(rej->status == 420);
  Message r = must_parse(make_response(bext, *rej, "x1"));
  CHECK(r.status() == 420);
  CHECK(r.reason() == "Bad Extension");
  CHECK(r.values("Unsupported") == std::vector<std::string_view>{"nothingSupportsThis", "nothingSupportsThisEither",
                                                                 "noProxiesSupportThis", "norDoAnyProxiesSupportThis"});
  CHECK(r.first("To") == std::optional<std::string_view>("sip:j_user@example.com;tag=x1"));
  CHECK(r.first("CSeq") == std::optional<std::string_view>("8 OPTIONS"));
  CHECK(r.values("Via") == std::vector<std::string_view>{"SIP/2.0/TLS fold-and-staple.example.com;branch=z9hG4bKkdjuw"});
  CHECK_FALSE(validate_response(r));

  Message zero = must_parse(torture("zeromf"));
  auto rej2 = validate_request(zero);
  REQUIRE(rej2);
  REQUIRE(rej2->status == 483);
  std::string text = make_response(zero, *rej2, "z");
  CHECK(text ==
        "SIP/2.0 483 Too Many Hops\r\n"
        "Via: SIP/2.0/UDP host1.example.com;branch=z9hG4bKkdjuw2349i\r\n"
        "From: sip:caller@example.net;tag=3ghsd41\r\n"
        "To: sip:user@example.com;tag=z\r\n"
        "Call-ID: zeromf.jfasdlfnm2o2l43r5u0asdfas\r\n"
        "CSeq: 39234321 OPTIONS\r\n"
        "Content-Length: 0\r\n\r\n");
  CHECK(must_parse(text).status() == 483);

  Reject r405{405, "Method Not Allowed", {}};
  Message m405 = must_parse(make_response(zero, r405, "z"));
  CHECK(m405.first("Allow") == std::optional<std::string_view>(kAllowedMethods));
}

TEST_CASE("make_error_response: 400 when routable, dropped otherwise") {
  auto ncl = make_error_response(torture("ncl"), ParseError{400, "bad content-length"}, "e");
  REQUIRE(ncl);
  Message m = must_parse(*ncl);
  CHECK(m.status() == 400);
  CHECK(m.first("Call-ID") == std::optional<std::string_view>("ncl.0ha0isndaksdj2193423r542w35"));
  CHECK(m.first("CSeq") == std::optional<std::string_view>("0 INVITE"));
  CHECK(m.first("To") == std::optional<std::string_view>("sip:j.user@example.com;tag=e"));
  CHECK(make_error_response("garbage", ParseError{}) == std::nullopt);
  std::string no_via = kSimple;
  no_via.erase(no_via.find("Via:"), no_via.find("To:") - no_via.find("Via:"));
  CHECK(make_error_response(no_via, ParseError{}) == std::nullopt);
  CHECK(make_error_response(torture("bigcode"), ParseError{}) == std::nullopt);  // a response
}

TEST_CASE("parse_via and stamp_received") {
  auto v = parse_via("SIP / 2.0 / UDP 192.0.2.7:5070 ;branch=z9hG4bK1;rport;received=10.0.0.1");
  REQUIRE(v);
  CHECK(v->transport == "UDP");
  CHECK(v->host == "192.0.2.7");
  CHECK(v->port == 5070);
  CHECK(v->branch == "z9hG4bK1");
  CHECK(v->rport);
  CHECK_FALSE(v->rport_value);
  CHECK(v->received == std::optional<std::string>("10.0.0.1"));
  CHECK_FALSE(parse_via("SIP/2.0/UDP"));
  CHECK_FALSE(parse_via("SIP/2.0/UDP host:99999"));
  CHECK_FALSE(parse_via("SIP/2.0/UDP [2001:db8::1"));

  // rport asked: filled, and received always added.
  Message m = must_parse(kSimple);
  CHECK(stamp_received(m, "192.0.2.7", 40000) ==
        std::optional<std::string>("SIP/2.0/UDP 192.0.2.7:5070;branch=z9hG4bK1;rport=40000;received=192.0.2.7"));
  // No rport, same host: unchanged; other host: received.
  std::string plain = kSimple;
  plain.replace(plain.find(";rport"), 6, "");
  Message p = must_parse(plain);
  CHECK(stamp_received(p, "192.0.2.7", 5070) == std::optional<std::string>("SIP/2.0/UDP 192.0.2.7:5070;branch=z9hG4bK1"));
  CHECK(stamp_received(p, "198.51.100.1", 5070) ==
        std::optional<std::string>("SIP/2.0/UDP 192.0.2.7:5070;branch=z9hG4bK1;received=198.51.100.1"));
  // A name always differs from the source.
  Message w = must_parse(torture("zeromf"));
  CHECK(stamp_received(w, "192.0.2.1", 5060) ==
        std::optional<std::string>("SIP/2.0/UDP host1.example.com;branch=z9hG4bKkdjuw2349i;received=192.0.2.1"));

  // IPv6: brackets in sent-by, none in received; equal addresses compare by value.
  std::string v6 = plain;
  v6.replace(v6.find("192.0.2.7:5070"), 14, "[2001:DB8:0::1]:5070;rport");
  Message m6 = must_parse(v6);
  auto t6 = top_via(m6);
  REQUIRE(t6);
  CHECK(t6->ipv6);
  CHECK(t6->host == "2001:DB8:0::1");
  CHECK(stamp_received(m6, "[2001:db8::1]", 6000) ==
        std::optional<std::string>("SIP/2.0/UDP [2001:DB8:0::1]:5070;rport=6000;branch=z9hG4bK1;received=2001:db8::1"));
  std::string v6b = plain;
  v6b.replace(v6b.find("192.0.2.7:5070"), 14, "[2001:db8::1]");
  CHECK(stamp_received(must_parse(v6b), "2001:db8:0:0::1", 5060) ==
        std::optional<std::string>("SIP/2.0/UDP [2001:db8::1];branch=z9hG4bK1"));
  CHECK(stamp_received(must_parse(v6b), "2001:db8::2", 5060) ==
        std::optional<std::string>("SIP/2.0/UDP [2001:db8::1];branch=z9hG4bK1;received=2001:db8::2"));

  // The stamped Via goes into the response.
  std::string stamped = *stamp_received(m, "203.0.113.9", 1234);
  Message resp = must_parse(make_response(m, 200, "OK", "t", {}, stamped));
  CHECK(resp.values("Via").front() == stamped);
}

TEST_CASE("response_destination: RFC 3261 18.2.2 and RFC 3581") {
  Endpoint src{"203.0.113.9", 40000, false};
  auto dest = [&](std::string_view via) { return response_destination(*parse_via(via), src); };
  CHECK(dest("SIP/2.0/UDP 192.0.2.7:5070;branch=b;rport=40000;received=203.0.113.9") == Endpoint{"203.0.113.9", 40000, false});
  CHECK(dest("SIP/2.0/UDP 192.0.2.7:5070;branch=b;rport") == Endpoint{"203.0.113.9", 40000, false});
  CHECK(dest("SIP/2.0/UDP 192.0.2.7:5070;branch=b;received=203.0.113.9") == Endpoint{"203.0.113.9", 5070, false});
  CHECK(dest("SIP/2.0/UDP 203.0.113.9;branch=b") == Endpoint{"203.0.113.9", 5060, false});
  CHECK(dest("SIP/2.0/UDP 192.0.2.7;branch=b;maddr=239.1.1.1") == Endpoint{"239.1.1.1", 5060, false});
  CHECK(dest("SIP/2.0/TCP 192.0.2.7:5070;branch=b") == Endpoint{"203.0.113.9", 40000, true});
  CHECK(response_destination(*parse_via("SIP/2.0/UDP [2001:db8::1]:5070;rport=7000;received=2001:db8::9"),
                             Endpoint{"2001:db8::9", 7000, false}) == Endpoint{"2001:db8::9", 7000, false});
}

namespace {

struct Framed {
  std::vector<std::string> messages;
  std::size_t pongs = 0;
  bool failed = false;
};

Framed frame(const std::string& stream, const std::vector<std::size_t>& chunks, Limits limits = {}) {
  StreamFramer f(limits);
  Framed out;
  std::size_t pos = 0, i = 0;
  while (pos < stream.size()) {
    std::size_t n = chunks.empty() ? stream.size() : std::min(chunks[i++ % chunks.size()], stream.size() - pos);
    f.feed(std::string_view(stream).substr(pos, n));
    pos += n;
    while (auto m = f.next()) out.messages.push_back(*m);
  }
  out.pongs = f.take_pongs();
  out.failed = f.failed();
  return out;
}

}  // namespace

TEST_CASE("StreamFramer: whole, byte by byte, random chunks, two in one, keep-alives") {
  std::string a = torture("wsinv"), b = torture("zeromf");
  std::string stream = "\r\n\r\n" + a + "\r\n\r\n" + b + "\r\n" + a;
  for (const std::vector<std::size_t>& chunks :
       std::vector<std::vector<std::size_t>>{{}, {1}, {2}, {3}, {7, 1, 300}, {100000}}) {
    Framed f = frame(stream, chunks);
    CHECK_FALSE(f.failed);
    REQUIRE(f.messages.size() == 3);
    CHECK(f.messages[0] == a);
    CHECK(f.messages[1] == b);
    CHECK(f.messages[2] == a);
    CHECK(f.pongs == 2);
    for (const auto& m : f.messages) CHECK(parse(m, Transport::stream));
  }
  std::mt19937 rng(12);
  for (int round = 0; round < 50; ++round) {
    std::vector<std::size_t> chunks;
    for (int i = 0; i < 20; ++i) chunks.push_back(std::uniform_int_distribution<std::size_t>(1, 200)(rng));
    Framed f = frame(stream, chunks);
    REQUIRE(f.messages.size() == 3);
    CHECK(f.messages[1] == b);
    CHECK(f.pongs == 2);
  }
  // A partial message stays pending.
  StreamFramer f;
  f.feed(a.substr(0, 100));
  CHECK_FALSE(f.next());
  CHECK(f.pending() == std::string_view(a).substr(0, 100));
  CHECK_FALSE(f.failed());
}

TEST_CASE("StreamFramer: ncl, mcl01, no Content-Length, oversize are fatal") {
  for (const char* name : {"ncl", "mcl01"}) {
    INFO(name);
    StreamFramer f;
    f.feed(torture(name));
    CHECK_FALSE(f.next());
    CHECK(f.failed());
    CHECK(f.error().status == 400);
    CHECK(make_error_response(f.pending(), f.error()));  // answered, then the connection closes
    f.feed(torture("zeromf"));
    CHECK_FALSE(f.next());
  }
  std::string no_cl = torture("zeromf");
  no_cl.erase(no_cl.find("Content-Length"), std::string("Content-Length: 0\r\n").size());
  CHECK(frame(no_cl, {5}).failed);
  std::string conflicting = torture("zeromf");
  conflicting.insert(conflicting.find("Content-Length"), "l: 3\r\n");
  CHECK(frame(conflicting, {}).failed);
  Limits small;
  small.max_message = 200;
  Framed big = frame(torture("wsinv"), {1}, small);
  CHECK(big.failed);
  CHECK(big.messages.empty());
  Framed endless = frame(std::string(300, 'x'), {10}, small);
  CHECK(endless.failed);
}

TEST_CASE("StreamFramer fuzz: mutated torture messages in random chunks never crash") {
  std::vector<std::string> seeds;
  for (const char* n : {"wsinv", "zeromf", "bext01", "ncl", "mcl01", "mpart01", "esc01", "longreq", "dblreq"})
    seeds.push_back(torture(n));
  std::mt19937 rng(911);
  auto pick = [&](std::size_t n) { return std::uniform_int_distribution<std::size_t>(0, n - 1)(rng); };
  const char* tokens[] = {"\r\n", "\r\n\r\n", "Content-Length: 5\r\n", "l: 99999999999999999999\r\n", ":", "\0", " ", "-1"};
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(1500);
  std::size_t rounds = 0;
  Limits limits;
  limits.max_message = 4096;
  while (std::chrono::steady_clock::now() < deadline && rounds < 20000) {
    ++rounds;
    std::string s;
    for (int k = 0, n = 1 + static_cast<int>(pick(3)); k < n; ++k) s += seeds[pick(seeds.size())];
    for (int k = 0, n = static_cast<int>(pick(6)); k < n && !s.empty(); ++k) {
      std::size_t at = pick(s.size());
      switch (pick(3)) {
        case 0: s[at] = static_cast<char>(pick(256)); break;
        case 1: s.erase(at, pick(20)); break;
        default: s.insert(at, std::string(tokens[pick(8)])); break;
      }
    }
    StreamFramer f(limits);
    std::size_t pos = 0, out = 0;
    while (pos < s.size() && !f.failed()) {
      std::size_t n = std::min(s.size() - pos, 1 + pick(64));
      f.feed(std::string_view(s).substr(pos, n));
      pos += n;
      while (auto m = f.next()) {
        out += m->size();
        REQUIRE(m->size() <= limits.max_message);
        Parsed p = parse(*m, Transport::stream, limits);
        if (p && p.message->is_request()) {
          (void)make_response(*p.message, 400, "Bad Request");
          (void)stamp_received(*p.message, "192.0.2.1", 5060);
        }
      }
    }
    REQUIRE(out <= s.size());
    if (f.failed()) (void)make_error_response(f.pending(), f.error());
  }
  CHECK(rounds > 0);
}
