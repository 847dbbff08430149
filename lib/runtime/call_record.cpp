// The record of one call: see runtime_call_record.hpp.
#include "e911/runtime_call_record.hpp"

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <cstring>

namespace e911::runtime {

void append_json_string(std::string& out, std::string_view v) {
  if (std::any_of(v.begin(), v.end(), [](char c) { return static_cast<unsigned char>(c) >= 0x80; })) {
    // Not ASCII: nlohmann checks it as UTF-8 and replaces what is not.
    out += Json(std::string(v)).dump(-1, ' ', false, Json::error_handler_t::replace);
    return;
  }
  out += '"';
  std::size_t plain = 0;  // the start of the run of characters written as they are
  for (std::size_t i = 0; i < v.size(); ++i) {
    const char c = v[i];
    if (c != '"' && c != '\\' && static_cast<unsigned char>(c) >= 0x20) continue;
    out.append(v.data() + plain, i - plain);
    plain = i + 1;
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else {
      char hex[8];
      std::snprintf(hex, sizeof hex, "\\u%04x", static_cast<unsigned>(static_cast<unsigned char>(c)));
      out += hex;
    }
  }
  out.append(v.data() + plain, v.size() - plain);
  out += '"';
}

namespace {

void append_number(std::string& out, std::int64_t n) {
  char buf[24];
  const auto r = std::to_chars(buf, buf + sizeof buf, n);
  out.append(buf, r.ptr);
}

void append_key(std::string& out, const char* key) {
  out += ',';
  append_json_string(out, key);
  out += ':';
}

}  // namespace

CallRecord::CallRecord() { fields_.reserve(24); }

CallRecord::Field& CallRecord::slot(const char* key, Kind kind) {
  for (Field& f : fields_)
    if (f.key == key || std::strcmp(f.key, key) == 0) {
      f.kind = kind;
      return f;
    }
  fields_.push_back(Field{key, kind});
  return fields_.back();
}

void CallRecord::set(const char* key, std::string value) { slot(key, Kind::string).text = std::move(value); }

void CallRecord::set(const char* key, std::int64_t value) { slot(key, Kind::integer).number = value; }

void CallRecord::set(const char* key, bool value) { slot(key, Kind::boolean).flag = value; }

void CallRecord::set_null(const char* key) { slot(key, Kind::null); }

void CallRecord::set_json(const char* key, Json value) {
  slot(key, Kind::json).text = value.dump(-1, ' ', false, Json::error_handler_t::replace);
}

std::string_view CallRecord::str(std::string_view key) const {
  for (const Field& f : fields_)
    if (f.kind == Kind::string && key == f.key) return f.text;
  return {};
}

bool CallRecord::has(std::string_view key) const {
  return std::any_of(fields_.begin(), fields_.end(), [&](const Field& f) { return key == f.key; });
}

void CallRecord::append_field(std::string& out, const Field& f) {
  append_key(out, f.key);
  switch (f.kind) {
    case Kind::string: append_json_string(out, f.text); break;
    case Kind::integer: append_number(out, f.number); break;
    case Kind::boolean: out += f.flag ? "true" : "false"; break;
    case Kind::null: out += "null"; break;
    case Kind::json: out += f.text; break;
  }
}

void CallRecord::append_attempts(std::string& out) const {
  append_key(out, "attempts");
  out += '[';
  for (std::size_t i = 0; i < attempts.size(); ++i) {
    const Attempt& a = attempts[i];
    if (i) out += ',';
    out += "{\"target\":";
    append_json_string(out, a.target);
    out += ",\"request_uri\":";
    append_json_string(out, a.request_uri);
    out += ",\"destination\":";
    append_json_string(out, a.destination);
    out += ",\"transport\":";
    append_json_string(out, a.transport);
    if (a.tls_fallback >= 0) out += a.tls_fallback ? ",\"tls_fallback\":true" : ",\"tls_fallback\":false";
    if (a.pidf_lo >= 0) out += a.pidf_lo ? ",\"pidf_lo\":true" : ",\"pidf_lo\":false";
    if (!a.degraded.empty()) {
      out += ",\"degraded\":";
      append_json_string(out, a.degraded);
    }
    if (a.status != 0) {
      out += ",\"status\":";
      append_number(out, a.status);
    }
    if (a.has_reason) {
      out += ",\"reason\":";
      append_json_string(out, a.reason);
    }
    if (a.ms >= 0) {
      out += ",\"ms\":";
      append_number(out, a.ms);
    }
    out += '}';
  }
  out += ']';
}

void CallRecord::append_notifications(std::string& out) const {
  append_key(out, "notifications");
  out += '[';
  for (std::size_t i = 0; i < notifications.size(); ++i) {
    if (i) out += ',';
    out += notifications[i].dump(-1, ' ', false, Json::error_handler_t::replace);
  }
  out += ']';
}

std::string CallRecord::json_text() const {
  std::string out;
  out.reserve(1024);
  append_fields(out, [](std::string_view) { return false; });
  if (out.empty()) return "{}";
  out[0] = '{';  // the first field's leading comma
  out += '}';
  return out;
}

Json CallRecord::to_json() const { return Json::parse(json_text()); }

}  // namespace e911::runtime
