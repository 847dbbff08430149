// Feeds the YAML loader a few thousand hostile inputs made from a fixed seed: random bytes, broken
// copies of real documents, deep nesting, alias chains, huge numbers and long strings. Whatever
// comes in, the loader answers with documents or diagnostics: it never throws, crashes or hangs,
// and everything it answers can be printed and written as JSON.
#include <catch2/catch.hpp>

#include <chrono>
#include <random>

#include "e911/yaml_load.hpp"
#include "helpers.hpp"

using namespace e911;

namespace {

const char* const kSeeds[] = {
    "kind: Location\nid: b1-f1\nlocation: B1 Floor 1\nhouse_number: 1\nstreet_name: Main\ncity: Redmond\nstate: WA\n"
    "postal_code: 98052\ncountry: US\nlatitude: 47.6\nlongitude: -122.1\ndescription: \"first floor\"\n",
    "kind: Trunk\nname: provider\nhost: 127.0.0.1\nport: 5070\ntransport: udp\naccepts_pidf_lo: true\n",
    "kind: LocationPolicy\nidentity: global\nenhanced_emergency_services: true\nemergency_dial_string: 911\n"
    "emergency_dial_mask: 112;999\nlocation_refresh_interval: 6\nnotification_uris: [sip:desk@contoso.example]\n",
    "kind: Port\nchassis_id: 00-1A-2B-3C-4D-5E\nport_id: 'ge-0/0/1'\nport_id_subtype: 5\nlocation: b1-f1\n",
    "kind: VoiceRoute\nname: emergency\nnumber_pattern: '^\\+?911$'\npstn_usages: [Emergency]\ntrunks:\n  - provider\npriority: 1\n",
    "kind: Subnet\nsubnet: 10.10.1.0/24\nlocation: b1-f1\n---\nkind: Wap\nbssid: 00-1A-2B-3C-4D-5E\nlocation: b1-f1\n",
};

// Pieces that YAML gives meaning to, so mutations reach the parser's corners.
const char* const kTokens[] = {"\"", "'", "[", "]", "{", "}", ",", ":", ": ", "- ", "&a ", "*a", "!!str ", "!", "|",
                               ">", "#", "\n", "\n  ", "\t", "---\n", "...\n", "%YAML 1.2\n", "? ", "\\", "\xEF\xBB\xBF",
                               "\xE9", "\xC3\xA9", "\x00", "\x07", "\r", "1e400", "-1e-400", "99999999999999999999", "~",
                               "<<: *a\n", "\xF0\x9F\x9A\x92", "\xED\xA0\x80"};

struct Fuzzer {
  std::mt19937 rng{20250101};
  std::size_t below(std::size_t n) { return std::uniform_int_distribution<std::size_t>(0, n - 1)(rng); }

  std::string random_bytes() {
    std::string s(below(300), '\0');
    for (auto& c : s) c = static_cast<char>(below(256));
    return s;
  }

  std::string mutated() {
    std::string s = kSeeds[below(std::size(kSeeds))];
    const std::size_t edits = 1 + below(6);
    for (std::size_t e = 0; e < edits; ++e) {
      const std::size_t at = below(s.size() + 1);
      switch (below(4)) {
        case 0: {
          const char* t = kTokens[below(std::size(kTokens))];
          s.insert(at, std::string(t, t[0] ? std::char_traits<char>::length(t) : 1));
          break;
        }
        case 1: s.erase(at, below(8)); break;
        case 2: if (at < s.size()) s[at] = static_cast<char>(below(256)); break;
        default: s.insert(at, s.substr(at, below(40))); break;
      }
    }
    return s;
  }

  std::string deep() {
    const std::size_t n = 50 + below(20000);
    std::string s = "kind: Location\nid: b1\ncity: ";
    switch (below(4)) {
      case 0: s += std::string(n, '['); break;
      case 1: for (std::size_t i = 0; i < n; ++i) s += "{a: "; break;
      case 2: for (std::size_t i = 0; i < std::min<std::size_t>(n, 400); ++i) s += "\n" + std::string(i + 1, ' ') + "k:"; break;
      default: for (std::size_t i = 0; i < n; ++i) s += "- "; s += "x"; break;
    }
    return s + "\n";
  }

  std::string aliases() {
    std::string s = "kind: Location\nid: b1\n";
    const std::size_t levels = 1 + below(12), fan = 1 + below(12);
    s += "a0: &a0 [" + std::string(below(2) ? "x" : "\"" + std::string(below(5000), 'y') + "\"") + "]\n";
    for (std::size_t l = 1; l <= levels; ++l) {
      s += "a" + std::to_string(l) + ": &a" + std::to_string(l) + (below(2) ? " [" : " {");
      const bool map = s.back() == '{';
      for (std::size_t k = 0; k < fan; ++k) {
        if (k) s += ", ";
        if (map) s += "k" + std::to_string(k) + ": ";
        s += "*a" + std::to_string(below(5) ? l - 1 : l);  // now and then a node that holds itself
      }
      s += map ? "}\n" : "]\n";
    }
    if (below(2)) s += "city: *a" + std::to_string(levels) + "\n";
    return s;
  }

  std::string numbers() {
    static const char* const fields[] = {"latitude", "longitude", "house_number", "postal_code", "description"};
    std::string n = below(2) ? "-" : "";
    n += std::string(1 + below(400), static_cast<char>('1' + below(9)));
    if (below(2)) n += "." + std::string(below(50), '5');
    if (below(2)) n += "e" + std::string(below(2) ? "-" : "") + std::to_string(below(100000));
    return std::string("kind: Location\nid: b1\n") + fields[below(std::size(fields))] + ": " + n + "\n";
  }

  std::string long_strings() {
    static const char* const docs[] = {"kind: Location\nid: b1\n", "kind: Trunk\nname: t\nhost: h\n",
                                       "kind: LocationPolicy\nidentity: global\n", "kind: VoiceRoute\nname: r\n"};
    static const char* const fields[] = {"description", "city", "id", "name", "host", "number_pattern", "emergency_dial_mask",
                                         "notification_uris", "state", "elins", "conference_uri", "bogus_field_name"};
    static const char* const units[] = {"x", "\xC3\xA9", "(", "1;", "a b ", "\\t", "[a-z]*"};
    const std::size_t len = below(5) ? below(2000) : below(300000);
    std::string v;
    const char* u = units[below(std::size(units))];
    while (v.size() < len) v += u;
    const std::string quoted = below(2) ? "\"" + v + "\"" : "'" + v + "'";
    return std::string(docs[below(std::size(docs))]) + fields[below(std::size(fields))] + ": " + quoted + "\n";
  }
};

}  // namespace

TEST_CASE("hostile YAML never crashes, hangs or answers what JSON cannot carry") {
  Fuzzer f;
  const auto started = std::chrono::steady_clock::now();
  std::size_t inputs = 0, refused = 0;
  for (int round = 0; round < 6000; ++round) {
    std::string text;
    switch (round % 12) {
      case 0: case 1: case 2: text = f.random_bytes(); break;
      case 3: case 4: case 5: case 6: text = f.mutated(); break;
      case 7: text = f.deep(); break;
      case 8: case 9: text = f.aliases(); break;
      case 10: text = f.numbers(); break;
      default: text = f.long_strings(); break;
    }
    ++inputs;
    SourceSet sources;
    LoadResult r;
    try {
      r = parse_documents("fuzz.yaml", text, sources);
    } catch (const std::exception& e) {
      FAIL("round " << round << " threw " << e.what() << " for " << Json(excerpt(text, 200)).dump());
    }
    if (!r.diagnostics.empty()) ++refused;
    for (const auto& d : r.diagnostics) {
      INFO("round " << round << ": " << Json(excerpt(text, 200)).dump());
      CHECK(d.severity == Severity::error);
      CHECK(d.where.line >= 1);
      CHECK_NOTHROW(diagnostic_json(d).dump());
      CHECK(format_diagnostic(d, &sources).size() < 4096);
    }
    for (const auto& d : r.documents) {
      INFO("round " << round << ": " << Json(excerpt(text, 200)).dump());
      CHECK_NOTHROW(d.value.dump());
    }
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  WARN(inputs << " hostile inputs, " << refused << " refused, in " << seconds << " s");
  CHECK(seconds < 20 * time_scale());
}
