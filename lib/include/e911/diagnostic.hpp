#pragma once
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "e911/json.hpp"

namespace e911 {

enum class Severity { error, warning, note };

/// A place in a source file; line and col are 1-based, 0 when unknown.
struct SourceMark {
  std::string file;
  int line = 0;
  int col = 0;
};

/// One problem found in input: printed as `file:line:col: error[CODE]: message`, the line and a caret.
struct Diagnostic {
  Severity severity = Severity::error;
  std::string code;     ///< E… for errors, W… for warnings
  std::string message;  ///< lowercase, no final period, the subject in quotes
  SourceMark where;     ///< the place in a file, when the problem came from one
  std::string subject;  ///< the object (`location 'b1-f2'`) when the problem is in the store
  std::string hint;     ///< how to fix it, may be empty
  std::string pointer;  ///< JSON pointer of the field inside the subject, when known
  bool hide_source = false;  ///< the line holds a credential: format_diagnostic does not quote it
};

/// The text of the files a run read, so diagnostics can quote the offending line.
class SourceSet {
 public:
  /// Remembers `text` as the content of `file`.
  void add(const std::string& file, std::string text);
  /// The 1-based line `line` of `file`, without its line ending; empty when unknown.
  std::string line(const std::string& file, int line) const;

 private:
  std::map<std::string, std::vector<std::string>> lines_;
};

/// Formats one diagnostic for people: header line, then the source line and a caret when known.
std::string format_diagnostic(const Diagnostic& d, const SourceSet* sources, bool color = false);

/// A diagnostic as data for `--format json`.
Json diagnostic_json(const Diagnostic& d);

/// The length (1-4) of the UTF-8 character at `s[i]`, its code point stored in `cp`; 0 when the
/// bytes there are not valid UTF-8 (a stray continuation byte, a sequence cut short, an overlong
/// form, a surrogate, or beyond U+10FFFF) or `i` is past the end.
std::size_t utf8_char(std::string_view s, std::size_t i, char32_t& cp);

/// `value` as a message quotes it: control characters and bytes that are not UTF-8 written as
/// escapes (`\t`, `\x07`, `\u0085`), and cut at a character boundary after about `max_bytes`
/// bytes with "... (N more bytes)". The result is always valid UTF-8, so JSON output can carry it.
std::string excerpt(std::string_view value, std::size_t max_bytes = 80);

/// True when any diagnostic is an error.
bool has_errors(const std::vector<Diagnostic>& diags);

}  // namespace e911
