#include <catch2/catch.hpp>
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>

#include "e911/error.hpp"
#include "e911/pattern.hpp"
#include "e911/routing.hpp"
#include "e911/sip_build.hpp"
#include "helpers.hpp"

using namespace e911;
using namespace e911::routing;

namespace {

const Kind& K(const char* noun) { return kind_by_noun(noun); }

Json loc(const std::string& id, const std::string& room, const std::string& status = "valid") {
  return {{"id", id}, {"location", room}, {"house_number", "1"}, {"street_name", "Main"}, {"city", "Redmond"},
          {"state", "WA"}, {"country", "US"}, {"validation_status", status}, {"elins", id == "elin-room" ? Json{"4255550123"} : Json::array()}};
}

// A deployment with every way of locating a caller and two policies.
void deployment(Writer& w) {
  w.put(K("usage"), Json{{"name", "Emergency"}});
  w.put(K("trunk"), Json{{"name", "primary"}, {"host", "127.0.0.1"}, {"accepts_pidf_lo", true}, {"request_uri_form", "plus"}});
  w.put(K("trunk"), Json{{"name", "backup"}, {"host", "127.0.0.1"}, {"port", 5071}, {"accepts_pidf_lo", true}, {"request_uri_form", "sos-urn"}});
  w.put(K("trunk"), Json{{"name", "pstn"}, {"host", "127.0.0.1"}, {"port", 5072}, {"strip_plus", true}});
  w.put(K("route"), Json{{"name", "provider"}, {"number_pattern", "^\\+?911$"}, {"pstn_usages", {"Emergency"}}, {"trunks", {"primary", "backup"}}});
  w.put(K("route"), Json{{"name", "fallback"}, {"number_pattern", "^\\+?911$"}, {"priority", 10}, {"pstn_usages", {"Emergency"}}, {"trunks", {"pstn"}}});
  for (const auto& l : {loc("floor1", "Floor 1"), loc("room12", "Room 12"), loc("switch-room", "Closet"), loc("lobby", "Lobby"),
                        loc("wifi", "Atrium"), loc("v6", "Lab", "unvalidated"), loc("elin-room", "ELIN room")})
    w.put(K("location"), l);
  w.put(K("policy"), Json{{"identity", "global"}, {"enhanced_emergency_services", true}, {"pstn_usage", "Emergency"}, {"emergency_dial_string", "911"},
                          {"emergency_dial_mask", "9911;112"}, {"notification_uris", {"sip:desk@contoso.example"}}});
  w.put(K("policy"), Json{{"identity", "site:Redmond"}, {"enhanced_emergency_services", true}, {"pstn_usage", "Emergency"},
                          {"emergency_dial_string", "911"}, {"notification_uris", {"sip:redmond@contoso.example"}},
                          {"conference_uri", "sip:+14255550199@contoso.example"}, {"conference_mode", "two-way"}, {"default_location", "lobby"}});
  w.put(K("policy"), Json{{"identity", "Executives"}, {"enhanced_emergency_services", true}, {"pstn_usage", "Emergency"},
                          {"emergency_dial_string", "911"}, {"notification_uris", {"sip:exec@contoso.example"}}, {"test_number", "9933"},
                          {"test_call_answer", "provider"}});
  w.put(K("site"), Json{{"name", "Redmond"}, {"location_policy", "site:Redmond"}});
  w.put(K("site"), Json{{"name", "Austin"}});
  w.put(K("subnet"), Json{{"subnet", "10.1.0.0/16"}, {"site", "Redmond"}, {"location", "floor1"}});
  w.put(K("subnet"), Json{{"subnet", "10.1.12.0/24"}, {"site", "Redmond"}, {"location", "room12"}});
  w.put(K("subnet"), Json{{"subnet", "10.9.0.0/16"}, {"site", "Redmond"}});
  w.put(K("subnet"), Json{{"subnet", "10.2.0.0/16"}, {"site", "Austin"}, {"location", "elin-room"}});
  w.put(K("subnet"), Json{{"subnet", "2001:db8:10:1::/64"}, {"site", "Austin"}, {"location", "v6"}});
  w.put(K("wap"), Json{{"bssid", "00-1A-2B-3C-4D-5E"}, {"location", "wifi"}});
  w.put(K("wap"), Json{{"bssid", "00-1A-2B-3C-4E-*"}, {"location", "wifi"}});
  w.put(K("switch"), Json{{"chassis_id", "00-25-90-AA-00-01"}, {"location", "switch-room"}});
  w.put(K("port"), Json{{"chassis_id", "00-25-90-AA-00-01"}, {"port_id", "Gi1/0/12"}, {"location", "room12"}});
  w.put(K("user"), Json{{"sip_uri", "sip:alice@contoso.example"}, {"display_name", "Alice"}, {"line_uri", "tel:+14255550101"}});
  w.put(K("user"), Json{{"sip_uri", "sip:carol@contoso.example"}, {"display_name", "Carol"}, {"line_uri", "tel:+14255550103"},
                        {"location_policy", "Executives"}});
  w.put(K("dialplan"), Json{{"name", "global"}, {"rules", {{{"pattern", "^(\\d{10})$"}, {"translation", "+1$1"}}}}});
}

struct Fixture {
  TempDb t;
  std::unique_ptr<Store> store;
  std::shared_ptr<const Snapshot> snap;
  Fixture() {
    store = Store::open(t.path, true);
    Writer w(*store, "test");
    deployment(w);
    w.commit();
    snap = Snapshot::build(*store);
  }
};

CallFacts call(const std::string& from, const std::string& dial) {
  CallFacts f;
  f.caller = from;
  f.dialled = dial;
  return f;
}

}  // namespace

TEST_CASE("locating a caller follows the LIS precedence: BSSID, port, chassis, subnet") {
  Fixture fx;
  auto f = call("sip:alice@contoso.example", "911");
  f.source_ip = "10.1.12.7";
  f.chassis_id = "00:25:90:aa:00:01";
  f.port_id = "gi1/0/12";
  f.bssid = "00:1a:2b:3c:4d:5e";
  auto d = decide(*fx.snap, f);
  CHECK(d.location_source == LocationSource::wap);
  CHECK(d.location->id == "wifi");
  CHECK(d.approximate);
  f.bssid.clear();
  d = decide(*fx.snap, f);
  CHECK(d.location_source == LocationSource::port);
  f.port_id = "Gi1/0/99";
  d = decide(*fx.snap, f);
  CHECK(d.location_source == LocationSource::chassis);
  CHECK(d.location->id == "switch-room");
  f.chassis_id.clear();
  d = decide(*fx.snap, f);
  CHECK(d.location_source == LocationSource::subnet);
  CHECK(d.location->id == "room12");  // longest prefix wins over 10.1.0.0/16
  f.source_ip = "10.1.200.1";
  CHECK(decide(*fx.snap, f).location->id == "floor1");
  f.source_ip.clear();
  f.bssid = "00-1A-2B-3C-4E-77";  // the wildcard access point
  CHECK(decide(*fx.snap, f).location->id == "wifi");
}

TEST_CASE("IPv6 subnets and unvalidated addresses go to ECRC screening") {
  Fixture fx;
  auto f = call("sip:alice@contoso.example", "911");
  f.source_ip = "2001:db8:10:1::42";
  const auto d = decide(*fx.snap, f);
  REQUIRE(d.location);
  CHECK(d.location->id == "v6");
  CHECK(d.ecrc_screening);
  CHECK(d.site == "Austin");
}

TEST_CASE("which policy applies: the site's overrides the user's, then the user's, then global") {
  Fixture fx;
  auto f = call("sip:carol@contoso.example", "911");
  f.source_ip = "10.1.12.7";
  auto d = decide(*fx.snap, f);
  CHECK(d.policy == "site:Redmond");
  CHECK(std::vector<std::string>(d.notify.begin(), d.notify.end()) == std::vector<std::string>{"sip:redmond@contoso.example"});
  CHECK(d.conference_uri == "sip:+14255550199@contoso.example");
  f.source_ip = "10.2.0.9";  // Austin has no site policy
  CHECK(decide(*fx.snap, f).policy == "Executives");
  f.caller = "sip:alice@contoso.example";
  CHECK(decide(*fx.snap, f).policy == "global");
  f.caller = "sip:stranger@example.net";
  CHECK(decide(*fx.snap, f).policy == "global");
}

TEST_CASE("emergency calls are recognised by dial string, mask, URN, tel URI and Priority") {
  Fixture fx;
  for (const char* dial : {"911", "9911", "112", "tel:911", "sip:911@contoso.example;user=dialstring", "urn:service:sos", "urn:service:sos.fire", "+911"}) {
    INFO(dial);
    const auto d = decide(*fx.snap, call("sip:alice@contoso.example", dial));
    CHECK(d.emergency);
    CHECK(d.emergency_number == "911");
    CHECK(d.routable);
  }
  auto f = call("sip:alice@contoso.example", "4255550100");
  auto d = decide(*fx.snap, f);
  CHECK_FALSE(d.emergency);
  CHECK(d.normalized == "+14255550100");  // the dial plan
  f.priority_emergency = true;
  CHECK(decide(*fx.snap, f).emergency);
  d = decide(*fx.snap, call("sip:alice@contoso.example", "urn:service:test.sos"));
  CHECK(d.test_call);
  CHECK_FALSE(d.emergency);
}

TEST_CASE("an escaped character in the dialled user part is the character (RFC 3261 19.1.4)") {
  Fixture fx;
  for (const char* dial : {"sip:%39%31%31@contoso.example;user=phone", "sip:9%311@contoso.example", "tel:%39%311", "urn:service:%73os",
                           "urn:service:sos%2Efire"}) {
    INFO(dial);
    const auto d = decide(*fx.snap, call("sip:alice@contoso.example", dial));
    CHECK(d.emergency);
    CHECK(d.routable);
  }
  // An escaped ';' is part of the user, not a parameter; a stray '%' stays a '%'.
  CHECK(decide(*fx.snap, call("sip:alice@contoso.example", "sip:91%3B1@contoso.example")).emergency);
  CHECK_FALSE(decide(*fx.snap, call("sip:alice@contoso.example", "sip:9%1@contoso.example")).emergency);
  CHECK_FALSE(decide(*fx.snap, call("sip:alice@contoso.example", "sip:%33%39%33%31%33%31@contoso.example")).emergency);
  CHECK(decide(*fx.snap, call("sip:alice@contoso.example", "urn:service:test%2esos")).test_call);
}

TEST_CASE("test calls: the policy's test number; the runtime answers, or the provider's test line") {
  Fixture fx;
  // Global: 933 (unset), answered by the runtime: a test, never routed.
  auto d = decide(*fx.snap, call("sip:alice@contoso.example", "933"));
  CHECK(d.test_call);
  CHECK_FALSE(d.test_line);
  CHECK_FALSE(d.emergency);
  CHECK_FALSE(d.routable);
  // Executives: 9933, the provider's test line: routed as 911 would be, carrying the test
  // number (or the test URN to a trunk that wants a URN), located, and nobody told.
  auto f = call("sip:carol@contoso.example", "9933");
  f.source_ip = "10.2.0.7";  // Austin: no site policy, so carol's own applies
  d = decide(*fx.snap, f);
  CHECK(d.policy == "Executives");
  CHECK(d.test_call);
  CHECK(d.test_line);
  CHECK_FALSE(d.emergency);
  REQUIRE(d.routable);
  REQUIRE(d.attempts.size() == 3);
  CHECK(d.attempts[0].request_uri == "+9933");
  CHECK(d.attempts[1].request_uri == "urn:service:test.sos");
  CHECK(d.attempts[2].request_uri == "9933");
  REQUIRE(d.location);
  CHECK(d.location.id() == "elin-room");
  CHECK(d.callback == "+14255550103");
  CHECK_FALSE(d.notifies());
  f.dialled = "urn:service:test.sos";
  d = decide(*fx.snap, f);
  REQUIRE(d.attempts.size() == 3);
  CHECK(d.attempts[0].request_uri == "urn:service:test.sos");
  // 933 is not carol's test number: an ordinary call.
  f.dialled = "933";
  CHECK_FALSE(decide(*fx.snap, f).test_call);
}

TEST_CASE("routes in priority order, each trunk in the form it wants, down trunks last") {
  Fixture fx;
  auto f = call("sip:alice@contoso.example", "911");
  auto d = decide(*fx.snap, f);
  REQUIRE(d.attempts.size() == 3);
  CHECK(d.attempts[0].trunk == "primary");
  CHECK(d.attempts[0].request_uri == "+911");
  CHECK(d.attempts[1].trunk == "backup");
  CHECK(d.attempts[1].request_uri == "urn:service:sos");
  CHECK(d.attempts[2].trunk == "pstn");
  CHECK(d.attempts[2].request_uri == "911");
  f.trunks_down = {"primary"};
  d = decide(*fx.snap, f);
  REQUIRE(d.attempts.size() == 3);  // never dropped
  CHECK(d.attempts[0].trunk == "backup");
  CHECK(d.attempts[2].trunk == "primary");
  CHECK(d.attempts[2].trunk_down);
}

TEST_CASE("no location: the default location, then none; both screened by the ECRC") {
  Fixture fx;
  auto f = call("sip:alice@contoso.example", "911");
  f.source_ip = "10.9.1.1";  // Redmond subnet without a location
  auto d = decide(*fx.snap, f);
  CHECK(d.location_source == LocationSource::default_location);
  CHECK(d.method == "Default");
  CHECK(d.location->id == "lobby");
  CHECK(d.ecrc_screening);
  f.source_ip = "192.0.2.1";
  d = decide(*fx.snap, f);
  CHECK(d.location_source == LocationSource::none);
  CHECK(d.ecrc_screening);
  CHECK(d.routable);  // a call without a location is still routed
}

namespace {
const std::string kCallerPidf =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<presence xmlns=\"urn:ietf:params:xml:ns:pidf\" "
    "xmlns:gp=\"urn:ietf:params:xml:ns:pidf:geopriv10\" entity=\"pres:alice@contoso.example\"><tuple id=\"t\"><status><gp:geopriv>"
    "<gp:location-info/><gp:method>Manual</gp:method></gp:geopriv></status></tuple></presence>\n";
}  // namespace

TEST_CASE("a caller's own PIDF-LO wins and a manual one is screened") {
  Fixture fx;
  auto f = call("sip:alice@contoso.example", "911");
  f.source_ip = "10.1.12.7";
  f.pidf = kCallerPidf;
  const auto d = decide(*fx.snap, f);
  CHECK(d.location_source == LocationSource::caller_pidf);
  CHECK(d.method == "Manual");
  CHECK(d.ecrc_screening);
  CHECK_FALSE(d.location);
  CHECK(d.caller_pidf_fault.empty());
  CHECK_FALSE(d.to_json().contains("caller_pidf_refused"));
}

TEST_CASE("a caller's PIDF-LO that fails the checks gives way to the LIS; without one it goes as it is, unless it declares markup") {
  Fixture fx;
  // Issue 24 item 8: each of these went to the provider as the caller's location.
  const std::vector<std::pair<std::string, std::string>> broken = {
      {"Building 4, floor 2, by the lifts", "is not well-formed XML"},                      // plain text
      {"<presence xmlns=\"urn:ietf:params:xml:ns:pidf\"><tuple>", "is not well-formed XML"},  // not well-formed
      {"<presence xmlns=\"urn:ietf:params:xml:ns:pidf\">caf\xE9</presence>", "is not UTF-8 at byte"},
      {"<presence xmlns=\"urn:example:not-pidf\"/>", "is not a PIDF document"},
      {"<presence><gp:method>Manual</gp:method></presence>", "is not namespace-well-formed"},
  };
  for (const auto& [pidf, why] : broken) {
    INFO(pidf);
    auto f = call("sip:alice@contoso.example", "911");
    f.source_ip = "10.1.12.7";  // the LIS: subnet 10.1.12.0/24, room12
    f.pidf = pidf;
    auto d = decide(*fx.snap, f, true);
    CHECK(d.location_source == LocationSource::subnet);
    REQUIRE(d.location);
    CHECK(d.location->id == "room12");
    CHECK(d.method == "Wiremap");
    CHECK(d.caller_pidf_fault.rfind("the caller's PIDF-LO ", 0) == 0);
    CHECK(d.caller_pidf_fault.find(why) != std::string::npos);
    CHECK(d.to_json()["caller_pidf_refused"] == d.caller_pidf_fault);
    const auto set_aside = std::find_if(d.trace.begin(), d.trace.end(), [](const TraceStep& t) { return t.outcome == "the caller's PIDF-LO set aside"; });
    REQUIRE(set_aside != d.trace.end());
    CHECK(set_aside->why.find("the LIS's location instead") != std::string::npos);
    // The INVITE carries the LIS's location, not the caller's bytes.
    const std::string invite = sip::build_invite(*fx.snap, d, f, "c@x", "t");
    CHECK(invite.find(pidf) == std::string::npos);
    CHECK(invite.find("<ca:LOC>Room 12</ca:LOC>") != std::string::npos);

    // Nothing locates the caller (no subnet, no default location): some location beats none.
    f.source_ip = "192.0.2.1";
    d = decide(*fx.snap, f, true);
    CHECK(d.location_source == LocationSource::caller_pidf);
    CHECK_FALSE(d.location);
    CHECK(d.ecrc_screening);
    CHECK(d.caller_pidf_fault.find(why) != std::string::npos);
    CHECK(std::any_of(d.trace.begin(), d.trace.end(), [](const TraceStep& t) { return t.outcome == "the caller's PIDF-LO, as it is"; }));
    CHECK(sip::build_invite(*fx.snap, d, f, "c@x", "t").find(pidf) != std::string::npos);
  }
  // A DOCTYPE never goes on: the LIS's location, else the default location, else none.
  const std::string xxe = "<!DOCTYPE presence [<!ENTITY x SYSTEM \"file:///etc/passwd\">]><presence xmlns=\"urn:ietf:params:xml:ns:pidf\">&x;</presence>";
  auto f = call("sip:alice@contoso.example", "911");
  f.pidf = xxe;
  f.source_ip = "10.1.12.7";
  auto d = decide(*fx.snap, f);
  CHECK(d.location_source == LocationSource::subnet);
  CHECK(d.caller_pidf_fault.find("has a DOCTYPE") != std::string::npos);
  f.source_ip = "10.9.1.1";  // Redmond, no subnet location: the policy's default
  d = decide(*fx.snap, f);
  CHECK(d.location_source == LocationSource::default_location);
  f.source_ip = "192.0.2.1";
  d = decide(*fx.snap, f);
  CHECK(d.location_source == LocationSource::none);
  CHECK_FALSE(d.location);
  const std::string invite = sip::build_invite(*fx.snap, d, f, "c@x", "t");
  CHECK(invite.find("DOCTYPE") == std::string::npos);
  CHECK(invite.find("application/pidf+xml") == std::string::npos);
  // Ordinary calls are not located: their PIDF-LO is not judged.
  f.dialled = "+14255550100";
  CHECK(decide(*fx.snap, f).caller_pidf_fault.empty());
}

TEST_CASE("callback: the user's DID, or an ELIN when the trunk takes no PIDF-LO") {
  Fixture fx;
  auto f = call("sip:alice@contoso.example", "911");
  CHECK(decide(*fx.snap, f).callback == "+14255550101");
  f.source_ip = "10.2.0.5";
  f.trunks_down = {"primary", "backup"};
  const auto d = decide(*fx.snap, f);
  CHECK(d.attempts.front().trunk == "pstn");
  CHECK(d.elin_mode);
  CHECK(d.callback == "4255550123");
}

TEST_CASE("an emergency call that no route serves is unroutable, with the reason") {
  TempDb t;
  auto s = Store::open(t.path, true);
  {
    Writer w(*s, "test");
    w.put(K("usage"), Json{{"name", "Emergency"}});
    w.put(K("policy"), Json{{"identity", "global"}, {"enhanced_emergency_services", true}, {"pstn_usage", "Emergency"}, {"emergency_dial_string", "911"}});
    w.commit();
  }
  const auto d = decide(*Snapshot::build(*s), call("sip:a@b", "911"));
  CHECK(d.emergency);
  CHECK_FALSE(d.routable);
  CHECK(d.failure.find("no enabled route serves usage 'Emergency'") != std::string::npos);
}

TEST_CASE("the trace is the same decision, only explained") {
  Fixture fx;
  auto f = call("sip:carol@contoso.example", "911");
  f.source_ip = "10.1.12.7";
  const auto a = decide(*fx.snap, f, true), b = decide(*fx.snap, f, false);
  CHECK(b.trace.empty());
  CHECK(a.trace.size() >= 5);
  CHECK(decision_summary(a) == decision_summary(b));
}

TEST_CASE("a saved snapshot loads back to the same decisions; damage is refused") {
  Fixture fx;
  const std::string path = fx.t.file("snap.e911");
  fx.snap->save(path);
  const auto back = Snapshot::load(path);
  CHECK(back->revision() == fx.snap->revision());
  CHECK(back->checksum() == fx.snap->checksum());
  const auto calls = simulated_calls(*fx.snap);
  REQUIRE(calls.size() > 10);
  for (const auto& c : calls) CHECK(decision_summary(decide(*fx.snap, c.facts)) == decision_summary(decide(*back, c.facts)));
  CHECK(route_changes(*fx.snap, *back).empty());

  // Truncated.
  const auto size = std::filesystem::file_size(path);
  std::filesystem::copy_file(path, fx.t.file("short"));
  std::filesystem::resize_file(fx.t.file("short"), size - 10);
  CHECK_THROWS_WITH(Snapshot::load(fx.t.file("short")), Catch::Contains("is truncated"));
  // One byte flipped.
  std::filesystem::copy_file(path, fx.t.file("bad"));
  {
    std::fstream f(fx.t.file("bad"), std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(size / 2));
    f.put('\x7f');
  }
  CHECK_THROWS_WITH(Snapshot::load(fx.t.file("bad")), Catch::Contains("checksum does not match"));
  std::ofstream(fx.t.file("junk")) << "hello";
  CHECK_THROWS_WITH(Snapshot::load(fx.t.file("junk")), Catch::Contains("is not an e911ctl snapshot"));
}

TEST_CASE("route changes between revisions name the callers whose decision changes") {
  Fixture fx;
  {
    Writer w(*fx.store, "test");
    w.put(K("policy"), Json{{"identity", "site:Redmond"}, {"enhanced_emergency_services", true}, {"pstn_usage", "Emergency"},
                            {"emergency_dial_string", "911"}, {"notification_uris", {"sip:new-desk@contoso.example"}}, {"default_location", "lobby"}});
    w.commit();
  }
  const auto after = Snapshot::build(*fx.store);
  const auto changes = route_changes(*fx.snap, *after);
  REQUIRE_FALSE(changes.empty());
  for (const auto& c : changes) {
    CHECK(c.policy == "site:Redmond");
    CHECK(c.after.find("new-desk") != std::string::npos);
  }
  // The old revision can still be compiled.
  CHECK(route_changes(*Snapshot::build(*fx.store, fx.snap->revision()), *fx.snap).empty());
}

TEST_CASE("a snapshot built for one call decides exactly as the full snapshot") {
  Fixture fx;
  std::vector<CallFacts> callers;
  for (const auto& c : simulated_calls(*fx.snap)) callers.push_back(c.facts);
  // Identifiers written differently from how they were stored still match.
  CallFacts odd = call("sip:alice@contoso.example", "911");
  odd.bssid = "00:1a:2b:3c:4e:99";
  odd.chassis_id = "00:25:90:aa:00:01";
  odd.port_id = "gi1/0/12";
  callers.push_back(odd);
  odd.bssid.clear();
  callers.push_back(odd);
  CallFacts v6 = call("sip:carol@contoso.example", "911");
  v6.source_ip = "2001:db8:10:1::42";
  callers.push_back(v6);
  for (const auto& f : callers) {
    const auto one = Snapshot::build_for_call(*fx.store, f.source_ip, f.bssid, f.chassis_id, f.port_id);
    INFO(f.source_ip << " " << f.bssid << " " << f.chassis_id << " " << f.port_id << " " << f.assume_policy);
    CHECK(decision_summary(decide(*one, f)) == decision_summary(decide(*fx.snap, f)));
    CHECK(one->element_count() <= 3);
  }
}

TEST_CASE("a decision keeps its snapshot: it stays readable after every other owner lets go", "[routing]") {
  Fixture fx;
  auto f = call("sip:alice@contoso.example", "911");
  f.source_ip = "10.1.12.7";
  f.trunks_down = {"primary"};
  Decision d = decide(*fx.snap, f, false);
  const std::string summary = decision_summary(d);
  std::weak_ptr<const Snapshot> watch = fx.snap;
  fx.snap.reset();  // a hot reload drops the old snapshot while calls on it are still running
  REQUIRE_FALSE(watch.expired());
  CHECK(d.policy == "site:Redmond");
  CHECK(d.location.id() == "room12");
  CHECK(d.location->room.empty());
  CHECK(d.location->location == "Room 12");
  CHECK(d.attempts.front().trunk == "backup");
  CHECK(d.attempts.back().trunk == "primary");
  CHECK(std::vector<std::string>(d.notify.begin(), d.notify.end()) == std::vector<std::string>{"sip:redmond@contoso.example"});
  const Decision copy = d;
  d = Decision();  // the copy alone keeps it now
  REQUIRE_FALSE(watch.expired());
  CHECK(decision_summary(copy) == summary);
  CHECK(copy.to_json()["location"]["location"] == "Room 12");
}

namespace {

// The deployment plus ordinary-call routing: usages Local and LongDistance, a route per usage,
// and voice policies at every scope.
struct VoiceFixture : Fixture {
  VoiceFixture() {
    Writer w(*store, "test");
    w.put(K("usage"), Json{{"name", "Local"}});
    w.put(K("usage"), Json{{"name", "LongDistance"}});
    w.put(K("usage"), Json{{"name", "International"}});
    w.put(K("trunk"), Json{{"name", "carrier"}, {"host", "127.0.0.1"}, {"port", 5073}, {"request_uri_form", "plus"}});
    // The national route has the better priority, but Local comes first in the voice policies.
    w.put(K("route"), Json{{"name", "national"}, {"number_pattern", "^\\+1\\d{10}$"}, {"priority", 1}, {"pstn_usages", {"LongDistance"}},
                           {"trunks", {"carrier", "pstn"}}});
    w.put(K("route"), Json{{"name", "local"}, {"number_pattern", "^\\+1425\\d{7}$"}, {"priority", 50}, {"pstn_usages", {"Local"}}, {"trunks", {"pstn"}}});
    w.put(K("route"), Json{{"name", "local-preferred"}, {"number_pattern", "^\\+1425555\\d{4}$"}, {"priority", 20}, {"pstn_usages", {"Local"}},
                           {"trunks", {"carrier"}}});
    w.put(K("route"), Json{{"name", "local-off"}, {"number_pattern", "^\\+1425\\d{7}$"}, {"priority", 0}, {"pstn_usages", {"Local"}},
                           {"trunks", {"primary"}}, {"enabled", false}});
    w.put(K("route"), Json{{"name", "international"}, {"number_pattern", "^\\+[2-9]\\d{6,14}$"}, {"priority", 5},
                           {"pstn_usages", {"International"}}, {"trunks", {"carrier"}}});
    w.put(K("voicepolicy"), Json{{"identity", "global"}, {"pstn_usages", {"Local", "LongDistance"}}});
    w.put(K("voicepolicy"), Json{{"identity", "site:Austin"}, {"pstn_usages", {"LongDistance", "Local"}}});
    w.put(K("voicepolicy"), Json{{"identity", "Travellers"}, {"pstn_usages", {"Local", "LongDistance", "International"}}});
    w.put(K("user"), Json{{"sip_uri", "sip:carol@contoso.example"}, {"display_name", "Carol"}, {"line_uri", "tel:+14255550103"},
                          {"location_policy", "Executives"}, {"voice_policy", "Travellers"}});
    w.commit();
    snap = Snapshot::build(*store);
  }
};

std::vector<std::string> routes_of(const Decision& d) {
  std::vector<std::string> out;
  for (const auto& a : d.attempts) out.push_back(std::string(a.route) + "/" + std::string(a.trunk));
  return out;
}

}  // namespace

TEST_CASE("an ordinary call routes by its voice policy: usages in order, within a usage by priority") {
  VoiceFixture fx;
  auto f = call("sip:alice@contoso.example", "4255550100");  // the dial plan makes it +14255550100
  auto d = decide(*fx.snap, f);
  CHECK_FALSE(d.emergency);
  CHECK(std::string(d.call_type()) == "ordinary");
  CHECK(d.normalized == "+14255550100");
  CHECK(d.voice_policy == "global");
  CHECK(d.usage == "Local");
  REQUIRE(d.routable);
  // Local before LongDistance although 'national' has the best priority; within Local, priority
  // 20 before 50; the disabled route never; a trunk already listed is not tried twice.
  CHECK(routes_of(d) == std::vector<std::string>{"local-preferred/carrier", "local/pstn"});
  CHECK(d.attempts[0].request_uri == "+14255550100");
  CHECK(d.attempts[1].request_uri == "14255550100");  // the gateway strips the plus
  // No location, no notification for an ordinary call.
  CHECK_FALSE(d.location);
  CHECK(d.location_source == LocationSource::none);
  CHECK(d.notify.empty());
  // Outside the local area only LongDistance matches.
  d = decide(*fx.snap, call("sip:alice@contoso.example", "3035550100"));
  CHECK(d.usage == "LongDistance");
  CHECK(routes_of(d) == std::vector<std::string>{"national/carrier", "national/pstn"});
  // A number no route of the policy's usages matches is not routed, and says why.
  d = decide(*fx.snap, call("sip:alice@contoso.example", "+442071234567"));
  CHECK_FALSE(d.routable);
  CHECK(d.usage.empty());
  CHECK(d.failure == "no enabled route with a trunk serving usage 'Local', 'LongDistance' of voice policy 'global' matches '+442071234567'");
}

TEST_CASE("which voice policy applies: the user's tag, else the site's, else global") {
  VoiceFixture fx;
  auto f = call("sip:alice@contoso.example", "+14255550100");
  f.source_ip = "10.2.0.9";  // Austin has a voice policy
  auto d = decide(*fx.snap, f);
  CHECK(d.voice_policy == "site:Austin");
  CHECK(d.usage == "LongDistance");  // site:Austin names LongDistance first
  CHECK(routes_of(d) == std::vector<std::string>{"national/carrier", "national/pstn"});
  f.source_ip = "10.1.12.7";  // Redmond has none
  CHECK(decide(*fx.snap, f).voice_policy == "global");
  // A granted tag wins over the site, unlike a location policy.
  f.caller = "sip:carol@contoso.example";
  f.source_ip = "10.2.0.9";
  d = decide(*fx.snap, f);
  CHECK(d.policy == "Executives");
  CHECK(d.voice_policy == "Travellers");
  f.dialled = "+442071234567";
  d = decide(*fx.snap, f);
  CHECK(d.usage == "International");
  CHECK(routes_of(d) == std::vector<std::string>{"international/carrier"});
  // Unknown callers get the site's, else global.
  f.caller = "sip:stranger@example.net";
  f.dialled = "+14255550100";
  CHECK(decide(*fx.snap, f).voice_policy == "site:Austin");
  f.source_ip.clear();
  CHECK(decide(*fx.snap, f).voice_policy == "global");
}

TEST_CASE("an ordinary call's trace names the voice policy, the usage and the route") {
  VoiceFixture fx;
  auto f = call("sip:carol@contoso.example", "4255550100");
  f.trunks_down = {"carrier"};
  const auto d = decide(*fx.snap, f);
  CHECK(routes_of(d) == std::vector<std::string>{"local/pstn", "local-preferred/carrier"});
  CHECK(d.usage == "Local");  // the usage of the route tried first
  std::map<std::string, TraceStep> steps;
  for (const auto& s : d.trace) steps[s.step] = s;
  CHECK(steps["classify"].outcome == "ordinary call");
  CHECK(steps["voice policy"].outcome == "Travellers");
  CHECK(steps["voice policy"].why == "granted to user 'sip:carol@contoso.example'");
  CHECK(steps["route"].outcome == "local via pstn");
  CHECK(steps["route"].why.find("voice policy 'Travellers' usage 'Local'") != std::string::npos);
  CHECK_FALSE(steps.count("locate"));
  CHECK_FALSE(steps.count("notify"));
  const Json j = d.to_json();
  CHECK(j["call_type"] == "ordinary");
  CHECK(j["voice_policy"] == "Travellers");
  CHECK(j["pstn_usage"] == "Local");
  // Without the trace, the same decision.
  CHECK(routes_of(decide(*fx.snap, f, false)) == routes_of(d));
}

TEST_CASE("emergency calls ignore voice policies") {
  VoiceFixture fx;
  Fixture plain;
  for (const char* who : {"sip:alice@contoso.example", "sip:carol@contoso.example"})
    for (const char* ip : {"10.1.12.7", "10.2.0.9", ""}) {
      auto f = call(who, "911");
      f.source_ip = ip;
      INFO(who << " " << ip);
      const auto d = decide(*fx.snap, f);
      CHECK(std::string(d.call_type()) == "emergency");
      CHECK(d.voice_policy.empty());
      CHECK(d.usage == "Emergency");
      CHECK(decision_summary(d) == decision_summary(decide(*plain.snap, f)));
      CHECK_FALSE(d.to_json().contains("voice_policy"));
    }
}

TEST_CASE("an ordinary call under the default global voice policy, which has no usage, is not routed") {
  Fixture fx;  // only the global voice policy every store starts with
  const auto d = decide(*fx.snap, call("sip:alice@contoso.example", "4255550100"));
  CHECK_FALSE(d.emergency);
  CHECK_FALSE(d.routable);
  CHECK(d.voice_policy == "global");
  CHECK(d.failure == "no enabled route with a trunk serving a usage of voice policy 'global' matches '+14255550100'");
}

TEST_CASE("voice policies survive a saved snapshot and a snapshot built for one call") {
  VoiceFixture fx;
  const std::string path = fx.t.file("voice.e911");
  fx.snap->save(path);
  const auto back = Snapshot::load(path);
  for (const char* who : {"sip:alice@contoso.example", "sip:carol@contoso.example"})
    for (const char* ip : {"10.1.12.7", "10.2.0.9"})
      for (const char* dial : {"4255550100", "3035550100", "+442071234567", "911"}) {
        auto f = call(who, dial);
        f.source_ip = ip;
        INFO(who << " " << ip << " " << dial);
        const auto d = decide(*fx.snap, f);
        const auto one = Snapshot::build_for_call(*fx.store, f.source_ip, "", "", "");
        for (const auto& other : {decide(*back, f), decide(*one, f)}) {
          CHECK(other.voice_policy == d.voice_policy);
          CHECK(other.usage == d.usage);
          CHECK(routes_of(other) == routes_of(d));
        }
      }
}

TEST_CASE("patterns run in linear time: a pattern that makes a backtracking matcher take seconds decides at once") {
  VoiceFixture fx;
  {
    Writer w(*fx.store, "test");
    w.put(K("route"), Json{{"name", "nested"}, {"number_pattern", "^(\\d+)+5$"}, {"pstn_usages", {"International"}}, {"trunks", {"carrier"}}});
    w.commit();
  }
  const auto snap = Snapshot::build(*fx.store);
  // 30 digits that do not end in 5: std::regex tried 2^30 ways of splitting them per route.
  const auto f = call("sip:carol@contoso.example", std::string(30, '1'));
  for (int i = 0; i < 1000; ++i) {
    const auto d = decide(*snap, f);
    REQUIRE_FALSE(d.routable);
  }
  const auto d = decide(*snap, call("sip:carol@contoso.example", std::string(29, '1') + "5"));
  REQUIRE(d.routable);
  CHECK(routes_of(d) == std::vector<std::string>{"nested/carrier"});
}

TEST_CASE("Lync translations: $1 and ${1} are groups, $$ a dollar, the first match replaced") {
  auto apply = [](const char* pattern, const char* translation, const char* number) {
    const DialRule r(pattern, translation);
    REQUIRE(r.ok());
    return r.apply(number).value_or("(no match)");
  };
  CHECK(apply("^(\\d{4})$", "+1425555$1", "1234") == "+14255551234");
  CHECK(apply("^(\\d{3})(\\d{4})$", "+1425$1$2", "5551234") == "+14255551234");
  CHECK(apply("^(\\d{4})$", "${1}0", "1234") == "12340");
  CHECK(apply("^(\\d{4})$", "$$1", "1234") == "$1");
  CHECK(apply("^\\d{4}$", "+1$&", "1234") == "+11234");
  CHECK(apply("^(\\d{4})$", "a\\b$1", "1234") == "a\\b1234");
  // A group the pattern does not have, or a $ before something else, is text, as in .NET.
  CHECK(apply("^(\\d{4})$", "$2$10$x$", "1234") == "$2$10$x$");
  // Matched as a whole, replaced at the first match: a rule without anchors behaves as before.
  CHECK(apply("\\d{4}", "+1$0", "1234") == "+11234");
  CHECK(apply("[0-9]{2,3}", "x", "12345") == "(no match)");
  CHECK(apply("(12|1)(2*)", "<$1|$2>", "122") == "<12|2>");
}

TEST_CASE("patterns that need backtracking are refused, with what to write instead") {
  const Pattern lookahead("^9(?!11$)(\\d+)$");
  CHECK_FALSE(lookahead.ok());
  CHECK_FALSE(lookahead.search("9123"));
  CHECK(lookahead.error() == "invalid perl operator: (?!");
  CHECK(lookahead.hint().find("no lookahead or lookbehind") != std::string::npos);
  CHECK(lookahead.hint().find("^9([2-9]\\d{6,})$") != std::string::npos);
  CHECK(Pattern("(?<=9)11$").hint().find("no lookahead or lookbehind") != std::string::npos);
  const Pattern backreference("^(\\d)\\1$");
  CHECK_FALSE(backreference.ok());
  CHECK(backreference.hint().find("no backreferences") != std::string::npos);
  CHECK(Pattern("^(911$").error() == "missing ): ^(911$");
  CHECK(Pattern("^(?<n>\\d+)$").hint() == "write a named group as (?P<name>...)");
  // A rule whose pattern is refused matches nothing, and says why.
  const DialRule rule("^9(?!11$)(\\d+)$", "$1");
  CHECK_FALSE(rule.ok());
  CHECK_FALSE(rule.translation_error());
  CHECK_FALSE(rule.apply("9123"));
}

TEST_CASE("no pattern and no number overflows the stack") {
  // 100,000 nested groups and a 300 KB pattern: RE2 parses and matches without recursion.
  const Pattern nested(std::string(100000, '(') + "\\d" + std::string(100000, ')'));
  if (nested.ok()) CHECK(nested.search("5"));
  else CHECK(nested.hint() == "write a shorter pattern");
  std::string long_pattern = "^";
  for (int i = 0; i < 30000; ++i) long_pattern += "(?:1|2)+;";
  const Pattern wide(long_pattern);
  if (wide.ok()) CHECK_FALSE(wide.full_match(std::string(300000, '1')));
  else CHECK(wide.hint() == "write a shorter pattern");
  const Pattern list("^[0-9]{1,10}(;[0-9]{1,10})*$");
  std::string mask = "1";
  while (mask.size() < 100000) mask += ";911";
  CHECK(list.full_match(mask));
  CHECK_FALSE(list.full_match(mask + ";"));
}

TEST_CASE("webhook and e-mail targets reach the decision, its trace and a saved snapshot") {
  Fixture fx;
  {
    Writer w(*fx.store, "test");
    auto p = *w.get(K("policy"), "global");
    p["notification_webhooks"] = {"https://alerts.contoso.example/e911", "http://127.0.0.1:8080/hook"};
    p["notification_emails"] = {"security@contoso.example"};
    w.put(K("policy"), p);
    w.commit();
  }
  const auto snap = Snapshot::build(*fx.store);
  const auto* rec = snap->policy("global");
  REQUIRE(rec);
  CHECK(rec->notify == std::vector<std::string>{"sip:desk@contoso.example"});
  CHECK(rec->webhooks == std::vector<std::string>{"https://alerts.contoso.example/e911", "http://127.0.0.1:8080/hook"});
  CHECK(rec->emails == std::vector<std::string>{"security@contoso.example"});

  const std::string path = fx.t.file("notify.e911");
  snap->save(path);
  const auto back = Snapshot::load(path);
  REQUIRE(back->policy("global"));
  CHECK(back->policy("global")->webhooks == rec->webhooks);
  CHECK(back->policy("global")->emails == rec->emails);

  auto f = call("sip:bob@contoso.example", "911");
  f.source_ip = "10.2.0.9";  // Austin: no site policy, so global
  const auto d = decide(*back, f);
  CHECK(d.policy == "global");
  CHECK(d.notifies());
  CHECK(std::vector<std::string>(d.webhooks.begin(), d.webhooks.end()) == rec->webhooks);
  CHECK(std::vector<std::string>(d.emails.begin(), d.emails.end()) == rec->emails);
  std::string outcome;
  for (const auto& t : d.trace)
    if (t.step == "notify") outcome = t.outcome;
  CHECK(outcome == "sip:desk@contoso.example, webhook https://alerts.contoso.example/e911, webhook http://127.0.0.1:8080/hook, "
                   "e-mail security@contoso.example");
  const Json j = d.to_json();
  CHECK(j["notify_webhooks"] == Json(rec->webhooks));
  CHECK(j["notify_emails"] == Json{"security@contoso.example"});
  // A change of webhook alone is a change of decision an operator sees before publishing.
  CHECK(decision_summary(d).find("webhook https://alerts.contoso.example/e911") != std::string::npos);
}

TEST_CASE("an INVITE over max_message gives up the caller's PIDF-LO for the LIS's location, else goes without one") {
  // Issue 24 item 4: with a caller's PIDF-LO of 64,700 bytes the provider's INVITE was over
  // max_message and every provider trunk was skipped.
  Fixture fx;
  auto f = call("sip:alice@contoso.example", "911");
  f.source_ip = "10.1.12.7";
  const std::string tail = "</presence>\n";
  f.pidf = kCallerPidf.substr(0, kCallerPidf.size() - tail.size()) + "<note>";
  f.pidf += std::string(64700 - f.pidf.size() - 7 - tail.size(), 'x') + "</note>" + tail;
  REQUIRE(f.pidf.size() == 64700);
  auto d = decide(*fx.snap, f);
  REQUIRE(d.location_source == LocationSource::caller_pidf);
  sip::InviteContext c;
  const sip::TrunkInvite as_is = sip::build_trunk_invite(*fx.snap, d, f, c);
  CHECK(as_is.text.size() > 65536);
  CHECK(as_is.degraded.empty());
  c.max_message = 65536;
  sip::TrunkInvite inv = sip::build_trunk_invite(*fx.snap, d, f, c);
  CHECK(inv.text.size() <= 65536);
  CHECK(inv.with_pidf);
  CHECK(inv.text.find("<ca:LOC>Room 12</ca:LOC>") != std::string::npos);
  CHECK(inv.text.find("xxxxxxxx") == std::string::npos);
  CHECK(inv.degraded.rfind("with the caller's PIDF-LO (64700 bytes) the INVITE would be " + std::to_string(as_is.text.size()) + " bytes, over the 65536", 0) == 0);
  CHECK(inv.degraded.find("sent with the LIS's location instead (subnet location 'room12')") != std::string::npos);
  // Nothing locates the caller: the INVITE goes without a location.
  f.source_ip = "192.0.2.1";
  d = decide(*fx.snap, f);
  inv = sip::build_trunk_invite(*fx.snap, d, f, c);
  CHECK(inv.text.size() <= 65536);
  CHECK_FALSE(inv.with_pidf);
  CHECK(inv.text.find("Geolocation") == std::string::npos);
  CHECK(inv.text.find("Content-Type: application/sdp") != std::string::npos);
  CHECK(inv.degraded.find("sent without a location, the LIS having none for the caller") != std::string::npos);
  // Within the limit, the INVITE is as decided.
  c.max_message = as_is.text.size();
  f.source_ip = "10.1.12.7";
  d = decide(*fx.snap, f);
  inv = sip::build_trunk_invite(*fx.snap, d, f, c);
  CHECK(inv.text == as_is.text);
  CHECK(inv.degraded.empty());
}
