#pragma once
#include <string_view>

namespace e911 {

/// Where the time of a long command goes. With E911_PHASES set in the environment, each mark
/// prints to stderr the seconds since the program's first mark and what has just ended, e.g.
/// "[   3.046 s] import: rows read". Without it a mark costs one branch.
bool phases_enabled();
void phase_mark(std::string_view what);

}  // namespace e911
