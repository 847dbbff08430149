#pragma once
#include <memory>
#include <string>
#include <vector>

#include "e911/json.hpp"

namespace e911 {

/// One way a value breaks its schema: where (a JSON pointer) and why.
struct SchemaViolation {
  std::string pointer;  ///< e.g. "/notification_uris/1"; "" for the document itself
  std::string message;  ///< lowercase, no final period
  /// The value is a credential (a field marked x-secret) or holds one (a URL's user:password@):
  /// the message quotes it as "(hidden)" or with the user part masked, and a caller must not
  /// quote its source line either.
  bool secret = false;
};

/// Checks `value` against `schema`: the JSON Schema draft-07 subset the project's schemas use
/// (type, const, enum, required, properties, additionalProperties, items, min/maxItems,
/// uniqueItems, min/maxLength, pattern, minimum, maximum) and the formats sip-uri, cidr, bssid and
/// date-time; format regex is left to validate (E406). Patterns run with RE2, in time linear in
/// the value. Returns every violation; empty when the value is valid.
std::vector<SchemaViolation> check_schema(const Json& schema, const Json& value);

struct SchemaNode;

/// A schema compiled once for checking many values (the rows of a bulk import).
class CompiledSchema {
 public:
  explicit CompiledSchema(const Json& schema);
  ~CompiledSchema();
  CompiledSchema(CompiledSchema&&) noexcept;
  CompiledSchema& operator=(CompiledSchema&&) noexcept;
  /// Every violation of `value`, as check_schema.
  std::vector<SchemaViolation> check(const Json& value) const;
  /// The first problem of a text value (type, enum, length, pattern, format), empty when valid.
  std::string check_text(const std::string& text) const;

 private:
  std::unique_ptr<SchemaNode> root_;
};

/// True when `text` is an IPv4 or IPv6 network in CIDR form ("10.1.0.0/16", "2001:db8::/48").
bool is_cidr(const std::string& text);
/// True when `text` is a BSSID: six hex pairs separated by '-' or ':', '*' allowed as the last
/// one or two characters.
bool is_bssid(const std::string& text);
/// True when `text` is a sip: or sips: URI with a user or host part.
bool is_sip_uri(const std::string& text);
/// Why `text` is not an http(s) URL of a host (a name, an IPv4 address or a bracketed IPv6 one)
/// with an optional port, without user or password; empty when it is one. The reason quotes the
/// URL with any user and password masked (url_without_userinfo). An admin API's base URL
/// (`webhook` false) may have a path but no query or fragment; a webhook (`webhook` true) must be
/// https://, except to a loopback address (127.0.0.0/8, [::1]), and has no fragment.
std::string url_problem(const std::string& text, bool webhook);
/// True when the URL `text` has a user part (user:password@ or user@) before its host.
bool url_has_userinfo(const std::string& text);
/// `text` with the user part of a URL's authority replaced by "***" ("https://***@host/x"); other
/// text as it is.
std::string url_without_userinfo(const std::string& text);
/// Why `text` is not an e-mail address (a dot-atom mailbox of at most 64 characters, @, a domain
/// name); empty when it is one.
std::string email_problem(const std::string& text);
/// Why `text` is not an absolute file path without control characters; empty when it is one.
std::string absolute_path_problem(const std::string& text);

}  // namespace e911
