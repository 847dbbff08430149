// What a call brings from outside (source address, dial string, caller, PIDF-LO) is checked before
// it is decided; then a few thousand hostile calls made from a fixed seed go through the checks,
// decide() and the INVITE builder: each is refused with an Error or decided, never a crash or hang.
#include <catch2/catch.hpp>

#include <chrono>
#include <random>

#include "e911/call_input.hpp"
#include "e911/catalog.hpp"
#include "e911/diagnostic.hpp"
#include "e911/error.hpp"
#include "e911/routing.hpp"
#include "e911/sip_build.hpp"
#include "helpers.hpp"

using namespace e911;
using namespace e911::routing;

namespace {

const Kind& K(const char* noun) { return kind_by_noun(noun); }

struct Deployment {
  TempDb t;
  std::unique_ptr<Store> store;
  std::shared_ptr<const Snapshot> snap;
  Deployment() {
    store = Store::open(t.path, true);
    Writer w(*store, "test");
    w.put(K("usage"), Json{{"name", "Emergency"}});
    w.put(K("trunk"), Json{{"name", "primary"}, {"host", "127.0.0.1"}, {"accepts_pidf_lo", true}, {"request_uri_form", "plus"}});
    w.put(K("route"), Json{{"name", "provider"}, {"number_pattern", "^\\+?911$"}, {"pstn_usages", {"Emergency"}}, {"trunks", {"primary"}}});
    for (const char* id : {"floor1", "lab"})
      w.put(K("location"), Json{{"id", id}, {"location", id}, {"house_number", "1"}, {"street_name", "Main"}, {"city", "Redmond"},
                                {"state", "WA"}, {"country", "US"}, {"validation_status", "valid"}});
    w.put(K("policy"), Json{{"identity", "global"}, {"enhanced_emergency_services", true}, {"pstn_usage", "Emergency"},
                            {"emergency_dial_string", "911"}, {"emergency_dial_mask", "9911;112;" + std::string(200, '1')},
                            {"notification_uris", {"sip:desk@contoso.example"}}});
    w.put(K("subnet"), Json{{"subnet", "10.1.0.0/16"}, {"location", "floor1"}});
    w.put(K("subnet"), Json{{"subnet", "2001:db8:10:1::/64"}, {"location", "lab"}});
    w.put(K("wap"), Json{{"bssid", "00-1A-2B-3C-4D-5E"}, {"location", "lab"}});
    w.put(K("user"), Json{{"sip_uri", "sip:alice@contoso.example"}, {"display_name", "Alice"}, {"line_uri", "tel:+14255550101"}});
    w.put(K("dialplan"), Json{{"name", "global"}, {"rules", {{{"pattern", "^(\\d{10})$"}, {"translation", "+1$1"}}}}});
    w.commit();
    snap = Snapshot::build(*store);
  }
};

CallFacts call(const std::string& ip) {
  CallFacts f;
  f.caller = "sip:alice@contoso.example";
  f.dialled = "911";
  f.source_ip = ip;
  return f;
}

const std::string kPresence = "<presence xmlns=\"urn:ietf:params:xml:ns:pidf\" entity=\"sip:alice@contoso.example\">";

std::string pidf_with(const std::string& inside) { return "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n" + kPresence + inside + "</presence>\n"; }

const std::string kGood = pidf_with(
    "<tuple id=\"t1\"><status><gp:geopriv xmlns:gp=\"urn:ietf:params:xml:ns:pidf:geopriv10\" "
    "xmlns:ca=\"urn:ietf:params:xml:ns:pidf:geopriv10:civicAddr\"><gp:location-info><ca:civicAddress>"
    "<ca:country>US</ca:country><ca:A1>WA</ca:A1><ca:RD>Main</ca:RD><ca:HNO>1</ca:HNO><ca:LOC>B1 \xC3\xA9tage 1</ca:LOC>"
    "</ca:civicAddress></gp:location-info><gp:usage-rules/><gp:method>Manual</gp:method></gp:geopriv></status></tuple>");

// The message of the Error that `f` throws, or "(no error)"; any other exception fails the test.
template <typename F>
std::string refusal(F&& f, ErrorKind kind) {
  try {
    f();
  } catch (const Error& e) {
    CHECK(static_cast<int>(e.kind) == static_cast<int>(kind));
    return e.what();
  }
  return "(no error)";
}

}  // namespace

TEST_CASE("the source address is one IPv4 or IPv6 address; IPv4-mapped IPv6 is its IPv4 address") {
  CHECK(normalize_source_ip("10.1.2.3") == "10.1.2.3");
  CHECK(normalize_source_ip("2001:db8:10:1::20") == "2001:db8:10:1::20");
  CHECK(normalize_source_ip("::ffff:10.1.2.3") == "10.1.2.3");
  CHECK(normalize_source_ip("::FFFF:a01:203") == "10.1.2.3");
  CHECK(normalize_source_ip("0:0:0:0:0:ffff:10.1.2.3") == "10.1.2.3");
  CHECK(normalize_source_ip("::10.1.2.3") == "::10.1.2.3");  // IPv4-compatible, deprecated: not the IPv4 caller
  for (const char* bad : {"", "10.1.2", "10.1.2.3/24", "10.1.2.300", "[2001:db8::1]", "fe80::1%eth0", "10.1.2.3:5060", " 10.1.2.3",
                          "10.1.2.3 ", "::ffff:10.1.2.300", "host.example", "1.2.3.4.5", "2001:db8::1::2"})
    CHECK(refusal([&] { normalize_source_ip(bad); }, ErrorKind::usage).find("is not an IPv4 or IPv6 address") != std::string::npos);
  CHECK(refusal([&] { normalize_source_ip(std::string("10.1.2.3\0x", 10)); }, ErrorKind::usage) != "(no error)");
  CHECK(refusal([&] { normalize_source_ip(std::string(5000, '1')); }, ErrorKind::usage) != "(no error)");
}

TEST_CASE("an IPv4-mapped source address is located on its IPv4 subnet; an address on no subnet stays a call") {
  Deployment fx;
  CallFacts mapped = call("::ffff:10.1.7.7");
  check_call_facts(mapped);
  const Decision d = decide(*fx.snap, mapped);
  REQUIRE(d.location);
  CHECK(d.location->id == "floor1");
  CHECK(d.location_source == LocationSource::subnet);
  CallFacts v6 = call("2001:db8:10:1::9");
  check_call_facts(v6);
  CHECK(decide(*fx.snap, v6).location->id == "lab");
  CallFacts nowhere = call("192.0.2.1");
  nowhere.caller = "sip:stranger@elsewhere.example";
  REQUIRE_NOTHROW(check_call_facts(nowhere));
  const Decision n = decide(*fx.snap, nowhere);
  CHECK(n.emergency);
  CHECK(!n.location);
  CHECK(n.routable);
}

TEST_CASE("a dial string is digits, star, hash and plus, or a URI") {
  for (const char* ok : {"911", "+14255550100", "*67#911", "tel:+911", "sip:911@contoso.example;user=dialstring", "urn:service:sos",
                         "urn:service:test.sos", "SIP:%2B911@x.example"})
    CHECK_NOTHROW(check_dialled(ok));
  for (const char* bad : {"", "91 1", "abc", "911\n", "sip:", ":911", "\xFF", "911\x07", "sip:a b@x", "1-800-FLOWERS", "tel:+9%1"})
    CHECK(refusal([&] { check_dialled(bad); }, ErrorKind::usage) != "(no error)");
  CHECK(refusal([&] { check_dialled(std::string("91\0" "1", 4)); }, ErrorKind::usage) != "(no error)");
  CHECK(refusal([&] { check_dialled(std::string(kMaxFactBytes + 1, '1')); }, ErrorKind::usage).find("bytes long") != std::string::npos);
}

TEST_CASE("the caller is a URI and every fact is UTF-8 text without control characters") {
  CallFacts f = call("10.1.2.3");
  f.caller = "alice";
  CHECK(refusal([&] { check_call_facts(f); }, ErrorKind::usage).find("--from 'alice' is not a URI") != std::string::npos);
  f = call("10.1.2.3");
  f.bssid = "00-1A\xC3";
  CHECK(refusal([&] { check_call_facts(f); }, ErrorKind::usage).find("--bssid is not UTF-8") != std::string::npos);
  f = call("10.1.2.3");
  f.port_id = "Gi1/0/1\n";
  CHECK(refusal([&] { check_call_facts(f); }, ErrorKind::usage).find("--port") != std::string::npos);
  f = call("10.1.2.3");
  f.chassis_id = "Ch\xC3\xA2ssis";  // UTF-8 is fine
  CHECK_NOTHROW(check_call_facts(f));
}

TEST_CASE("a PIDF-LO must be UTF-8, well-formed, in the PIDF namespace, without a DOCTYPE and within the body limit") {
  CHECK_NOTHROW(check_pidf(kGood, "good.xml"));
  // What e911ctl itself sends passes its own check.
  Civic c;
  c.id = "b1";
  c.location = "B1 & <Annex>";
  c.house_number = "1";
  c.street_name = "Main";
  c.city = "Redmond";
  c.state = "WA";
  c.country = "US";
  CHECK_NOTHROW(check_pidf(sip::build_pidf(c, "sip:a@b", "LIS", "sip:desk@x", "two-way", "site:Redmond", "2024-05-01T10:00:00Z"), "built"));

  const auto why = [](const std::string& pidf) { return refusal([&] { check_pidf(pidf, "p.xml"); }, ErrorKind::invalid); };
  CHECK(why("").find("not well-formed XML") != std::string::npos);
  CHECK(why(kPresence).find("not well-formed XML") != std::string::npos);
  CHECK(why(pidf_with("<a></b>")).find("not well-formed XML") != std::string::npos);
  CHECK(why("<presence/>").find("its root is 'presence' in no namespace") != std::string::npos);
  CHECK(why("<p:presence xmlns:p=\"urn:ietf:params:xml:ns:pidfx\"/>").find("in namespace 'urn:ietf:params:xml:ns:pidfx'") != std::string::npos);
  CHECK(why("<html xmlns=\"urn:ietf:params:xml:ns:pidf\"/>").find("its root is 'html'") != std::string::npos);
  CHECK(why(pidf_with("<gp:method>Manual</gp:method>")).find("not namespace-well-formed") != std::string::npos);
  CHECK(why(pidf_with("caf\xE9")).find("is not UTF-8 at byte") != std::string::npos);
  CHECK(why(pidf_with(std::string("a\x01z", 3))).find("control character") != std::string::npos);
  CHECK(why(pidf_with(std::string(kMaxPidfBytes, ' '))).find("bytes, more than the 65536") != std::string::npos);
  CHECK_NOTHROW(check_pidf(pidf_with(std::string(kMaxPidfBytes - kGood.size(), ' ')), "just under"));
  // Entities are never declared, expanded or fetched: a DOCTYPE is refused before parsing.
  const std::string laughs = "<?xml version=\"1.0\"?><!DOCTYPE presence [<!ENTITY a \"aaaaaaaaaa\"><!ENTITY b \"&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;\">"
                             "<!ENTITY c \"&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;\"><!ENTITY d \"&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;\">]>" +
                             kPresence + "&d;&d;&d;&d;&d;&d;</presence>";
  CHECK(why(laughs).find("has a DOCTYPE") != std::string::npos);
  const std::string xxe = "<!DOCTYPE presence [<!ENTITY x SYSTEM \"file:///etc/passwd\">]>" + kPresence + "&x;</presence>";
  CHECK(why(xxe).find("has a DOCTYPE") != std::string::npos);
  CHECK(why(pidf_with("&undeclared;")).find("not well-formed XML") != std::string::npos);
  // Deep nesting stops at the parser's depth limit, quickly.
  std::string deep;
  for (int i = 0; i < 5000; ++i) deep += "<a>";
  CHECK(why(pidf_with(deep)).find("nested more than 256 deep") != std::string::npos);
  std::string ok_deep;
  for (int i = 0; i < 100; ++i) ok_deep += "<a>";
  for (int i = 0; i < 100; ++i) ok_deep += "</a>";
  CHECK_NOTHROW(check_pidf(pidf_with(ok_deep), "deep but fine"));
}

namespace {

struct Fuzzer {
  std::mt19937 rng{20260111};
  std::size_t below(std::size_t n) { return std::uniform_int_distribution<std::size_t>(0, n - 1)(rng); }
  std::string bytes(std::size_t max) {
    std::string s(below(max + 1), '\0');
    for (auto& c : s) c = static_cast<char>(below(256));
    return s;
  }
  std::string pick(std::initializer_list<const char*> options) { return *(options.begin() + below(options.size())); }

  std::string ip() {
    switch (below(6)) {
      case 0: return bytes(40);
      case 1: return std::to_string(below(300)) + "." + std::to_string(below(300)) + "." + std::to_string(below(300)) + "." + std::to_string(below(300));
      case 2: return "::ffff:10.1." + std::to_string(below(260)) + "." + std::to_string(below(260));
      case 3: return "2001:db8:10:1::" + std::to_string(below(100000));
      case 4: return pick({"", "10.1.2.3", "::", "::1", "fe80::1%lo", "[::1]", "10.1.2.3/8", "0.0.0.0", "255.255.255.255", ":::"});
      default: return std::string(below(3000), pick({"1", ":", "f", "."})[0]);
    }
  }
  std::string dial() {
    switch (below(6)) {
      case 0: return bytes(60);
      case 1: return std::string(1 + below(2000), pick({"1", "9", "*", "#", "+"})[0]);  // long masks and numbers
      case 2: return pick({"911", "112", "9911", "+911", "tel:+911", "urn:service:sos", "urn:service:test.sos", "sip:911@x;user=dialstring"});
      case 3: return "tel:" + bytes(30);
      case 4: return "urn:service:sos." + std::string(below(5000), 'a');
      default: return std::string(below(200), '1') + pick({"", "\n", " ", "%", "\xC3\xA9", ";phone-context=+1"});
    }
  }
  std::string from() {
    switch (below(4)) {
      case 0: return bytes(60);
      case 1: return "sip:alice@contoso.example";
      case 2: return "sip:" + std::string(below(3000), 'a') + "@x";
      default: return pick({"", "alice", "sip:", "sip:a b@c", "tel:+14255550101", "sips:alice@contoso.example;transport=tls"});
    }
  }
  std::string pidf() {
    switch (below(8)) {
      case 0: return bytes(400);
      case 1: {  // a real one, broken in places
        std::string s = kGood;
        for (std::size_t e = 1 + below(5); e > 0; --e) {
          const std::size_t at = below(s.size());
          switch (below(3)) {
            case 0: s.erase(at, below(10)); break;
            case 1: s[at] = static_cast<char>(below(256)); break;
            default: s.insert(at, pick({"<", ">", "&", "&amp;", "<!--", "]]>", "<![CDATA[", "\"", "xmlns:x=\"\"", "\xC3", "<!DOCTYPE"})); break;
          }
        }
        return s;
      }
      case 2: {
        std::string open, close;
        for (std::size_t i = 0, n = below(3000); i < n; ++i) open += "<a>", close += "</a>";
        return pidf_with(open + (below(2) ? close : ""));
      }
      case 3: return pidf_with(std::string(kMaxPidfBytes - 200 + below(400), 'x'));
      case 4: return pidf_with("<x a=\"" + std::string(below(20000), 'v') + "\"/>");
      case 5: return pidf_with(std::string(below(2000), '<'));
      case 6: return kGood;
      default: return "";
    }
  }
};

}  // namespace

TEST_CASE("hostile calls are refused or decided, never a crash, a hang or a stray exception") {
  Deployment fx;
  Fuzzer z;
  const auto started = std::chrono::steady_clock::now();
  std::size_t refused = 0, decided = 0;
  for (int round = 0; round < 5000; ++round) {
    CallFacts f;
    f.caller = z.below(3) ? "sip:alice@contoso.example" : z.from();
    f.dialled = z.below(3) ? "911" : z.dial();
    f.source_ip = z.below(3) ? "10.1.2.3" : z.ip();
    if (z.below(4) == 0) f.bssid = z.below(2) ? "00-1A-2B-3C-4D-5E" : z.bytes(30);
    if (z.below(4) == 0) f.chassis_id = z.bytes(30), f.port_id = z.bytes(10);
    if (z.below(3) == 0) f.pidf = z.pidf();
    f.time = "2026-01-11T10:00:00Z";
    INFO("round " << round << ": from " << Json(excerpt(f.caller, 60)).dump() << " dial " << Json(excerpt(f.dialled, 60)).dump() << " ip "
                  << Json(excerpt(f.source_ip, 60)).dump() << " pidf " << Json(excerpt(f.pidf, 120)).dump());
    // decide() itself takes anything: the runtime's parser may hand it odd facts.
    REQUIRE_NOTHROW(decide(*fx.snap, f, round % 2 == 0));
    try {
      check_call_facts(f);
    } catch (const Error& e) {
      ++refused;
      CHECK((e.kind == ErrorKind::usage || e.kind == ErrorKind::invalid));
      CHECK_NOTHROW(Json(e.what()).dump());  // the message can be printed as JSON
      CHECK(std::string(e.what()).size() < 1024);
      continue;
    }
    ++decided;
    const Decision d = decide(*fx.snap, f);
    CHECK_NOTHROW(d.to_json().dump());
    if (!d.attempts.empty()) {
      std::string invite;
      REQUIRE_NOTHROW(invite = sip::build_invite(*fx.snap, d, f, "fuzz@e911ctl.invalid", "t"));
      CHECK(invite.rfind("INVITE ", 0) == 0);
    }
    for (const auto& n : d.notify) CHECK_NOTHROW(sip::build_notification(d, f, n, "fuzz-n@e911ctl.invalid"));
  }
  // The PIDF-LO check alone, on a few thousand more documents.
  for (int round = 0; round < 5000; ++round) {
    const std::string p = z.pidf();
    try {
      check_pidf(p, "fuzz.xml");
    } catch (const Error& e) {
      CHECK(e.kind == ErrorKind::invalid);
      CHECK_NOTHROW(Json(e.what()).dump());
    }
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  WARN("5000 hostile calls: " << refused << " refused, " << decided << " decided; 5000 hostile PIDF-LOs; in " << seconds << " s");
  CHECK(refused > 1000);
  CHECK(decided > 1000);
  CHECK(seconds < 20 * time_scale());
}

TEST_CASE("a PIDF-LO that declares markup is spotted without parsing it") {
  using e911::routing::pidf_declares_markup;
  CHECK(pidf_declares_markup("<?xml version=\"1.0\"?><!DOCTYPE p [<!ENTITY x SYSTEM \"file:///etc/passwd\">]><presence>&x;</presence>"));
  CHECK(pidf_declares_markup("<presence><!ENTITY a 'b'></presence>"));
  CHECK(pidf_declares_markup("<!doctype presence><presence/>"));
  CHECK_FALSE(pidf_declares_markup("<?xml version=\"1.0\"?><!-- a comment --><presence xmlns=\"urn:ietf:params:xml:ns:pidf\"/>"));
  CHECK_FALSE(pidf_declares_markup("<presence><![CDATA[<!]]></presence>"));
  CHECK_FALSE(pidf_declares_markup("<presence>a <! b</presence>"));
  CHECK_FALSE(pidf_declares_markup("<!"));
}

namespace {
// `ascii` in UTF-16, little-endian after its byte-order mark or big-endian without one.
std::string utf16(const std::string& ascii, bool bom_le) {
  std::string out = bom_le ? "\xFF\xFE" : "";
  for (char c : ascii) {
    if (bom_le) out += {c, '\0'};
    else out += {'\0', c};
  }
  return out;
}
}  // namespace

TEST_CASE("a DOCTYPE in another encoding than UTF-8 is caught: the byte scan and the check refuse every other encoding") {
  using e911::routing::declared_encoding;
  using e911::routing::pidf_declares_markup;
  const std::string xxe = "<?xml version=\"1.0\" encoding=\"UTF-16\"?><!DOCTYPE presence [<!ENTITY x SYSTEM \"file:///etc/passwd\">]>" +
                          kPresence + "&x;</presence>";
  // Issue 24 item 9: in UTF-16 the bytes "<!" never occur, yet the provider's parser reads a DOCTYPE.
  const std::string le = utf16(xxe, true), be = utf16(xxe, false);
  REQUIRE(le.find("<!") == std::string::npos);
  CHECK(pidf_declares_markup(le));
  CHECK(pidf_declares_markup(be));  // no byte-order mark: its NUL bytes give it away
  CHECK(pidf_declares_markup("\xFE\xFF"));
  CHECK(pidf_declares_markup("\x4C\x6F\xA7\x94\x40"));  // EBCDIC "<?xm"
  // UTF-7 spells "<!" as "+ADwAIQ-": ASCII bytes, a DOCTYPE to a parser that honours the declaration.
  const std::string utf7 = "<?xml version=\"1.0\" encoding='UTF-7'?>+ADwAIQ-DOCTYPE presence +AFsAPAAh-ENTITY x SYSTEM \"file:///etc/passwd\"+AD4AXQA+-" +
                           kPresence + "+ACY-x+ADs-</presence>";
  CHECK(declared_encoding(utf7) == "UTF-7");
  CHECK(pidf_declares_markup(utf7));
  CHECK_FALSE(pidf_declares_markup(kGood));
  CHECK(declared_encoding(kGood) == "UTF-8");
  CHECK_FALSE(pidf_declares_markup("<?xml version=\"1.0\" encoding = \"utf-8\" ?>" + kPresence + "</presence>"));
  CHECK(declared_encoding("\xEF\xBB\xBF<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><p/>") == "ISO-8859-1");
  CHECK(declared_encoding("<presence encoding=\"UTF-16\"/>").empty());  // not a declaration

  const auto why = [](const std::string& pidf) { return refusal([&] { check_pidf(pidf, "p.xml"); }, ErrorKind::invalid); };
  CHECK(why(le).find("is not UTF-8 at byte 0") != std::string::npos);
  CHECK(why(be).find("control character at byte 0") != std::string::npos);
  CHECK(why(utf7).find("declares the encoding 'UTF-7'") != std::string::npos);
  CHECK(why("<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?>" + kPresence + "</presence>").find("declares the encoding 'ISO-8859-1'") != std::string::npos);
  CHECK_NOTHROW(check_pidf("\xEF\xBB\xBF<?xml version=\"1.0\" encoding=\"utf-8\"?>" + kPresence + "</presence>", "bom.xml"));
}
