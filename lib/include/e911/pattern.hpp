#pragma once
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace re2 {
class RE2;
}

namespace e911 {

/// A voice-route or dial-rule pattern (Lync's .NET regular expression) compiled with RE2: a match
/// takes time linear in the text and never recurses, whatever the pattern and the text. What only
/// backtracking can do (backreferences, lookahead, lookbehind) does not compile. Patterns see
/// bytes, as std::regex did; ^ and $ anchor at the ends of the text. Copies share the compiled
/// form, which may be matched from many threads at once.
class Pattern {
 public:
  /// A pattern that matches nothing.
  Pattern() = default;
  /// Compiles `expr`; when it does not compile the pattern matches nothing and error() says why.
  explicit Pattern(std::string_view expr);

  bool ok() const { return re_ != nullptr; }
  /// Why the pattern does not compile (RE2's words, cut to a readable length); empty when ok().
  const std::string& error() const { return error_; }
  /// What to write instead, for a message's hint; empty when ok().
  const std::string& hint() const { return hint_; }
  /// True when the pattern matches somewhere in `text` (ECMAScript regex_search).
  bool search(std::string_view text) const;
  /// True when the pattern matches all of `text` (ECMAScript regex_match).
  bool full_match(std::string_view text) const;
  /// The compiled form, or nullptr when !ok().
  const re2::RE2* re2() const { return re_.get(); }

 private:
  std::shared_ptr<const re2::RE2> re_;
  std::string error_, hint_;
};

/// A dial-plan normalisation rule: a pattern and Lync's translation, compiled once. In the
/// translation $1..$9 and ${1} stand for groups, $0 and $& for the match, $$ for a dollar; any
/// other character, a backslash or a lone $ included, stands for itself, and so does a $n for a
/// group the pattern does not have (as in .NET).
class DialRule {
 public:
  DialRule(std::string_view pattern, std::string_view translation);

  const Pattern& pattern() const { return pattern_; }
  /// Pattern or translation problem, as Pattern::error(); empty when the rule can be used.
  const std::string& error() const { return error_.empty() ? pattern_.error() : error_; }
  const std::string& hint() const { return error_.empty() ? pattern_.hint() : hint_; }
  /// True when the problem is in the translation rather than the pattern.
  bool translation_error() const { return !error_.empty(); }
  bool ok() const { return pattern_.ok() && error_.empty(); }
  /// `number` translated when the pattern matches all of it (the first match replaced, as
  /// regex_replace with format_first_only did); nullopt when it does not match or !ok().
  std::optional<std::string> apply(std::string_view number) const;

 private:
  Pattern pattern_;
  std::string rewrite_;  // the translation in RE2's form: \1 for $1, \\ for a backslash
  std::string error_, hint_;
};

}  // namespace e911
