#pragma once
// Digest authentication of the runtime (issue 14; RFC 3261 §22, RFC 8760): who may register and
// place ordinary calls. The registrar asks it about every REGISTER, the B2BUA about every call
// that is not an emergency or test call, once decide() has said so: an emergency call is never
// challenged nor refused for its credentials (DOMAIN.md §1).
//
// A request passes unchallenged when it comes from a trusted network (`trusted_networks`) or
// from a trunk's host (a PSAP calling back), when it is not on behalf of a user of the snapshot
// (the registrar answers 404, the B2BUA 403: only users call out), or when the user has no
// credentials and `auth` is optional. Otherwise it needs an Authorization (or
// Proxy-Authorization) header answering one of our challenges: 401 with a WWW-Authenticate
// per algorithm the user has a secret for, SHA-256 first, then MD5, qop="auth".
//
// A security desk (a user named in a location policy's notification_uris) is the exception:
// whoever registers it receives every emergency MESSAGE (caller, callback number, location), so
// its REGISTER passes only from a trusted network or with its credentials, whatever `auth` says;
// from a trunk's host it needs them too, and a desk without credentials is refused (403) elsewhere.
//
// Nonces are stateless and bound to this process: the time they were made, 64 random bits and an
// HMAC-SHA-256 of both under a secret drawn at start. A nonce older than `nonce_lifetime`, made
// by another process (a restart), or whose nonce count (nc) was seen already, gets a fresh
// challenge with stale=true when the response was otherwise right: the phone retries without
// asking its user. A wrong response, another user's name, or an algorithm or qop not offered is
// 403. The digest uri is taken as sent (many phones put the registrar's address there, not the
// Request-URI); the response covers it. No log line or record ever carries a hash, a response or
// a password.
#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "e911/sip_message.hpp"
#include "e911/sip_wire.hpp"
#include "e911/snapshot.hpp"

namespace e911::runtime {

class Metrics;

/// An IPv4 or IPv6 network: its address (IPv4 in the first 4 bytes) and prefix length.
struct Cidr {
  bool v6 = false;
  std::array<unsigned char, 16> addr{};
  int length = 0;
};
/// Parses "10.1.0.0/16", "2001:db8::/32", or a bare address (one host); nullopt when it is not
/// one, the length is out of range or host bits are set (10.1.2.0/16: write 10.1.0.0/16).
std::optional<Cidr> parse_cidr(std::string_view text);
/// True when `ip` (an IP literal; an IPv4-mapped IPv6 address counts as IPv4) is inside `net`.
bool cidr_contains(const Cidr& net, std::string_view ip);

struct AuthOptions {
  /// false ("optional", the default): a user without credentials is served unchallenged, as
  /// before authentication existed. true ("required"): such a user's REGISTERs and ordinary
  /// calls from an untrusted address are refused (403).
  bool required = false;
  std::vector<Cidr> trusted_networks;  ///< sources never challenged (phone VLANs behind an SBC, ...)
  std::chrono::seconds nonce_lifetime{300};
};

/// One warning per security desk of `snap` (a user in notification_targets()) that has no
/// credentials, so that only a phone in a trusted network (`options`) may register it, or none
/// when there is no such network. Logged at start and at each reload.
std::vector<std::string> unguarded_desks(const Snapshot& snap, const AuthOptions& options);

class Authenticator {
 public:
  using LogFn = std::function<void(const std::string& level, const std::string& message)>;
  /// `metrics` (may be null) counts challenges and failures; `log` (may be empty) gets one line
  /// per challenge or refusal.
  explicit Authenticator(AuthOptions options, Metrics* metrics = nullptr, LogFn log = {});

  /// What a request gets: status 0 to go on, else 401 or 403 with its reason and headers.
  struct Verdict {
    int status = 0;
    std::string reason;
    sip::HeaderList headers;
    /// It went on because its sender proved who it is: a trusted network, or the user's
    /// credentials (not merely a trunk's host, or a user without credentials under auth: optional).
    bool authenticated = false;
    explicit operator bool() const { return status == 0; }
  };
  /// Checks `request` (REGISTER or INVITE), which came from `source_ip`, on behalf of `aor`
  /// (sip:user@domain as the snapshot keys users); `now` in Unix seconds.
  Verdict check(const sip::Message& request, const std::string& source_ip, const std::string& aor, const Snapshot& snap, std::int64_t now);

  /// True when `source_ip` is in a trusted network or is a trunk's host in `snap`.
  bool trusted(const std::string& source_ip, const Snapshot& snap) const;
  /// True when `source_ip` is in one of the trusted networks.
  bool in_trusted_network(const std::string& source_ip) const;
  /// True when `source_ip` is the host (an IP literal) of a trunk of `snap`.
  static bool trunk_host(const std::string& source_ip, const Snapshot& snap);

  /// A fresh nonce made at `now`.
  std::string make_nonce(std::int64_t now);
  enum class NonceState { valid, expired, foreign };
  /// Whether `nonce` is one of ours and still young at `now`.
  NonceState nonce_state(std::string_view nonce, std::int64_t now) const;

  const AuthOptions& options() const { return options_; }

 private:
  std::string mac(std::string_view text) const;
  Verdict challenge(const sip::Message& request, const Snapshot::UserRec& user, const std::string& realm, bool stale,
                    const std::string& aor, const std::string& source_ip, const std::string& why, std::int64_t now);
  Verdict refuse(const sip::Message& request, const std::string& aor, const std::string& source_ip, const std::string& why);
  /// Records nonce count `nc` of `nonce`; false when it is not above the highest seen.
  bool fresh_count(const std::string& nonce, std::uint32_t nc, std::int64_t now);

  AuthOptions options_;
  Metrics* metrics_;
  LogFn log_;
  std::array<unsigned char, 32> secret_{};
  struct Seen {
    std::uint32_t nc = 0;
    std::int64_t made = 0;
  };
  std::unordered_map<std::string, Seen> counts_;  ///< highest nc per nonce, while the nonce lives
};

}  // namespace e911::runtime
