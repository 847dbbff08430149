// What one source may hold of the runtime (runtime_limits.hpp): per-source counts, the
// rate-limited log of refusals, and the settings that set the limits.
#include <catch2/catch.hpp>

#include <fstream>

#include "e911/diagnostic_error.hpp"
#include "e911/runtime_config.hpp"
#include "e911/runtime_limits.hpp"
#include "e911/runtime_metrics.hpp"
#include "helpers.hpp"

using namespace e911;
using namespace e911::runtime;
using namespace std::chrono_literals;

TEST_CASE("PerSource counts each address and forgets one at zero") {
  PerSource p;
  CHECK(p.add("10.0.0.1") == 1);
  CHECK(p.add("10.0.0.1") == 2);
  CHECK(p.add("10.0.0.2") == 1);
  CHECK(p.count("10.0.0.1") == 2);
  CHECK(p.count("10.0.0.9") == 0);
  p.remove("10.0.0.1");
  p.remove("10.0.0.1");
  p.remove("10.0.0.1");  // never below zero
  CHECK(p.count("10.0.0.1") == 0);
  CHECK(p.sources() == 1);
}

TEST_CASE("LimitLog: one line per key in a window, the rest counted and reported") {
  std::vector<std::pair<std::string, std::string>> lines;
  LimitLog log([&](const std::string& level, const std::string& message) { lines.emplace_back(level, message); }, 10s, 3);
  const auto t0 = LimitLog::Clock::time_point{} + 1h;
  // A flood from one address: 1000 refusals in one second write one line.
  for (int i = 0; i < 1000; ++i) log.refused("calls 10.0.0.1", "call from 10.0.0.1 refused", t0 + i * 1ms);
  REQUIRE(lines.size() == 1);
  CHECK(lines[0].first == "warn");
  CHECK(lines[0].second == "limit: call from 10.0.0.1 refused");
  CHECK(log.held_back() == 999);
  // Another address has a line of its own at once.
  log.refused("calls 10.0.0.2", "call from 10.0.0.2 refused", t0 + 2s);
  REQUIRE(lines.size() == 2);
  // Nothing more before the window has passed.
  log.flush(t0 + 9s);
  CHECK(lines.size() == 2);
  // The window over: the refusals held back are reported, even though the flood stopped.
  log.flush(t0 + 10s);
  REQUIRE(lines.size() == 3);
  CHECK(lines[2].second == "limit: 999 more like this not logged since the last line: call from 10.0.0.1 refused");
  // The next refusal within the new window is held back again; after it, one line with the count.
  log.refused("calls 10.0.0.1", "call from 10.0.0.1 refused", t0 + 11s);
  CHECK(lines.size() == 3);
  log.refused("calls 10.0.0.1", "call from 10.0.0.1 refused", t0 + 21s);
  REQUIRE(lines.size() == 4);
  CHECK(lines[3].second == "limit: call from 10.0.0.1 refused (and 1 more like it not logged since the last line)");
  // A key quiet for a window is forgotten: its next refusal writes a line at once.
  log.flush(t0 + 40s);
  CHECK(lines.size() == 4);
  log.refused("calls 10.0.0.1", "call from 10.0.0.1 refused", t0 + 41s);
  CHECK(lines.size() == 5);
  CHECK(log.written() == 5);
}

TEST_CASE("LimitLog: a flood from many addresses shares one key past max_keys") {
  std::size_t lines = 0;
  LimitLog log([&](const std::string&, const std::string&) { ++lines; }, 10s, 4);
  const auto t0 = LimitLog::Clock::time_point{} + 1h;
  for (int i = 0; i < 10000; ++i) log.refused("calls 10.0." + std::to_string(i / 256) + "." + std::to_string(i % 256), "refused", t0 + i * 100us);
  CHECK(lines == 5);  // four addresses, then one line for the many
  CHECK(log.held_back() == 10000 - 5);
}

TEST_CASE("Metrics export the limits' counters with their reasons") {
  Metrics m;
  m.connection_refused(true);
  m.connection_refused(true);
  m.connection_refused(false);
  m.call_refused(true);
  m.call_over_limit_admitted(false);
  const std::string text = m.prometheus();
  CHECK(text.find("e911_runtime_connections_refused_total{reason=\"max_connections_per_source\"} 2\n") != std::string::npos);
  CHECK(text.find("e911_runtime_connections_refused_total{reason=\"max_connections\"} 1\n") != std::string::npos);
  CHECK(text.find("e911_runtime_calls_refused_total{reason=\"max_calls_per_source\"} 1\n") != std::string::npos);
  CHECK(text.find("e911_runtime_calls_refused_total{reason=\"max_calls\"} 0\n") != std::string::npos);
  CHECK(text.find("e911_runtime_calls_over_limit_admitted_total{reason=\"max_calls\"} 1\n") != std::string::npos);
  CHECK(text.find("# TYPE e911_runtime_calls_over_limit_admitted_total counter\n") != std::string::npos);
}

TEST_CASE("serve.yaml: the limits per source and in all, 0 for none, negative refused") {
  TempDb dir;
  const std::string path = dir.file("serve.yaml");
  {
    std::ofstream(path) << "max_connections_per_source: 8\nmax_calls_per_source: 0\nmax_calls: 500\n";
  }
  const ServeConfig c = load_serve_config(path);
  CHECK(c.max_connections_per_source == 8);
  CHECK(c.max_calls_per_source == 0);
  CHECK(c.max_calls == 500);
  CHECK(c.origin.at("max_calls") == path + ":3:12");
  {
    std::ofstream(path) << "max_calls_per_source: -1\n";
  }
  CHECK_THROWS_AS(load_serve_config(path), DiagnosticError);
}
