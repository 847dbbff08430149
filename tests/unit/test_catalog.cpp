#include <SQLiteCpp/SQLiteCpp.h>

#include <catch2/catch.hpp>
#include <regex>
#include <set>

#include "e911/catalog.hpp"
#include "e911/schema_check.hpp"
#include "helpers.hpp"

using namespace e911;

TEST_CASE("every kind of the domain is defined by a schema") {
  std::set<std::string> nouns;
  for (const auto& k : kinds()) nouns.insert(k.noun);
  CHECK(nouns == std::set<std::string>{"policy", "region", "site", "subnet", "location", "wap", "switch", "port", "usage", "route",
                                       "trunk", "dialplan", "user", "voicepolicy", "runtime"});
  CHECK(find_kind("Location") == find_kind("location"));
  CHECK(find_kind("nope") == nullptr);
}

TEST_CASE("every schema field has a column in the store, and no column lacks a field") {
  TempDb t;
  auto store = Store::open(t.path, true);
  for (const auto& k : kinds()) {
    std::set<std::string> columns, fields;
    SQLite::Statement st(store->db(), "SELECT name FROM pragma_table_info('" + k.table + "')");
    while (st.executeStep()) columns.insert(st.getColumn(0).getString());
    for (const auto& c : {"row_id", "key", "rev_added", "rev_removed"}) CHECK(columns.erase(c) == 1);
    for (const auto& f : k.fields) fields.insert(f.name);
    INFO(k.noun);
    CHECK(columns == fields);
  }
}

TEST_CASE("composite keys join their parts") {
  const Kind& port = kind_by_noun("port");
  CHECK(port.key_of(Json{{"chassis_id", "00-25-90-AA-00-01"}, {"port_id", "Gi1/0/1"}}) == "00-25-90-AA-00-01|Gi1/0/1");
  CHECK(port.key_of(Json{{"chassis_id", "x"}}).empty());
  CHECK(Kind::display_key("a|b") == "a b");
}

TEST_CASE("normalize fills defaults and drops empty values") {
  const Kind& policy = kind_by_noun("policy");
  const Json n = normalize(policy, Json{{"identity", "global"}, {"notification_uris", Json::array()}, {"disclaimer", nullptr}});
  CHECK(n["location_refresh_interval"] == 4);
  CHECK(n["enhanced_emergency_services"] == false);
  CHECK_FALSE(n.contains("notification_uris"));
  CHECK_FALSE(n.contains("disclaimer"));
}

TEST_CASE("schema checks: lengths, patterns, enums, formats, ranges") {
  const Json& loc = kind_by_noun("location").schema;
  CHECK(check_schema(loc, Json{{"kind", "Location"}, {"id", "a"}, {"state", "WA"}, {"country", "US"}}).empty());
  auto v = check_schema(loc, Json{{"kind", "Location"}, {"id", "a"}, {"state", "Washington"}});
  REQUIRE(v.size() == 1);
  CHECK(v[0].pointer == "/state");
  CHECK(v[0].message == "'Washington' is 10 characters, more than the 2 allowed");
  v = check_schema(loc, Json{{"kind", "Location"}, {"id", "a"}, {"country", "us"}, {"latitude", 91}, {"bogus", 1}});
  CHECK(v.size() == 3);
  const Json& pol = kind_by_noun("policy").schema;
  v = check_schema(pol, Json{{"kind", "LocationPolicy"}, {"identity", "global"}, {"conference_mode", "three-way"},
                             {"emergency_dial_string", "+911"}, {"location_refresh_interval", 13},
                             {"notification_uris", {"sip:a@b", "mailto:x@y"}}});
  CHECK(v.size() == 4);
}

TEST_CASE("formats of network identifiers") {
  CHECK(is_cidr("10.1.2.0/24"));
  CHECK(is_cidr("2001:db8::/48"));
  CHECK_FALSE(is_cidr("10.1.2.0"));
  CHECK_FALSE(is_cidr("10.1.2.0/33"));
  CHECK_FALSE(is_cidr("300.1.2.0/24"));
  CHECK(is_bssid("00-1A-2B-3C-4D-5E"));
  CHECK(is_bssid("00:1a:2b:3c:4d:5e"));
  CHECK(is_bssid("00-1A-2B-3C-4D-5*"));
  CHECK(is_bssid("00-1A-2B-3C-4D-*"));
  CHECK_FALSE(is_bssid("00-1A-2B-3C-4*-5E"));
  CHECK_FALSE(is_bssid("00-1A-2B-3C-4D"));
  CHECK_FALSE(is_bssid("00-1A:2B-3C-4D-5E"));
  CHECK(is_sip_uri("sip:desk@contoso.example"));
  CHECK(is_sip_uri("sip:+14255550100@contoso.example;user=phone"));
  CHECK_FALSE(is_sip_uri("tel:+14255550100"));
  CHECK_FALSE(is_sip_uri("sip:"));
}

TEST_CASE("patterns checked without std::regex mean what std::regex says", "[schema]") {
  // Every pattern of the object schemas, plus shapes the fast matcher must take or refuse.
  std::vector<std::string> patterns = {"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$", "^[A-Z]{2}$", "^\\+?[0-9]{10,15}$", "^[0-9]{1,10}$",
                                       "^[0-9]{1,10}(;[0-9]{1,10})*$", "^[A-Za-z0-9.:\\[\\]-]+$", "^tel:\\+?[0-9]{3,15}(;ext=[0-9]{1,10})?$",
                                       "^a*a*b$", "^[^x]{2,}$", "^\\d{3}.\\d?$", "^(global|site:x)$", "^[-a]+$", "^[a-]?z$"};
  for (const auto& k : kinds())
    for (const auto& f : k.fields)
      if (f.schema->contains("pattern")) patterns.push_back((*f.schema)["pattern"].get<std::string>());
  const std::vector<std::string> texts = {"",        "a",  "A",        "ab", "US",     "us",   "USA",        "+14255550100", "14255550100", "123",
                                          "loc-1",   "-x", "loc_1.a:b", "a b", "[::1]", "1234567890", "12345678901", "tel:+1425", "tel:+1425;ext=12",
                                          "aab",     "b",  "aaxb",     "yy", "x",      "123.4", "123.", "123", "global", "site:x", "a-a", "-z", "z",
                                          std::string(64, 'a'), std::string(65, 'a'), "é", "a\nb"};
  for (const auto& p : patterns) {
    const Json schema = {{"type", "string"}, {"pattern", p}};
    const CompiledSchema compiled(schema);
    const std::regex re(p, std::regex::ECMAScript);
    for (const auto& t : texts) {
      INFO("pattern " << p << " text '" << t << "'");
      CHECK(compiled.check_text(t).empty() == std::regex_search(t, re));
    }
  }
}
