#pragma once
// SIP digest authentication (RFC 3261 §22.4, RFC 2617 §3.2.2, RFC 7616 and RFC 8760): the
// hashes a user's secret is kept as, the Authorization header's parameters and the response a
// client computes. Only qop=auth (no auth-int, no -sess algorithms). Free of I/O and of state:
// the runtime's Authenticator (runtime_auth.hpp) keeps the nonces.
#include <optional>
#include <string>
#include <string_view>

namespace e911::sip {

/// The digest algorithms served, strongest first (RFC 8760 puts SHA-256 before MD5).
enum class DigestAlgorithm { sha256, md5 };

/// "SHA-256" or "MD5", as the algorithm parameter writes it.
std::string_view algorithm_name(DigestAlgorithm a);
/// The algorithm parameter's value, case-insensitive: "MD5" or "SHA-256"; nullopt for any other
/// (SHA-512-256, the -sess variants). A missing parameter means MD5 (RFC 2617): pass "MD5".
std::optional<DigestAlgorithm> parse_algorithm(std::string_view name);

/// The lower-case hex digest of `data` under `a` (32 characters for MD5, 64 for SHA-256).
std::string digest_hex(DigestAlgorithm a, std::string_view data);

/// HA1 = H(username ":" realm ":" password), lower-case hex: what the store keeps of a password.
std::string digest_ha1(DigestAlgorithm a, std::string_view username, std::string_view realm, std::string_view password);

/// The request-digest of qop=auth (RFC 7616 §3.4.1): H(HA1:nonce:nc:cnonce:qop:H(method:uri)),
/// or, with an empty `qop`, RFC 2069's H(HA1:nonce:H(method:uri)).
std::string digest_response(DigestAlgorithm a, std::string_view ha1, std::string_view method, std::string_view uri, std::string_view nonce,
                            std::string_view nc, std::string_view cnonce, std::string_view qop);

/// The parameters of a `Digest` Authorization or Proxy-Authorization value.
struct DigestCredentials {
  std::string username, realm, nonce, uri, response, cnonce, qop, nc, opaque;
  std::string algorithm;  ///< as sent; empty when absent (MD5)
};
/// Parses `Digest k=v, k="v", ...`; nullopt when the scheme is not Digest, a quoted string is
/// unterminated or a parameter is given twice. Unknown parameters are skipped.
std::optional<DigestCredentials> parse_digest_credentials(std::string_view value);

/// Equality of two strings in time that depends only on their lengths.
bool constant_time_equal(std::string_view a, std::string_view b);

}  // namespace e911::sip
