#pragma once
// The record of one call through the runtime: what `e911ctl runtime calls` shows and what the
// per-call log line carries. Built field by field while the call runs, written as JSON text once
// it ends (Log::call, CallLog::add); a JSON object (nlohmann) only when someone reads it.
//
// Why not a JSON object from the start: a record has some thirty fields, and building one as a
// JSON tree is a heap allocation per string (and per key over fifteen characters) on the loop
// thread for every call, then a walk of that tree to write the log line, then the freeing of a
// tree a thousand calls old and long out of the cache when the ring of recent calls drops it.
// Here the fields are plain strings and numbers in one vector, and the ring keeps one string.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "e911/json.hpp"

namespace e911::runtime {

/// `v` as a JSON string (quotes included) appended to `out`: invalid UTF-8 is replaced (U+FFFD),
/// control characters are escaped. The one escaper of the runtime's JSON text.
void append_json_string(std::string& out, std::string_view v);

class CallRecord {
 public:
  /// One outbound leg tried for the call, in order.
  struct Attempt {
    std::string target;       ///< "trunk 'pstn-gateway'", "contact sip:bob@..."
    std::string request_uri;
    std::string destination;  ///< host:port
    const char* transport = "udp";
    signed char tls_fallback = -1;  ///< -1: not said; else the try over TCP after TLS failed
    signed char pidf_lo = -1;       ///< -1: not said (not a call to the provider); else with a PIDF-LO
    std::string degraded;           ///< how its INVITE was made to fit max_message; empty: sent as decided
    int status = 0;                 ///< 0: no final answer yet
    bool has_reason = false;
    std::string reason;
    std::int64_t ms = -1;           ///< time to the final answer; -1 none yet
  };

  CallRecord();

  /// Sets `key` (a string literal: the record keeps the pointer) to a value, replacing the one
  /// it had; a new key goes after the others.
  void set(const char* key, std::string value);
  void set(const char* key, const char* value) { set(key, std::string(value)); }
  void set(const char* key, std::string_view value) { set(key, std::string(value)); }
  void set(const char* key, std::int64_t value);
  void set(const char* key, int value) { set(key, static_cast<std::int64_t>(value)); }
  void set(const char* key, std::uint64_t value) { set(key, static_cast<std::int64_t>(value)); }
  void set(const char* key, bool value);
  void set_null(const char* key);
  void set_json(const char* key, Json value);  ///< a nested value (a location, a fallback)
  /// The string `key` holds, else empty.
  std::string_view str(std::string_view key) const;
  bool has(std::string_view key) const;

  std::vector<Attempt> attempts;     ///< written as "attempts" (always, maybe empty)
  /// Written as "notifications" when notifications_said (an emergency call whose policy tells
  /// someone), each an object of the desk's or the notifier's outcome.
  bool notifications_said = false;
  std::vector<Json> notifications;

  /// The record as one JSON object: `{"key":value,...}`.
  std::string json_text() const;
  /// The fields as `,"key":value` pieces appended to `out`, leaving out the keys `skip` says yes
  /// to (a log line's own time, level and msg).
  template <class Skip>
  void append_fields(std::string& out, Skip skip) const {
    for (const Field& f : fields_)
      if (!skip(std::string_view(f.key))) append_field(out, f);
    if (!skip(std::string_view("attempts"))) append_attempts(out);
    if (notifications_said && !skip(std::string_view("notifications"))) append_notifications(out);
  }
  /// The record as a JSON object (parsed from json_text(): for readers, off the loop thread).
  Json to_json() const;

 private:
  enum class Kind : unsigned char { string, integer, boolean, null, json };
  struct Field {
    const char* key;
    Kind kind;
    bool flag = false;
    std::int64_t number = 0;
    std::string text;  ///< the string, or a nested value already written as JSON
  };
  Field& slot(const char* key, Kind kind);
  static void append_field(std::string& out, const Field& f);
  void append_attempts(std::string& out) const;
  void append_notifications(std::string& out) const;
  std::vector<Field> fields_;
};

}  // namespace e911::runtime
