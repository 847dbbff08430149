#include "e911/diagnostic.hpp"

#include "e911/text.hpp"

#include <algorithm>
#include <cstdio>

namespace e911 {

void SourceSet::add(const std::string& file, std::string text) {
  std::vector<std::string> lines;
  std::size_t start = 0;
  while (start <= text.size()) {
    std::size_t nl = text.find('\n', start);
    if (nl == std::string::npos) nl = text.size();
    std::string l = text.substr(start, nl - start);
    if (!l.empty() && l.back() == '\r') l.pop_back();
    lines.push_back(std::move(l));
    start = nl + 1;
  }
  lines_[file] = std::move(lines);
}

std::string SourceSet::line(const std::string& file, int line) const {
  const auto it = lines_.find(file);
  if (it == lines_.end() || line < 1 || static_cast<std::size_t>(line) > it->second.size()) return {};
  return it->second[static_cast<std::size_t>(line - 1)];
}

std::size_t utf8_char(std::string_view s, std::size_t i, char32_t& cp) {
  if (i >= s.size()) return 0;
  const auto b = [&](std::size_t k) { return static_cast<unsigned char>(s[i + k]); };
  const unsigned char c = b(0);
  if (c < 0x80) {
    cp = c;
    return 1;
  }
  std::size_t n;
  char32_t min;
  if (c >= 0xC2 && c <= 0xDF) n = 2, cp = c & 0x1F, min = 0x80;
  else if (c >= 0xE0 && c <= 0xEF) n = 3, cp = c & 0x0F, min = 0x800;
  else if (c >= 0xF0 && c <= 0xF4) n = 4, cp = c & 0x07, min = 0x10000;
  else return 0;
  if (i + n > s.size()) return 0;
  for (std::size_t k = 1; k < n; ++k) {
    if ((b(k) & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (b(k) & 0x3F);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  return n;
}

std::string excerpt(std::string_view value, std::size_t max_bytes) {
  std::string out;
  std::size_t i = 0;
  char buf[16];
  while (i < value.size() && out.size() < max_bytes) {
    char32_t cp = 0;
    const std::size_t n = utf8_char(value, i, cp);
    if (n == 0) {
      std::snprintf(buf, sizeof buf, "\\x%02X", static_cast<unsigned char>(value[i]));
      out += buf;
      ++i;
      continue;
    }
    if (cp == '\t') out += "\\t";
    else if (cp == '\n') out += "\\n";
    else if (cp == '\r') out += "\\r";
    else if (cp < 0x20 || cp == 0x7F) std::snprintf(buf, sizeof buf, "\\x%02X", static_cast<unsigned>(cp)), out += buf;
    else if (cp >= 0x80 && cp <= 0x9F) std::snprintf(buf, sizeof buf, "\\u%04X", static_cast<unsigned>(cp)), out += buf;
    else out.append(value.substr(i, n));
    i += n;
  }
  if (i < value.size()) out += "... (" + std::to_string(value.size() - i) + " more bytes)";
  return out;
}

static const char* severity_word(Severity s) {
  switch (s) {
    case Severity::error: return "error";
    case Severity::warning: return "warning";
    case Severity::note: return "note";
  }
  return "error";
}

std::string format_diagnostic(const Diagnostic& d, const SourceSet* sources, bool color) {
  const char* bold = color ? "\033[1m" : "";
  const char* sev_color = !color ? "" : d.severity == Severity::error ? "\033[1;31m" : "\033[1;35m";
  const char* reset = color ? "\033[0m" : "";
  std::string out;
  if (!d.where.file.empty()) {
    out += bold + d.where.file;
    if (d.where.line > 0) out += ":" + std::to_string(d.where.line) + ":" + std::to_string(std::max(d.where.col, 1));
    out += std::string(": ") + reset;
  } else if (!d.subject.empty()) {
    out += bold + escape_controls(d.subject) + ": " + reset;
  }
  out += std::string(sev_color) + severity_word(d.severity);
  if (!d.code.empty()) out += "[" + d.code + "]";
  // Messages quote what came in: shown, never obeyed by the terminal.
  out += std::string(reset) + ": " + escape_controls(d.message) + "\n";
  if (sources && !d.hide_source && !d.where.file.empty() && d.where.line > 0) {
    const std::string text = sources->line(d.where.file, d.where.line);
    if (!text.empty()) {
      const std::string gutter = std::to_string(d.where.line);
      const std::size_t caret = std::min(static_cast<std::size_t>(std::max(d.where.col, 1) - 1), text.size());
      // A line wider than a screen shows about kWidth bytes around the caret, cut at characters.
      constexpr std::size_t kWidth = 120;
      std::size_t from = 0, to = text.size();
      if (text.size() > kWidth) {
        from = caret > kWidth / 3 ? caret - kWidth / 3 : 0;
        to = std::min(text.size(), from + kWidth);
        if (to - from < kWidth) from = to - kWidth;
        while (from > 0 && (static_cast<unsigned char>(text[from]) & 0xC0) == 0x80) --from;
        while (to < text.size() && (static_cast<unsigned char>(text[to]) & 0xC0) == 0x80) ++to;
      }
      std::string shown = from > 0 ? "..." : "";
      shown += text.substr(from, to - from);
      if (to < text.size()) shown += "... (" + std::to_string(text.size() - to) + " more bytes)";
      out += " " + gutter + " | " + shown + "\n";
      std::string pad(from > 0 ? 3 : 0, ' ');
      // Keep tabs so the caret lines up under the same column in a terminal.
      for (std::size_t i = from; i < caret; ++i) pad += text[i] == '\t' ? '\t' : ' ';
      out += " " + std::string(gutter.size(), ' ') + " | " + pad + sev_color + "^" + reset + "\n";
    }
  }
  if (!d.hint.empty()) out += "  hint: " + escape_controls(d.hint) + "\n";
  return out;
}

Json diagnostic_json(const Diagnostic& d) {
  // A message may quote input that is not UTF-8 (the very thing it reports): JSON gets it escaped.
  auto text = [](const std::string& s) { return invalid_utf8_at(s) == std::string::npos ? s : escape_controls(s); };
  Json j;
  j["severity"] = severity_word(d.severity);
  j["code"] = d.code;
  j["message"] = text(d.message);
  if (!d.where.file.empty()) {
    j["file"] = text(d.where.file);
    if (d.where.line > 0) {
      j["line"] = d.where.line;
      j["column"] = std::max(d.where.col, 1);
    }
  }
  if (!d.subject.empty()) j["subject"] = text(d.subject);
  if (!d.hint.empty()) j["hint"] = text(d.hint);
  return j;
}

bool has_errors(const std::vector<Diagnostic>& diags) {
  return std::any_of(diags.begin(), diags.end(), [](const Diagnostic& d) { return d.severity == Severity::error; });
}

}  // namespace e911
