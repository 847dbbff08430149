#include <catch2/catch.hpp>

#include "e911/yaml_load.hpp"

using namespace e911;

namespace {
LoadResult parse(const std::string& text, SourceSet& sources) { return parse_documents("site.yaml", text, sources); }
}  // namespace

TEST_CASE("documents become typed objects with the marks of their values") {
  SourceSet s;
  const auto r = parse(
      "kind: LocationPolicy\n"
      "identity: global\n"
      "enhanced_emergency_services: true\n"
      "emergency_dial_string: 911\n"
      "location_refresh_interval: 6\n"
      "---\n"
      "# a comment-only document is skipped\n"
      "---\n"
      "kind: Location\n"
      "id: b1\n"
      "house_number: 12\n"
      "postal_code: 02134\n",
      s);
  REQUIRE(r.diagnostics.empty());
  REQUIRE(r.documents.size() == 2);
  const auto& p = r.documents[0];
  CHECK(p.kind->noun == "policy");
  CHECK(p.key == "global");
  // A string field keeps what the operator wrote, even when YAML would read a number.
  CHECK(p.value["emergency_dial_string"] == "911");
  CHECK(p.value["enhanced_emergency_services"] == true);
  CHECK(p.value["location_refresh_interval"] == 6);
  CHECK(r.documents[1].value["postal_code"] == "02134");
  CHECK(r.documents[1].value["house_number"] == "12");
  const SourceMark m = p.mark_of("/location_refresh_interval");
  CHECK(m.line == 5);
  CHECK(m.col == 28);
  CHECK(r.documents[1].mark.line == 9);
}

TEST_CASE("every problem of a file is reported with file, line and column") {
  SourceSet s;
  const auto r = parse(
      "kind: Location\n"
      "id: b1\n"
      "state: Washington\n"
      "contry: US\n"
      "---\n"
      "kind: Trunk\n"
      "name: t1\n"
      "host: 127.0.0.1\n"
      "transport: sctp\n"
      "---\n"
      "kind: Locaton\n"
      "id: x\n",
      s);
  REQUIRE(r.documents.empty());
  REQUIRE(r.diagnostics.size() == 4);
  CHECK(r.diagnostics[0].code == "E104");
  CHECK(r.diagnostics[0].where.line == 3);
  CHECK(r.diagnostics[0].where.col == 8);
  CHECK(r.diagnostics[0].message == "'state': 'Washington' is 10 characters, more than the 2 allowed");
  CHECK(r.diagnostics[1].code == "E004");
  CHECK(r.diagnostics[1].where.line == 4);
  CHECK(r.diagnostics[1].where.col == 1);
  CHECK(r.diagnostics[1].hint == "did you mean 'country'?");
  CHECK(r.diagnostics[2].where.line == 9);
  CHECK(r.diagnostics[2].message == "'transport': 'sctp' is not one of: udp, tcp, tls");
  CHECK(r.diagnostics[3].code == "E003");
  CHECK(r.diagnostics[3].hint == "did you mean 'Location'?");
  CHECK(format_diagnostic(r.diagnostics[0], &s) ==
        "site.yaml:3:8: error[E104]: 'state': 'Washington' is 10 characters, more than the 2 allowed\n"
        " 3 | state: Washington\n"
        "   |        ^\n");
}

TEST_CASE("a syntax error in one document does not hide the others") {
  SourceSet s;
  const auto r = parse(
      "kind: Location\n"
      "id: [b1\n"
      "---\n"
      "kind: Location\n"
      "id: b2\n"
      "city: 7\n"
      "bogus: 1\n",
      s);
  REQUIRE(r.diagnostics.size() == 2);
  CHECK(r.diagnostics[0].code == "E001");
  CHECK(r.diagnostics[0].where.line >= 2);
  CHECK(r.diagnostics[1].code == "E004");
  CHECK(r.diagnostics[1].where.line == 7);
}

TEST_CASE("repeated keys and objects defined twice are errors") {
  SourceSet s;
  const auto r = parse("kind: Trunk\nname: t1\nhost: a\nhost: b\n---\nkind: Trunk\nname: t2\nhost: a\n---\nkind: Trunk\nname: t2\nhost: b\n", s);
  REQUIRE(r.diagnostics.size() == 2);
  CHECK(r.diagnostics[0].code == "E006");
  CHECK(r.diagnostics[0].where.line == 4);
  CHECK(r.diagnostics[1].code == "E007");
  CHECK(r.diagnostics[1].where.line == 10);
  CHECK(r.diagnostics[1].hint == "first defined at site.yaml:6");
}

TEST_CASE("a document must be a mapping with a kind") {
  SourceSet s;
  auto r = parse("- just\n- a list\n", s);
  REQUIRE(r.diagnostics.size() == 1);
  CHECK(r.diagnostics[0].code == "E002");
  r = parse("name: t1\n", s);
  REQUIRE(r.diagnostics.size() == 1);
  CHECK(r.diagnostics[0].code == "E003");
}
