#pragma once
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace e911::sip {

/// The URI schemes the runtime knows; anything else is kept opaque.
enum class Scheme { sip, sips, tel, urn, other };

/// One `;name=value` (or `?name=value` header) of a URI or a header field; `value` is unquoted.
struct Param {
  std::string name;
  std::string value;
  bool has_value = false;
};

/// A parsed URI (RFC 3261 §19.1, RFC 3966, RFC 5031). Owned strings: URIs are small.
struct Uri {
  Scheme scheme = Scheme::other;
  std::string scheme_name;   ///< lowercase, without the colon
  std::string user;          ///< sip/sips: the user part, %-escapes decoded (may hold NULs)
  std::string password;      ///< sip/sips: after the first `:` of the userinfo, raw
  bool has_user = false;
  std::string host;          ///< sip/sips: host; an IPv6 reference without its brackets
  bool ipv6 = false;
  int port = 0;              ///< 0 when absent
  std::vector<Param> params; ///< sip/sips/tel parameters in order, raw
  std::vector<Param> headers;///< sip/sips `?h=v&...`, raw
  std::string number;        ///< tel: the number with its visual separators
  std::string nid, nss;      ///< urn: `urn:<nid>:<nss>`, e.g. "service", "sos"
  std::string opaque;        ///< everything after `scheme:`, for every scheme

  /// The parameter `name` (case-insensitive), or nullptr.
  const Param* param(std::string_view name) const;
};

/// Parses `text` as a URI. Returns nullopt and sets `*error` (a short lowercase reason) when it
/// is not one: whitespace or control characters, a bad %-escape in the user part, an empty or
/// malformed host, a port above 65535, an empty parameter name. Unknown schemes parse as opaque.
std::optional<Uri> parse_uri(std::string_view text, std::string* error = nullptr);

/// A From/To/Contact value: name-addr (`"Display" <uri>;params`) or addr-spec (`uri;params`).
struct NameAddr {
  std::string display;        ///< unquoted and unescaped; tokens joined by one space
  bool quoted_display = false;
  bool bracketed = false;     ///< the URI was inside `<...>`
  std::string uri_text;       ///< the URI as written
  Uri uri;
  std::vector<Param> params;  ///< header parameters after the URI (tag, expires, q, ...)

  /// The `tag` parameter, or an empty string.
  std::string tag() const;
};

/// Parses a name-addr or addr-spec (RFC 3261 §20.10, §25.1). nullopt with `*error` for: an
/// unterminated quoted string, non-token characters in an unquoted display name, whitespace
/// inside `<...>`, `?` or `,` in an addr-spec outside `<>`, an empty parameter, a bad URI.
std::optional<NameAddr> parse_name_addr(std::string_view text, std::string* error = nullptr);

/// Parses `;name[=value]` parameters with LWS around `;` and `=` (values: token, host or quoted
/// string, unquoted into Param::value). Returns false with `*error` for an empty name or value.
bool parse_params(std::string_view text, std::vector<Param>& out, std::string* error = nullptr);
/// parse_params without keeping the parameters: true when `text` is a valid parameter list.
bool valid_params(std::string_view text);
/// True when `hostport` (a Via sent-by: host, [IPv6], optional :port) is what parse_uri accepts
/// after "sip:", without building the URI.
bool valid_hostport(std::string_view hostport);

/// Decodes %HH escapes; nullopt for a `%` not followed by two hex digits.
std::optional<std::string> percent_decode(std::string_view text);

/// True for RFC 3261 token characters: alphanumerics and `-.!%*_+`'~`.
bool is_token_char(char c);

/// True when `text` is a non-empty token.
bool is_token(std::string_view text);

}  // namespace e911::sip
