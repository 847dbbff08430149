// Digest authentication of REGISTERs and ordinary calls (runtime_auth.hpp).
#include "e911/runtime_auth.hpp"

#include <arpa/inet.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <charconv>
#include <cstring>

#include "e911/error.hpp"
#include "e911/runtime_metrics.hpp"
#include "e911/sip_digest.hpp"
#include "e911/sip_text.hpp"

namespace e911::runtime {

namespace {

std::string hex(const unsigned char* p, std::size_t n) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(2 * n);
  for (std::size_t i = 0; i < n; ++i) {
    out += kHex[p[i] >> 4];
    out += kHex[p[i] & 15];
  }
  return out;
}

/// The address of `text` into `out`: 4 bytes (IPv4, also an IPv4-mapped IPv6 address) or 16.
bool parse_address(std::string_view text, bool& v6, std::array<unsigned char, 16>& out) {
  char buf[INET6_ADDRSTRLEN + 1];
  if (text.empty() || text.size() >= sizeof buf) return false;
  std::memcpy(buf, text.data(), text.size());
  buf[text.size()] = 0;
  out.fill(0);
  v6 = text.find(':') != std::string_view::npos;
  if (inet_pton(v6 ? AF_INET6 : AF_INET, buf, out.data()) != 1) return false;
  static constexpr unsigned char kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (v6 && std::memcmp(out.data(), kMapped, 12) == 0) {
    std::memmove(out.data(), out.data() + 12, 4);
    std::fill(out.begin() + 4, out.end(), 0);
    v6 = false;
  }
  return true;
}

bool prefix_equal(const std::array<unsigned char, 16>& a, const std::array<unsigned char, 16>& b, int length) {
  const int whole = length / 8;
  if (std::memcmp(a.data(), b.data(), static_cast<std::size_t>(whole)) != 0) return false;
  if (length % 8 == 0) return true;
  const auto mask = static_cast<unsigned char>(0xff << (8 - length % 8));
  return (a[static_cast<std::size_t>(whole)] & mask) == (b[static_cast<std::size_t>(whole)] & mask);
}

/// "user" and "domain" of sip:user@domain.
std::pair<std::string, std::string> split_aor(const std::string& aor) {
  const std::size_t colon = aor.find(':');
  const std::size_t at = aor.rfind('@');
  if (colon == std::string::npos || at == std::string::npos || at < colon) return {};
  return {aor.substr(colon + 1, at - colon - 1), aor.substr(at + 1)};
}

std::string method_of(const sip::Message& m) { return std::string(m.method()); }

}  // namespace

std::optional<Cidr> parse_cidr(std::string_view text) {
  text = sip::trim(text);
  const std::size_t slash = text.find('/');
  Cidr c;
  if (!parse_address(text.substr(0, slash), c.v6, c.addr)) return std::nullopt;
  // An IPv4-mapped IPv6 network would need its length shifted; nobody writes one.
  if (!c.v6 && text.substr(0, slash).find(':') != std::string_view::npos) return std::nullopt;
  const int max = c.v6 ? 128 : 32;
  c.length = max;
  if (slash != std::string_view::npos) {
    const std::string_view len = text.substr(slash + 1);
    int n = -1;
    auto [p, ec] = std::from_chars(len.data(), len.data() + len.size(), n);
    if (ec != std::errc() || p != len.data() + len.size() || len.empty() || n < 0 || n > max) return std::nullopt;
    c.length = n;
  }
  std::array<unsigned char, 16> masked{};
  for (int bit = 0; bit < c.length; ++bit) masked[static_cast<std::size_t>(bit / 8)] |= static_cast<unsigned char>(0x80 >> (bit % 8));
  for (std::size_t i = 0; i < 16; ++i)
    if (c.addr[i] & ~masked[i]) return std::nullopt;  // host bits set
  return c;
}

bool cidr_contains(const Cidr& net, std::string_view ip) {
  bool v6 = false;
  std::array<unsigned char, 16> a{};
  if (!parse_address(ip, v6, a) || v6 != net.v6) return false;
  return prefix_equal(a, net.addr, net.length);
}

Authenticator::Authenticator(AuthOptions options, Metrics* metrics, LogFn log)
    : options_(std::move(options)), metrics_(metrics), log_(std::move(log)) {
  if (RAND_bytes(secret_.data(), static_cast<int>(secret_.size())) != 1)
    throw Error(ErrorKind::internal, "OpenSSL could not draw the secret of the digest nonces");
}

bool Authenticator::trusted(const std::string& source_ip, const Snapshot& snap) const {
  return in_trusted_network(source_ip) || trunk_host(source_ip, snap);
}

bool Authenticator::in_trusted_network(const std::string& source_ip) const {
  for (const Cidr& net : options_.trusted_networks)
    if (cidr_contains(net, source_ip)) return true;
  return false;
}

bool Authenticator::trunk_host(const std::string& source_ip, const Snapshot& snap) {
  // The provider's SBC, a PSTN gateway, a PSAP calling back through them.
  bool v6 = false;
  std::array<unsigned char, 16> src{};
  if (!parse_address(source_ip, v6, src)) return false;
  for (const auto& trunk : snap.trunks()) {
    bool tv6 = false;
    std::array<unsigned char, 16> host{};
    if (parse_address(trunk.host, tv6, host) && tv6 == v6 && host == src) return true;
  }
  return false;
}

std::string Authenticator::mac(std::string_view text) const {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  if (!HMAC(EVP_sha256(), secret_.data(), static_cast<int>(secret_.size()), reinterpret_cast<const unsigned char*>(text.data()), text.size(), md, &n))
    throw Error(ErrorKind::internal, "OpenSSL could not compute an HMAC");
  return hex(md, 16);  // 128 bits are plenty against forgery within a nonce's lifetime
}

std::string Authenticator::make_nonce(std::int64_t now) {
  unsigned char random[8];
  if (RAND_bytes(random, sizeof random) != 1) throw Error(ErrorKind::internal, "OpenSSL could not draw a nonce");
  char stamp[17];
  std::snprintf(stamp, sizeof stamp, "%llx", static_cast<unsigned long long>(now));
  const std::string body = std::string(stamp) + "." + hex(random, sizeof random);
  return body + "." + mac(body);
}

Authenticator::NonceState Authenticator::nonce_state(std::string_view nonce, std::int64_t now) const {
  const std::size_t last = nonce.rfind('.');
  if (last == std::string_view::npos || !sip::constant_time_equal(mac(nonce.substr(0, last)), nonce.substr(last + 1)))
    return NonceState::foreign;
  const std::string_view stamp = nonce.substr(0, nonce.find('.'));
  unsigned long long made = 0;
  auto [p, ec] = std::from_chars(stamp.data(), stamp.data() + stamp.size(), made, 16);
  if (ec != std::errc() || p != stamp.data() + stamp.size()) return NonceState::foreign;
  const auto age = now - static_cast<std::int64_t>(made);
  return age < 0 || age > options_.nonce_lifetime.count() ? NonceState::expired : NonceState::valid;
}

bool Authenticator::fresh_count(const std::string& nonce, std::uint32_t nc, std::int64_t now) {
  // Nonces past their lifetime are refused before their count matters: forget them.
  if (counts_.size() >= 65536)
    std::erase_if(counts_, [&](const auto& e) { return now - e.second.made > options_.nonce_lifetime.count(); });
  if (counts_.size() >= 65536) counts_.clear();  // a flood of fresh nonces: lose replay memory, not service
  Seen& seen = counts_[nonce];
  if (seen.made == 0) seen.made = now;
  if (nc <= seen.nc) return false;
  seen.nc = nc;
  return true;
}

Authenticator::Verdict Authenticator::challenge(const sip::Message& request, const Snapshot::UserRec& user, const std::string& realm, bool stale,
                                                const std::string& aor, const std::string& source_ip, const std::string& why, std::int64_t now) {
  const std::string nonce = make_nonce(now);
  Verdict v{401, "Unauthorized", {}};
  for (auto [algorithm, ha1] : {std::pair{sip::DigestAlgorithm::sha256, &user.ha1_sha256}, {sip::DigestAlgorithm::md5, &user.ha1_md5}}) {
    if (ha1->empty()) continue;
    v.headers.emplace_back("WWW-Authenticate", "Digest realm=\"" + realm + "\", nonce=\"" + nonce + "\", algorithm=" +
                                                   std::string(sip::algorithm_name(algorithm)) + ", qop=\"auth\"" + (stale ? ", stale=true" : ""));
  }
  const bool invite = request.method() == "INVITE";
  if (metrics_) metrics_->auth_challenge(invite);
  if (log_) log_("info", "auth: " + method_of(request) + " for '" + aor + "' from " + source_ip + " challenged (" + why + ")");
  return v;
}

Authenticator::Verdict Authenticator::refuse(const sip::Message& request, const std::string& aor, const std::string& source_ip, const std::string& why) {
  if (metrics_) metrics_->auth_failure(request.method() == "INVITE");
  if (log_) log_("warn", "auth: " + method_of(request) + " for '" + aor + "' from " + source_ip + " refused: " + why);
  return {403, "Forbidden (" + why + ")", {}};
}

Authenticator::Verdict Authenticator::check(const sip::Message& request, const std::string& source_ip, const std::string& aor, const Snapshot& snap,
                                            std::int64_t now) {
  Verdict proven;
  proven.authenticated = true;
  if (in_trusted_network(source_ip)) return proven;
  // Whoever registers a security desk gets its emergency MESSAGEs (caller, callback number,
  // location): a desk is registered only with its credentials or from a trusted network, never
  // by anyone who asks, whatever `auth` says, and not by a trunk's host either.
  const bool desk = request.method() == "REGISTER" && snap.notification_target(aor);
  if (!desk && trunk_host(source_ip, snap)) return {};
  const Snapshot::UserRec* user = snap.user(aor);
  if (!user) return {};  // not ours to authenticate: the registrar's 404, the B2BUA's 403
  const auto [username, realm] = split_aor(aor);
  if (user->ha1_md5.empty() && user->ha1_sha256.empty()) {
    if (desk) return refuse(request, aor, source_ip, "a security desk registers only with credentials or from a trusted network");
    if (!options_.required) return {};
    return refuse(request, aor, source_ip, "no credentials are set for this user and auth is required");
  }
  // The credentials for our realm (a phone may carry others for proxies on its way).
  std::optional<sip::DigestCredentials> c;
  for (const auto& h : request.headers()) {
    if (!sip::iequals(h.name, "Authorization") && !sip::iequals(h.name, "Proxy-Authorization")) continue;
    auto parsed = sip::parse_digest_credentials(h.value);
    if (parsed && sip::iequals(parsed->realm, realm)) {
      c = std::move(parsed);
      break;
    }
  }
  if (!c) return challenge(request, *user, realm, false, aor, source_ip, "no credentials for realm '" + realm + "'", now);
  if (c->username != username) return refuse(request, aor, source_ip, "credentials of another user");
  const auto algorithm = sip::parse_algorithm(c->algorithm.empty() ? "MD5" : c->algorithm);
  const std::string* ha1 = !algorithm ? nullptr : *algorithm == sip::DigestAlgorithm::sha256 ? &user->ha1_sha256 : &user->ha1_md5;
  if (!ha1 || ha1->empty()) return refuse(request, aor, source_ip, "algorithm not offered");
  if (c->qop != "auth") return refuse(request, aor, source_ip, "qop=auth is required");
  // The digest uri is not compared with the Request-URI: phones and sipp put the registrar's
  // address there, and the response covers the uri they sent; nonce counts stop replays.
  std::uint32_t nc = 0;
  {
    auto [p, ec] = std::from_chars(c->nc.data(), c->nc.data() + c->nc.size(), nc, 16);
    if (ec != std::errc() || p != c->nc.data() + c->nc.size() || c->nc.size() != 8 || c->cnonce.empty())
      return refuse(request, aor, source_ip, "nc and cnonce are required");
  }
  const std::string expected = sip::digest_response(*algorithm, *ha1, request.method(), c->uri, c->nonce, c->nc, c->cnonce, c->qop);
  std::string got = c->response;
  for (auto& ch : got) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  if (!sip::constant_time_equal(expected, got)) return refuse(request, aor, source_ip, "wrong credentials");
  // The password was right: a nonce that is old, not ours or replayed gets a fresh one, stale.
  switch (nonce_state(c->nonce, now)) {
    case NonceState::foreign: return challenge(request, *user, realm, true, aor, source_ip, "nonce not made by this runtime", now);
    case NonceState::expired: return challenge(request, *user, realm, true, aor, source_ip, "nonce expired", now);
    case NonceState::valid: break;
  }
  if (!fresh_count(c->nonce, nc, now)) return challenge(request, *user, realm, true, aor, source_ip, "nonce count replayed", now);
  return proven;
}

std::vector<std::string> unguarded_desks(const Snapshot& snap, const AuthOptions& options) {
  std::vector<std::string> out;
  for (const std::string& target : snap.notification_targets()) {
    const Snapshot::UserRec* user = snap.user(target);
    if (!user || !user->ha1_md5.empty() || !user->ha1_sha256.empty()) continue;
    const char* who = options.trusted_networks.empty()
                          ? "no phone may register it (no trusted_networks are set), so its emergency MESSAGEs reach nobody"
                          : "only a phone in trusted_networks may register it";
    out.push_back("security desk '" + target + "' has no credentials: " + who + "; give it a password with 'e911ctl user set " + target +
                  " --password-file FILE'");
  }
  return out;
}

}  // namespace e911::runtime
