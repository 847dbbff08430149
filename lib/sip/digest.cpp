// SIP digest authentication: hashes, credentials, responses (RFC 7616, RFC 8760).
#include "e911/sip_digest.hpp"

#include <openssl/evp.h>

#include <memory>

#include "e911/error.hpp"
#include "e911/sip_text.hpp"

namespace e911::sip {

std::string_view algorithm_name(DigestAlgorithm a) { return a == DigestAlgorithm::sha256 ? "SHA-256" : "MD5"; }

std::optional<DigestAlgorithm> parse_algorithm(std::string_view name) {
  if (iequals(name, "MD5")) return DigestAlgorithm::md5;
  if (iequals(name, "SHA-256")) return DigestAlgorithm::sha256;
  return std::nullopt;
}

std::string digest_hex(DigestAlgorithm a, std::string_view data) {
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  if (!ctx || EVP_DigestInit_ex(ctx.get(), a == DigestAlgorithm::sha256 ? EVP_sha256() : EVP_md5(), nullptr) != 1 ||
      EVP_DigestUpdate(ctx.get(), data.data(), data.size()) != 1 || EVP_DigestFinal_ex(ctx.get(), md, &n) != 1)
    throw Error(ErrorKind::internal, "OpenSSL could not compute a " + std::string(algorithm_name(a)) + " digest");
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(2 * n);
  for (unsigned int i = 0; i < n; ++i) {
    out += kHex[md[i] >> 4];
    out += kHex[md[i] & 15];
  }
  return out;
}

std::string digest_ha1(DigestAlgorithm a, std::string_view username, std::string_view realm, std::string_view password) {
  std::string in;
  in.reserve(username.size() + realm.size() + password.size() + 2);
  in.append(username).append(":").append(realm).append(":").append(password);
  return digest_hex(a, in);
}

std::string digest_response(DigestAlgorithm a, std::string_view ha1, std::string_view method, std::string_view uri, std::string_view nonce,
                            std::string_view nc, std::string_view cnonce, std::string_view qop) {
  const std::string ha2 = digest_hex(a, std::string(method) + ":" + std::string(uri));
  std::string in(ha1);
  in.append(":").append(nonce).append(":");
  if (!qop.empty()) in.append(nc).append(":").append(cnonce).append(":").append(qop).append(":");
  in.append(ha2);
  return digest_hex(a, in);
}

std::optional<DigestCredentials> parse_digest_credentials(std::string_view value) {
  value = trim(value);
  if (value.size() < 7 || !iequals(value.substr(0, 6), "Digest") || (value[6] != ' ' && value[6] != '\t')) return std::nullopt;
  std::string_view rest = value.substr(7);
  DigestCredentials c;
  std::string seen;  // the parameters met, each as "|name|", to refuse one given twice
  while (true) {
    rest = trim(rest);
    if (rest.empty()) break;
    const auto eq = rest.find('=');
    if (eq == std::string_view::npos) return std::nullopt;
    std::string name(trim(rest.substr(0, eq)));
    for (auto& ch : name) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    rest = trim(rest.substr(eq + 1));
    std::string v;
    if (!rest.empty() && rest[0] == '"') {
      std::size_t i = 1;
      for (; i < rest.size() && rest[i] != '"'; ++i) {
        if (rest[i] == '\\' && i + 1 < rest.size()) ++i;  // quoted-pair
        v += rest[i];
      }
      if (i >= rest.size()) return std::nullopt;
      rest = trim(rest.substr(i + 1));
    } else {
      const auto end = rest.find(',');
      v = std::string(trim(rest.substr(0, end)));
      rest = end == std::string_view::npos ? std::string_view() : rest.substr(end);
    }
    if (seen.find("|" + name + "|") != std::string::npos) return std::nullopt;
    seen += "|" + name + "|";
    if (name == "username") c.username = v;
    else if (name == "realm") c.realm = v;
    else if (name == "nonce") c.nonce = v;
    else if (name == "uri") c.uri = v;
    else if (name == "response") c.response = v;
    else if (name == "cnonce") c.cnonce = v;
    else if (name == "qop") c.qop = v;
    else if (name == "nc") c.nc = v;
    else if (name == "opaque") c.opaque = v;
    else if (name == "algorithm") c.algorithm = v;
    if (rest.empty()) break;
    if (rest[0] != ',') return std::nullopt;
    rest = rest.substr(1);
  }
  return c;
}

bool constant_time_equal(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  unsigned char diff = 0;
  for (std::size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}

}  // namespace e911::sip
