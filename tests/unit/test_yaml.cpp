#include <catch2/catch.hpp>

#include <sstream>

#include "e911/error.hpp"
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

namespace {
const Diagnostic* find_code(const LoadResult& r, const std::string& code) {
  for (const auto& d : r.diagnostics)
    if (d.code == code) return &d;
  return nullptr;
}
}  // namespace

TEST_CASE("a quoted scalar never closed is refused where it opened, not swallowed") {
  SourceSet s;
  // yaml-cpp 0.7 reads this as city "Redmond state: WA " and raises nothing.
  auto r = parse("kind: Location\nid: b1\ncity: \"Redmond\nstate: WA\n", s);
  REQUIRE(r.documents.empty());
  REQUIRE(r.diagnostics.size() == 1);
  CHECK(r.diagnostics[0].code == "E001");
  CHECK(r.diagnostics[0].message == "invalid YAML: the double-quoted scalar is never closed");
  CHECK(r.diagnostics[0].where.line == 3);
  CHECK(r.diagnostics[0].where.col == 7);

  r = parse("kind: Location\nid: b1\ncity: 'it''s\nstate: WA\n---\nkind: Location\nid: b2\n", s);
  REQUIRE(r.diagnostics.size() == 1);
  CHECK(r.diagnostics[0].message == "invalid YAML: the single-quoted scalar is never closed");
  CHECK(r.diagnostics[0].where.line == 3);
  REQUIRE(r.documents.size() == 1);  // the next document is still read
  CHECK(r.documents[0].key == "b2");

  r = parse("kind: \"Location\nid: b1\n", s);
  REQUIRE(r.diagnostics.size() == 1);
  CHECK(r.diagnostics[0].code == "E001");
  CHECK(r.diagnostics[0].where.line == 1);

  r = parse("kind: Location\nid: b1\ncity: &c \"Redmond\n", s);
  REQUIRE(r.diagnostics.size() == 1);
  CHECK(r.diagnostics[0].where.col == 7);

  // Closed quotes, escaped quotes and quotes inside plain scalars are fine.
  r = parse("kind: Location\nid: b1\ncity: \"Red \\\"mond\\\\\"\nlocation: O'Brien \"Hall\"\nstreet_name: 'O''Brien'\n", s);
  CHECK(r.diagnostics.empty());
  REQUIRE(r.documents.size() == 1);
  CHECK(r.documents[0].value["city"] == "Red \"mond\\");
}

TEST_CASE("what yaml-cpp would silently cut short is refused") {
  SourceSet s;
  auto r = parse("kind: Location\nid: b1\n... city: Redmond\nstate: WA\n", s);
  REQUIRE(r.diagnostics.size() == 1);
  CHECK(r.diagnostics[0].code == "E001");
  CHECK(r.diagnostics[0].where.line == 3);
  r = parse("kind: Location\nid: b1\n%YAML 1.2\nstate: WA\n", s);
  REQUIRE(r.diagnostics.size() == 1);
  CHECK(r.diagnostics[0].code == "E001");
  CHECK(r.diagnostics[0].where.line == 3);
  // A raw NUL would end the value there.
  r = parse(std::string("kind: Location\nid: b1\ncity: Red\0mond\n", 37), s);
  REQUIRE(r.diagnostics.size() == 1);
  CHECK(r.diagnostics[0].code == "E001");
  CHECK(r.diagnostics[0].message == "invalid YAML: control character U+0000 is not allowed");
  CHECK(r.diagnostics[0].where.line == 3);
  CHECK(r.diagnostics[0].where.col == 10);
}

TEST_CASE("aliases cannot expand a document without bound") {
  SourceSet s;
  std::string bomb = "kind: Location\nid: b1\nl0: &l0 [x, x, x, x, x, x, x, x, x, x]\n";
  for (int i = 1; i <= 9; ++i) {
    const std::string p = "*l" + std::to_string(i - 1);
    bomb += "l" + std::to_string(i) + ": &l" + std::to_string(i) + " [" + p;
    for (int k = 1; k < 10; ++k) bomb += ", " + p;
    bomb += "]\n";
  }
  auto r = parse(bomb, s);
  REQUIRE(r.documents.empty());
  REQUIRE(r.diagnostics.size() == 1);
  CHECK(r.diagnostics[0].code == "E001");
  CHECK(r.diagnostics[0].message == "invalid YAML: the alias expands the document to more than 100000 values");
  // At the alias that passes the limit (in l4, whose items hold 11111 values each).
  CHECK(r.diagnostics[0].where.line == 7);
  CHECK(s.line("site.yaml", 7).substr(static_cast<std::size_t>(r.diagnostics[0].where.col - 1), 1) == "*");

  // yaml-cpp builds `&a [*a]` as a node that holds itself.
  r = parse("kind: Location\nid: b1\ncity: &a [x, *a]\n", s);
  REQUIRE(r.diagnostics.size() == 1);
  CHECK(r.diagnostics[0].code == "E001");
  CHECK(r.diagnostics[0].message == "invalid YAML: the alias names a node that holds it");
  CHECK(r.diagnostics[0].where.col == 14);

  // Small aliases are fine.
  r = parse("kind: Location\nid: &i b1\nlocation: *i\n", s);
  CHECK(r.diagnostics.empty());
  REQUIRE(r.documents.size() == 1);
  CHECK(r.documents[0].value["location"] == "b1");
}

TEST_CASE("deep nesting is refused, not a stack overflow") {
  SourceSet s;
  auto r = parse("kind: Location\nid: b1\ncity: " + std::string(100000, '[') + "\n", s);
  REQUIRE(r.diagnostics.size() == 1);
  CHECK(r.diagnostics[0].code == "E001");
  r = parse("kind: Location\nid: b1\ncity: " + std::string(70, '[') + std::string(70, ']') + "\n", s);
  REQUIRE(r.diagnostics.size() == 1);
  CHECK(r.diagnostics[0].code == "E001");
  CHECK(r.diagnostics[0].message == "invalid YAML: values nested deeper than 64 levels");
  CHECK(r.diagnostics[0].where.line == 3);
}

TEST_CASE("a byte-order mark, a %YAML directive and a leading --- are accepted") {
  SourceSet s;
  auto r = parse("\xEF\xBB\xBF# sites\n---\nkind: Location\nid: b1\n", s);
  CHECK(r.diagnostics.empty());
  CHECK(r.documents.size() == 1);
  r = parse("\xEF\xBB\xBF" "kind: Location\nid: b1\ncity: 7\nbogus: 1\n", s);
  REQUIRE(r.diagnostics.size() == 1);
  CHECK(r.diagnostics[0].where.line == 4);
  CHECK(r.diagnostics[0].where.col == 1);
  r = parse("%YAML 1.2\n---\nkind: Location\nid: b1\n---\nkind: Location\nid: b2\n...\n%YAML 1.2\n---\nkind: Location\nid: b3\nbogus: 1\n", s);
  REQUIRE(r.diagnostics.size() == 1);
  CHECK(r.diagnostics[0].code == "E004");
  CHECK(r.diagnostics[0].where.line == 13);
  CHECK(r.documents.size() == 2);
  r = parse("---\nkind: Location\nid: b1\n", s);
  CHECK(r.diagnostics.empty());
  CHECK(r.documents.size() == 1);
}

TEST_CASE("a number out of range is an error at its value under the field's rule") {
  SourceSet s;
  auto r = parse("kind: Location\nid: b1\nlatitude: 1e400\nlongitude: -1e-400\n", s);
  REQUIRE(r.documents.empty());
  REQUIRE(r.diagnostics.size() == 2);
  CHECK(r.diagnostics[0].code == "E100");
  CHECK(r.diagnostics[0].message == "'latitude': '1e400' is out of range for a number");
  CHECK(r.diagnostics[0].where.line == 3);
  CHECK(r.diagnostics[0].where.col == 11);
  CHECK(r.diagnostics[1].message == "'longitude': '-1e-400' is out of range for a number");
  r = parse("kind: LocationPolicy\nidentity: global\nlocation_refresh_interval: 99999999999999999999\n", s);
  REQUIRE(r.diagnostics.size() == 1);
  CHECK(r.diagnostics[0].code == "E103");
  CHECK(r.diagnostics[0].message == "'location_refresh_interval': '99999999999999999999' is out of range for an integer");
  CHECK(r.diagnostics[0].where.line == 3);
  CHECK_THROWS_AS(parse_yaml_value("1e400", nullptr), Error);
  CHECK_THROWS_AS(parse_yaml_value("&a [*a]", nullptr), Error);
}

TEST_CASE("text that is not UTF-8 is refused at its byte") {
  SourceSet s;
  // Latin-1 "Caf\xE9": once stored, JSON output could not carry it.
  auto r = parse("kind: Location\nid: b1\n---\nkind: Location\nid: b2\ndescription: Caf\xE9 du parc\n", s);
  REQUIRE(r.diagnostics.size() == 1);
  CHECK(r.diagnostics[0].code == "E001");
  CHECK(r.diagnostics[0].message == "invalid YAML: byte 0xE9 is not UTF-8");
  CHECK(r.diagnostics[0].where.line == 6);
  CHECK(r.diagnostics[0].where.col == 17);
  REQUIRE(r.documents.size() == 1);
  CHECK(r.documents[0].key == "b1");
  // Overlong forms, surrogates and cut-short sequences are not UTF-8 either.
  for (const char* bad : {"\xC0\xAF", "\xED\xA0\x80", "\xE2\x82", "\xF5\x80\x80\x80", "\x80"}) {
    r = parse(std::string("kind: Location\nid: b1\ncity: x") + bad + "\n", s);
    REQUIRE(r.diagnostics.size() == 1);
    CHECK(r.diagnostics[0].where.line == 3);
    CHECK(r.diagnostics[0].where.col == 8);
  }
  r = parse("kind: Location\nid: b1\ncity: Zürich 東京 \xF0\x9F\x9A\x92\n", s);
  CHECK(r.diagnostics.empty());
}

TEST_CASE("a key field may not hold a control character") {
  SourceSet s;
  auto r = parse("kind: Location\nid: \"b1\\x07\"\n", s);
  REQUIRE(r.documents.empty());
  REQUIRE(r.diagnostics.size() == 1);
  CHECK(r.diagnostics[0].code == "E100");
  CHECK(r.diagnostics[0].message == "'id': 'b1\\x07' holds the control character U+0007, which a key may not");
  CHECK(r.diagnostics[0].where.line == 2);
  r = parse("kind: Port\nchassis_id: 00-1A-2B-3C-4D-5E\nport_id: \"ge-0/0/1\\t\"\nlocation: b1\n", s);
  REQUIRE(r.diagnostics.size() == 1);
  CHECK(r.diagnostics[0].code == "E100");
  CHECK(r.diagnostics[0].where.line == 3);
  r = parse("kind: Trunk\nname: \"t\\u0085\"\nhost: a\n", s);
  REQUIRE(r.diagnostics.size() == 1);
  CHECK(r.diagnostics[0].message.find("U+0085") != std::string::npos);
  // Outside keys a tab is still text.
  r = parse("kind: Location\nid: b1\ndescription: \"a\\tb\"\n", s);
  CHECK(r.diagnostics.empty());
}

TEST_CASE("long values are cut in messages and long lines around the caret") {
  SourceSet s;
  const std::string big(300, 'W');
  auto r = parse("kind: Location\nid: b1\nstate: " + big + "\n", s);
  REQUIRE(r.diagnostics.size() == 1);
  CHECK(r.diagnostics[0].message == "'state': '" + std::string(80, 'W') + "... (220 more bytes)' is 300 characters, more than the 2 allowed");
  const std::string text = format_diagnostic(r.diagnostics[0], &s);
  CHECK(text.find("... (187 more bytes)\n") != std::string::npos);
  std::istringstream lines(text);
  for (std::string l; std::getline(lines, l);) CHECK(l.size() < 220);

  // The caret stays under its column when the line is cut on the left.
  r = parse("kind: Location\nid: b1\ndescription: " + std::string(300, 'x') + "\n" + "city: " + std::string(200, 'y') + " z: 1\n", s);
  REQUIRE_FALSE(r.diagnostics.empty());
  const Diagnostic cut{Severity::error, "E999", "here", {"site.yaml", 4, 208}, {}, {}};
  const std::string shown = format_diagnostic(cut, &s);
  const auto l1 = shown.find(" 4 | ") + 5, l2 = shown.find("   | ") + 5;
  REQUIRE(l1 != std::string::npos);
  CHECK(shown.substr(l1, 3) == "...");
  CHECK(shown[l1 + (shown.find('^') - l2)] == 'z');
}

TEST_CASE("excerpts are valid UTF-8 with control characters escaped") {
  CHECK(excerpt("plain") == "plain");
  CHECK(excerpt("a\tb\x01\x7F") == "a\\tb\\x01\\x7F");
  CHECK(excerpt("caf\xE9") == "caf\\xE9");
  CHECK(excerpt("\xC2\x85") == "\\u0085");
  // Cut at a character boundary, never inside one.
  std::string accents;
  for (int i = 0; i < 60; ++i) accents += "\xC3\xA9";
  const std::string cut = excerpt(accents, 81);
  CHECK(cut == [&] {
    std::string x;
    for (int i = 0; i < 41; ++i) x += "\xC3\xA9";
    return x + "... (38 more bytes)";
  }());
  CHECK_NOTHROW(Json(cut).dump());
}
