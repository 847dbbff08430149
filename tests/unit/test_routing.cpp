#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>

#include "e911/error.hpp"
#include "e911/routing.hpp"
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
                          {"emergency_dial_string", "911"}, {"notification_uris", {"sip:exec@contoso.example"}}});
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

TEST_CASE("a caller's own PIDF-LO wins and a manual one is screened") {
  Fixture fx;
  auto f = call("sip:alice@contoso.example", "911");
  f.source_ip = "10.1.12.7";
  f.pidf = "<presence><gp:method>Manual</gp:method></presence>";
  const auto d = decide(*fx.snap, f);
  CHECK(d.location_source == LocationSource::caller_pidf);
  CHECK(d.method == "Manual");
  CHECK(d.ecrc_screening);
  CHECK_FALSE(d.location);
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
