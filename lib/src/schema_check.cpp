#include "e911/schema_check.hpp"

#include <arpa/inet.h>

#include <map>
#include <mutex>
#include <regex>
#include <set>

namespace e911 {

namespace {

const std::regex& cached_regex(const std::string& pattern) {
  static std::map<std::string, std::regex> cache;
  static std::mutex mu;
  std::lock_guard<std::mutex> lock(mu);
  auto it = cache.find(pattern);
  if (it == cache.end()) it = cache.emplace(pattern, std::regex(pattern, std::regex::ECMAScript)).first;
  return it->second;
}

std::string json_type(const Json& v) {
  if (v.is_null()) return "null";
  if (v.is_boolean()) return "boolean";
  if (v.is_number_integer() || v.is_number_unsigned()) return "integer";
  if (v.is_number()) return "number";
  if (v.is_string()) return "string";
  if (v.is_array()) return "array";
  return "object";
}

bool type_matches(const std::string& want, const Json& v) {
  if (want == "number") return v.is_number();
  if (want == "integer") return v.is_number_integer() || v.is_number_unsigned() ||
                                (v.is_number_float() && v.get<double>() == static_cast<double>(static_cast<long long>(v.get<double>())));
  return json_type(v) == want;
}

std::size_t utf8_length(const std::string& s) {
  std::size_t n = 0;
  for (unsigned char c : s)
    if ((c & 0xC0) != 0x80) ++n;
  return n;
}

std::string escape_pointer(const std::string& s) {
  std::string r;
  for (char c : s) {
    if (c == '~') r += "~0";
    else if (c == '/') r += "~1";
    else r += c;
  }
  return r;
}

std::string shown(const Json& v) {
  std::string s = v.is_string() ? v.get<std::string>() : v.dump();
  if (s.size() > 60) s = s.substr(0, 57) + "...";
  return s;
}

bool check_format(const std::string& format, const std::string& s, std::string& why) {
  if (format == "cidr") {
    if (is_cidr(s)) return true;
    why = "'" + s + "' is not an IPv4 or IPv6 network in CIDR form (such as 10.1.2.0/24 or 2001:db8::/48)";
    return false;
  }
  if (format == "bssid") {
    if (is_bssid(s)) return true;
    why = "'" + s + "' is not a BSSID (six hex pairs such as 00-1A-2B-3C-4D-5E; * only in the last two characters)";
    return false;
  }
  if (format == "sip-uri") {
    if (is_sip_uri(s)) return true;
    why = "'" + s + "' is not a sip: URI";
    return false;
  }
  if (format == "regex") {
    try {
      std::regex re(s, std::regex::ECMAScript);
      return true;
    } catch (const std::regex_error& e) {
      why = "'" + s + "' is not a valid regular expression: " + e.what();
      return false;
    }
  }
  if (format == "date-time") {
    static const std::regex re(R"(^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$)");
    if (std::regex_match(s, re)) return true;
    why = "'" + s + "' is not an RFC 3339 date-time (such as 2026-11-25T10:00:00Z)";
    return false;
  }
  return true;  // unknown formats only annotate, as JSON Schema says
}

void check(const Json& schema, const Json& v, const std::string& ptr, std::vector<SchemaViolation>& out) {
  if (schema.contains("const") && v != schema["const"]) {
    out.push_back({ptr, "must be " + schema["const"].dump()});
    return;
  }
  if (schema.contains("type")) {
    const Json& t = schema["type"];
    bool ok = false;
    if (t.is_string()) ok = type_matches(t.get<std::string>(), v);
    else
      for (const auto& one : t) ok = ok || type_matches(one.get<std::string>(), v);
    if (!ok) {
      out.push_back({ptr, "expected " + (t.is_string() ? t.get<std::string>() : t.dump()) + ", found " + json_type(v) +
                              (v.is_null() ? "" : " '" + shown(v) + "'")});
      return;
    }
  }
  if (schema.contains("enum")) {
    bool found = false;
    for (const auto& e : schema["enum"]) found = found || e == v;
    if (!found) {
      std::string list;
      for (const auto& e : schema["enum"]) list += (list.empty() ? "" : ", ") + shown(e);
      out.push_back({ptr, "'" + shown(v) + "' is not one of: " + list});
      return;
    }
  }
  if (v.is_string()) {
    const std::string& s = v.get_ref<const std::string&>();
    const std::size_t len = utf8_length(s);
    if (schema.contains("minLength") && len < schema["minLength"].get<std::size_t>())
      out.push_back({ptr, len == 0 ? "must not be empty"
                                   : "'" + shown(v) + "' is shorter than " + schema["minLength"].dump() + " characters"});
    if (schema.contains("maxLength") && len > schema["maxLength"].get<std::size_t>())
      out.push_back({ptr, "'" + shown(v) + "' is " + std::to_string(len) + " characters, more than the " +
                              schema["maxLength"].dump() + " allowed"});
    if (schema.contains("pattern") && !std::regex_search(s, cached_regex(schema["pattern"].get<std::string>())))
      out.push_back({ptr, "'" + shown(v) + "' does not match the pattern " + schema["pattern"].get<std::string>()});
    if (schema.contains("format")) {
      std::string why;
      if (!check_format(schema["format"].get<std::string>(), s, why)) out.push_back({ptr, why});
    }
  }
  if (v.is_number()) {
    const double d = v.get<double>();
    if (schema.contains("minimum") && d < schema["minimum"].get<double>())
      out.push_back({ptr, shown(v) + " is less than the minimum " + schema["minimum"].dump()});
    if (schema.contains("maximum") && d > schema["maximum"].get<double>())
      out.push_back({ptr, shown(v) + " is more than the maximum " + schema["maximum"].dump()});
  }
  if (v.is_array()) {
    if (schema.contains("minItems") && v.size() < schema["minItems"].get<std::size_t>())
      out.push_back({ptr, "needs at least " + schema["minItems"].dump() + " items"});
    if (schema.contains("maxItems") && v.size() > schema["maxItems"].get<std::size_t>())
      out.push_back({ptr, "has " + std::to_string(v.size()) + " items, more than the " + schema["maxItems"].dump() + " allowed"});
    if (schema.value("uniqueItems", false)) {
      for (std::size_t i = 0; i < v.size(); ++i)
        for (std::size_t j = 0; j < i; ++j)
          if (v[i] == v[j]) {
            out.push_back({ptr + "/" + std::to_string(i), "'" + shown(v[i]) + "' is listed twice"});
            break;
          }
    }
    if (schema.contains("items"))
      for (std::size_t i = 0; i < v.size(); ++i) check(schema["items"], v[i], ptr + "/" + std::to_string(i), out);
  }
  if (v.is_object()) {
    if (schema.contains("required"))
      for (const auto& r : schema["required"])
        if (!v.contains(r.get<std::string>())) out.push_back({ptr, "missing required field '" + r.get<std::string>() + "'"});
    const Json* props = schema.contains("properties") ? &schema["properties"] : nullptr;
    const bool closed = schema.contains("additionalProperties") && schema["additionalProperties"] == false;
    for (const auto& [k, val] : v.items()) {
      const std::string child = ptr + "/" + escape_pointer(k);
      if (props && props->contains(k)) check((*props)[k], val, child, out);
      else if (closed) out.push_back({child, "unknown field '" + k + "'"});
    }
  }
}

}  // namespace

std::vector<SchemaViolation> check_schema(const Json& schema, const Json& value) {
  std::vector<SchemaViolation> out;
  check(schema, value, "", out);
  return out;
}

bool is_cidr(const std::string& text) {
  const auto slash = text.find('/');
  if (slash == std::string::npos || slash + 1 >= text.size() || text.size() - slash > 4) return false;
  const std::string addr = text.substr(0, slash);
  for (std::size_t i = slash + 1; i < text.size(); ++i)
    if (text[i] < '0' || text[i] > '9') return false;
  const int bits = std::stoi(text.substr(slash + 1));
  unsigned char buf[16];
  if (addr.find(':') != std::string::npos) return inet_pton(AF_INET6, addr.c_str(), buf) == 1 && bits <= 128;
  return inet_pton(AF_INET, addr.c_str(), buf) == 1 && bits <= 32;
}

bool is_bssid(const std::string& s) {
  if (s.size() != 17 && s.size() != 16) return false;
  // Full form is 17 characters; a trailing '*' may stand for the last one or two hex digits.
  const std::size_t star = s.find('*');
  if (star != std::string::npos && star != s.size() - 1) return false;
  if (star == std::string::npos && s.size() != 17) return false;
  const char sep = s.size() > 2 ? s[2] : '-';
  if (sep != '-' && sep != ':') return false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (i % 3 == 2) {
      if (c != sep) return false;
    } else if (!(std::isxdigit(static_cast<unsigned char>(c)) || (c == '*' && i == s.size() - 1))) {
      return false;
    }
  }
  return true;
}

bool is_sip_uri(const std::string& s) {
  std::size_t start;
  if (s.rfind("sip:", 0) == 0) start = 4;
  else if (s.rfind("sips:", 0) == 0) start = 5;
  else return false;
  if (s.size() <= start) return false;
  for (char c : s)
    if (static_cast<unsigned char>(c) <= ' ' || c == '<' || c == '>' || c == '"') return false;
  const std::size_t at = s.find('@', start);
  const std::string host = at == std::string::npos ? s.substr(start) : s.substr(at + 1);
  if (at != std::string::npos && at == start) return false;
  return !host.empty() && host[0] != ';' && host[0] != ':';
}

}  // namespace e911
