#pragma once
#include <string>
#include <string_view>
#include <vector>

namespace e911 {

/// Edit distance between two strings (insert, delete, substitute, transpose).
std::size_t edit_distance(std::string_view a, std::string_view b);

/// The candidate closest to `word`, when it is close enough to be a likely typo; else empty.
std::string closest(std::string_view word, const std::vector<std::string>& candidates);

/// `s` in lower case (ASCII).
std::string to_lower(std::string_view s);

/// `s` without leading and trailing spaces and tabs.
std::string trim(std::string_view s);
/// trim() without a copy.
void trim_in_place(std::string& s);

/// `s` split at every `sep`.
std::vector<std::string> split(std::string_view s, char sep);

/// Current time as RFC 3339 UTC with seconds: 2026-11-25T10:00:00Z.
std::string utc_now();

}  // namespace e911
