#pragma once
// The runtime's log on standard error: JSON lines for machines (journald, a log shipper), text for
// a person at a terminal. One event is one line, whole, whichever thread writes it.
#include <chrono>
#include <functional>
#include <mutex>
#include <ostream>
#include <string>
#include <string_view>

#include "e911/json.hpp"

namespace e911::runtime {

enum class LogFormat { json, text };

/// The format a `log_format` setting asks for: "json", "text", or "auto": text when `fd`
/// (standard error by default) is a terminal, json otherwise. Throws Error(usage) for any other
/// setting.
LogFormat pick_log_format(const std::string& setting, int fd = 2);

/// A thread-safe log. Each line is built whole, then written with one write(2) to standard error
/// (atomic against other processes' lines up to PIPE_BUF bytes) or, under a lock, to the given
/// stream; lines never interleave.
///
/// JSON: {"time":"2026-12-02T01:02:03.456Z","level":"info","msg":"...",<fields>} — time in UTC
/// with milliseconds; a field named time, level or msg is dropped, bytes that are not UTF-8
/// become U+FFFD. Text: `2026-12-02T01:02:03.456Z info  message key=value ...`, the level padded
/// to five characters; values with spaces, quotes, '=' or backslashes are double-quoted,
/// objects and arrays are written as compact JSON, control characters are escaped (\n, \x1B).
class Log {
 public:
  using Clock = std::function<std::chrono::system_clock::time_point()>;

  /// A log on standard error.
  explicit Log(LogFormat format, Clock now = {});
  /// A log on `out` (tests); `out` must outlive the log.
  Log(LogFormat format, std::ostream& out, Clock now = {});

  LogFormat format() const { return format_; }

  /// One event: `level` ("debug", "info", "warn", "error"), a lowercase message, and fields
  /// (a JSON object; anything else is written under the key "value").
  void event(std::string_view level, std::string_view message, const Json& fields = Json::object());

  /// One finished call: the record's fields (call_id, kind, from, to, outcome, status, trunk,
  /// duration_ms, ...) on one line at level info, message "call". A record whose "outcome" is
  /// "failed" is logged at level warn.
  void call(const Json& record);
  /// The same from the runtime's own record, written straight from its fields.
  void call(const class CallRecord& record);

  /// The line an event would be written as, without its newline (for tests and for callers that
  /// send the line elsewhere too).
  std::string line(std::string_view level, std::string_view message, const Json& fields) const;

 private:
  void write(const std::string& line);

  LogFormat format_;
  std::ostream* out_ = nullptr;  // null: standard error through write(2)
  Clock now_;
  std::mutex mu_;
};

/// `t` as RFC 3339 UTC with milliseconds: 2026-12-02T01:02:03.456Z.
std::string rfc3339_ms(std::chrono::system_clock::time_point t);

}  // namespace e911::runtime
