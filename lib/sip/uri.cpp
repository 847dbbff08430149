// URIs and name-addr values of RFC 3261: small owned structures, strict on the forms RFC 4475
// calls invalid and lenient on characters the grammar allows.
#include "e911/sip_uri.hpp"

#include <array>
#include <cctype>

#include "e911/sip_text.hpp"

namespace e911::sip {
namespace {

bool fail(std::string* error, const char* why) {
  if (error) *error = why;
  return false;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(ascii_lower(static_cast<unsigned char>(c)));
  return out;
}

bool has_space_or_ctl(std::string_view s) {
  for (unsigned char c : s)
    if (c <= 0x20 || c == 0x7f) return true;
  return false;
}

int hex(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/// `name[=value]` pieces separated by `sep` (URI parameters and headers: no LWS, raw values).
bool split_uri_params(std::string_view s, char sep, std::vector<Param>& out, std::string* error) {
  while (true) {
    std::size_t end = s.find(sep);
    std::string_view item = s.substr(0, end);
    std::size_t eq = item.find('=');
    Param p;
    p.name = std::string(item.substr(0, eq));
    if (p.name.empty()) return fail(error, "empty uri parameter");
    if (eq != std::string_view::npos) {
      p.has_value = true;
      p.value = std::string(item.substr(eq + 1));
    }
    out.push_back(std::move(p));
    if (end == std::string_view::npos) return true;
    s.remove_prefix(end + 1);
  }
}

bool parse_host(std::string_view hp, Uri& u, std::string* error) {
  std::string_view port;
  if (!hp.empty() && hp.front() == '[') {
    std::size_t close = hp.find(']');
    if (close == std::string_view::npos) return fail(error, "unterminated ipv6 reference");
    std::string_view v6 = hp.substr(1, close - 1);
    if (v6.empty()) return fail(error, "empty host");
    for (char c : v6)
      if (hex(c) < 0 && c != ':' && c != '.') return fail(error, "bad ipv6 reference");
    u.host = std::string(v6);
    u.ipv6 = true;
    std::string_view rest = hp.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') return fail(error, "bad host");
      port = rest.substr(1);
      if (port.empty()) return fail(error, "empty port");
    }
  } else {
    std::size_t colon = hp.find(':');
    std::string_view host = hp.substr(0, colon);
    if (host.empty()) return fail(error, "empty host");
    for (char c : host)
      if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '.' && c != '_')
        return fail(error, "bad host");
    u.host = std::string(host);
    if (colon != std::string_view::npos) {
      port = hp.substr(colon + 1);
      if (port.empty()) return fail(error, "empty port");
    }
  }
  if (!port.empty()) {
    if (port.size() > 5) return fail(error, "bad port");
    int n = 0;
    for (char c : port) {
      if (!std::isdigit(static_cast<unsigned char>(c))) return fail(error, "bad port");
      n = n * 10 + (c - '0');
    }
    if (n > 65535) return fail(error, "bad port");
    u.port = n;
  }
  return true;
}

bool parse_sip(std::string_view rest, Uri& u, std::string* error) {
  // The userinfo ends at the first '@': neither user nor password may hold one unescaped, while
  // both may hold ';', '?' and ',' (RFC 4475 intmeth, semiuri).
  std::size_t at = rest.find('@');
  if (at != std::string_view::npos) {
    std::string_view userinfo = rest.substr(0, at);
    std::size_t colon = userinfo.find(':');
    std::string_view user = userinfo.substr(0, colon);
    if (user.empty()) return fail(error, "empty user");
    auto decoded = percent_decode(user);
    if (!decoded) return fail(error, "bad escape in user");
    u.user = std::move(*decoded);
    u.has_user = true;
    if (colon != std::string_view::npos) u.password = std::string(userinfo.substr(colon + 1));
    rest.remove_prefix(at + 1);
  }
  std::size_t q = rest.find('?');
  std::string_view headers = q == std::string_view::npos ? std::string_view{} : rest.substr(q + 1);
  if (q != std::string_view::npos) rest = rest.substr(0, q);
  std::size_t semi = rest.find(';');
  if (!parse_host(rest.substr(0, semi), u, error)) return false;
  if (semi != std::string_view::npos && !split_uri_params(rest.substr(semi + 1), ';', u.params, error))
    return false;
  if (q != std::string_view::npos && !split_uri_params(headers, '&', u.headers, error)) return false;
  return true;
}

bool parse_tel(std::string_view rest, Uri& u, std::string* error) {
  std::size_t semi = rest.find(';');
  std::string_view number = rest.substr(0, semi);
  if (number.empty()) return fail(error, "empty telephone number");
  for (char c : number)
    if (!std::isxdigit(static_cast<unsigned char>(c)) && std::string_view("+-.()*#pwPW").find(c) == std::string_view::npos)
      return fail(error, "bad telephone number");
  u.number = std::string(number);
  if (semi != std::string_view::npos) return split_uri_params(rest.substr(semi + 1), ';', u.params, error);
  return true;
}

bool parse_urn(std::string_view rest, Uri& u, std::string* error) {
  std::size_t colon = rest.find(':');
  if (colon == std::string_view::npos || colon == 0 || colon + 1 == rest.size()) return fail(error, "bad urn");
  std::string_view nid = rest.substr(0, colon);
  for (char c : nid)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-') return fail(error, "bad urn namespace");
  u.nid = lower(nid);
  u.nss = std::string(rest.substr(colon + 1));
  return true;
}

/// A quoted string at the front of `s` (which starts with '"'): its unescaped content, and `s`
/// advanced past the closing quote. False when it never closes.
bool take_quoted(std::string_view& s, std::string& out) {
  for (std::size_t i = 1; i < s.size(); ++i) {
    if (s[i] == '\\') {
      if (i + 1 >= s.size()) return false;
      out.push_back(s[++i]);
    } else if (s[i] == '"') {
      s.remove_prefix(i + 1);
      return true;
    } else {
      out.push_back(s[i]);
    }
  }
  return false;
}

bool scan_params(std::string_view s, std::vector<Param>* out, std::string* error);

}  // namespace

bool is_token_char(char c) {
  // RFC 3261 token: alphanum and -.!%*_+`'~. A table: every header name, parameter and method
  // of every message goes through here.
  static constexpr auto kToken = [] {
    std::array<bool, 256> t{};
    for (int c = '0'; c <= '9'; ++c) t[c] = true;
    for (int c = 'a'; c <= 'z'; ++c) t[c] = t[c - 32] = true;
    for (char c : std::string_view("-.!%*_+`'~")) t[static_cast<unsigned char>(c)] = true;
    return t;
  }();
  return kToken[static_cast<unsigned char>(c)];
}

bool is_token(std::string_view text) {
  if (text.empty()) return false;
  for (char c : text)
    if (!is_token_char(c)) return false;
  return true;
}

std::optional<std::string> percent_decode(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '%') {
      out.push_back(text[i]);
      continue;
    }
    if (i + 2 >= text.size()) return std::nullopt;
    int hi = hex(text[i + 1]), lo = hex(text[i + 2]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out.push_back(static_cast<char>(hi * 16 + lo));
    i += 2;
  }
  return out;
}

const Param* Uri::param(std::string_view name) const {
  for (const Param& p : params)
    if (iequals(p.name, name)) return &p;
  return nullptr;
}

std::optional<Uri> parse_uri(std::string_view text, std::string* error) {
  std::string ignored;
  if (!error) error = &ignored;
  if (text.empty()) return fail(error, "empty uri"), std::nullopt;
  if (has_space_or_ctl(text)) return fail(error, "whitespace in uri"), std::nullopt;
  std::size_t colon = text.find(':');
  if (colon == std::string_view::npos || colon == 0 || !std::isalpha(static_cast<unsigned char>(text[0])))
    return fail(error, "no uri scheme"), std::nullopt;
  for (char c : text.substr(0, colon))
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '+' && c != '-' && c != '.')
      return fail(error, "bad uri scheme"), std::nullopt;
  Uri u;
  u.scheme_name = lower(text.substr(0, colon));
  std::string_view rest = text.substr(colon + 1);
  u.opaque = std::string(rest);
  if (rest.empty()) return fail(error, "empty uri"), std::nullopt;
  bool ok = true;
  if (u.scheme_name == "sip" || u.scheme_name == "sips") {
    u.scheme = u.scheme_name == "sip" ? Scheme::sip : Scheme::sips;
    ok = parse_sip(rest, u, error);
  } else if (u.scheme_name == "tel") {
    u.scheme = Scheme::tel;
    ok = parse_tel(rest, u, error);
  } else if (u.scheme_name == "urn") {
    u.scheme = Scheme::urn;
    ok = parse_urn(rest, u, error);
  }
  if (!ok) return std::nullopt;
  return u;
}

bool parse_params(std::string_view s, std::vector<Param>& out, std::string* error) { return scan_params(s, &out, error); }

bool valid_params(std::string_view s) { return scan_params(s, nullptr, nullptr); }

bool valid_hostport(std::string_view hostport) {
  // What parse_uri("sip:" + hostport) accepts, without building the URI.
  if (hostport.empty() || has_space_or_ctl(hostport) || hostport.find_first_of("@?;") != std::string_view::npos) {
    return parse_uri("sip:" + std::string(hostport)).has_value();
  }
  Uri u;
  return parse_host(hostport, u, nullptr);
}

namespace {
bool scan_params(std::string_view s, std::vector<Param>* out, std::string* error) {
  s = trim(s);
  while (!s.empty()) {
    if (s.front() != ';') return fail(error, "expected ';' before parameter");
    s = trim(s.substr(1));
    std::size_t n = 0;
    while (n < s.size() && is_token_char(s[n])) ++n;
    if (n == 0) return fail(error, "empty parameter");
    Param p;
    p.name = std::string(s.substr(0, n));
    s = trim(s.substr(n));
    if (!s.empty() && s.front() == '=') {
      s = trim(s.substr(1));
      p.has_value = true;
      if (!s.empty() && s.front() == '"') {
        if (!take_quoted(s, p.value)) return fail(error, "unterminated quoted string");
      } else {
        std::size_t v = 0;
        while (v < s.size() && !is_lws(s[v]) && s[v] != ';' && s[v] != ',' && s[v] != '"') ++v;
        if (v == 0) return fail(error, "empty parameter value");
        p.value = std::string(s.substr(0, v));
        s.remove_prefix(v);
      }
      s = trim(s);
    }
    if (out) out->push_back(std::move(p));
  }
  return true;
}
}  // namespace

std::string NameAddr::tag() const {
  for (const Param& p : params)
    if (iequals(p.name, "tag")) return p.value;
  return {};
}

std::optional<NameAddr> parse_name_addr(std::string_view text, std::string* error) {
  std::string ignored;
  if (!error) error = &ignored;
  NameAddr na;
  std::string_view s = trim(text);
  if (s.empty()) return fail(error, "empty address"), std::nullopt;
  std::string_view after;
  if (s.front() == '"' || s.find('<') != std::string_view::npos) {
    if (s.front() == '"') {
      if (!take_quoted(s, na.display)) return fail(error, "unterminated quoted string"), std::nullopt;
      na.quoted_display = true;
      s = trim(s);
      if (s.empty() || s.front() != '<') return fail(error, "expected '<' after display name"), std::nullopt;
    } else {
      std::size_t lt = s.find('<');
      std::string_view words = trim(s.substr(0, lt));
      while (!words.empty()) {
        std::size_t n = 0;
        while (n < words.size() && !is_lws(words[n])) ++n;
        if (!is_token(words.substr(0, n))) return fail(error, "bad display name"), std::nullopt;
        if (!na.display.empty()) na.display += ' ';
        na.display += words.substr(0, n);
        words = trim(words.substr(n));
      }
      s.remove_prefix(lt);
    }
    std::size_t gt = s.find('>');
    if (gt == std::string_view::npos) return fail(error, "unterminated '<'"), std::nullopt;
    na.bracketed = true;
    na.uri_text = std::string(s.substr(1, gt - 1));
    if (has_space_or_ctl(na.uri_text)) return fail(error, "whitespace inside '<>'"), std::nullopt;
    after = s.substr(gt + 1);
  } else {
    std::size_t semi = s.find(';');
    std::string_view spec = trim(s.substr(0, semi));
    if (spec.find_first_of("?,") != std::string_view::npos)
      return fail(error, "'?' or ',' in an addr-spec outside '<>'"), std::nullopt;
    na.uri_text = std::string(spec);
    after = semi == std::string_view::npos ? std::string_view{} : s.substr(semi);
  }
  auto uri = parse_uri(na.uri_text, error);
  if (!uri) return std::nullopt;
  na.uri = std::move(*uri);
  if (!parse_params(after, na.params, error)) return std::nullopt;
  return na;
}

}  // namespace e911::sip
