#include "e911/diagnostic.hpp"

#include <algorithm>

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
    out += bold + d.subject + ": " + reset;
  }
  out += std::string(sev_color) + severity_word(d.severity);
  if (!d.code.empty()) out += "[" + d.code + "]";
  out += std::string(reset) + ": " + d.message + "\n";
  if (sources && !d.where.file.empty() && d.where.line > 0) {
    const std::string text = sources->line(d.where.file, d.where.line);
    if (!text.empty()) {
      const std::string gutter = std::to_string(d.where.line);
      out += " " + gutter + " | " + text + "\n";
      std::string pad;
      // Keep tabs so the caret lines up under the same column in a terminal.
      for (int i = 1; i < d.where.col && static_cast<std::size_t>(i - 1) < text.size(); ++i)
        pad += text[static_cast<std::size_t>(i - 1)] == '\t' ? '\t' : ' ';
      out += " " + std::string(gutter.size(), ' ') + " | " + pad + sev_color + "^" + reset + "\n";
    }
  }
  if (!d.hint.empty()) out += "  hint: " + d.hint + "\n";
  return out;
}

Json diagnostic_json(const Diagnostic& d) {
  Json j;
  j["severity"] = severity_word(d.severity);
  j["code"] = d.code;
  j["message"] = d.message;
  if (!d.where.file.empty()) {
    j["file"] = d.where.file;
    if (d.where.line > 0) {
      j["line"] = d.where.line;
      j["column"] = std::max(d.where.col, 1);
    }
  }
  if (!d.subject.empty()) j["subject"] = d.subject;
  if (!d.hint.empty()) j["hint"] = d.hint;
  return j;
}

bool has_errors(const std::vector<Diagnostic>& diags) {
  return std::any_of(diags.begin(), diags.end(), [](const Diagnostic& d) { return d.severity == Severity::error; });
}

}  // namespace e911
