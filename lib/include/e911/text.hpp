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

/// The offset of the first byte of `s` that is not part of valid UTF-8, or npos when it all is.
std::size_t invalid_utf8_at(std::string_view s);

/// The first control character of `s` (C0, DEL or C1; a tab too when `tab_ok` is false) as its
/// code point, and its offset in `at`; 0 when there is none. `s` must be valid UTF-8.
char32_t control_char(std::string_view s, std::size_t& at, bool tab_ok = false);

/// `s` safe to write to a terminal: control characters and bytes that are not UTF-8 as escapes
/// as excerpt() writes them, uncut (`\n`, `\x1B`, `\u0085`); text without any is returned as it is.
std::string escape_controls(std::string_view s);

/// Current time as RFC 3339 UTC with seconds: 2026-11-25T10:00:00Z.
std::string utc_now();

}  // namespace e911
