#include <catch2/catch.hpp>
#include <set>
#include <string>
#include <vector>

#include "e911/catalog.hpp"
#include "e911/sip_build.hpp"
#include "e911/store.hpp"
#include "helpers.hpp"

using namespace e911;
using namespace e911::sip;

namespace {

Civic full_civic() {
  Civic c;
  c.location = "Lab <B> & \"Ops\" 'East'";
  c.company_name = "Contoso";
  c.house_number = "3910";
  c.house_number_suffix = "A";
  c.pre_directional = "N";
  c.street_name = "163rd";
  c.street_suffix = "Ave";
  c.post_directional = "NE";
  c.city = "Redmond";
  c.state = "WA";
  c.postal_code = "98052";
  c.country = "us";
  c.building = "B1";
  c.floor = "2";
  c.unit = "U7";
  c.room = "201";
  c.seat = "14";
  c.landmark = "Fountain";
  return c;
}

// Head and body of a SIP message, and its Content-Length.
struct Parsed {
  std::string head, body;
  std::size_t length = 0;
};
Parsed parse(const std::string& msg) {
  Parsed p;
  const auto end = msg.find("\r\n\r\n");
  REQUIRE(end != std::string::npos);
  p.head = msg.substr(0, end + 2);
  p.body = msg.substr(end + 4);
  const auto cl = p.head.find("\r\nContent-Length: ");
  REQUIRE(cl != std::string::npos);
  p.length = std::stoul(p.head.substr(cl + 18));
  return p;
}

// The value of header `name` ("" when absent).
std::string header(const std::string& head, const std::string& name) {
  const auto at = head.find("\r\n" + name + ": ");
  if (at == std::string::npos) return {};
  const auto start = at + name.size() + 4;
  return head.substr(start, head.find("\r\n", start) - start);
}

// Every line of the head ends in CRLF: no bare LF, no bare CR.
bool crlf_only(const std::string& head) {
  for (std::size_t i = 0; i < head.size(); ++i) {
    if (head[i] == '\n' && (i == 0 || head[i - 1] != '\r')) return false;
    if (head[i] == '\r' && (i + 1 == head.size() || head[i + 1] != '\n')) return false;
  }
  return true;
}

// The parts of a multipart body, each as its exact bytes (headers, blank line, content).
std::vector<std::string> parts(const std::string& body, const std::string& boundary) {
  std::vector<std::string> out;
  const std::string first = "--" + boundary + "\r\n";
  REQUIRE(body.rfind(first, 0) == 0);
  std::size_t pos = first.size();
  for (;;) {
    const auto next = body.find("\r\n--" + boundary, pos);
    REQUIRE(next != std::string::npos);
    out.push_back(body.substr(pos, next - pos));
    pos = next + 4 + boundary.size();
    if (body.compare(pos, 2, "--") == 0) break;
    REQUIRE(body.compare(pos, 2, "\r\n") == 0);
    pos += 2;
  }
  return out;
}

std::string content_of(const std::string& part) { return part.substr(part.find("\r\n\r\n") + 4); }

struct Trunks {
  TempDb t;
  std::unique_ptr<Store> store;
  std::shared_ptr<const Snapshot> snap;
  Trunks() {
    store = Store::open(t.path, true);
    Writer w(*store, "test");
    const Kind& trunk = kind_by_noun("trunk");
    w.put(trunk, Json{{"name", "provider"}, {"host", "192.0.2.10"}, {"port", 5070}, {"transport", "tcp"}, {"accepts_pidf_lo", true},
                      {"request_uri_form", "plus"}});
    w.put(trunk, Json{{"name", "gateway"}, {"host", "192.0.2.20"}, {"transport", "udp"}, {"forward_pai", false}, {"strip_plus", true}});
    w.put(trunk, Json{{"name", "sos"}, {"host", "2001:db8::5"}, {"port", 5061}, {"transport", "tls"}, {"accepts_pidf_lo", true},
                      {"request_uri_form", "sos-urn"}});
    w.commit();
    snap = Snapshot::build(*store);
  }
};

routing::Decision emergency_to(const std::string& trunk, const std::string& request_uri) {
  routing::Decision d;
  d.emergency = true;
  d.dialled = d.normalized = d.emergency_number = "911";
  d.policy = "site:Redmond";
  d.user_name = "Alice";
  d.callback = "+14255550101";
  d.caller = "sip:alice@contoso.example";
  d.location_source = LocationSource::subnet;
  d.location = full_civic();
  d.method = "LIS";
  d.conference_uri = "sip:+14255550199@contoso.example";
  d.conference_mode = "two-way";
  // A decision's names point into its snapshot; here they must outlive the decision.
  static std::set<std::string> trunk_names;
  d.attempts.push_back({"emergency", *trunk_names.insert(trunk).first, request_uri, false});
  static const std::vector<std::string> desk = {"sip:desk@contoso.example"};
  d.notify = desk;
  return d;
}

routing::CallFacts facts() {
  routing::CallFacts f;
  f.caller = "sip:alice@contoso.example";
  f.dialled = "911";
  f.time = "2024-05-01T10:00:00Z";
  return f;
}

}  // namespace

TEST_CASE("PIDF-LO civic elements follow the RFC 5139 schema order, country upper case") {
  const std::string p = build_pidf(full_civic(), "sip:alice@contoso.example", "LIS", "", "", "");
  const char* order[] = {"country", "A1", "A3", "PRD", "RD", "STS", "POD", "HNO", "HNS", "LMK",
                         "LOC",     "FLR", "NAM", "PC", "BLD", "UNIT", "ROOM", "SEAT"};
  std::size_t last = 0;
  for (const char* tag : order) {
    const auto at = p.find(std::string("<ca:") + tag + ">");
    INFO(tag);
    REQUIRE(at != std::string::npos);
    CHECK(at > last);
    last = at;
  }
  CHECK(p.find("<ca:country>US</ca:country>") != std::string::npos);
  CHECK(p.find("<ca:A3>Redmond</ca:A3>") != std::string::npos);
  CHECK(p.find("<ca:RD>163rd</ca:RD>") != std::string::npos);
  CHECK(p.find("<ca:A6>") == std::string::npos);  // streets go in RD, never A6
  CHECK(p.find("<gp:method>LIS</gp:method>") != std::string::npos);
  CHECK(p.find("<gbp:retransmission-allowed>true</gbp:retransmission-allowed>") != std::string::npos);
  CHECK(p.find("<gp:provided-by>") != std::string::npos);
  CHECK(p.find("entity=\"sip:alice@contoso.example\"") != std::string::npos);
  CHECK(p.find("<timestamp>") == std::string::npos);
  // geopriv's children in RFC 4119 order: location-info, usage-rules, method, provided-by.
  CHECK(p.find("<gp:location-info>") < p.find("<gp:usage-rules>"));
  CHECK(p.find("<gp:usage-rules>") < p.find("<gp:method>"));
  CHECK(p.find("<gp:method>") < p.find("<gp:provided-by>"));
}

TEST_CASE("PIDF-LO leaves out empty civic fields and defaults the method to Manual") {
  Civic c;
  c.street_name = "Main";
  c.country = "CA";
  const std::string p = build_pidf(c, "", "", "", "", "", "2024-05-01T10:00:00Z");
  CHECK(p.find("<ca:RD>Main</ca:RD>") != std::string::npos);
  CHECK(p.find("<ca:country>CA</ca:country>") != std::string::npos);
  for (const char* tag : {"A1", "A3", "HNO", "HNS", "PRD", "STS", "POD", "LOC", "NAM", "PC", "FLR", "BLD", "ROOM", "SEAT", "UNIT", "LMK"})
    CHECK(p.find(std::string("<ca:") + tag + ">") == std::string::npos);
  CHECK(p.find("<gp:method>Manual</gp:method>") != std::string::npos);
  CHECK(p.find("<timestamp>2024-05-01T10:00:00Z</timestamp>") != std::string::npos);
  CHECK(p.find("entity=\"pres:unknown@e911ctl.invalid\"") != std::string::npos);
}

TEST_CASE("PIDF-LO escapes every XML special character and drops control characters") {
  Civic c;
  c.location = "Lab <B> & \"Ops\" 'East'";
  c.company_name = "A\x01" "B";
  const std::string p = build_pidf(c, "sip:a&b@contoso.example", "Man<ual>", "sip:x@y?a=1&b=2", "one-way", "tag\"1");
  CHECK(p.find("<ca:LOC>Lab &lt;B&gt; &amp; &quot;Ops&quot; &apos;East&apos;</ca:LOC>") != std::string::npos);
  CHECK(p.find("<ca:NAM>AB</ca:NAM>") != std::string::npos);
  CHECK(p.find("entity=\"sip:a&amp;b@contoso.example\"") != std::string::npos);
  CHECK(p.find("<gp:method>Man&lt;ual&gt;</gp:method>") != std::string::npos);
  CHECK(p.find("sip:x@y?a=1&amp;b=2</ms:ConferenceUri>") != std::string::npos);
  CHECK(p.find(">tag&quot;1</LocationPolicyTagID>") != std::string::npos);
  CHECK(p.find("Lab <B>") == std::string::npos);
}

TEST_CASE("PIDF-LO carries Lync's msftE911PidfExtn only with a conference URI or policy tag") {
  const Civic c = full_civic();
  const std::string ns = "xmlns:ms=\"urn:schema:Rtc.LIS.msftE911PidfExtn.2008\"";

  const std::string none = build_pidf(c, "sip:a@b", "LIS", "", "two-way", "");
  CHECK(none.find("msftE911PidfExtn>") == std::string::npos);
  CHECK(none.find("ConferenceMode") == std::string::npos);

  const std::string all = build_pidf(c, "sip:a@b", "LIS", "sip:+14255550199@contoso.example", "two-way", "site:Redmond");
  CHECK(all.find(ns) != std::string::npos);
  const auto ext = all.find("<ms:msftE911PidfExtn>");
  REQUIRE(ext != std::string::npos);
  // Where Lync writes it: after geopriv, inside status; ConferenceUri, ConferenceMode, then the tag.
  CHECK(all.find("</gp:geopriv>") < ext);
  CHECK(ext < all.find("</status>"));
  CHECK(all.find("<ms:ConferenceUri>sip:+14255550199@contoso.example</ms:ConferenceUri>") < all.find("<ms:ConferenceMode>twoway</ms:ConferenceMode>"));
  CHECK(all.find("<ms:ConferenceMode>twoway</ms:ConferenceMode>") <
        all.find("<LocationPolicyTagID xmlns=\"urn:schema:Rtc.Lis.LocationPolicyTagID.2008\">site:Redmond</LocationPolicyTagID>"));

  const std::string one_way = build_pidf(c, "sip:a@b", "LIS", "sip:desk@contoso.example", "", "");
  CHECK(one_way.find("<ms:ConferenceMode>oneway</ms:ConferenceMode>") != std::string::npos);
  CHECK(one_way.find("LocationPolicyTagID") == std::string::npos);
  CHECK(build_pidf(c, "sip:a@b", "LIS", "sip:desk@contoso.example", "one-way", "").find(">oneway<") != std::string::npos);

  const std::string tag_only = build_pidf(c, "sip:a@b", "LIS", "", "", "Executives");
  CHECK(tag_only.find("<ms:msftE911PidfExtn>") != std::string::npos);
  CHECK(tag_only.find(">Executives</LocationPolicyTagID>") != std::string::npos);
  CHECK(tag_only.find("ConferenceUri") == std::string::npos);
  CHECK(tag_only.find("ConferenceMode") == std::string::npos);
}

TEST_CASE("INVITE to a PIDF-LO trunk: headers, exact Content-Length, Geolocation matching the Content-ID") {
  Trunks fx;
  const auto d = emergency_to("provider", "+911");
  const auto f = facts();
  const std::string inv = build_invite(*fx.snap, d, f, "call-1@e911ctl.invalid", "t1");
  const Parsed m = parse(inv);
  CHECK(m.head.rfind("INVITE sip:+911@192.0.2.10:5070;user=phone SIP/2.0\r\n", 0) == 0);
  CHECK(crlf_only(m.head));
  CHECK(m.length == m.body.size());
  CHECK(header(m.head, "Via") == "SIP/2.0/TCP e911ctl.invalid;branch=z9hG4bKt1;rport");
  CHECK(header(m.head, "Max-Forwards") == "70");
  CHECK(header(m.head, "From") == "\"Alice\" <sip:+14255550101@contoso.example;user=phone>;tag=t1");
  CHECK(header(m.head, "To") == "<sip:+911@192.0.2.10:5070;user=phone>");
  CHECK(header(m.head, "Call-ID") == "call-1@e911ctl.invalid");
  CHECK(header(m.head, "CSeq") == "1 INVITE");
  CHECK(header(m.head, "Contact") == "<sip:e911ctl@e911ctl.invalid;transport=tcp>");
  CHECK(header(m.head, "Priority") == "emergency");
  CHECK(header(m.head, "P-Asserted-Identity") == "\"Alice\" <tel:+14255550101>");
  CHECK(header(m.head, "Geolocation-Routing") == "yes");

  const std::string ctype = header(m.head, "Content-Type");
  REQUIRE(ctype.rfind("multipart/mixed;boundary=", 0) == 0);
  const auto ps = parts(m.body, ctype.substr(25));
  REQUIRE(ps.size() == 2);
  CHECK(ps[0].rfind("Content-Type: application/sdp\r\n\r\nv=0\r\n", 0) == 0);
  CHECK(ps[0].find("c=IN IP4 127.0.0.1\r\n") != std::string::npos);
  CHECK(ps[0].find("m=audio ") != std::string::npos);
  CHECK(ps[1].rfind("Content-Type: application/pidf+xml\r\n", 0) == 0);
  const std::string geo = header(m.head, "Geolocation");
  REQUIRE(geo.rfind("<cid:", 0) == 0);
  CHECK(ps[1].find("Content-ID: <" + geo.substr(5)) != std::string::npos);
  // The location built from the decision: its method, policy tag, conference and the call's time.
  const std::string pidf = content_of(ps[1]);
  CHECK(pidf.find("<gp:method>LIS</gp:method>") != std::string::npos);
  CHECK(pidf.find(">site:Redmond</LocationPolicyTagID>") != std::string::npos);
  CHECK(pidf.find("<ms:ConferenceMode>twoway</ms:ConferenceMode>") != std::string::npos);
  CHECK(pidf.find("<timestamp>2024-05-01T10:00:00Z</timestamp>") != std::string::npos);
  CHECK(pidf.find("<ca:LOC>Lab &lt;B&gt; &amp; &quot;Ops&quot; &apos;East&apos;</ca:LOC>") != std::string::npos);
  // Reproducible: the same inputs give the same bytes.
  CHECK(build_invite(*fx.snap, d, f, "call-1@e911ctl.invalid", "t1") == inv);
}

TEST_CASE("the runtime's INVITE is the dry run's with its own identifiers, offer, attempt and transport") {
  Trunks fx;
  auto d = emergency_to("provider", "+911");
  d.attempts.push_back({"r2", "gateway", "911", false});
  const auto f = facts();
  InviteContext live;
  live.call_id = "abc@e911ctl";
  live.tag = "9f8e";
  live.branch = "z9hG4bKe911xyz";
  live.sent_by = "127.0.0.1:5062";
  live.sdp = "v=0\r\no=phone 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 6000 RTP/AVP 0\r\n";
  const TrunkInvite inv = build_trunk_invite(*fx.snap, d, f, live);
  const Parsed m = parse(inv.text);
  CHECK(inv.stream);
  CHECK(inv.with_pidf);
  CHECK(inv.request_uri == "sip:+911@192.0.2.10:5070;user=phone");
  CHECK(inv.from == "\"Alice\" <sip:+14255550101@contoso.example;user=phone>");
  CHECK(header(m.head, "Via") == "SIP/2.0/TCP 127.0.0.1:5062;branch=z9hG4bKe911xyz;rport");
  CHECK(header(m.head, "Contact") == "<sip:e911ctl@127.0.0.1:5062;transport=tcp>");
  CHECK(header(m.head, "Call-ID") == "abc@e911ctl");
  CHECK(m.body.find(*live.sdp) != std::string::npos);  // the caller's offer, not a sample
  CHECK(m.length == m.body.size());

  // No offer from the caller (delayed offer): the location alone, still multipart.
  live.sdp = std::string();
  const Parsed bare = parse(build_trunk_invite(*fx.snap, d, f, live).text);
  CHECK(bare.body.find("application/sdp") == std::string::npos);
  CHECK(bare.body.find("application/pidf+xml") != std::string::npos);
  CHECK(bare.length == bare.body.size());

  // The second attempt goes to the UDP gateway, which takes no PIDF-LO: SDP only, under 1300
  // bytes, so it stays on UDP.
  live.sdp.reset();
  live.attempt = 1;
  const TrunkInvite gw = build_trunk_invite(*fx.snap, d, f, live);
  CHECK_FALSE(gw.stream);
  CHECK_FALSE(gw.with_pidf);
  CHECK(gw.text.rfind("INVITE sip:911@192.0.2.20:5060;user=phone SIP/2.0\r\n", 0) == 0);
  CHECK(header(parse(gw.text).head, "Via").rfind("SIP/2.0/UDP 127.0.0.1:5062;", 0) == 0);
  live.attempt = 2;
  CHECK(build_trunk_invite(*fx.snap, d, f, live).text.empty());
}

TEST_CASE("an INVITE over 1300 bytes to a UDP trunk goes over TCP, unless told to keep UDP") {
  TempDb t;
  auto store = Store::open(t.path, true);
  {
    Writer w(*store, "test");
    w.put(kind_by_noun("trunk"), Json{{"name", "udp-provider"}, {"host", "192.0.2.30"}, {"transport", "udp"}, {"accepts_pidf_lo", true}});
    w.commit();
  }
  auto snap = Snapshot::build(*store);
  const auto d = emergency_to("udp-provider", "911");
  InviteContext c;
  c.sent_by = "127.0.0.1:5062";
  const TrunkInvite big = build_trunk_invite(*snap, d, facts(), c);
  REQUIRE(big.text.size() > kUdpLimit);
  CHECK(big.stream);
  CHECK(big.switched_to_tcp);
  const Parsed m = parse(big.text);
  CHECK(header(m.head, "Via").rfind("SIP/2.0/TCP ", 0) == 0);
  CHECK(header(m.head, "Contact") == "<sip:e911ctl@127.0.0.1:5062;transport=tcp>");
  c.keep_udp = true;
  const TrunkInvite kept = build_trunk_invite(*snap, d, facts(), c);
  CHECK_FALSE(kept.stream);
  CHECK(header(parse(kept.text).head, "Via").rfind("SIP/2.0/UDP ", 0) == 0);
}

TEST_CASE("INVITE passes the caller's own PIDF-LO on byte for byte") {
  Trunks fx;
  auto d = emergency_to("provider", "+911");
  d.location.reset();
  d.location_source = LocationSource::caller_pidf;
  auto f = facts();
  f.pidf = "<?xml version=\"1.0\"?>\n<presence xmlns=\"urn:ietf:params:xml:ns:pidf\" entity=\"pres:alice@contoso.example\">\n"
           "<!-- e911ctl-boundary-t2 -->\n</presence>";
  const Parsed m = parse(build_invite(*fx.snap, d, f, "c2", "t2"));
  CHECK(m.length == m.body.size());
  const std::string ctype = header(m.head, "Content-Type");
  const std::string boundary = ctype.substr(25);
  CHECK(f.pidf.find(boundary) == std::string::npos);  // a boundary the caller's body cannot contain
  const auto ps = parts(m.body, boundary);
  REQUIRE(ps.size() == 2);
  CHECK(content_of(ps[1]) == f.pidf);
}

TEST_CASE("INVITE to a trunk without PIDF-LO sends only SDP and honours forward_pai") {
  Trunks fx;
  auto d = emergency_to("gateway", "911");
  d.user_name = "Bob \"B\" \\ Smith\r\nX-Evil: 1";
  const Parsed m = parse(build_invite(*fx.snap, d, facts(), "c3", "t3"));
  CHECK(m.head.rfind("INVITE sip:911@192.0.2.20:5060;user=phone SIP/2.0\r\n", 0) == 0);
  CHECK(crlf_only(m.head));
  CHECK(m.length == m.body.size());
  CHECK(header(m.head, "Content-Type") == "application/sdp");
  CHECK(header(m.head, "Geolocation").empty());
  CHECK(header(m.head, "Geolocation-Routing").empty());
  CHECK(header(m.head, "P-Asserted-Identity").empty());
  CHECK(header(m.head, "Via").rfind("SIP/2.0/UDP ", 0) == 0);
  CHECK(header(m.head, "X-Evil").empty());
  CHECK(header(m.head, "From").rfind("\"Bob \\\"B\\\" \\\\ Smith  X-Evil: 1\" <", 0) == 0);
  CHECK(m.body.rfind("v=0\r\n", 0) == 0);
  CHECK(m.body.find("pidf") == std::string::npos);
}

TEST_CASE("INVITE keeps urn:service:sos, brackets IPv6 and knows when there is nothing to send") {
  Trunks fx;
  auto d = emergency_to("sos", "urn:service:sos");
  d.callback = "4255550123";  // an ELIN of national digits: no tel: URI without a phone-context
  const Parsed m = parse(build_invite(*fx.snap, d, facts(), "c4", "t4"));
  CHECK(m.head.rfind("INVITE urn:service:sos SIP/2.0\r\n", 0) == 0);
  CHECK(header(m.head, "To") == "<urn:service:sos>");
  CHECK(header(m.head, "Via").rfind("SIP/2.0/TLS ", 0) == 0);
  CHECK(header(m.head, "P-Asserted-Identity") == "\"Alice\" <sip:4255550123@contoso.example;user=phone>");
  CHECK(m.length == m.body.size());

  d.attempts.front().request_uri = "+911";
  CHECK(build_invite(*fx.snap, d, facts(), "c4", "t4").rfind("INVITE sip:+911@[2001:db8::5]:5061;user=phone SIP/2.0\r\n", 0) == 0);

  // A trunk that takes PIDF-LO but no location known: SDP only, no Geolocation.
  d.location.reset();
  const Parsed bare = parse(build_invite(*fx.snap, d, facts(), "c4", "t4"));
  CHECK(header(bare.head, "Content-Type") == "application/sdp");
  CHECK(header(bare.head, "Geolocation").empty());

  d.attempts.clear();
  CHECK(build_invite(*fx.snap, d, facts(), "c4", "t4").empty());
}

TEST_CASE("INVITE without a callback presents the caller's URI; non-emergency calls carry no Priority") {
  Trunks fx;
  auto d = emergency_to("provider", "+14255550100");
  d.emergency = false;
  d.callback.clear();
  d.user_name = {};
  const Parsed m = parse(build_invite(*fx.snap, d, facts(), "c5", "t5"));
  CHECK(header(m.head, "From") == "<sip:alice@contoso.example>;tag=t5");
  CHECK(header(m.head, "P-Asserted-Identity") == "<sip:alice@contoso.example>");
  CHECK(header(m.head, "Priority").empty());
}

TEST_CASE("notification MESSAGE: Priority, Call-Info, exact Content-Length and every civic field") {
  const auto d = emergency_to("provider", "+911");
  const std::string msg = build_notification(d, facts(), "sip:desk@contoso.example", "n1@e911ctl.invalid");
  const Parsed m = parse(msg);
  CHECK(msg.rfind("MESSAGE sip:desk@contoso.example SIP/2.0\r\n", 0) == 0);
  CHECK(crlf_only(m.head));
  CHECK(m.length == m.body.size());
  CHECK(header(m.head, "Priority") == "emergency");
  CHECK(header(m.head, "Call-Info") == "<sip:alice@contoso.example>;purpose=ms-emergency-notification");
  CHECK(header(m.head, "Content-Type") == "text/plain;charset=utf-8");
  CHECK(header(m.head, "CSeq") == "1 MESSAGE");
  CHECK(header(m.head, "Call-ID") == "n1@e911ctl.invalid");
  CHECK(header(m.head, "To") == "<sip:desk@contoso.example>");
  CHECK(header(m.head, "From").rfind("<sip:e911ctl@contoso.example>;tag=", 0) == 0);
  CHECK(header(m.head, "Via").rfind("SIP/2.0/TCP e911ctl.invalid;branch=z9hG4bK", 0) == 0);
  for (const char* line : {"Emergency call to 911\r\n", "Caller: Alice <sip:alice@contoso.example>\r\n", "Callback: +14255550101\r\n",
                           "Time: 2024-05-01T10:00:00Z\r\n", "Location:\r\n", "  Country: us\r\n", "  State: WA\r\n", "  City: Redmond\r\n",
                           "  Street: 163rd\r\n", "  House number: 3910\r\n", "  House number suffix: A\r\n", "  Floor: 2\r\n",
                           "  Room: 201\r\n", "  Seat: 14\r\n", "  Company: Contoso\r\n", "  Postal code: 98052\r\n",
                           "  Location: Lab <B> & \"Ops\" 'East'\r\n", "Method: LIS\r\n"}) {
    INFO(line);
    CHECK(m.body.find(line) != std::string::npos);
  }
  // One transaction per security desk: another target gets another branch.
  const Parsed other = parse(build_notification(d, facts(), "sip:lobby@contoso.example", "n1@e911ctl.invalid"));
  CHECK(header(other.head, "Via") != header(m.head, "Via"));
}

TEST_CASE("notification says when no location is known, and reads a caller's PIDF-LO") {
  auto d = emergency_to("provider", "+911");
  d.location.reset();
  d.location_source = LocationSource::none;
  d.method.clear();
  d.callback.clear();
  auto f = facts();
  Parsed m = parse(build_notification(d, f, "desk@contoso.example", "n2"));
  CHECK(m.length == m.body.size());
  CHECK(m.body.find("Location: none known") != std::string::npos);
  CHECK(m.body.find("Callback: unknown\r\n") != std::string::npos);
  CHECK(m.body.find("Method: none\r\n") != std::string::npos);

  d.location_source = LocationSource::caller_pidf;
  d.method = "Manual";
  f.pidf = "<presence xmlns=\"urn:ietf:params:xml:ns:pidf\"><tuple id=\"a\"><status><geopriv xmlns=\"urn:ietf:params:xml:ns:pidf:geopriv10\">"
           "<location-info><civicAddress xmlns=\"urn:ietf:params:xml:ns:pidf:geopriv10:civicAddr\" xml:lang=\"en\">"
           "<country>US</country><A1>WA</A1><RD>Main</RD><HNO> 1 </HNO><NAM>Smith &amp; Co</NAM><A2/></civicAddress>"
           "</location-info><method>Manual</method></geopriv></status></tuple></presence>";
  m = parse(build_notification(d, f, "sip:desk@contoso.example", "n2"));
  CHECK(m.length == m.body.size());
  for (const char* line : {"Location: as sent by the caller's client\r\n", "  Country: US\r\n", "  State: WA\r\n", "  Street: Main\r\n",
                           "  House number: 1\r\n", "  Company: Smith & Co\r\n", "Method: Manual\r\n"}) {
    INFO(line);
    CHECK(m.body.find(line) != std::string::npos);
  }
}

TEST_CASE("notification of a test call, and values that try to add lines") {
  auto d = emergency_to("provider", "urn:service:sos");
  d.test_call = true;
  d.user_name = "Eve\r\nCallback: +15555550000";
  const Parsed m = parse(build_notification(d, facts(), "sip:desk@contoso.example", "n3"));
  CHECK(m.body.rfind("Test emergency call to 911\r\n", 0) == 0);
  CHECK(m.body.find("\r\nCallback: +15555550000") == std::string::npos);
  CHECK(m.body.find("Callback: +14255550101\r\n") != std::string::npos);
}
