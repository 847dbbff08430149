#include <algorithm>
#include <SQLiteCpp/SQLiteCpp.h>

#include <catch2/catch.hpp>
#include <set>

#include "e911/schema_check.hpp"
#include "e911/validate.hpp"
#include "helpers.hpp"

using namespace e911;

namespace {

const Kind& K(const char* noun) { return kind_by_noun(noun); }

// A small deployment that passes every rule: the baseline each test breaks in one way.
void baseline(Writer& w) {
  w.put(K("usage"), Json{{"name", "Emergency"}});
  w.put(K("trunk"), Json{{"name", "primary"}, {"host", "127.0.0.1"}, {"accepts_pidf_lo", true}});
  w.put(K("trunk"), Json{{"name", "backup"}, {"host", "127.0.0.1"}, {"port", 5071}, {"accepts_pidf_lo", true}});
  w.put(K("route"), Json{{"name", "emergency"}, {"number_pattern", "^\\+?911$"}, {"pstn_usages", {"Emergency"}}, {"trunks", {"primary", "backup"}}});
  w.put(K("location"), Json{{"id", "b1"}, {"location", "B1 Floor 1"}, {"house_number", "1"}, {"street_name", "Main"}, {"city", "Redmond"},
                            {"state", "WA"}, {"country", "US"}, {"validation_status", "valid"}});
  w.put(K("policy"), Json{{"identity", "global"}, {"enhanced_emergency_services", true}, {"pstn_usage", "Emergency"},
                          {"emergency_dial_string", "911"}, {"notification_uris", {"sip:desk@contoso.example"}}});
  w.put(K("site"), Json{{"name", "Redmond"}});
  w.put(K("subnet"), Json{{"subnet", "10.1.0.0/16"}, {"site", "Redmond"}, {"location", "b1"}});
}

std::set<std::string> codes(const std::vector<Diagnostic>& d) {
  std::set<std::string> s;
  for (const auto& x : d) s.insert(x.code);
  return s;
}

// Runs the baseline plus `change` in a transaction that is never committed, and validates it.
std::vector<Diagnostic> check(const std::function<void(Writer&)>& change) {
  TempDb t;
  auto s = Store::open(t.path, true);
  Writer w(*s, "test");
  baseline(w);
  change(w);
  return validate_store(*s);
}

Json with(const Kind& k, Json base, const Json& patch) {
  (void)k;
  for (const auto& [key, v] : patch.items()) base[key] = v;
  return base;
}

Json policy(const Json& patch) {
  return with(K("policy"), Json{{"identity", "global"}, {"enhanced_emergency_services", true}, {"pstn_usage", "Emergency"},
                                {"emergency_dial_string", "911"}, {"notification_uris", {"sip:desk@contoso.example"}}},
              patch);
}

}  // namespace

TEST_CASE("the baseline deployment passes every rule") {
  const auto d = check([](Writer&) {});
  CHECK(d.empty());
}

TEST_CASE("every rule is documented with an example and a fix") {
  for (const auto& r : rules()) {
    INFO(r.code);
    CHECK((r.code[0] == 'E' || r.code[0] == 'W'));
    CHECK_FALSE(r.title.empty());
    CHECK_FALSE(r.example.empty());
    CHECK_FALSE(r.fix.empty());
  }
  CHECK(find_rule("e301") == find_rule("E301"));
}

TEST_CASE("field limits found in the store") {
  // Values that bypassed the schema (written by hand into the store) are still caught.
  TempDb t;
  auto s = Store::open(t.path, true);
  {
    Writer w(*s, "test");
    baseline(w);
    w.commit();
  }
  s->db().exec("UPDATE location SET state = 'Washington', country = 'UK' WHERE key = 'b1'");
  s->db().exec("UPDATE location_policy SET emergency_dial_string = '+911', location_refresh_interval = 13 WHERE key = 'global'");
  const auto c = codes(validate_store(*s));
  CHECK(c.count("E104"));
  CHECK(c.count("E101"));
  CHECK(c.count("E103"));
}

TEST_CASE("E105 country must be an assigned ISO 3166-1 code") {
  CHECK(codes(check([](Writer& w) { w.put(K("location"), Json{{"id", "x"}, {"country", "UK"}}); })).count("E105"));
  CHECK_FALSE(codes(check([](Writer& w) { w.put(K("location"), Json{{"id", "x"}, {"country", "GB"}}); })).count("E105"));
}

TEST_CASE("E108 subnet given by a host address") {
  CHECK(codes(check([](Writer& w) { w.put(K("subnet"), Json{{"subnet", "10.10.10.150/25"}, {"location", "b1"}}); })).count("E108"));
  CHECK_FALSE(codes(check([](Writer& w) { w.put(K("subnet"), Json{{"subnet", "10.10.10.128/25"}, {"location", "b1"}}); })).count("E108"));
}

TEST_CASE("E201 and E202 references of policies and routes") {
  TempDb t;
  auto s = Store::open(t.path, true);
  Writer w(*s, "test");
  baseline(w);
  s->db().exec("UPDATE location_policy SET pstn_usage = 'Emergncy' WHERE key = 'global'");
  s->db().exec("UPDATE voice_route SET trunks = '[\"nowhere\"]' WHERE key = 'emergency'");
  const auto c = codes(validate_store(*s));
  CHECK(c.count("E201"));
  CHECK(c.count("E202"));
}

TEST_CASE("W205 unused location") {
  CHECK(codes(check([](Writer& w) { w.put(K("location"), Json{{"id", "old"}, {"country", "US"}}); })).count("W205"));
}

TEST_CASE("E301 an emergency number that reaches no route") {
  CHECK(codes(check([](Writer& w) { w.put(K("policy"), policy({{"emergency_dial_string", "112"}})); })).count("E301"));
  CHECK(codes(check([](Writer& w) { w.remove(K("route"), "emergency"); })).count("E301"));
  // A mask is translated to the dial string, so it needs no route of its own.
  CHECK_FALSE(codes(check([](Writer& w) { w.put(K("policy"), policy({{"emergency_dial_mask", "112;999"}})); })).count("E301"));
  // A disabled route does not count.
  CHECK(codes(check([](Writer& w) {
          w.put(K("route"), Json{{"name", "emergency"}, {"number_pattern", "^\\+?911$"}, {"pstn_usages", {"Emergency"}},
                                 {"trunks", {"primary"}}, {"enabled", false}});
        })).count("E301"));
}

TEST_CASE("W302 a pattern that matches only one of 911 and +911") {
  CHECK(codes(check([](Writer& w) {
          w.put(K("route"), Json{{"name", "emergency"}, {"number_pattern", "^911$"}, {"pstn_usages", {"Emergency"}}, {"trunks", {"primary", "backup"}}});
        })).count("W302"));
}

TEST_CASE("E303 the emergency route's first trunk must take PIDF-LO, unless every location has an ELIN") {
  CHECK(codes(check([](Writer& w) {
          w.put(K("trunk"), Json{{"name", "primary"}, {"host", "127.0.0.1"}, {"accepts_pidf_lo", false}});
        })).count("E303"));
  // ELIN gateway mode: a first trunk without PIDF-LO is sound when every location has an ELIN.
  CHECK_FALSE(codes(check([](Writer& w) {
                w.put(K("trunk"), Json{{"name", "primary"}, {"host", "127.0.0.1"}, {"accepts_pidf_lo", false}});
                w.put(K("location"), Json{{"id", "b1"}, {"location", "B1 Floor 1"}, {"house_number", "1"}, {"street_name", "Main"},
                                          {"city", "Redmond"}, {"state", "WA"}, {"country", "US"}, {"validation_status", "valid"},
                                          {"elins", {"+14255550190", "+14255550191"}}});
              })).count("E303"));
  // One location without an ELIN is enough to refuse it, and the message names it.
  const auto d = check([](Writer& w) {
    w.put(K("trunk"), Json{{"name", "primary"}, {"host", "127.0.0.1"}, {"accepts_pidf_lo", false}});
    w.put(K("location"), Json{{"id", "b1"}, {"location", "B1 Floor 1"}, {"house_number", "1"}, {"street_name", "Main"},
                              {"city", "Redmond"}, {"state", "WA"}, {"country", "US"}, {"validation_status", "valid"},
                              {"elins", {"+14255550190"}}});
    w.put(K("location"), Json{{"id", "b2"}, {"location", "B2 Floor 1"}, {"house_number", "2"}, {"street_name", "Main"},
                              {"city", "Redmond"}, {"state", "WA"}, {"country", "US"}, {"validation_status", "valid"}});
  });
  const auto e = std::find_if(d.begin(), d.end(), [](const Diagnostic& x) { return x.code == "E303"; });
  REQUIRE(e != d.end());
  CHECK_THAT(e->message, Catch::Contains("1 location has no ELIN for ELIN mode (e.g. 'b2')"));
}

TEST_CASE("W304 no fallback trunk") {
  CHECK(codes(check([](Writer& w) {
          w.put(K("route"), Json{{"name", "emergency"}, {"number_pattern", "^\\+?911$"}, {"pstn_usages", {"Emergency"}}, {"trunks", {"primary"}}});
        })).count("W304"));
}

TEST_CASE("E401 the same element written two ways") {
  // Two spellings of one BSSID are stored as one object now; E401 remains for ports, whose IDs
  // compare without case, and for networks written with host bits.
  CHECK_FALSE(codes(check([](Writer& w) {
                w.put(K("wap"), Json{{"bssid", "00-1a-2b-3c-4d-5e"}, {"location", "b1"}});
                w.put(K("wap"), Json{{"bssid", "00:1A:2B:3C:4D:5E"}, {"location", "b1"}});
              })).count("E401"));
  CHECK(codes(check([](Writer& w) {
          w.put(K("switch"), Json{{"chassis_id", "00-25-90-AA-00-01"}, {"location", "b1"}});
          w.put(K("port"), Json{{"chassis_id", "00-25-90-AA-00-01"}, {"port_id", "Gi1/0/1"}, {"location", "b1"}});
          w.put(K("port"), Json{{"chassis_id", "00-25-90-AA-00-01"}, {"port_id", "gi1/0/1"}, {"location", "b1"}});
        })).count("E401"));
  CHECK(codes(check([](Writer& w) { w.put(K("subnet"), Json{{"subnet", "10.1.0.0/16"}, {"location", "b1"}}); w.put(K("subnet"), Json{{"subnet", "10.1.0.1/16"}, {"location", "b1"}}); }))
            .count("E401"));
}

TEST_CASE("W403 a subnet nested in another site's subnet") {
  CHECK(codes(check([](Writer& w) {
          w.put(K("site"), Json{{"name", "Lab"}});
          w.put(K("subnet"), Json{{"subnet", "10.1.2.0/24"}, {"site", "Lab"}, {"location", "b1"}});
        })).count("W403"));
}

TEST_CASE("E404 and E405 masks") {
  CHECK(codes(check([](Writer& w) { w.put(K("policy"), policy({{"emergency_dial_mask", "112;112"}})); })).count("E404"));
  CHECK(codes(check([](Writer& w) {
          w.put(K("policy"), Json{{"identity", "Lab"}, {"emergency_dial_string", "112"}, {"emergency_dial_mask", "911"}});
        })).count("E405"));
}

TEST_CASE("E406 a pattern that does not compile") {
  TempDb t;
  auto s = Store::open(t.path, true);
  Writer w(*s, "test");
  baseline(w);
  s->db().exec("UPDATE voice_route SET number_pattern = '^(911$' WHERE key = 'emergency'");
  CHECK(codes(validate_store(*s)).count("E406"));
}

TEST_CASE("E406 patterns that need backtracking: lookahead, lookbehind, backreferences") {
  auto e406 = [](const std::function<void(Writer&)>& change) {
    std::vector<Diagnostic> found;
    for (const auto& d : check(change))
      if (d.code == "E406") found.push_back(d);
    REQUIRE(found.size() == 1);
    return found[0];
  };
  auto d = e406([](Writer& w) {
    w.put(K("route"), Json{{"name", "ahead"}, {"number_pattern", "^\\+?(?!1)911$"}, {"pstn_usages", {"Emergency"}}, {"trunks", {"primary"}}});
  });
  CHECK(d.pointer == "/number_pattern");
  CHECK(d.message == "'^\\+?(?!1)911$' is not a valid regular expression: invalid perl operator: (?!");
  CHECK(d.hint.find("no lookahead or lookbehind") != std::string::npos);
  d = e406([](Writer& w) {
    w.put(K("dialplan"), Json{{"name", "global"}, {"rules", {{{"pattern", "^(\\d)\\1$"}, {"translation", "$1"}}}}});
  });
  CHECK(d.pointer == "/rules/0/pattern");
  CHECK(d.hint.find("no backreferences") != std::string::npos);
  d = e406([](Writer& w) {
    w.put(K("dialplan"), Json{{"name", "global"}, {"rules", {{{"pattern", "^(?<=9)11$"}, {"translation", "$1"}}}}});
  });
  CHECK(d.hint.find("no lookahead or lookbehind") != std::string::npos);
}

TEST_CASE("E501 Kari's Law: a dial rule that eats 911") {
  const auto bad = check([](Writer& w) {
    w.put(K("dialplan"), Json{{"name", "global"}, {"rules", {{{"pattern", "^9(\\d+)$"}, {"translation", "$1"}}}}});
  });
  REQUIRE(codes(bad).count("E501"));
  for (const auto& d : bad)
    if (d.code == "E501") CHECK(d.hint.find("(?!") == std::string::npos);  // RE2 has no lookahead
  // Either fix the hint offers passes: a narrower pattern, or a rule before it that keeps 911.
  CHECK_FALSE(codes(check([](Writer& w) {
                w.put(K("dialplan"), Json{{"name", "global"}, {"rules", {{{"pattern", "^9([2-9]\\d{6,})$"}, {"translation", "$1"}}}}});
              })).count("E501"));
  CHECK_FALSE(codes(check([](Writer& w) {
                w.put(K("dialplan"), Json{{"name", "global"},
                                          {"rules", {{{"pattern", "^911$"}, {"translation", "911"}}, {{"pattern", "^9(\\d+)$"}, {"translation", "$1"}}}}});
              })).count("E501"));
  // The rule that keeps 911 must come first: the first rule that matches is the one that applies.
  CHECK(codes(check([](Writer& w) {
          w.put(K("dialplan"), Json{{"name", "global"},
                                    {"rules", {{{"pattern", "^9(\\d+)$"}, {"translation", "$1"}}, {{"pattern", "^911$"}, {"translation", "911"}}}}});
        })).count("E501"));
}

TEST_CASE("E502 Kari's Law: a policy in use with nobody notified") {
  CHECK(codes(check([](Writer& w) { w.put(K("policy"), policy({{"notification_uris", Json::array()}})); })).count("E502"));
  // A tag policy granted to nobody is not in use.
  CHECK_FALSE(codes(check([](Writer& w) {
                w.put(K("policy"), Json{{"identity", "Lab"}, {"enhanced_emergency_services", true}, {"pstn_usage", "Emergency"},
                                        {"emergency_dial_string", "911"}});
              })).count("E502"));
}

TEST_CASE("E502 is met by a webhook or an e-mail target alone") {
  for (const auto& target : {Json{{"notification_webhooks", {"https://alerts.contoso.example/e911"}}},
                             Json{{"notification_emails", {"security@contoso.example"}}}}) {
    Json patch = target;
    patch["notification_uris"] = Json::array();
    INFO(target.dump());
    CHECK_FALSE(codes(check([&](Writer& w) { w.put(K("policy"), policy(patch)); })).count("E502"));
  }
}

TEST_CASE("E111 and E112 notification webhooks and e-mail targets") {
  const auto policy_with = [](const char* field, const char* value) {
    return codes(check([&](Writer& w) { w.put(K("policy"), policy({{field, {value}}})); }));
  };
  for (const char* ok : {"https://alerts.contoso.example/e911?src=lync", "https://[2001:db8::1]:8443/hook", "http://127.0.0.1:8080/hook",
                         "http://[::1]/hook", "HTTPS://ALERTS.CONTOSO.EXAMPLE"}) {
    INFO(ok);
    CHECK(policy_with("notification_webhooks", ok).empty());
  }
  for (const char* bad : {"http://alerts.contoso.example/e911", "http://10.0.0.1/hook", "ftp://alerts.contoso.example", "alerts.contoso.example/e911",
                          "https://user:secret@alerts.contoso.example/", "https://alerts contoso.example/", "https://:443/", "https://host:99999/",
                          "https://host/#frag", "https://-bad-.example/", "https://[::1/"}) {
    INFO(bad);
    CHECK(policy_with("notification_webhooks", bad) == std::set<std::string>{"E111"});
  }
  for (const char* ok : {"security@contoso.example", "first.last+e911@mail.contoso.example", "root@localhost"}) {
    INFO(ok);
    CHECK(policy_with("notification_emails", ok).empty());
  }
  for (const char* bad : {"mailto:security@contoso.example", "security", "@contoso.example", "security@", ".desk@contoso.example",
                          "a..b@contoso.example", "desk@contoso..example", "desk desk@contoso.example", "desk@-contoso.example"}) {
    INFO(bad);
    CHECK(policy_with("notification_emails", bad) == std::set<std::string>{"E112"});
  }
  // The messages say what is wrong, not only that something is.
  CHECK(url_problem("http://alerts.contoso.example/e911", true).find("use https://") != std::string::npos);
  CHECK(url_problem("https://u:p@alerts.contoso.example/", true).find("user name or password") != std::string::npos);
  // ... and never repeat a credential: the user part is masked.
  CHECK(url_problem("https://bot:pl4nted@alerts.contoso.example/", true) ==
        "'https://***@alerts.contoso.example/' holds a user name or password; the store and the snapshot are no place for secrets");
  CHECK(url_problem("http://t0ken@127.0.0.1:5080", false).find("t0ken") == std::string::npos);
  CHECK(url_problem("https://bot:pl4nted@alerts contoso/", true).find("pl4nted") == std::string::npos);
  CHECK(email_problem("mailto:desk@contoso.example").find("write the address alone: 'desk@contoso.example'") != std::string::npos);
}

TEST_CASE("schema messages never quote a credential") {
  const Json& user = kind_by_noun("user").schema;
  const std::string upper(64, 'A');  // an HA1 in capitals: a real secret, refused by the pattern
  const auto v = check_schema(user, Json{{"kind", "User"}, {"sip_uri", "sip:alice@contoso.example"}, {"ha1_sha256", upper}});
  REQUIRE(v.size() == 1);
  CHECK(v[0].pointer == "/ha1_sha256");
  CHECK(v[0].secret);
  CHECK(v[0].message.find(upper) == std::string::npos);
  CHECK(v[0].message.find("(hidden)") != std::string::npos);
  const auto n = check_schema(user, Json{{"kind", "User"}, {"sip_uri", "sip:alice@contoso.example"}, {"ha1_md5", 42}});
  REQUIRE(n.size() == 1);
  CHECK(n[0].message.find("42") == std::string::npos);
  const Json& policy = kind_by_noun("policy").schema;
  const auto w = check_schema(policy, Json{{"kind", "LocationPolicy"}, {"identity", "global"},
                                          {"notification_webhooks", Json::array({"https://bot:pl4nted@alerts.contoso.example/"})}});
  REQUIRE(w.size() == 1);
  CHECK(w[0].secret);
  CHECK(w[0].message.find("pl4nted") == std::string::npos);
  // Other fields are quoted as always.
  const auto c = check_schema(user, Json{{"kind", "User"}, {"sip_uri", "sip:alice@contoso.example"}, {"display_name", 42}});
  REQUIRE(c.size() == 1);
  CHECK_FALSE(c[0].secret);
  CHECK(c[0].message.find("42") != std::string::npos);
}

TEST_CASE("E113 a runtime's admin URL and token file") {
  const auto runtime_with = [](const Json& patch) {
    Json rt = {{"name", "node1"}, {"url", "http://127.0.0.1:5080"}, {"token_file", "/etc/e911ctl/admin.token"}};
    for (const auto& [k, v] : patch.items()) rt[k] = v;
    return codes(check([&](Writer& w) { w.put(K("runtime"), rt); }));
  };
  CHECK(runtime_with(Json::object()).empty());
  CHECK(runtime_with({{"url", "https://e911-node2.contoso.example:5443/"}}).empty());
  for (const char* bad : {"127.0.0.1:5080", "ftp://127.0.0.1", "http://127.0.0.1:5080/?x=1", "http://127.0.0.1:0", "http://tok@127.0.0.1:5080"}) {
    INFO(bad);
    CHECK(runtime_with({{"url", bad}}) == std::set<std::string>{"E113"});
  }
  // Plain http is fine for the admin API: it is on the loopback address or a management network.
  CHECK(runtime_with({{"url", "http://10.0.0.7:5080"}}).empty());
  CHECK(runtime_with({{"token_file", "admin.token"}}) == std::set<std::string>{"E113"});
  CHECK(absolute_path_problem("admin.token").find("not an absolute path") != std::string::npos);
}

TEST_CASE("E601, E604, W602 and W603: RAY BAUM'S dispatchable location") {
  auto c = codes(check([](Writer& w) {
    w.put(K("location"), Json{{"id", "b1"}, {"house_number", "1"}, {"street_name", "Main"}, {"city", "Redmond"}, {"state", "WA"}, {"country", "US"}});
  }));
  CHECK(c.count("E601"));
  CHECK(c.count("E604"));
  CHECK(c.count("W603"));
  c = codes(check([](Writer& w) {
    w.put(K("location"), Json{{"id", "air"}, {"location", "Atrium"}, {"house_number", "1"}, {"street_name", "Main"}, {"city", "Redmond"},
                              {"state", "WA"}, {"country", "US"}, {"validation_status", "valid"}});
    w.put(K("wap"), Json{{"bssid", "00-1A-2B-3C-4D-5E"}, {"location", "air"}});
  }));
  CHECK(c.count("W602"));
  CHECK_FALSE(c.count("E601"));
}

TEST_CASE("E701 an ELIN on two locations") {
  CHECK(codes(check([](Writer& w) {
          w.put(K("location"), Json{{"id", "e1"}, {"elins", {"4255550100"}}});
          w.put(K("location"), Json{{"id", "e2"}, {"elins", {"4255550100"}}});
        })).count("E701"));
}

TEST_CASE("W305 a voice policy usage that no route serves") {
  const auto local_usage = [](Writer& w) {
    w.put(K("usage"), Json{{"name", "Local"}});
    w.put(K("route"), Json{{"name", "local"}, {"number_pattern", "^\\+1\\d{10}$"}, {"pstn_usages", {"Local"}}, {"trunks", {"backup"}}});
  };
  // Every usage served: nothing to say.
  CHECK(check([&](Writer& w) {
          local_usage(w);
          w.put(K("voicepolicy"), Json{{"identity", "global"}, {"pstn_usages", {"Local"}}});
        }).empty());
  // A usage that exists but no route serves.
  auto d = check([&](Writer& w) {
    local_usage(w);
    w.put(K("usage"), Json{{"name", "International"}});
    w.put(K("voicepolicy"), Json{{"identity", "Travellers"}, {"pstn_usages", {"Local", "International"}}});
  });
  REQUIRE(codes(d) == std::set<std::string>{"W305"});
  CHECK(d[0].subject == "voicepolicy 'Travellers'");
  CHECK(d[0].pointer == "/pstn_usages/1");
  CHECK(d[0].message.find("'International'") != std::string::npos);
  // A disabled route, or one without a trunk, serves nothing.
  CHECK(codes(check([](Writer& w) {
          w.put(K("usage"), Json{{"name", "Local"}});
          w.put(K("route"), Json{{"name", "off"}, {"number_pattern", "^\\+1\\d{10}$"}, {"pstn_usages", {"Local"}}, {"trunks", {"backup"}}, {"enabled", false}});
          w.put(K("route"), Json{{"name", "bare"}, {"number_pattern", "^\\+1\\d{10}$"}, {"pstn_usages", {"Local"}}});
          w.put(K("voicepolicy"), Json{{"identity", "global"}, {"pstn_usages", {"Local"}}});
        })).count("W305"));
  // A usage that does not exist is a broken reference, reported once and not as W305.
  d = check([](Writer& w) { w.put(K("voicepolicy"), Json{{"identity", "global"}, {"pstn_usages", {"Nowhere"}}}); });
  CHECK_FALSE(codes(d).count("W305"));
  REQUIRE(d.size() == 1);
  CHECK(d[0].severity == Severity::error);
  CHECK(d[0].message.find("'Nowhere'") != std::string::npos);
}

TEST_CASE("a user's voice policy must exist") {
  const auto d = check([](Writer& w) {
    w.put(K("user"), Json{{"sip_uri", "sip:a@contoso.example"}, {"voice_policy", "Nowhere"}});
  });
  REQUIRE(d.size() == 1);
  CHECK(d[0].severity == Severity::error);
  CHECK(d[0].pointer == "/voice_policy");
}
