#include "e911/phases.hpp"

#include <chrono>
#include <cstdio>
#include <cstdlib>

namespace e911 {

bool phases_enabled() {
  static const bool on = [] {
    const char* v = std::getenv("E911_PHASES");
    return v && *v && std::string_view(v) != "0";
  }();
  return on;
}

void phase_mark(std::string_view what) {
  if (!phases_enabled()) return;
  static const auto start = std::chrono::steady_clock::now();
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::fprintf(stderr, "[%8.3f s] %.*s\n", s, static_cast<int>(what.size()), what.data());
}

}  // namespace e911
