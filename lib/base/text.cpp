#include "e911/text.hpp"

#include <cstdio>

#include "e911/diagnostic.hpp"

#include <algorithm>
#include <ctime>

namespace e911 {

std::size_t edit_distance(std::string_view a, std::string_view b) {
  // Damerau (optimal string alignment): a swapped pair of letters is one typo, not two.
  const std::size_t n = a.size(), m = b.size();
  std::vector<std::vector<std::size_t>> d(n + 1, std::vector<std::size_t>(m + 1));
  for (std::size_t i = 0; i <= n; ++i) d[i][0] = i;
  for (std::size_t j = 0; j <= m; ++j) d[0][j] = j;
  for (std::size_t i = 1; i <= n; ++i) {
    for (std::size_t j = 1; j <= m; ++j) {
      const std::size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[n][m];
}

std::string closest(std::string_view word, const std::vector<std::string>& candidates) {
  std::string best;
  std::size_t best_d = static_cast<std::size_t>(-1);
  const std::string w = to_lower(word);
  for (const auto& c : candidates) {
    const std::size_t dist = edit_distance(w, to_lower(c));
    if (dist < best_d) {
      best_d = dist;
      best = c;
    }
  }
  // A suggestion is only useful when it is nearer to the word than to a different word.
  const std::size_t limit = std::max<std::size_t>(2, word.size() / 3);
  if (best_d == 0 || best_d > limit) return {};
  return best;
}

std::string to_lower(std::string_view s) {
  std::string r(s);
  for (char& c : r)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return r;
}

std::string trim(std::string_view s) {
  std::size_t b = 0, e = s.size();
  while (b < e && (s[b] == ' ' || s[b] == '\t')) ++b;
  while (e > b && (s[e - 1] == ' ' || s[e - 1] == '\t')) --e;
  return std::string(s.substr(b, e - b));
}

void trim_in_place(std::string& s) {
  std::size_t e = s.size();
  while (e > 0 && (s[e - 1] == ' ' || s[e - 1] == '\t')) --e;
  s.resize(e);
  std::size_t b = 0;
  while (b < e && (s[b] == ' ' || s[b] == '\t')) ++b;
  if (b) s.erase(0, b);
}

std::vector<std::string> split(std::string_view s, char sep) {
  std::vector<std::string> out;
  std::size_t start = 0;
  for (;;) {
    const std::size_t p = s.find(sep, start);
    if (p == std::string_view::npos) {
      out.emplace_back(s.substr(start));
      return out;
    }
    out.emplace_back(s.substr(start, p - start));
    start = p + 1;
  }
}

std::string utc_now() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::size_t invalid_utf8_at(std::string_view s) {
  for (std::size_t i = 0; i < s.size();) {
    if (static_cast<unsigned char>(s[i]) < 0x80) {
      ++i;
      continue;
    }
    char32_t cp;
    const std::size_t n = utf8_char(s, i, cp);
    if (n == 0) return i;
    i += n;
  }
  return std::string_view::npos;
}

char32_t control_char(std::string_view s, std::size_t& at, bool tab_ok) {
  for (std::size_t i = 0; i < s.size();) {
    const auto b = static_cast<unsigned char>(s[i]);
    if (b < 0x80) {
      if ((b < 0x20 && !(tab_ok && b == '\t')) || b == 0x7F) {
        at = i;
        return b;
      }
      ++i;
      continue;
    }
    char32_t cp = 0;
    const std::size_t n = utf8_char(s, i, cp);
    if (n == 0) return 0;
    if (cp >= 0x80 && cp <= 0x9F) {
      at = i;
      return cp;
    }
    i += n;
  }
  return 0;
}

std::string escape_controls(std::string_view s) {
  for (const char c : s) {
    const auto b = static_cast<unsigned char>(c);
    // Only text that needs it pays for a copy: excerpt() writes the same escapes, uncut here.
    if (b < 0x20 || b == 0x7F || b >= 0x80) return excerpt(s, std::string::npos);
  }
  return std::string(s);
}

}  // namespace e911
