#include "e911/schema_check.hpp"
#include "e911/diagnostic.hpp"
#include "e911/pattern.hpp"
#include "e911/text.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <bitset>
#include <cctype>
#include <climits>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <mutex>
#include <set>
#include <string_view>

namespace e911 {

namespace {

// Schema patterns are the project's own, but they run on user input: RE2 takes time linear in it
// and never recurses, whatever its length.
const Pattern& cached_pattern(const std::string& pattern) {
  static std::map<std::string, Pattern> cache;
  static std::mutex mu;
  std::lock_guard<std::mutex> lock(mu);
  auto it = cache.find(pattern);
  if (it == cache.end()) it = cache.emplace(pattern, Pattern(pattern)).first;
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

// A value as a message quotes it: cut after about 80 bytes, escapes for what a terminal or JSON
// output cannot carry as is.
std::string shown(const Json& v) {
  if (v.is_string()) return excerpt(url_without_userinfo(v.get_ref<const std::string&>()));  // a URL's credential: masked
  return excerpt(v.dump(-1, ' ', false, Json::error_handler_t::replace));
}

bool check_format(const std::string& format, const std::string& s, std::string& why) {
  if (format == "cidr") {
    if (is_cidr(s)) return true;
    why = "'" + excerpt(s) + "' is not an IPv4 or IPv6 network in CIDR form (such as 10.1.2.0/24 or 2001:db8::/48)";
    return false;
  }
  if (format == "bssid") {
    if (is_bssid(s)) return true;
    why = "'" + excerpt(s) + "' is not a BSSID (six hex pairs such as 00-1A-2B-3C-4D-5E; * only in the last two characters)";
    return false;
  }
  if (format == "sip-uri") {
    if (is_sip_uri(s)) return true;
    why = "'" + excerpt(s) + "' is not a sip: URI";
    return false;
  }
  if (format == "admin-url" || format == "webhook-url") {
    why = url_problem(s, format == "webhook-url");
    return why.empty();
  }
  if (format == "email") {
    why = email_problem(s);
    return why.empty();
  }
  if (format == "absolute-path") {
    why = absolute_path_problem(s);
    return why.empty();
  }
  // "regex" is validate's to check (E406): it compiles the pattern as calls will run it and says
  // what to write instead of what RE2 refuses, so the problem is reported once, under its rule.
  if (format == "date-time") {
    static const Pattern re(R"(^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$)");
    if (re.full_match(s)) return true;
    why = "'" + excerpt(s) + "' is not an RFC 3339 date-time (such as 2026-11-25T10:00:00Z)";
    return false;
  }
  return true;  // unknown formats only annotate, as JSON Schema says
}

// The anchored patterns the schemas use most ("^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$", "^[A-Z]{2}$"):
// a sequence of character sets, each with a repeat count, matched by a small backtracking loop.
// A general matcher costs a fraction of a microsecond a match, which a million location ids turn
// into a good part of a second. Anything else (groups, alternation, anchors inside) is left to
// RE2, and a pattern this parser takes means exactly what ECMAScript says it means over bytes.
class SimplePattern {
 public:
  static std::optional<SimplePattern> compile(const std::string& p) {
    if (p.size() < 2 || p.front() != '^' || p.back() != '$' || (p.size() >= 3 && p[p.size() - 2] == '\\')) return std::nullopt;
    SimplePattern sp;
    std::size_t i = 1;
    const std::size_t end = p.size() - 1;
    while (i < end) {
      Atom a;
      const char c = p[i];
      if (c == '[') {
        ++i;
        bool negate = false;
        if (i < end && p[i] == '^') {
          negate = true;
          ++i;
        }
        bool first = true;
        while (i < end && (p[i] != ']' || first)) {
          first = false;
          int lo;
          if (!read_char(p, i, end, lo, a.set)) return std::nullopt;
          if (lo < 0) continue;  // a class escape such as \d was added whole
          if (i + 1 < end && p[i] == '-' && p[i + 1] != ']') {
            ++i;
            int hi;
            std::bitset<256> ignored;
            if (!read_char(p, i, end, hi, ignored) || hi < lo) return std::nullopt;
            for (int x = lo; x <= hi; ++x) a.set.set(static_cast<std::size_t>(x));
          } else {
            a.set.set(static_cast<std::size_t>(lo));
          }
        }
        if (i >= end) return std::nullopt;
        ++i;  // ']'
        if (negate) a.set.flip();
      } else if (c == '.') {
        a.set.set();
        a.set.reset('\n');
        a.set.reset('\r');
        ++i;
      } else if (std::string_view("()|^$*+?{}]").find(c) != std::string_view::npos) {
        return std::nullopt;
      } else {
        int ch;
        if (!read_char(p, i, end, ch, a.set)) return std::nullopt;
        if (ch >= 0) a.set.set(static_cast<std::size_t>(ch));
      }
      // Quantifier.
      if (i < end) {
        if (p[i] == '?') a.min = 0, a.max = 1, ++i;
        else if (p[i] == '*') a.min = 0, a.max = SIZE_MAX, ++i;
        else if (p[i] == '+') a.min = 1, a.max = SIZE_MAX, ++i;
        else if (p[i] == '{') {
          const auto close = p.find('}', i);
          if (close == std::string::npos || close >= end) return std::nullopt;
          const std::string body = p.substr(i + 1, close - i - 1);
          const auto comma = body.find(',');
          try {
            if (body.empty() || body.find_first_not_of("0123456789,") != std::string::npos) return std::nullopt;
            a.min = std::stoul(body.substr(0, comma));
            a.max = comma == std::string::npos ? a.min : comma + 1 == body.size() ? SIZE_MAX : std::stoul(body.substr(comma + 1));
          } catch (...) {
            return std::nullopt;
          }
          if (a.max < a.min) return std::nullopt;
          i = close + 1;
        }
        if (i < end && (p[i] == '?' || p[i] == '+')) return std::nullopt;  // lazy or possessive
      }
      sp.atoms_.push_back(a);
    }
    return sp;
  }

  bool matches(std::string_view s) const { return match(0, s, 0); }

 private:
  struct Atom {
    std::bitset<256> set;
    std::size_t min = 1, max = 1;
  };
  std::vector<Atom> atoms_;

  // One character at p[i] (an escape included) into `ch`, or -1 with a class escape added to `set`.
  static bool read_char(const std::string& p, std::size_t& i, std::size_t end, int& ch, std::bitset<256>& set) {
    if (p[i] != '\\') {
      ch = static_cast<unsigned char>(p[i++]);
      return true;
    }
    if (i + 1 >= end) return false;
    const char e = p[i + 1];
    i += 2;
    if (e == 'd') {
      for (char d = '0'; d <= '9'; ++d) set.set(static_cast<unsigned char>(d));
      ch = -1;
      return true;
    }
    if (std::isalnum(static_cast<unsigned char>(e))) return false;  // \w, \s, \b, \n...: leave to RE2
    ch = static_cast<unsigned char>(e);
    return true;
  }

  bool match(std::size_t ai, std::string_view s, std::size_t pos) const {
    if (ai == atoms_.size()) return pos == s.size();
    const Atom& a = atoms_[ai];
    std::size_t n = 0;
    while (n < a.max && pos + n < s.size() && a.set.test(static_cast<unsigned char>(s[pos + n]))) ++n;
    if (n < a.min) return false;
    for (std::size_t k = n + 1; k-- > a.min;)
      if (match(ai + 1, s, pos + k)) return true;
    return false;
  }
};

// A schema compiled once into plain members, so checking a million CSV rows does not look keywords
// up by name in every row.
}  // namespace

struct SchemaNode {
  const Json* const_value = nullptr;
  std::vector<std::string> types;
  const Json* enum_values = nullptr;
  std::optional<std::size_t> min_length, max_length, min_items, max_items;
  const Pattern* pattern = nullptr;
  std::optional<SimplePattern> simple;  // the same pattern, when it is simple enough
  std::string pattern_text, format;
  std::optional<double> minimum, maximum;
  bool unique = false, closed = false;
  bool secret = false;  // x-secret: a credential, never quoted
  std::unique_ptr<SchemaNode> items;
  std::vector<std::string> required;
  std::map<std::string, std::unique_ptr<SchemaNode>, std::less<>> properties;
  std::string maximum_text, minimum_text;

  explicit SchemaNode(const Json& schema) {
    if (auto it = schema.find("const"); it != schema.end()) const_value = &*it;
    if (auto it = schema.find("type"); it != schema.end()) {
      if (it->is_string()) types.push_back(it->get<std::string>());
      else
        for (const auto& t : *it) types.push_back(t.get<std::string>());
    }
    if (auto it = schema.find("enum"); it != schema.end()) enum_values = &*it;
    if (auto it = schema.find("minLength"); it != schema.end()) min_length = it->get<std::size_t>();
    if (auto it = schema.find("maxLength"); it != schema.end()) max_length = it->get<std::size_t>();
    if (auto it = schema.find("minItems"); it != schema.end()) min_items = it->get<std::size_t>();
    if (auto it = schema.find("maxItems"); it != schema.end()) max_items = it->get<std::size_t>();
    if (auto it = schema.find("pattern"); it != schema.end()) {
      pattern_text = it->get<std::string>();
      pattern = &cached_pattern(pattern_text);
      simple = SimplePattern::compile(pattern_text);
    }
    if (auto it = schema.find("format"); it != schema.end()) format = it->get<std::string>();
    if (auto it = schema.find("minimum"); it != schema.end()) {
      minimum = it->get<double>();
      minimum_text = it->dump();
    }
    if (auto it = schema.find("maximum"); it != schema.end()) {
      maximum = it->get<double>();
      maximum_text = it->dump();
    }
    unique = schema.value("uniqueItems", false);
    secret = schema.value("x-secret", false);
    closed = schema.contains("additionalProperties") && schema["additionalProperties"] == false;
    if (auto it = schema.find("items"); it != schema.end()) items = std::make_unique<SchemaNode>(*it);
    if (auto it = schema.find("required"); it != schema.end()) required = it->get<std::vector<std::string>>();
    if (auto it = schema.find("properties"); it != schema.end())
      for (const auto& [k, sub] : it->items()) properties.emplace(k, std::make_unique<SchemaNode>(sub));
  }
};

namespace {

const SchemaNode& compiled(const Json& schema) {
  static std::map<const Json*, std::unique_ptr<SchemaNode>> cache;
  static std::mutex mu;
  std::lock_guard<std::mutex> lock(mu);
  auto& slot = cache[&schema];
  if (!slot) slot = std::make_unique<SchemaNode>(schema);
  return *slot;
}

void check_string(const SchemaNode& n, const std::string& s, const std::string& ptr, std::vector<SchemaViolation>& out) {
  const std::size_t len = utf8_length(s);
  // A credential is never quoted, nor a URL's user and password.
  const bool url = n.format == "admin-url" || n.format == "webhook-url";
  const bool secret = n.secret || (url && url_has_userinfo(s));
  const std::size_t first = out.size();
  // The quoted value only matters for a message: build it when there is one.
  auto v = [&] { return n.secret ? std::string("(hidden)") : excerpt(url ? url_without_userinfo(s) : s); };
  if (n.min_length && len < *n.min_length)
    out.push_back({ptr, len == 0 ? "must not be empty" : "'" + v() + "' is shorter than " + std::to_string(*n.min_length) + " characters"});
  if (n.max_length && len > *n.max_length) {
    out.push_back({ptr, "'" + v() + "' is " + std::to_string(len) + " characters, more than the " + std::to_string(*n.max_length) + " allowed"});
    // One problem is enough: a value far too long is not worth matching or compiling as well.
    return;
  }
  if (n.pattern && !(n.simple ? n.simple->matches(s) : n.pattern->search(s)))
    out.push_back({ptr, "'" + v() + "' does not match the pattern " + n.pattern_text});
  if (!n.format.empty()) {
    std::string why;
    if (!check_format(n.format, s, why)) out.push_back({ptr, n.secret ? std::string("'(hidden)' is not of format " + n.format) : why});
  }
  if (secret)
    for (std::size_t i = first; i < out.size(); ++i) out[i].secret = true;
}

void check(const SchemaNode& n, const Json& v, const std::string& ptr, std::vector<SchemaViolation>& out) {
  // A credential is never quoted: its violations say "(hidden)" where others show the value.
  auto shown = [&](const Json& x) { return n.secret ? std::string("(hidden)") : e911::shown(x); };
  struct MarkSecret {
    const SchemaNode& n;
    std::vector<SchemaViolation>& out;
    std::size_t first;
    ~MarkSecret() {
      if (n.secret)
        for (std::size_t i = first; i < out.size(); ++i) out[i].secret = true;
    }
  } mark{n, out, out.size()};
  if (n.const_value && v != *n.const_value) {
    out.push_back({ptr, "must be " + n.const_value->dump()});
    return;
  }
  if (!n.types.empty()) {
    bool ok = false;
    for (const auto& t : n.types) ok = ok || type_matches(t, v);
    if (!ok) {
      std::string want;
      for (const auto& t : n.types) want += (want.empty() ? "" : " or ") + t;
      out.push_back({ptr, "expected " + want + ", found " + json_type(v) + (v.is_null() ? "" : " '" + shown(v) + "'")});
      return;
    }
  }
  if (n.enum_values) {
    bool found = false;
    for (const auto& e : *n.enum_values) found = found || e == v;
    if (!found) {
      std::string list;
      for (const auto& e : *n.enum_values) list += (list.empty() ? "" : ", ") + shown(e);
      out.push_back({ptr, "'" + shown(v) + "' is not one of: " + list});
      return;
    }
  }
  if (v.is_string()) check_string(n, v.get_ref<const std::string&>(), ptr, out);
  if (v.is_number()) {
    const double d = v.get<double>();
    if (n.minimum && d < *n.minimum) out.push_back({ptr, shown(v) + " is less than the minimum " + n.minimum_text});
    if (n.maximum && d > *n.maximum) out.push_back({ptr, shown(v) + " is more than the maximum " + n.maximum_text});
  }
  if (v.is_array()) {
    if (n.min_items && v.size() < *n.min_items) out.push_back({ptr, "needs at least " + std::to_string(*n.min_items) + " items"});
    if (n.max_items && v.size() > *n.max_items)
      out.push_back({ptr, "has " + std::to_string(v.size()) + " items, more than the " + std::to_string(*n.max_items) + " allowed"});
    if (n.unique) {
      for (std::size_t i = 0; i < v.size(); ++i)
        for (std::size_t j = 0; j < i; ++j)
          if (v[i] == v[j]) {
            out.push_back({ptr + "/" + std::to_string(i), "'" + shown(v[i]) + "' is listed twice",
                           v[i].is_string() && url_has_userinfo(v[i].get_ref<const std::string&>())});
            break;
          }
    }
    if (n.items)
      for (std::size_t i = 0; i < v.size(); ++i) check(*n.items, v[i], ptr + "/" + std::to_string(i), out);
  }
  if (v.is_object()) {
    for (const auto& r : n.required)
      if (!v.contains(r)) out.push_back({ptr, "missing required field '" + r + "'"});
    for (const auto& [k, val] : v.items()) {
      const auto it = n.properties.find(k);
      if (it != n.properties.end()) check(*it->second, val, ptr + "/" + escape_pointer(k), out);
      else if (n.closed) out.push_back({ptr + "/" + escape_pointer(k), "unknown field '" + excerpt(k) + "'"});
    }
  }
}

}  // namespace

CompiledSchema::CompiledSchema(const Json& schema) : root_(std::make_unique<SchemaNode>(schema)) {}
CompiledSchema::~CompiledSchema() = default;
CompiledSchema::CompiledSchema(CompiledSchema&&) noexcept = default;
CompiledSchema& CompiledSchema::operator=(CompiledSchema&&) noexcept = default;

std::vector<SchemaViolation> CompiledSchema::check(const Json& value) const {
  std::vector<SchemaViolation> out;
  e911::check(*root_, value, "", out);
  return out;
}

std::string CompiledSchema::check_text(const std::string& text) const {
  const SchemaNode& n = *root_;
  if (!n.types.empty() && std::find(n.types.begin(), n.types.end(), "string") == n.types.end())
    return "expected " + n.types.front() + ", found string '" + excerpt(text) + "'";
  if (n.enum_values) {
    bool found = false;
    for (const auto& e : *n.enum_values) found = found || (e.is_string() && e.get_ref<const std::string&>() == text);
    if (!found) {
      std::string list;
      for (const auto& e : *n.enum_values) list += (list.empty() ? "" : ", ") + shown(e);
      return "'" + excerpt(text) + "' is not one of: " + list;
    }
  }
  std::vector<SchemaViolation> out;
  check_string(n, text, "", out);
  return out.empty() ? std::string() : out.front().message;
}

std::vector<SchemaViolation> check_schema(const Json& schema, const Json& value) {
  std::vector<SchemaViolation> out;
  check(compiled(schema), value, "", out);
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

namespace {

// A DNS host name: dot-separated labels of letters, digits and '-', none starting or ending with
// '-', each at most 63 characters, 253 in all; a trailing dot (the root) allowed.
bool is_host_name(std::string_view h) {
  if (!h.empty() && h.back() == '.') h.remove_suffix(1);
  if (h.empty() || h.size() > 253) return false;
  std::size_t start = 0;
  while (start <= h.size()) {
    const std::size_t end = std::min(h.find('.', start), h.size());
    const std::string_view label = h.substr(start, end - start);
    if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-') return false;
    for (const char c : label)
      if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-') return false;
    start = end + 1;
  }
  return true;
}

bool is_ipv4(const std::string& h) {
  unsigned char buf[4];
  return inet_pton(AF_INET, h.c_str(), buf) == 1;
}

}  // namespace

namespace {

// Where a URL's authority starts and ends in `s`; npos when `s` has no "://".
std::pair<std::size_t, std::size_t> authority_of(const std::string& s) {
  const auto sep = s.find("://");
  if (sep == std::string::npos) return {std::string::npos, std::string::npos};
  const std::size_t start = sep + 3;
  return {start, std::min(s.find_first_of("/?#", start), s.size())};
}

}  // namespace

bool url_has_userinfo(const std::string& s) {
  const auto [start, end] = authority_of(s);
  return start != std::string::npos && s.substr(start, end - start).find('@') != std::string::npos;
}

std::string url_without_userinfo(const std::string& s) {
  const auto [start, end] = authority_of(s);
  if (start == std::string::npos) return s;
  const auto at = s.substr(start, end - start).rfind('@');
  if (at == std::string::npos) return s;
  return s.substr(0, start) + "***" + s.substr(start + at);
}

std::string url_problem(const std::string& s, bool webhook) {
  // Quoted with its user and password masked: a refusal is no place for the credential either.
  const std::string shown = "'" + excerpt(url_without_userinfo(s)) + "'";
  const std::string example = webhook ? "https://alerts.contoso.example/e911" : "http://127.0.0.1:5080";
  const auto sep = s.find("://");
  std::string scheme = sep == std::string::npos ? std::string() : s.substr(0, sep);
  for (char& c : scheme) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (scheme != "http" && scheme != "https")
    return shown + " is not " + (webhook ? "an https:// URL" : "an http:// or https:// URL") + " (such as " + example + ")";
  for (const char c : s)
    if (static_cast<unsigned char>(c) <= ' ' || static_cast<unsigned char>(c) == 0x7f || c == '"' || c == '<' || c == '>' || c == '\\' ||
        c == '^' || c == '`' || c == '{' || c == '|' || c == '}')
      return shown + " holds a space, a control character or one of \"<>\\^`{|}, which a URL writes %-encoded";
  const std::size_t auth_start = sep + 3;
  const std::size_t auth_end = std::min(s.find_first_of("/?#", auth_start), s.size());
  const std::string authority = s.substr(auth_start, auth_end - auth_start);
  if (authority.find('@') != std::string::npos)
    return shown + " holds a user name or password; " +
           (webhook ? std::string("the store and the snapshot are no place for secrets") : std::string("the runtime's token is read from token_file"));
  std::string host, port;
  if (!authority.empty() && authority[0] == '[') {
    const auto close = authority.find(']');
    if (close == std::string::npos) return shown + " opens an IPv6 address with [ and does not close it";
    host = authority.substr(1, close - 1);
    unsigned char buf[16];
    if (inet_pton(AF_INET6, host.c_str(), buf) != 1) return shown + ": '" + excerpt(host) + "' is not an IPv6 address";
    if (close + 1 < authority.size()) {
      if (authority[close + 1] != ':') return shown + " has text after the IPv6 address that is not :PORT";
      port = authority.substr(close + 2);
      if (port.empty()) return shown + " has a ':' and no port after it";
    }
  } else {
    const auto colon = authority.find(':');
    host = authority.substr(0, colon);
    if (colon != std::string::npos) {
      port = authority.substr(colon + 1);
      if (port.empty()) return shown + " has a ':' and no port after it";
    }
    if (host.empty()) return shown + " names no host";
    if (!is_ipv4(host) && !is_host_name(host)) return shown + ": '" + excerpt(host) + "' is not a host name or an IP address";
  }
  if (!port.empty()) {
    if (port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos || std::stoi(port) < 1 || std::stoi(port) > 65535)
      return shown + ": port '" + excerpt(port) + "' is not a number from 1 to 65535";
  }
  if (webhook) {
    if (s.find('#') != std::string::npos) return shown + " has a #fragment, which is never sent to a server";
    // Plain http carries the caller's name, number and location in clear: only to this machine
    // (a receiver in a test, a local relay), written as an address so no name lookup can move it.
    if (scheme == "http") {
      unsigned char b[4];
      const bool loopback = host == "::1" || (inet_pton(AF_INET, host.c_str(), b) == 1 && b[0] == 127);
      if (!loopback)
        return shown + " is plain http to another machine; a webhook carries the caller's location: use https:// (http:// is allowed only to "
                       "127.0.0.0/8 or [::1])";
    }
  } else if (s.find_first_of("?#", auth_start) != std::string::npos) {
    return shown + " has a query or fragment; give the admin API's base URL (such as " + example + ")";
  }
  return {};
}

std::string email_problem(const std::string& s) {
  const std::string shown = "'" + excerpt(s) + "'";
  std::string lower = s.substr(0, 7);
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (lower == "mailto:") return shown + " is written as a URI; write the address alone: '" + excerpt(s.substr(7)) + "'";
  const auto at = s.rfind('@');
  if (at == std::string::npos) return shown + " is not an e-mail address (such as security@contoso.example): it has no @";
  const std::string local = s.substr(0, at), domain = s.substr(at + 1);
  static const std::string kAtext = "!#$%&'*+/=?^_`{|}~-";
  bool ok = !local.empty() && local.size() <= 64 && local.front() != '.' && local.back() != '.' && local.find("..") == std::string::npos;
  for (const char c : local)
    ok = ok && (std::isalnum(static_cast<unsigned char>(c)) || c == '.' || kAtext.find(c) != std::string::npos);
  if (!ok) return shown + ": '" + excerpt(local) + "' before the @ is not a mailbox name (letters, digits, . and !#$%&'*+/=?^_`{|}~-, at most 64)";
  if (!is_host_name(domain)) return shown + ": '" + excerpt(domain) + "' after the @ is not a domain name";
  return {};
}

std::string absolute_path_problem(const std::string& s) {
  if (s.empty() || s[0] != '/') return "'" + excerpt(s) + "' is not an absolute path (such as /etc/e911ctl/admin.token)";
  std::size_t at = 0;
  if (control_char(s, at, false)) return "'" + excerpt(s) + "' holds a control character";
  return {};
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
