// Figures for the routing engine on a real store: snapshot build, save, load and memory, and
// routing::decide throughput on one core. Usage: bench_routing DB [DECISIONS]
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <random>
#include <string>

#include "e911/routing.hpp"

using namespace e911;
using Clock = std::chrono::steady_clock;

static double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

static long rss_kb() {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  return -1;
}

int main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << "usage: bench_routing DB [DECISIONS]\n";
    return 2;
  }
  const long decisions = argc > 2 ? std::stol(argv[2]) : 1000000;
  const std::string snap_path = std::string(argv[1]) + ".bench.snapshot";
  double build_s, save_s, load_s;
  long rss_before = 0, rss_after = 0;
  {
    auto store = Store::open(argv[1], false);
    auto t = Clock::now();
    auto snap = Snapshot::build(*store);
    build_s = seconds_since(t);
    t = Clock::now();
    snap->save(snap_path);
    save_s = seconds_since(t);
    std::printf("snapshot: %zu locations, %zu elements\n", snap->location_count(), snap->element_count());
  }
  rss_before = rss_kb();
  auto t = Clock::now();
  auto snap = Snapshot::load(snap_path);
  load_s = seconds_since(t);
  rss_after = rss_kb();

  // Callers spread over every subnet, dialling the emergency number.
  std::vector<routing::CallFacts> facts;
  const auto calls = routing::simulated_calls(*snap);
  for (const auto& c : calls)
    if (!c.facts.source_ip.empty()) facts.push_back(c.facts);
  if (facts.empty()) facts.push_back({});
  std::mt19937 rng(42);
  std::shuffle(facts.begin(), facts.end(), rng);
  for (auto& f : facts) f.assume_policy.clear();
  // Copied in their shuffled order, so each call's strings lie next to it, as they do in the
  // runtime where the facts were just parsed from the INVITE. The callers stay in random order
  // over the million subnets: the snapshot lookups still miss the cache as they would live.
  facts = std::vector<routing::CallFacts>(facts.begin(), facts.end());

  long routable = 0;
  t = Clock::now();
  for (long i = 0; i < decisions; ++i) routable += routing::decide(*snap, facts[static_cast<std::size_t>(i) % facts.size()], false).routable;
  const double plain_s = seconds_since(t);
  const long traced_n = decisions / 10;
  t = Clock::now();
  for (long i = 0; i < traced_n; ++i) routable += routing::decide(*snap, facts[static_cast<std::size_t>(i) % facts.size()], true).routable;
  const double traced_s = seconds_since(t);

  std::printf("snapshot build      %8.3f s  (target < 3 s)\n", build_s);
  std::printf("snapshot save       %8.3f s\n", save_s);
  std::printf("snapshot load       %8.3f s  (target < 1 s)\n", load_s);
  std::printf("runtime memory      %8.1f MB RSS after load (%.1f MB for the snapshot; target < 500 MB)\n", rss_after / 1024.0,
              (rss_after - rss_before) / 1024.0);
  std::printf("decide, no trace    %8.0f decisions/s on one core (target >= 1,000,000)\n", decisions / plain_s);
  std::printf("decide, with trace  %8.0f decisions/s\n", traced_n / traced_s);
  std::printf("(%ld routable of %ld)\n", routable, decisions + traced_n);
  std::remove(snap_path.c_str());
  return 0;
}
