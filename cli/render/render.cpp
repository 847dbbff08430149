#include "render/render.hpp"

#include <algorithm>

#include "e911/text.hpp"

namespace e911::cli {

std::string cell_text(const Json& v) {
  if (v.is_null()) return "";
  // Text for a terminal: an ESC sequence or a newline in a description is shown, never obeyed.
  if (v.is_string()) return escape_controls(v.get_ref<const std::string&>());
  if (v.is_boolean()) return v.get<bool>() ? "yes" : "no";
  if (v.is_array()) {
    std::string s;
    for (const auto& item : v) s += (s.empty() ? "" : ", ") + cell_text(item);
    return s;
  }
  if (v.is_object()) {
    // An emergency number or dial rule reads best as its values side by side.
    std::string s;
    for (const auto& [k, val] : v.items()) s += (s.empty() ? "" : " ") + k + "=" + cell_text(val);
    return "{" + s + "}";
  }
  return v.dump();
}

static std::size_t width(const std::string& s) {
  std::size_t n = 0;
  for (unsigned char c : s)
    if ((c & 0xC0) != 0x80) ++n;
  return n;
}

void print_table(std::ostream& out, const std::vector<std::string>& headers, const std::vector<std::vector<std::string>>& rows,
                 bool color) {
  std::vector<std::size_t> w(headers.size());
  for (std::size_t i = 0; i < headers.size(); ++i) w[i] = width(headers[i]);
  for (const auto& r : rows)
    for (std::size_t i = 0; i < r.size() && i < w.size(); ++i) w[i] = std::max(w[i], width(r[i]));
  auto line = [&](const std::vector<std::string>& cells) {
    std::string s;
    for (std::size_t i = 0; i < cells.size() && i < w.size(); ++i) {
      s += cells[i];
      if (i + 1 < cells.size()) s += std::string(w[i] - width(cells[i]) + 2, ' ');
    }
    return s;
  };
  out << (color ? "\033[1m" : "") << line(headers) << (color ? "\033[0m" : "") << "\n";
  for (const auto& r : rows) out << line(r) << "\n";
}

void print_fields(std::ostream& out, const Json& obj, bool color) {
  std::size_t w = 0;
  for (const auto& [k, v] : obj.items()) w = std::max(w, k.size());
  for (const auto& [k, v] : obj.items()) {
    out << (color ? "\033[1m" : "") << k << ":" << (color ? "\033[0m" : "") << std::string(w - k.size() + 1, ' ');
    if (v.is_array() && !v.empty() && v[0].is_object()) {
      out << "\n";
      for (const auto& item : v) out << "  - " << cell_text(item) << "\n";
    } else {
      out << cell_text(v) << "\n";
    }
  }
}

}  // namespace e911::cli
