#include "e911/runtime_log.hpp"

#include "e911/runtime_call_record.hpp"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <ctime>

#include "e911/diagnostic.hpp"
#include "e911/error.hpp"
#include "e911/text.hpp"

namespace e911::runtime {

namespace {

bool reserved(std::string_view key) { return key == "time" || key == "level" || key == "msg"; }

// A value as a text line shows it: bare when it cannot be misread, else double-quoted.
std::string text_value(const Json& v) {
  if (!v.is_string()) {
    const std::string s = v.dump(-1, ' ', false, Json::error_handler_t::replace);
    return v.is_structured() ? escape_controls(s) : s;
  }
  const std::string& s = v.get_ref<const std::string&>();
  const bool plain = !s.empty() && s.find_first_of(" \"=\\") == std::string::npos;
  if (plain) return escape_controls(s);
  std::string quoted;
  for (const char c : s) {
    if (c == '"' || c == '\\') quoted += '\\';
    quoted += c;
  }
  return "\"" + escape_controls(quoted) + "\"";
}

}  // namespace

LogFormat pick_log_format(const std::string& setting, int fd) {
  if (setting == "json") return LogFormat::json;
  if (setting == "text") return LogFormat::text;
  if (setting == "auto") return isatty(fd) ? LogFormat::text : LogFormat::json;
  throw Error(ErrorKind::usage, "log format '" + excerpt(setting) + "' is not one of: auto, json, text");
}

std::string rfc3339_ms(std::chrono::system_clock::time_point t) {
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
  const std::time_t secs = static_cast<std::time_t>(ms / 1000 - (ms % 1000 < 0 ? 1 : 0));
  const int frac = static_cast<int>((ms % 1000 + 1000) % 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[40];
  const std::size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  std::snprintf(buf + n, sizeof buf - n, ".%03dZ", frac);
  return buf;
}

Log::Log(LogFormat format, Clock now) : format_(format), now_(std::move(now)) {}

Log::Log(LogFormat format, std::ostream& out, Clock now) : format_(format), out_(&out), now_(std::move(now)) {}

std::string Log::line(std::string_view level, std::string_view message, const Json& fields) const {
  const std::string time = rfc3339_ms(now_ ? now_() : std::chrono::system_clock::now());
  if (format_ == LogFormat::json && (fields.is_object() || fields.is_null())) {
    // Written field by field into one string, never copying the record: one line per call on a
    // busy runtime. One serializer appends every value where it belongs (no string per field).
    std::string out;
    out.reserve(1024);
    nlohmann::detail::serializer<Json> json(nlohmann::detail::output_adapter<char>(out), ' ', Json::error_handler_t::replace);
    auto str = [&](std::string_view v) {  // our own keys and words: escaped as JSON wants
      if (std::any_of(v.begin(), v.end(), [](char c) { return static_cast<unsigned char>(c) >= 0x80; }))
        return json.dump(Json(std::string(v)), false, false, 0);  // not ASCII: checked as UTF-8
      out += '"';
      for (const char c : v) {
        if (c == '"' || c == '\\') {
          out += '\\';
          out += c;
        } else if (static_cast<unsigned char>(c) < 0x20) {
          char hex[8];
          std::snprintf(hex, sizeof hex, "\\u%04x", c);
          out += hex;
        } else {
          out += c;
        }
      }
      out += '"';
    };
    out += "{\"time\":";
    str(time);
    out += ",\"level\":";
    str(level);
    out += ",\"msg\":";
    str(message);
    if (fields.is_object())
      for (const auto& [k, v] : fields.items()) {
        if (reserved(k)) continue;
        out += ',';
        str(k);
        out += ':';
        json.dump(v, false, false, 0);
      }
    out += '}';
    return out;
  }
  Json extra = fields.is_object() ? fields : Json{{"value", fields}};
  if (fields.is_null()) extra = Json::object();
  if (format_ == LogFormat::json) {
    Json j = {{"time", time}, {"level", std::string(level)}, {"msg", std::string(message)}};
    for (const auto& [k, v] : extra.items())
      if (!reserved(k)) j[k] = v;
    return j.dump(-1, ' ', false, Json::error_handler_t::replace);
  }
  std::string out = time + " " + std::string(level);
  if (level.size() < 5) out.append(5 - level.size(), ' ');
  out += " " + escape_controls(message);
  for (const auto& [k, v] : extra.items())
    if (!reserved(k)) out += " " + escape_controls(k) + "=" + text_value(v);
  return out;
}

void Log::event(std::string_view level, std::string_view message, const Json& fields) {
  write(line(level, message, fields) + "\n");
}

void Log::call(const Json& record) {
  const bool failed = record.is_object() && record.contains("outcome") && record["outcome"] == "failed";
  std::string text = line(failed ? "warn" : "info", "call", record);
  text += '\n';
  write(text);
}

void Log::call(const CallRecord& record) {
  const bool failed = record.str("outcome") == "failed";
  if (format_ != LogFormat::json) return call(record.to_json());
  // JSON: the line's time, level and msg, then the record's fields (its own "time", the call's
  // start, is the one field a log line has already).
  std::string text;
  text.reserve(1536);
  text += "{\"time\":";
  append_json_string(text, rfc3339_ms(now_ ? now_() : std::chrono::system_clock::now()));
  text += failed ? ",\"level\":\"warn\"" : ",\"level\":\"info\"";
  text += ",\"msg\":\"call\"";
  record.append_fields(text, reserved);
  text += "}\n";
  write(text);
}

void Log::write(const std::string& text) {
  std::lock_guard<std::mutex> lock(mu_);
  if (out_) {
    *out_ << text << std::flush;
    return;
  }
  // One write(2) for the whole line where the kernel takes it; the lock keeps a line cut short
  // by a signal or a full pipe from being split by another thread's.
  for (std::size_t done = 0; done < text.size();) {
    const ssize_t n = ::write(STDERR_FILENO, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;  // standard error is gone: there is nowhere to say so
    done += static_cast<std::size_t>(n);
  }
}

}  // namespace e911::runtime
