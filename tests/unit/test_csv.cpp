#include <catch2/catch.hpp>
#include <fstream>
#include <sstream>

#include "e911/csv.hpp"
#include "e911/error.hpp"
#include "e911/lis_csv.hpp"
#include "helpers.hpp"

using namespace e911;

namespace {
void write_file(const std::string& path, const std::string& text) { std::ofstream(path, std::ios::binary) << text; }
const char* kHeader =
    "Subnet,Description,Location,CompanyName,HouseNumber,HouseNumberSuffix,PreDirectional,StreetName,StreetSuffix,"
    "PostDirectional,City,State,PostalCode,Country\r\n";
}  // namespace

TEST_CASE("CSV records: quotes, doubled quotes, embedded commas and line breaks") {
  std::istringstream in("a,\"b,c\",\"say \"\"hi\"\"\"\r\n\"two\nlines\",x,\r\n");
  CsvReader r(in);
  std::vector<std::string> f;
  REQUIRE(r.next(f));
  CHECK(f == std::vector<std::string>{"a", "b,c", "say \"hi\""});
  REQUIRE(r.next(f));
  CHECK(f == std::vector<std::string>{"two\nlines", "x", ""});
  CHECK(r.line() == 2);
  CHECK_FALSE(r.next(f));
  std::ostringstream out;
  write_csv_record(out, {"a", "b,c", "say \"hi\""});
  CHECK(out.str() == "a,\"b,c\",\"say \"\"hi\"\"\"\r\n");
}

TEST_CASE("CSV records read into the same vector: no field of a longer record is left behind") {
  // A quote inside unquoted text is text; text after a closing quote belongs to the field; only a
  // CR that ends the line is dropped.
  std::istringstream in("one,two,three,four\r\na\"b,\"c\"d\r\n\"q\"\r\n\nx\ry,\"\r\n\"\n");
  CsvReader r(in);
  std::vector<std::string> f;
  REQUIRE(r.next(f));
  CHECK(f.size() == 4);
  REQUIRE(r.next(f));
  CHECK(f == std::vector<std::string>{"a\"b", "cd"});
  REQUIRE(r.next(f));
  CHECK(f == std::vector<std::string>{"q"});
  REQUIRE(r.next(f));
  CHECK(f == std::vector<std::string>{""});
  REQUIRE(r.next(f));
  CHECK(f == std::vector<std::string>{"x\ry", "\r\n"});
  CHECK(r.line() == 5);
  CHECK_FALSE(r.next(f));
  std::istringstream open_quote("a,\"never closed\n");
  CsvReader bad(open_quote);
  CHECK_THROWS_AS(bad.next(f), Error);
}

TEST_CASE("LIS import reuses locations on an exact address match and is one revision") {
  TempDb t;
  auto s = Store::open(t.path, true);
  const std::string csv = t.file("subnets.csv");
  write_file(csv, std::string(kHeader) +
                      "10.0.1.0/24,floor 1,B1 F1,,1,,,Main,St,,Redmond,WA,98052,US\r\n"
                      "10.0.2.0/24,floor 1 again,B1 F1,,1,,,Main,St,,Redmond,WA,98052,US\r\n"
                      "10.0.3.0/24,floor 2,B1 F2,,1,,,Main,St,,Redmond,WA,98052,US\r\n");
  auto r = import_lis_csv(*s, kind_by_noun("subnet"), csv, "test", false);
  REQUIRE(r.diagnostics.empty());
  CHECK(r.rows == 3);
  CHECK(r.locations_created == 2);
  CHECK(r.locations_reused == 1);
  CHECK(r.elements_added == 3);
  CHECK(r.rev == 2);
  const auto a = s->get(kind_by_noun("subnet"), "10.0.1.0/24");
  const auto b = s->get(kind_by_noun("subnet"), "10.0.2.0/24");
  REQUIRE((a && b));
  CHECK(a->at("location") == b->at("location"));
  // Fields the CSV does not carry take their defaults.
  const auto loc = s->get(kind_by_noun("location"), a->at("location").get<std::string>());
  REQUIRE(loc);
  CHECK(loc->at("validation_status") == "unvalidated");
  CHECK(loc->at("state") == "WA");
  // The same file again changes nothing and makes no revision.
  r = import_lis_csv(*s, kind_by_noun("subnet"), csv, "test", false);
  CHECK(r.rev == 0);
  CHECK(r.elements_unchanged == 3);
  CHECK(r.locations_reused == 3);
  // Export writes the same rows back.
  std::ostringstream out;
  export_lis_csv(*s, kind_by_noun("subnet"), out);
  std::ifstream in(csv, std::ios::binary);
  std::stringstream original;
  original << in.rdbuf();
  CHECK(out.str() == original.str());
}

TEST_CASE("a bad row names its row and column, and nothing is imported") {
  TempDb t;
  auto s = Store::open(t.path, true);
  const std::string csv = t.file("bad.csv");
  write_file(csv, std::string(kHeader) +
                      "10.0.1.0/24,ok,B1 F1,,1,,,Main,St,,Redmond,WA,98052,US\n"
                      "10.0.2.7/33,bad cidr,B1 F1,,1,,,Main,St,,Redmond,WA,98052,US\n"
                      "10.0.3.0/24,bad state,B1 F1,,1,,,Main,St,,Redmond,Washington,98052,US\n"
                      "10.0.4.0/24,short\n");
  const auto r = import_lis_csv(*s, kind_by_noun("subnet"), csv, "test", false);
  REQUIRE(r.diagnostics.size() == 3);
  CHECK(r.diagnostics[0].where.line == 3);
  CHECK(r.diagnostics[0].where.col == 1);
  CHECK(r.diagnostics[1].where.line == 4);
  CHECK(r.diagnostics[1].where.col == 12);
  CHECK(r.diagnostics[1].message == "State: 'Washington' is 10 characters, more than the 2 allowed");
  CHECK(r.diagnostics[2].message == "row has 2 columns, expected 14");
  CHECK(s->head() == 1);
  CHECK(s->count(kind_by_noun("subnet")) == 0);
  CHECK(s->count(kind_by_noun("location")) == 0);
}

TEST_CASE("re-importing a known element keeps the fields the CSV cannot carry") {
  TempDb t;
  auto s = Store::open(t.path, true);
  const std::string csv = t.file("subnets.csv");
  write_file(csv, std::string(kHeader) + "10.0.1.0/24,floor 1,B1 F1,,1,,,Main,St,,Redmond,WA,98052,US\r\n");
  REQUIRE(import_lis_csv(*s, kind_by_noun("subnet"), csv, "test", false).rev == 2);
  {
    Writer w(*s, "test");
    w.put(kind_by_noun("site"), Json{{"name", "Redmond"}});
    auto sub = *w.get(kind_by_noun("subnet"), "10.0.1.0/24");
    sub["site"] = "Redmond";
    w.put(kind_by_noun("subnet"), sub);
    REQUIRE(w.commit() == 3);
  }
  const auto r = import_lis_csv(*s, kind_by_noun("subnet"), csv, "test", false);
  CHECK(r.elements_unchanged == 1);
  CHECK(r.rev == 0);
  CHECK(s->get(kind_by_noun("subnet"), "10.0.1.0/24")->at("site") == "Redmond");
}
