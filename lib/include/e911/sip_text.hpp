#pragma once
#include <cctype>
#include <string_view>

// Small text helpers every part of the SIP layer uses: one copy, inline.
namespace e911::sip {

/// True for linear white space as SIP writes it once folding is undone (SP, HT, CR, LF).
inline bool is_lws(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

/// `s` without leading and trailing linear white space.
inline std::string_view trim(std::string_view s) {
  while (!s.empty() && is_lws(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_lws(s.back())) s.remove_suffix(1);
  return s;
}

/// ASCII lower case, without the locale lookup of std::tolower (SIP's grammar is ASCII).
inline constexpr unsigned char ascii_lower(unsigned char c) { return c >= 'A' && c <= 'Z' ? static_cast<unsigned char>(c + 32) : c; }

/// ASCII case-insensitive equality (header names, tokens, schemes).
inline bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  if (a.data() == b.data()) return true;  // the same canonical name (HeaderField points at it)
  for (std::size_t i = 0; i < a.size(); ++i)
    if (ascii_lower(static_cast<unsigned char>(a[i])) != ascii_lower(static_cast<unsigned char>(b[i]))) return false;
  return true;
}

}  // namespace e911::sip
