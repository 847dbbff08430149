#include "e911/pattern.hpp"

#include <re2/re2.h>

#include <cctype>

#include "e911/diagnostic.hpp"

namespace e911 {

namespace {

const RE2::Options& options() {
  static const RE2::Options o = [] {
    RE2::Options x;
    x.set_log_errors(false);                           // errors go to the diagnostic, not stderr
    x.set_encoding(RE2::Options::EncodingLatin1);  // bytes, as std::regex matched them
    return x;
  }();
  return o;
}

// What to write instead of what RE2 refused: lookaround and backreferences need backtracking,
// which is what made a pattern take seconds on a long number.
std::string hint_for(const RE2& re, std::string_view expr) {
  const std::string& arg = re.error_arg();
  if (re.error_code() == RE2::ErrorBadPerlOp) {
    const bool lookahead = arg == "(?=" || arg == "(?!";
    const bool lookbehind = expr.find("(?<=") != std::string_view::npos || expr.find("(?<!") != std::string_view::npos;
    if (lookahead || lookbehind)
      return "patterns run in linear time (RE2), which has no lookahead or lookbehind: leave numbers to an earlier rule "
             "that matches them, or narrow the pattern, e.g. '^9([2-9]\\d{6,})$' instead of '^9(?!11$)(\\d+)$'";
    if (arg == "(?<") return "write a named group as (?P<name>...)";
  }
  if (re.error_code() == RE2::ErrorBadEscape && arg.size() == 2 && std::isdigit(static_cast<unsigned char>(arg[1])))
    return "patterns run in linear time (RE2), which has no backreferences: write out what the group matches instead of " + arg;
  if (re.error_code() == RE2::ErrorRepeatSize) return "a repeat count is at most 1000";
  if (re.error_code() == RE2::ErrorPatternTooLarge) return "write a shorter pattern";
  return "fix the expression";
}

}  // namespace

Pattern::Pattern(std::string_view expr) {
  auto re = std::make_shared<const RE2>(re2::StringPiece(expr.data(), expr.size()), options());
  if (re->ok()) {
    re_ = std::move(re);
    return;
  }
  error_ = excerpt(re->error());
  hint_ = hint_for(*re, expr);
}

bool Pattern::search(std::string_view text) const {
  return re_ && re_->Match(re2::StringPiece(text.data(), text.size()), 0, text.size(), RE2::UNANCHORED, nullptr, 0);
}

bool Pattern::full_match(std::string_view text) const {
  return re_ && re_->Match(re2::StringPiece(text.data(), text.size()), 0, text.size(), RE2::ANCHOR_BOTH, nullptr, 0);
}

DialRule::DialRule(std::string_view pattern, std::string_view translation) : pattern_(pattern) {
  if (!pattern_.ok()) return;
  const int groups = pattern_.re2()->NumberOfCapturingGroups();
  const std::size_t n = translation.size();
  for (std::size_t i = 0; i < n; ++i) {
    const char c = translation[i];
    if (c == '\\') {
      rewrite_ += "\\\\";
      continue;
    }
    if (c != '$' || i + 1 == n) {
      rewrite_ += c;
      continue;
    }
    if (translation[i + 1] == '$' || translation[i + 1] == '&') {
      rewrite_ += translation[i + 1] == '$' ? "$" : "\\0";
      ++i;
      continue;
    }
    // $n or ${n}: all the digits, as .NET reads them; a group the pattern lacks is text.
    const bool braced = translation[i + 1] == '{';
    const std::size_t from = i + 1 + (braced ? 1 : 0);
    std::size_t to = from;
    while (to < n && std::isdigit(static_cast<unsigned char>(translation[to]))) ++to;
    if (to == from || (braced && (to == n || translation[to] != '}'))) {
      rewrite_ += '$';
      continue;
    }
    int group = 0;
    for (std::size_t k = from; k < to && group <= groups; ++k) group = group * 10 + (translation[k] - '0');
    if (group > groups) {
      rewrite_ += '$';
      continue;
    }
    if (group > 9) {
      error_ = "translation '" + excerpt(translation) + "' uses group $" + std::to_string(group) + ", and RE2 rewrites reach $9";
      hint_ = "use at most 9 groups, (?:...) for a group that is not used";
      rewrite_.clear();
      return;
    }
    rewrite_ += '\\';
    rewrite_ += static_cast<char>('0' + group);
    i = braced ? to : to - 1;
  }
}

std::optional<std::string> DialRule::apply(std::string_view number) const {
  if (!ok() || !pattern_.full_match(number)) return std::nullopt;
  std::string out(number);
  RE2::Replace(&out, *pattern_.re2(), rewrite_);
  return out;
}

}  // namespace e911
