#include <catch2/catch.hpp>
#include <chrono>
#include <fstream>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "e911/sip_message.hpp"
#include "e911/sip_uri.hpp"
#include "helpers.hpp"

using namespace e911::sip;

namespace {

std::string torture(const std::string& name) {
  std::ifstream in(std::string(E911_SOURCE_DIR "/../shared/sip-torture/") + name + ".dat", std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

/// What the torture README asks: accepted, rejected with one of `statuses`, either, or dropped.
enum class Want { accept, reject, accept_or_reject, drop, anything };

struct Case {
  const char* file;
  Want want;
  std::set<int> statuses;
};

const std::vector<Case>& cases() {
  static const std::vector<Case> all = {
      {"wsinv", Want::accept, {}},        {"intmeth", Want::accept, {}},      {"esc01", Want::accept, {}},
      {"escnull", Want::accept, {}},      {"esc02", Want::accept, {}},        {"lwsdisp", Want::accept, {}},
      {"longreq", Want::accept, {}},      {"dblreq", Want::accept, {}},       {"semiuri", Want::accept, {}},
      {"transports", Want::accept, {}},   {"mpart01", Want::accept, {}},      {"unreason", Want::accept, {}},
      {"noreason", Want::accept, {}},     {"badinv01", Want::reject, {400}},  {"clerr", Want::reject, {400}},
      {"ncl", Want::reject, {400}},       {"scalar02", Want::reject, {400}},  {"scalarlg", Want::drop, {}},
      {"quotbal", Want::reject, {400}},   {"ltgtruri", Want::reject, {400}},  {"lwsruri", Want::reject, {400}},
      {"lwsstart", Want::accept_or_reject, {400}}, {"trws", Want::accept_or_reject, {400}},
      {"escruri", Want::accept_or_reject, {400}},  {"baddate", Want::accept, {}},
      {"regbadct", Want::reject, {400}},  {"badaspec", Want::reject, {400}},  {"baddn", Want::reject, {400}},
      {"badvers", Want::reject, {505}},   {"mismatch01", Want::reject, {400}}, {"mismatch02", Want::reject, {400, 501}},
      {"bigcode", Want::drop, {}},        {"badbranch", Want::accept_or_reject, {400}},
      {"insuf", Want::reject, {400}},     {"unkscm", Want::reject, {416}},    {"novelsc", Want::reject, {416, 404}},
      {"unksm2", Want::accept, {}},       {"bext01", Want::reject, {420}},    {"invut", Want::accept, {}},
      {"regaut01", Want::accept, {}},     {"multi01", Want::reject, {400}},   {"mcl01", Want::reject, {400}},
      {"bcast", Want::drop, {}},          {"zeromf", Want::reject, {483}},    {"cparam01", Want::accept, {}},
      {"cparam02", Want::accept, {}},     {"regescrt", Want::accept, {}},     {"sdp01", Want::reject, {406, 400}},
      {"inv2543", Want::accept, {}},      {"test", Want::anything, {}},
  };
  return all;
}

/// What we did with a message: 0 accepted, -1 dropped, otherwise the rejection status.
int outcome(const std::string& text) {
  Parsed p = parse(text, Transport::datagram);
  bool response = text.rfind("SIP/", 0) == 0;
  if (!p) return response ? -1 : p.error.status;
  if (!p.message->is_request()) return validate_response(*p.message) ? -1 : 0;
  auto r = validate_request(*p.message);
  return r ? r->status : 0;
}

std::vector<std::string> header_names(const Message& m) {
  std::vector<std::string> out;
  for (const HeaderField& h : m.headers()) out.emplace_back(h.name);
  return out;
}

std::vector<std::pair<std::string, std::string>> header_pairs(const Message& m) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const HeaderField& h : m.headers())
    if (h.name != "Content-Length") out.emplace_back(h.name, h.value);
  return out;
}

}  // namespace

TEST_CASE("every RFC 4475 torture message is handled as the README says", "[sip][torture]") {
  REQUIRE(cases().size() == 50);
  for (const Case& c : cases()) {
    std::string text = torture(c.file);
    INFO(c.file);
    REQUIRE(!text.empty());
    int got = outcome(text);
    INFO("outcome " << got);
    switch (c.want) {
      case Want::accept: CHECK(got == 0); break;
      case Want::reject: CHECK(c.statuses.count(got) == 1); break;
      case Want::accept_or_reject: CHECK((got == 0 || c.statuses.count(got) == 1)); break;
      case Want::drop: CHECK(got == -1); break;
      case Want::anything: break;
    }
  }
}

TEST_CASE("torture details: folding, compact forms, escapes, datagram tail, 420, multipart", "[sip][torture]") {
  SECTION("wsinv unfolds and maps compact and odd-case names") {
    Parsed p = parse(torture("wsinv"), Transport::datagram);
    REQUIRE(p);
    const Message& m = *p.message;
    CHECK(m.method() == "INVITE");
    CHECK(m.count("Via") == 2);
    CHECK(m.values("Via").size() == 3);
    CHECK(m.first("Max-Forwards") == std::string_view("0068"));
    CHECK(m.first("Subject") == std::string_view(""));
    CHECK(m.first("NewFangledHeader")->find("newfangled value") == 0);
    CHECK(m.first("NewFangledHeader")->find("continued newfangled value") != std::string_view::npos);
    CHECK(m.first("UnknownHeaderWithUnusualValue") == std::string_view(";;,,;;,;"));
    auto from = parse_name_addr(*m.first("From"));
    REQUIRE(from);
    CHECK(from->display == "J Rosenberg \\\"");
    CHECK(from->tag() == "98asjd8");
    auto contact = parse_name_addr(m.values("Contact").at(0));
    REQUIRE(contact);
    CHECK(contact->display == "Quoted string \"\"");
    REQUIRE(contact->params.size() == 3);
    CHECK(contact->params[0].value == "newvalue");
    CHECK(contact->params[2].value == "0.33");
    CHECK(m.body().size() == 150);
  }
  SECTION("dblreq: the first request only") {
    std::string text = torture("dblreq");
    Parsed p = parse(text, Transport::datagram);
    REQUIRE(p);
    CHECK(p.message->method() == "REGISTER");
    CHECK(p.message->body().empty());
    CHECK(p.message->size() < text.size());
    CHECK(p.message->first("Call-ID") == std::string_view("dblreq.0ha0isndaksdj99sdfafnl3lk233412"));
  }
  SECTION("escnull and esc01: user parts decoded") {
    Parsed p = parse(torture("escnull"), Transport::datagram);
    REQUIRE(p);
    auto to = parse_name_addr(*p.message->first("To"));
    REQUIRE(to);
    CHECK(to->uri.user.find('\0') != std::string::npos);
  }
  SECTION("intmeth: unusual user part and password") {
    Parsed p = parse(torture("intmeth"), Transport::datagram);
    REQUIRE(p);
    auto u = parse_uri(p.message->uri());
    REQUIRE(u);
    CHECK(u->user == "1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*");
    CHECK(u->password == "&it+has=1,weird!*pas$wo~d_too.(doesn't-it)");
    CHECK(u->host == "example.com");
    auto to = parse_name_addr(*p.message->first("To"));
    REQUIRE(to);
    CHECK(to->display == std::string("BEL:\x07 NUL:", 10) + std::string(1, '\0') + " DEL:\x7f");
  }
  SECTION("bext01: 420 lists every tag") {
    Parsed p = parse(torture("bext01"), Transport::datagram);
    REQUIRE(p);
    auto r = validate_request(*p.message);
    REQUIRE(r);
    REQUIRE(r->headers.size() == 1);
    CHECK(r->headers[0].first == "Unsupported");
    CHECK(r->headers[0].second ==
          "nothingSupportsThis, nothingSupportsThisEither, noProxiesSupportThis, norDoAnyProxiesSupportThis");
  }
  SECTION("mpart01: two parts, binary kept") {
    Parsed p = parse(torture("mpart01"), Transport::datagram);
    REQUIRE(p);
    auto boundary = multipart_boundary(*p.message->first("Content-Type"));
    CHECK(boundary == "7a9cbec02ceef655");
    auto parts = split_multipart(p.message->body(), boundary);
    REQUIRE(parts);
    REQUIRE(parts->size() == 2);
    CHECK((*parts)[0].content_type == "text/plain");
    CHECK((*parts)[0].body == "Hello");
    CHECK((*parts)[1].content_type == "application/octet-stream");
    CHECK((*parts)[1].body.size() > 300);
  }
  SECTION("stream transport wants Content-Length") {
    Parsed p = parse(torture("inv2543"), Transport::stream);
    CHECK_FALSE(p);
    CHECK(p.error.status == 400);
  }
}

TEST_CASE("uris: sip, sips, IPv6, tel, urn, opaque", "[sip][uri]") {
  auto a = parse_uri("sips:alice:secret@[2001:db8::1]:5061;transport=tls;lr?subject=hi&priority=urgent");
  REQUIRE(a);
  CHECK(a->scheme == Scheme::sips);
  CHECK(a->user == "alice");
  CHECK(a->password == "secret");
  CHECK(a->host == "2001:db8::1");
  CHECK(a->ipv6);
  CHECK(a->port == 5061);
  REQUIRE(a->params.size() == 2);
  CHECK(a->param("TRANSPORT")->value == "tls");
  CHECK_FALSE(a->params[1].has_value);
  REQUIRE(a->headers.size() == 2);
  CHECK(a->headers[1].value == "urgent");

  auto e = parse_uri("sip:%61lice%20x@example.com");
  REQUIRE(e);
  CHECK(e->user == "alice x");
  CHECK_FALSE(parse_uri("sip:%zz@example.com"));
  CHECK_FALSE(parse_uri("sip:a@example.com:99999"));
  CHECK_FALSE(parse_uri("sip:a@[2001:db8::1"));
  CHECK_FALSE(parse_uri("sip:a@exa mple.com"));
  CHECK_FALSE(parse_uri("sip:a@"));
  CHECK_FALSE(parse_uri("<sip:a@b>"));

  auto t = parse_uri("tel:+1-425-555-0100;phone-context=+1;ext=22");
  REQUIRE(t);
  CHECK(t->scheme == Scheme::tel);
  CHECK(t->number == "+1-425-555-0100");
  CHECK(t->param("ext")->value == "22");
  CHECK_FALSE(parse_uri("tel:;x=1"));

  auto u = parse_uri("urn:service:sos");
  REQUIRE(u);
  CHECK(u->scheme == Scheme::urn);
  CHECK(u->nid == "service");
  CHECK(u->nss == "sos");
  CHECK_FALSE(parse_uri("urn:service"));

  auto h = parse_uri("http://www.example.com/x");
  REQUIRE(h);
  CHECK(h->scheme == Scheme::other);
  CHECK(h->opaque == "//www.example.com/x");
}

TEST_CASE("name-addr and addr-spec", "[sip][uri]") {
  auto q = parse_name_addr(R"("Lab \"B\" \\ East" <sip:b@example.com;transport=tcp>;tag=12;q=0.5)");
  REQUIRE(q);
  CHECK(q->display == "Lab \"B\" \\ East");
  CHECK(q->uri.param("transport"));
  CHECK(q->tag() == "12");
  auto t = parse_name_addr("Front Desk <tel:+14255550100>");
  REQUIRE(t);
  CHECK(t->display == "Front Desk");
  CHECK(t->uri.number == "+14255550100");
  auto s = parse_name_addr("sip:a@example.com;tag=x");
  REQUIRE(s);
  CHECK_FALSE(s->bracketed);
  CHECK(s->uri.params.empty());
  CHECK(s->tag() == "x");
  CHECK_FALSE(parse_name_addr("\"open <sip:a@b>"));
  CHECK_FALSE(parse_name_addr("Bell, Alexander <sip:a@b>"));
  CHECK_FALSE(parse_name_addr("< sip:a@b >"));
  CHECK_FALSE(parse_name_addr("sip:a@b?Route=x"));
  CHECK_FALSE(parse_name_addr("<sip:a@b>;;"));
}

TEST_CASE("messages: compact forms, folding, lists, limits", "[sip][message]") {
  std::string text =
      "OPTIONS sip:x@example.com SIP/2.0\r\n"
      "v: SIP/2.0/UDP a.example.com;branch=z9hG4bK1, SIP/2.0/TCP b.example.com\r\n"
      "\t;branch=z9hG4bK2\r\n"
      "f: \"A, B\" <sip:a@example.com>;tag=1\r\n"
      "t: <sip:x@example.com>\r\n"
      "i: abc@host\r\n"
      "CSEQ: 1 OPTIONS\r\n"
      "k: timer, 100rel\r\n"
      "m: <sip:a,b@h1>, \"C, D\" <sip:c@h2>\r\n"
      "l: 4\r\n"
      "\r\n"
      "body";
  Parsed p = parse(text, Transport::stream);
  REQUIRE(p);
  const Message& m = *p.message;
  CHECK(header_names(m) == std::vector<std::string>{"Via", "From", "To", "Call-ID", "CSeq", "Supported", "Contact", "Content-Length"});
  auto via = m.values("v");
  REQUIRE(via.size() == 2);
  CHECK(via[1].find("b.example.com") != std::string_view::npos);
  CHECK(via[1].find("branch=z9hG4bK2") != std::string_view::npos);
  CHECK(m.values("Supported") == std::vector<std::string_view>{"timer", "100rel"});
  CHECK(m.values("Contact").size() == 2);
  CHECK(m.values("From").size() == 1);
  CHECK(m.body() == "body");
  CHECK_FALSE(validate_request(m));

  SECTION("serialise round trip") {
    std::string out = serialise(m);
    Parsed again = parse(out, Transport::stream);
    REQUIRE(again);
    CHECK(header_pairs(*again.message) == header_pairs(m));
    CHECK(again.message->body() == m.body());
    CHECK(serialise(*again.message) == out);
  }
  SECTION("copies keep their views") {
    Message copy = m;
    Parsed gone = parse(text, Transport::stream);
    Message moved = std::move(*gone.message);
    CHECK(copy.first("Call-ID") == std::string_view("abc@host"));
    CHECK(moved.body() == "body");
  }
  SECTION("limits") {
    Limits small;
    small.max_message = 100;
    CHECK(parse(text, Transport::stream, small).error.status == 513);
    Limits few;
    few.max_headers = 3;
    CHECK(parse(text, Transport::stream, few).error.status == 513);
    Limits narrow;
    narrow.max_line = 20;
    CHECK(parse(text, Transport::stream, narrow).error.status == 513);
  }
}

TEST_CASE("serialise writes a status code in three digits, as parse reads it", "[sip][message]") {
  // Found by tests/fuzz (regressions/sip/serialise-status-001): 001 was written back as 1.
  for (const char* code : {"001", "099", "180", "699"}) {
    INFO(code);
    const std::string text = std::string("SIP/2.0 ") + code + " Odd\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nCall-ID: c\r\n\r\n";
    Parsed p = parse(text, Transport::datagram);
    REQUIRE(p);
    const std::string out = serialise(*p.message);
    CHECK(out.rfind(std::string("SIP/2.0 ") + code + " Odd\r\n", 0) == 0);
    Parsed again = parse(out, Transport::stream);
    REQUIRE(again);
    CHECK(again.message->status() == p.message->status());
  }
}

TEST_CASE("validate_request answers", "[sip][validate]") {
  auto request = [](const std::string& ruri, const std::string& extra) {
    return "INVITE " + ruri + " SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:a@b>;tag=1\r\n"
           "To: <sip:c@d>\r\nCall-ID: x\r\nCSeq: 1 INVITE\r\nMax-Forwards: 70\r\n" + extra + "Content-Length: 0\r\n\r\n";
  };
  auto status = [](const std::string& text) {
    Parsed p = parse(text, Transport::datagram);
    if (!p) return p.error.status;
    auto r = validate_request(*p.message);
    return r ? r->status : 0;
  };
  CHECK(status(request("urn:service:sos", "")) == 0);
  CHECK(status(request("tel:911", "")) == 0);
  CHECK(status(request("sips:911@example.com", "")) == 0);
  CHECK(status(request("mailto:a@b", "")) == 416);
  CHECK(status(request("sip:a@b", "Require: 100rel\r\n")) == 420);
  CHECK(status(request("sip:a@b", "Expires: 4294967296\r\n")) == 400);
  CHECK(status(request("sip:a@b", "Accept: application/sdp, application/pidf+xml\r\n")) == 0);
  CHECK(status(request("sip:a@b", "Geolocation: <cid:x@y>\r\n")) == 0);
}

TEST_CASE("multipart with Content-ID", "[sip][multipart]") {
  std::string body =
      "preamble\r\n"
      "--XyZ\r\n"
      "Content-Type: application/sdp\r\n"
      "\r\n"
      "v=0\r\n"
      "--XyZ\r\n"
      "Content-Type: application/pidf+xml\r\n"
      "Content-ID: <loc@example.com>\r\n"
      "\r\n"
      "<presence/>\r\n"
      "--XyZ--\r\n";
  CHECK(multipart_boundary("multipart/mixed; boundary=\"XyZ\"") == "XyZ");
  CHECK(multipart_boundary("multipart/mixed;charset=x;boundary=XyZ") == "XyZ");
  auto parts = split_multipart(body, "XyZ");
  REQUIRE(parts);
  REQUIRE(parts->size() == 2);
  CHECK((*parts)[0].body == "v=0");
  CHECK((*parts)[1].content_id == "loc@example.com");
  CHECK((*parts)[1].body == "<presence/>");
  CHECK_FALSE(split_multipart(body, "nothere"));
  CHECK_FALSE(split_multipart("--XyZ\r\nContent-Type: a/b\r\n\r\nno end", "XyZ"));
}

TEST_CASE("mutated torture messages never crash the parser", "[sip][fuzz]") {
  std::mt19937 rng(4475);
  auto start = std::chrono::steady_clock::now();
  std::size_t parsed = 0;
  for (const Case& c : cases()) {
    const std::string original = torture(c.file);
    for (int round = 0; round < 300; ++round) {
      std::string s = original;
      int edits = 1 + static_cast<int>(rng() % 4);
      for (int e = 0; e < edits && !s.empty(); ++e) {
        std::size_t at = rng() % s.size();
        switch (rng() % 6) {
          case 0: s[at] = static_cast<char>(rng() % 256); break;
          case 1: s.resize(at); break;
          case 2: s.insert(at, std::string(1 + rng() % 8, static_cast<char>(rng() % 256))); break;
          case 3: s.insert(at, rng() % 2 ? "\r\n" : "\r\n "); break;
          case 4: s.erase(at, 1 + rng() % 16); break;
          case 5: s.insert(at, "\r\nContent-Length: 99999999999999999999\r\n"); break;
        }
      }
      for (Transport t : {Transport::datagram, Transport::stream}) {
        Parsed p = parse(s, t);
        if (!p) {
          CHECK((p.error.status == 400 || p.error.status == 513));
          continue;
        }
        ++parsed;
        const Message& m = *p.message;
        if (m.is_request()) {
          (void)validate_request(m);
        } else {
          (void)validate_response(m);
        }
        Parsed again = parse(serialise(m), t);
        (void)again;
        for (const HeaderField& h : m.headers()) {
          (void)split_list(h.value);
          (void)parse_name_addr(h.value);
        }
        (void)split_multipart(m.body(), multipart_boundary(m.first("Content-Type").value_or("")));
      }
    }
  }
  CHECK(parsed > 0);
  CHECK(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() < 20 * time_scale());
}
