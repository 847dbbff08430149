// The location service (runtime_held.hpp): the HELD request parser, the answer on a snapshot,
// and a real HeldServer on 127.0.0.1 asked by httplib's client; its key in the serve settings.
#include <httplib.h>

#include <catch2/catch.hpp>
#include <fstream>

#include "e911/diagnostic_error.hpp"
#include "e911/routing.hpp"
#include "e911/runtime_config.hpp"
#include "e911/runtime_held.hpp"
#include "e911/runtime_metrics.hpp"
#include "e911/runtime_snapshot.hpp"
#include "e911/sip_build.hpp"
#include "helpers.hpp"

using namespace e911;
using namespace e911::runtime;

namespace {

const Kind& K(const char* noun) { return kind_by_noun(noun); }

Json place(const std::string& id, const std::string& room) {
  return {{"id", id},          {"location", room}, {"house_number", "1"}, {"street_name", "Main"}, {"city", "Redmond"},
          {"state", "WA"},     {"country", "US"},  {"validation_status", "valid"}};
}

// A LIS with one of each element, each at its own location.
struct Lis {
  TempDb t;
  std::shared_ptr<const Snapshot> snap;
  Lis() {
    auto store = Store::open(t.path, true);
    Writer w(*store, "test");
    w.put(K("usage"), Json{{"name", "Emergency"}});
    w.put(K("policy"), Json{{"identity", "global"}, {"enhanced_emergency_services", true}, {"pstn_usage", "Emergency"}, {"emergency_dial_string", "911"}});
    for (const auto& l : {place("floor1", "Floor 1"), place("room12", "Room 12"), place("closet", "Closet"), place("desk", "Desk 7"),
                          place("atrium", "Atrium"), place("lab6", "Lab")})
      w.put(K("location"), l);
    w.put(K("site"), Json{{"name", "Redmond"}});
    w.put(K("subnet"), Json{{"subnet", "10.1.0.0/16"}, {"site", "Redmond"}, {"location", "floor1"}});
    w.put(K("subnet"), Json{{"subnet", "10.1.12.0/24"}, {"site", "Redmond"}, {"location", "room12"}});
    w.put(K("subnet"), Json{{"subnet", "10.9.0.0/16"}, {"site", "Redmond"}});
    w.put(K("subnet"), Json{{"subnet", "2001:db8:10:1::/64"}, {"site", "Redmond"}, {"location", "lab6"}});
    w.put(K("wap"), Json{{"bssid", "00-1A-2B-3C-4D-5E"}, {"location", "atrium"}});
    w.put(K("switch"), Json{{"chassis_id", "00-25-90-AA-00-01"}, {"location", "closet"}});
    w.put(K("port"), Json{{"chassis_id", "00-25-90-AA-00-01"}, {"port_id", "Gi1/0/7"}, {"location", "desk"}});
    w.commit();
    snap = Snapshot::build(*store);
  }
};

std::string request(const std::string& device = "", const std::string& types = "civic", const std::string& exact = "false") {
  std::string r = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<locationRequest xmlns=\"urn:ietf:params:xml:ns:geopriv:held\">\n"
                  "  <locationType exact=\"" + exact + "\">" + types + "</locationType>\n";
  if (!device.empty())
    r += "  <device xmlns=\"urn:ietf:params:xml:ns:geopriv:held:id\" xmlns:e=\"urn:e911ctl:params:xml:ns:held:id\">" + device + "</device>\n";
  return r + "</locationRequest>\n";
}

// The error code of a HELD error document, or "" when `body` is not one.
std::string error_code(const std::string& body) {
  const auto at = body.find("<error xmlns=\"urn:ietf:params:xml:ns:geopriv:held\" code=\"");
  if (at == std::string::npos) return "";
  const auto start = body.find("code=\"", at) + 6;
  return body.substr(start, body.find('"', start) - start);
}

std::string loc_of(const std::string& body) {
  const auto at = body.find("<ca:LOC>");
  if (at == std::string::npos) return "";
  return body.substr(at + 8, body.find('<', at + 8) - at - 8);
}

}  // namespace

TEST_CASE("held parser reads location types and device identifiers") {
  const HeldParse p = parse_held_request(request(
      "<ip v=\"6\">::ffff:10.1.12.5</ip><mac>00:1a:2b:3c:4d:99</mac><e:bssid>00-1A-2B-3C-4D-5E</e:bssid>"
      "<e:chassis>00-25-90-AA-00-01</e:chassis><e:port>Gi1/0/7</e:port><nai>someone@example.net</nai>",
      "\n  civic\tgeodetic \n", "true"));
  REQUIRE(p.error.empty());
  CHECK(p.request.location_types == std::vector<std::string>{"civic", "geodetic"});
  CHECK(p.request.exact);
  CHECK(p.request.ip == "10.1.12.5");  // IPv4-mapped, as the snapshot matches it
  CHECK(p.request.mac == "00:1a:2b:3c:4d:99");
  CHECK(p.request.bssid == "00-1A-2B-3C-4D-5E");
  CHECK(p.request.chassis == "00-25-90-AA-00-01");
  CHECK(p.request.port == "Gi1/0/7");

  // The least request: no type (any), no device; unknown elements and attributes are ignored.
  const HeldParse bare = parse_held_request("<locationRequest xmlns='urn:ietf:params:xml:ns:geopriv:held' responseTime='emergencyRouting'>"
                                            "<x:future xmlns:x='urn:example'/></locationRequest>");
  REQUIRE(bare.error.empty());
  CHECK(bare.request.location_types.empty());
  CHECK_FALSE(bare.request.exact);
  // Identifiers in a namespace other than RFC 6155's or ours are not ours.
  const HeldParse foreign = parse_held_request(request("<x:bssid xmlns:x='urn:example'>zz</x:bssid>"));
  REQUIRE(foreign.error.empty());
  CHECK(foreign.request.bssid.empty());
}

TEST_CASE("held parser refuses DOCTYPEs, entities and malformed XML before reading them") {
  const std::string laughs =
      "<?xml version=\"1.0\"?><!DOCTYPE lolz [<!ENTITY lol \"lol\"><!ENTITY lol2 \"&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;\">]>"
      "<locationRequest xmlns=\"urn:ietf:params:xml:ns:geopriv:held\"><locationType>&lol2;</locationType></locationRequest>";
  for (const std::string& body : {laughs,
                                  std::string("<!DOCTYPE r SYSTEM \"file:///etc/passwd\"><locationRequest xmlns=\"urn:ietf:params:xml:ns:geopriv:held\"/>"),
                                  std::string("<locationRequest xmlns=\"urn:ietf:params:xml:ns:geopriv:held\"><!ENTITY x \"y\"></locationRequest>"),
                                  std::string("<locationRequest xmlns=\"urn:ietf:params:xml:ns:geopriv:held\">&x;</locationRequest>"),
                                  std::string("<locationRequest xmlns=\"urn:ietf:params:xml:ns:geopriv:held\"><locationType>civic</locationRequest>"),
                                  std::string("<locationRequest xmlns=\"urn:ietf:params:xml:ns:geopriv:held\"><p:x/></locationRequest>"),
                                  std::string("not xml"), std::string(""), std::string(" \r\n"),
                                  std::string("<locationRequest xmlns=\"urn:ietf:params:xml:ns:geopriv:held\">\xff</locationRequest>"),
                                  std::string(kHeldMaxRequestBytes + 1, ' ')}) {
    INFO(body.substr(0, 120));
    const HeldParse p = parse_held_request(body);
    CHECK(p.error == "xmlError");
    CHECK_FALSE(p.message.empty());
  }
  CHECK(parse_held_request(std::string(kHeldMaxRequestBytes + 1, ' ')).message.find("65536") != std::string::npos);
  CHECK(parse_held_request(laughs).message.find("DOCTYPE") != std::string::npos);
  // Nested deeper than libxml2's limit: refused, never a stack overflow.
  std::string deep = "<locationRequest xmlns=\"urn:ietf:params:xml:ns:geopriv:held\">";
  for (int i = 0; i < 5000; ++i) deep += "<a>";
  for (int i = 0; i < 5000; ++i) deep += "</a>";
  deep += "</locationRequest>";
  CHECK(parse_held_request(deep).error == "xmlError");
}

TEST_CASE("held parser: another document is unsupportedMessage, a bad identifier badIdentifier") {
  CHECK(parse_held_request("<locationRequest><locationType>civic</locationType></locationRequest>").error == "unsupportedMessage");
  CHECK(parse_held_request("<presence xmlns=\"urn:ietf:params:xml:ns:pidf\"/>").error == "unsupportedMessage");
  CHECK(parse_held_request("<locationResponse xmlns=\"urn:ietf:params:xml:ns:geopriv:held\"/>").error == "unsupportedMessage");
  for (const std::string& device : {"<ip>10.1.300.1</ip>", "<ip>host.example</ip>", "<ip></ip>", "<mac>00-1A-2B-3C-4D</mac>",
                                    "<mac>00-1A-2B-3C-4D-5G</mac>", "<e:bssid>00-1A-2B-3C-4D-*</e:bssid>", "<e:bssid>001-A2B-3C4-D5E</e:bssid>",
                                    "<e:port>Gi1/0/7</e:port>", "<e:chassis></e:chassis>", "<e:chassis>a&#9;b</e:chassis>"}) {
    INFO(device);
    const HeldParse p = parse_held_request(request(device));
    CHECK(p.error == "badIdentifier");
    CHECK_FALSE(p.message.empty());
  }
  CHECK(parse_held_request(request("<e:bssid>001A2B3C4D5E</e:bssid>")).error.empty());
}

TEST_CASE("held answers in the LIS's precedence with the PIDF-LO an emergency call would carry") {
  Lis lis;
  const Snapshot& s = *lis.snap;
  const auto ask = [&](const std::string& device, const std::string& peer = "127.0.0.1") {
    return answer_held(&s, request(device), peer, "2026-05-01T10:00:00Z", true);
  };
  // By the peer address: the longest prefix.
  auto a = ask("", "10.1.12.9");
  CHECK(a.outcome == LocationOutcome::found_subnet);
  CHECK(loc_of(a.body) == "Room 12");
  CHECK(ask("", "::ffff:10.1.3.3").outcome == LocationOutcome::found_subnet);
  CHECK(loc_of(ask("", "2001:db8:10:1::9").body) == "Lab");
  // An <ip> stands for the peer address.
  CHECK(loc_of(ask("<ip>10.1.3.3</ip>", "10.1.12.9").body) == "Floor 1");
  // Access point, then port, then switch, then subnet.
  const std::string all = "<e:bssid>00:1a:2b:3c:4d:5e</e:bssid><e:chassis>00-25-90-AA-00-01</e:chassis><e:port>Gi1/0/7</e:port>";
  a = ask(all, "10.1.12.9");
  CHECK(a.outcome == LocationOutcome::found_wap);
  CHECK(loc_of(a.body) == "Atrium");
  CHECK(a.body.find("<gp:method>802.11</gp:method>") != std::string::npos);
  a = ask("<e:bssid>00-1A-2B-3C-FF-FF</e:bssid><e:chassis>00-25-90-AA-00-01</e:chassis><e:port>Gi1/0/7</e:port>", "10.1.12.9");
  CHECK(a.outcome == LocationOutcome::found_port);
  CHECK(loc_of(a.body) == "Desk 7");
  a = ask("<e:chassis>00-25-90-aa-00-01</e:chassis><e:port>Gi9/9</e:port>", "10.1.12.9");
  CHECK(a.outcome == LocationOutcome::found_chassis);
  CHECK(loc_of(a.body) == "Closet");
  CHECK(a.body.find("<gp:method>Wiremap</gp:method>") != std::string::npos);

  // The same place as routing::locate_element finds for a call, in build_pidf's document.
  routing::CallFacts f;
  f.chassis_id = "00-25-90-aa-00-01";
  const auto at = routing::locate_element(s, f, s.match_subnet("10.1.12.9"));
  const std::string pidf = sip::build_pidf(s.location(at.location), "", at.method, "", "", "", "2026-05-01T10:00:00Z");
  const std::string presence = pidf.substr(pidf.find('\n') + 1);
  CHECK(a.body == "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<locationResponse xmlns=\"urn:ietf:params:xml:ns:geopriv:held\">\n" + presence +
                      "</locationResponse>\n");

  // Nothing places the device: a subnet without a location does not.
  a = ask("", "10.9.1.1");
  CHECK(a.outcome == LocationOutcome::not_locatable);
  CHECK(error_code(a.body) == "notLocatable");
  CHECK(error_code(ask("<mac>00-1A-2B-3C-4D-5E</mac>", "192.0.2.1").body) == "notLocatable");
  CHECK(error_code(ask("", "").body) == "notLocatable");

  // Location types: civic only; exact asks for what it names or nothing.
  CHECK(error_code(answer_held(&s, request("", "geodetic", "true"), "10.1.3.3", "", true).body) == "cannotProvideLiType");
  CHECK(answer_held(&s, request("", "geodetic", "true"), "10.1.3.3", "", true).outcome == LocationOutcome::cannot_provide_li_type);
  CHECK(answer_held(&s, request("", "geodetic locationURI", "false"), "10.1.3.3", "", true).outcome == LocationOutcome::found_subnet);
  CHECK(answer_held(&s, request("", "geodetic civic", "true"), "10.1.3.3", "", true).outcome == LocationOutcome::found_subnet);
  CHECK(answer_held(&s, request("", "any", "true"), "10.1.3.3", "", true).outcome == LocationOutcome::found_subnet);

  // A client that may not name devices: located by its own address only, whatever it names, and
  // the refusal is the answer for a device nowhere.
  const auto untrusted = [&](const std::string& device, const std::string& peer) {
    return answer_held(&s, request(device), peer, "2026-05-01T10:00:00Z", false);
  };
  for (const std::string& device : {all, std::string("<e:bssid>00:1a:2b:3c:4d:5e</e:bssid>"), std::string("<e:chassis>00-25-90-aa-00-01</e:chassis>"),
                                    std::string("<ip>10.1.3.3</ip>")}) {
    INFO(device);
    a = untrusted(device, "10.1.12.9");
    CHECK(a.outcome == LocationOutcome::identifier_refused);
    CHECK(error_code(a.body) == "notLocatable");
    CHECK(a.body.find("Atrium") == std::string::npos);
  }
  CHECK(loc_of(untrusted("", "10.1.12.9").body) == "Room 12");
  CHECK(loc_of(untrusted("<ip>10.1.12.9</ip>", "10.1.12.9").body) == "Room 12");  // its own address
  CHECK(loc_of(untrusted("<ip>10.1.12.9</ip>", "::ffff:10.1.12.9").body) == "Room 12");
  CHECK(untrusted("<mac>00-1A-2B-3C-4D-5E</mac>", "10.1.12.9").outcome == LocationOutcome::found_subnet);  // a MAC locates nothing

  // No snapshot in service; a bad request before anything else.
  a = answer_held(nullptr, request(), "10.1.3.3", "", true);
  CHECK(a.outcome == LocationOutcome::lis_error);
  CHECK(error_code(a.body) == "generalLisError");
  a = answer_held(&s, "<!DOCTYPE x><x/>", "10.1.3.3", "", true);
  CHECK(a.outcome == LocationOutcome::bad_request);
  CHECK(error_code(a.body) == "xmlError");
  // The message is escaped: what the client sent cannot break out of the error document.
  a = answer_held(&s, "<x xmlns=\"urn:a&amp;b\"/>", "", "", true);
  CHECK(error_code(a.body) == "unsupportedMessage");
  CHECK(a.body.find("namespace 'urn:a&amp;") != std::string::npos);
  CHECK(a.body.find("answers &lt;locationRequest xmlns=&quot;") != std::string::npos);
}

TEST_CASE("held server answers over HTTP and counts by outcome") {
  Lis lis;
  SnapshotSlot slot(lis.snap);
  Metrics metrics;
  std::vector<std::string> refused_log;
  HeldAccess access{{*parse_cidr("127.0.0.0/8")}, [&](const std::string& client, std::uint64_t n) { refused_log.push_back(client + " " + std::to_string(n)); }};
  HeldServer server("127.0.0.1", 0, slot, &metrics, access);
  REQUIRE(server.port() > 0);
  httplib::Client client("127.0.0.1", server.port());
  client.set_connection_timeout(5);
  client.set_read_timeout(5);

  auto r = client.Post("/held", request("<e:bssid>00-1A-2B-3C-4D-5E</e:bssid>"), "application/held+xml");
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(r->get_header_value("Content-Type") == "application/held+xml;charset=utf-8");
  CHECK(r->get_header_value("Cache-Control") == "no-store");
  CHECK(loc_of(r->body) == "Atrium");
  // The peer address is 127.0.0.1, on no subnet; a header naming another address changes nothing.
  httplib::Headers forged = {{"X-Forwarded-For", "10.1.12.9"}, {"X-Real-IP", "10.1.12.9"}};
  r = client.Post("/", forged, request(), "application/xml; charset=utf-8");
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(error_code(r->body) == "notLocatable");
  r = client.Post("/held", "<!DOCTYPE a [<!ENTITY b SYSTEM \"http://192.0.2.1/\">]><a>&b;</a>", "application/held+xml");
  REQUIRE(r);
  CHECK(error_code(r->body) == "xmlError");

  r = client.Get("/held");
  REQUIRE(r);
  CHECK(r->status == 405);
  CHECK(r->get_header_value("Allow") == "POST");
  r = client.Post("/held", request(), "text/plain");
  REQUIRE(r);
  CHECK(r->status == 415);
  r = client.Post("/other", request(), "application/held+xml");
  REQUIRE(r);
  CHECK(r->status == 404);
  r = client.Post("/held", std::string(kHeldMaxRequestBytes + 10, ' '), "application/held+xml");
  REQUIRE(r);
  CHECK(r->status == 413);

  // A reload is seen by the next request: no snapshot, no location.
  slot.replace(nullptr);
  r = client.Post("/held", request("<e:bssid>00-1A-2B-3C-4D-5E</e:bssid>"), "application/held+xml");
  REQUIRE(r);
  CHECK(error_code(r->body) == "generalLisError");

  const std::string text = metrics.prometheus();
  const auto value = [&](const std::string& labels) {
    const std::string key = "e911_runtime_location_requests_total{" + labels + "} ";
    const auto at = text.find(key);
    return at == std::string::npos ? std::string("missing") : text.substr(at + key.size(), text.find('\n', at) - at - key.size());
  };
  CHECK(value("outcome=\"found\",source=\"wap\"") == "1");
  CHECK(value("outcome=\"found\",source=\"subnet\"") == "0");
  CHECK(value("outcome=\"notLocatable\"") == "1");
  CHECK(value("outcome=\"badRequest\"") == "5");
  CHECK(value("outcome=\"generalLisError\"") == "1");
  server.stop();
  CHECK(refused_log.empty());

  // Without the trusted list: 127.0.0.1 naming an access point is refused, counted, logged once
  // for a burst.
  slot.replace(lis.snap);
  HeldServer strict("127.0.0.1", 0, slot, &metrics, {{}, [&](const std::string& client, std::uint64_t n) { refused_log.push_back(client + " " + std::to_string(n)); }});
  httplib::Client other("127.0.0.1", strict.port());
  for (int i = 0; i < 3; ++i) {
    r = other.Post("/held", request("<e:bssid>00-1A-2B-3C-4D-5E</e:bssid>"), "application/held+xml");
    REQUIRE(r);
    CHECK(error_code(r->body) == "notLocatable");
  }
  CHECK(refused_log == std::vector<std::string>{"127.0.0.1 1"});
  CHECK(metrics.prometheus().find("e911_runtime_location_requests_total{outcome=\"identifierRefused\"} 3\n") != std::string::npos);
  server.stop();
}

TEST_CASE("held server refuses a name for its address") {
  SnapshotSlot slot;
  try {
    HeldServer server("lis.contoso.example", 0, slot, nullptr);
    FAIL("a host name was taken");
  } catch (const Error& e) {
    CHECK(e.kind == ErrorKind::usage);
    CHECK(std::string(e.what()).find("'lis.contoso.example' is not an IP address") != std::string::npos);
  }
}

TEST_CASE("serve settings: location_service") {
  TempDb t;
  const std::string path = t.file("serve.yaml");
  CHECK(default_serve_config().location_service.empty());
  CHECK(default_serve_config().origin.at("location_service") == "default");
  std::ofstream(path) << "location_service: '[::1]:8080'\n";
  const ServeConfig c = load_serve_config(path);
  CHECK(c.location_service == "[::1]:8080");
  CHECK(c.origin.at("location_service") == path + ":1:19");
  CHECK(parse_location_service_address("[::1]:8080").endpoint() == "[::1]:8080");
  std::ofstream(path) << "location_service: 127.0.0.1\n";
  try {
    load_serve_config(path);
    FAIL("an address without a port was taken");
  } catch (const DiagnosticError& e) {
    REQUIRE(e.diagnostics.size() == 1);
    CHECK(e.diagnostics[0].code == "E100");
    CHECK(e.diagnostics[0].message.find("location service address '127.0.0.1': no port") != std::string::npos);
  }
}
