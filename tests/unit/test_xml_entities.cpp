// Hostile XML (issue 14): an external entity (XXE) naming file:///etc/passwd and entity bombs
// (billion laughs, quadratic blow-up) sent as a PIDF-LO and as a HELD locationRequest are
// refused quickly and in bounded memory, and would not be read or expanded even if they reached
// libxml2: the readers never ask it to substitute or load entities.
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <sys/resource.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>

#include "e911/call_input.hpp"
#include "e911/error.hpp"
#include "e911/runtime_held.hpp"
#include "e911/sip_message.hpp"
#include "helpers.hpp"

using namespace e911;

namespace {

const std::string kPidfRoot = "<presence xmlns=\"urn:ietf:params:xml:ns:pidf\" entity=\"pres:alice@contoso.example\">";
const std::string kHeldRoot = "<locationRequest xmlns=\"urn:ietf:params:xml:ns:geopriv:held\">";

// Ten levels of ten references: 10^9 copies of "lol" once expanded, about 3 GB.
std::string laughs_dtd(const std::string& root) {
  std::string d = "<?xml version=\"1.0\"?>\n<!DOCTYPE " + root + " [\n<!ENTITY l0 \"lol\">\n";
  for (int level = 1; level <= 9; ++level) {
    d += "<!ENTITY l" + std::to_string(level) + " \"";
    for (int i = 0; i < 10; ++i) d += "&l" + std::to_string(level - 1) + ";";
    d += "\">\n";
  }
  return d + "]>\n";
}

// One 20 kB entity referenced 10,000 times: 200 MB once expanded from 50 kB, within the 64 KiB
// a PIDF-LO or a HELD request may be, and no nesting for a loop detector to see.
std::string quadratic_dtd(const std::string& root) {
  return "<!DOCTYPE " + root + " [<!ENTITY a \"" + std::string(20000, 'a') + "\">]>\n";
}

std::string references(const std::string& name, int n) {
  std::string s;
  for (int i = 0; i < n; ++i) s += "&" + name + ";";
  return s;
}

struct Hostile {
  const char* what;
  std::string dtd, body;  // body: what goes inside the root element
};

std::vector<Hostile> hostile(const std::string& root) {
  return {{"XXE: an external entity naming file:///etc/passwd", "<!DOCTYPE " + root + " [<!ENTITY x SYSTEM \"file:///etc/passwd\">]>\n", "&x;"},
          {"XXE: an external parameter entity", "<!DOCTYPE " + root + " [<!ENTITY % p SYSTEM \"file:///etc/passwd\"> %p;]>\n", ""},
          {"XXE: an external DTD over http", "<!DOCTYPE " + root + " SYSTEM \"http://192.0.2.1/evil.dtd\">\n", ""},
          {"billion laughs", laughs_dtd(root), "&l9;"},
          {"quadratic blow-up", quadratic_dtd(root), references("a", 10000)}};
}

long max_rss_kb() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return u.ru_maxrss;
}

// Runs `fn` and checks it took under two seconds (times time_scale()) and raised the process's
// peak memory by less than 64 MB: an expanded bomb takes gigabytes, and a read of /etc/passwd
// shows in the answer.
void quickly_and_small(const std::function<void()>& fn) {
  const long rss_before = max_rss_kb();
  const auto started = std::chrono::steady_clock::now();
  fn();
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  CHECK(seconds < 2.0 * time_scale());
  CHECK(max_rss_kb() - rss_before < 64 * 1024);
}

std::string source(const std::string& path) {
  std::ifstream in(std::string(E911_SOURCE_DIR) + "/" + path);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace

TEST_CASE("an XXE or an entity bomb sent as a PIDF-LO is refused quickly, in bounded memory") {
  for (const Hostile& h : hostile("presence")) {
    INFO(h.what);
    const std::string doc = h.dtd + kPidfRoot + h.body + "</presence>\n";
    quickly_and_small([&] {
      try {
        routing::check_pidf(doc, "caller.xml");
        FAIL("accepted");
      } catch (const Error& e) {
        CHECK(e.kind == ErrorKind::invalid);
        CHECK(std::string(e.what()).find("has a DOCTYPE") != std::string::npos);
        CHECK(std::string(e.what()).find("root:") == std::string::npos);
      }
    });
  }
  // The same document in UTF-16, where "<!DOCTYPE" is not the ASCII text searched for, is not UTF-8.
  std::string utf16 = "\xFF\xFE";
  for (char c : hostile("presence")[0].dtd + kPidfRoot + "&x;</presence>") utf16 += std::string{c, '\0'};
  CHECK_THROWS_WITH(routing::check_pidf(utf16, "caller.xml"), Catch::Contains("is not UTF-8") || Catch::Contains("control character"));
}

TEST_CASE("an XXE or an entity bomb in an INVITE's multipart body reaches the PIDF-LO check as it was sent") {
  // The runtime takes the application/pidf+xml part as it is (sip::split_multipart): the DOCTYPE
  // is still there for check_pidf to refuse, and the SIP layer itself expands nothing.
  for (const Hostile& h : hostile("presence")) {
    INFO(h.what);
    const std::string pidf = h.dtd + kPidfRoot + h.body + "</presence>";
    const std::string body = "--b\r\nContent-Type: application/sdp\r\n\r\nv=0\r\n--b\r\nContent-Type: application/pidf+xml\r\n\r\n" + pidf + "\r\n--b--\r\n";
    const std::string invite = "INVITE sip:911@contoso.example SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.10;branch=z9hG4bKx\r\nMax-Forwards: 70\r\n"
                               "From: <sip:alice@contoso.example>;tag=a\r\nTo: <sip:911@contoso.example>\r\nCall-ID: x@192.0.2.10\r\nCSeq: 1 INVITE\r\n"
                               "Content-Type: multipart/mixed;boundary=b\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
    quickly_and_small([&] {
      const sip::Parsed p = sip::parse(invite, sip::Transport::stream, {.max_message = 4 * 1024 * 1024});
      REQUIRE(p);
      const auto parts = sip::split_multipart(p.message->body(), sip::multipart_boundary(*p.message->first("Content-Type")));
      REQUIRE(parts);
      REQUIRE(parts->size() == 2);
      CHECK((*parts)[1].body == pidf);
      CHECK_THROWS_WITH(routing::check_pidf((*parts)[1].body, "INVITE"), Catch::Contains("has a DOCTYPE"));
    });
  }
}

TEST_CASE("an XXE or an entity bomb sent as a HELD request is an xmlError, quickly, in bounded memory") {
  for (const Hostile& h : hostile("locationRequest")) {
    INFO(h.what);
    const std::string doc = h.dtd + kHeldRoot + "<locationType>" + h.body + "</locationType></locationRequest>\n";
    quickly_and_small([&] {
      const runtime::HeldParse p = runtime::parse_held_request(doc);
      CHECK(p.error == "xmlError");
      CHECK(p.message.find("DOCTYPE") != std::string::npos);
      CHECK(p.request.location_types.empty());
      const runtime::HeldAnswer a = runtime::answer_held(nullptr, doc, "127.0.0.1", "2026-01-01T00:00:00Z", true);
      CHECK(a.body.find("code=\"xmlError\"") != std::string::npos);
      CHECK(a.body.find("root:") == std::string::npos);
      CHECK(a.body.size() < 4096);
    });
  }
}

TEST_CASE("the XML readers never ask libxml2 to load or substitute entities, and with their options it does neither") {
  // Second line of defence, behind the DOCTYPE refusal: the options the two readers pass.
  for (const char* path : {"lib/runtime/held.cpp", "lib/routing/call_input.cpp"}) {
    INFO(path);
    const std::string text = source(path);
    REQUIRE(text.find("xmlCtxtReadMemory") != std::string::npos);
    CHECK(text.find("XML_PARSE_NONET") != std::string::npos);
    for (const char* option : {"XML_PARSE_NOENT", "XML_PARSE_DTDLOAD", "XML_PARSE_DTDATTR", "XML_PARSE_DTDVALID", "XML_PARSE_HUGE", "XML_PARSE_XINCLUDE"})
      CHECK(text.find(option) == std::string::npos);
  }
  const int options = XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING;
  for (const Hostile& h : hostile("r")) {
    INFO(h.what);
    const std::string doc = h.dtd + "<r>" + h.body + "</r>";
    quickly_and_small([&] {
      xmlParserCtxt* ctxt = xmlNewParserCtxt();
      REQUIRE(ctxt);
      xmlDoc* d = xmlCtxtReadMemory(ctxt, doc.data(), static_cast<int>(doc.size()), nullptr, "UTF-8", options);
      // Refused (the loop detector stops billion laughs) or read with the references unexpanded.
      if (d) {
        xmlChar* text = nullptr;
        int size = 0;
        xmlDocDumpMemory(d, &text, &size);
        CHECK(std::string(reinterpret_cast<const char*>(text), size).find("root:") == std::string::npos);
        CHECK(static_cast<std::size_t>(size) < doc.size() + 1024);
        xmlFree(text);
        xmlFreeDoc(d);
      }
      xmlFreeParserCtxt(ctxt);
    });
  }
}
