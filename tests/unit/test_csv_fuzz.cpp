// Hostile LIS CSV files: a few thousand generated inputs (random bytes, broken quotes, byte-order
// marks, odd UTF-16, long fields, many columns, bare and odd subnets, control characters) through
// the real importer. None may crash or throw anything but e911::Error, a refused file changes
// nothing, and every diagnostic can be written as JSON.
#include <catch2/catch.hpp>
#include <fstream>
#include <random>

#include "e911/catalog.hpp"
#include "e911/error.hpp"
#include "e911/lis_csv.hpp"
#include "helpers.hpp"

using namespace e911;

namespace {

const char* kHeader =
    "Subnet,Description,Location,CompanyName,HouseNumber,HouseNumberSuffix,PreDirectional,StreetName,StreetSuffix,"
    "PostDirectional,City,State,PostalCode,Country";
const char* kRow = "10.1.2.0/24,desk,B1 F1,Contoso,1,,N,Main,St,,Redmond,WA,98052,US";

std::string mutate(std::mt19937& rng, std::string s) {
  std::uniform_int_distribution<int> op(0, 9), byte(0, 255);
  const int edits = 1 + static_cast<int>(rng() % 8);
  for (int i = 0; i < edits && !s.empty(); ++i) {
    const std::size_t at = rng() % s.size();
    switch (op(rng)) {
      case 0: s[at] = static_cast<char>(byte(rng)); break;
      case 1: s.insert(at, 1, '"'); break;
      case 2: s.insert(at, 1, ','); break;
      case 3: s.erase(at, 1 + rng() % 5); break;
      case 4: s.insert(at, std::string(1 + rng() % 5000, 'x')); break;
      case 5: s.insert(at, "\r\n"); break;
      case 6: s.insert(at, std::string(1, static_cast<char>(rng() % 32))); break;
      case 7: s.insert(at, "\xc3"); break;  // a UTF-8 sequence cut short
      case 8: s.insert(at, std::string(rng() % 300, ',')); break;
      default: s.insert(at, "::ffff:10.1.2.3"); break;
    }
  }
  return s;
}

std::string generate(std::mt19937& rng, int i) {
  std::string text;
  switch (i % 6) {
    case 0:  // random bytes
      for (std::size_t n = rng() % 2000; n > 0; --n) text += static_cast<char>(rng() % 256);
      return text;
    case 1:  // a good file, mutated half of the time
      text = std::string(kHeader) + "\r\n";
      for (std::size_t n = 1 + rng() % 20; n > 0; --n) text += "10." + std::to_string(n) + std::string(kRow).substr(4) + "\r\n";
      return rng() % 2 ? mutate(rng, text) : text;
    case 2:  // byte-order marks and odd UTF-16
      text = (rng() % 2 ? "\xff\xfe" : "\xef\xbb\xbf") + std::string(kHeader) + "\n" + kRow + "\n";
      if (rng() % 2) text.pop_back();
      return mutate(rng, text);
    case 3:  // a header of unknown or repeated columns
      text = "#TYPE x\r\nSubnet,subnet,SUBNET,Nope," + std::string(rng() % 50, ',') + "\r\n" + kRow + "\r\n";
      return mutate(rng, text);
    case 4:  // subnets that are not quite subnets
      text = std::string(kHeader) + "\n";
      for (const char* net : {"10.1.2.0", "10.1.2.0/33", "::/0", "2001:DB8::/129", "10.1.2.0/-1", "10.1.2.0/", "/24", "1.2.3.4.5/24",
                              "999.1.1.1/8", "fe80::1%eth0/64", "10.1.2.0/0024"})
        text += std::string(net) + ",d,B1,,1,,,Main,,,Redmond,WA,,US\n";
      return mutate(rng, text);
    default:  // one enormous field
      return std::string(kHeader) + "\n10.1.2.0/24," + std::string(100000 + rng() % 100000, 'y') + ",B1,,1,,,Main,,,Redmond,WA,,US\n";
  }
}

}  // namespace

TEST_CASE("hostile LIS CSV files never crash the importer, and a refused one changes nothing") {
  TempDb t;
  auto store = Store::open(t.path, true);
  std::mt19937 rng(20261201);
  const std::string file = t.file("in.csv");
  int refused = 0, imported = 0;
  for (int i = 0; i < 1500; ++i) {
    const std::string text = generate(rng, i);
    std::ofstream(file, std::ios::binary | std::ios::trunc) << text;
    // Mostly subnet files, as the generator writes them; some read as another kind's.
    const char* kind = (i / 6) % 6 == 0 ? "wap" : (i / 6) % 6 == 1 ? "port" : (i / 6) % 6 == 2 ? "switch" : "subnet";
    const std::int64_t head = store->head();
    INFO("input " << i << " as " << kind);
    try {
      LisImportOptions opts;
      opts.prefix_length = i % 3 == 0 ? 24 : 0;
      opts.encoding = i % 7 == 0 ? "windows-1252" : "utf-8";
      const auto r = import_lis_csv(*store, kind_by_noun(kind), file, "fuzz", i % 5 == 0, {}, opts);
      for (const auto& d : r.diagnostics) CHECK_NOTHROW(diagnostic_json(d).dump());
      for (const auto& d : r.warnings) CHECK_NOTHROW(diagnostic_json(d).dump());
      if (!r.diagnostics.empty() || i % 5 == 0) {
        ++refused;
        CHECK(store->head() == head);
      } else {
        ++imported;
      }
    } catch (const Error& e) {
      ++refused;
      CHECK(e.kind != ErrorKind::internal);
      CHECK(store->head() == head);
    }
  }
  // The generator makes both kinds of file: if everything were refused it would test little.
  CHECK(refused > 100);
  CHECK(imported > 20);
  // What got in is still JSON: no stray byte reached the store.
  for (const auto& k : kinds()) CHECK_NOTHROW(Json(store->list(k)).dump());
}
