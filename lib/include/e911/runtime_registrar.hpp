#pragma once
// The registrar of the runtime (RFC 3261 §10.3), the part of Lync's front end that knows where
// each user's phones are: REGISTER binds a user of the snapshot to one or more contacts, with an
// expiry; Expires 0 (or `Contact: *`) removes them; a call to the user forks to every live one.
//
// Bindings live in memory and are written to a small JSON file (atomically: a temporary file
// renamed over it) so that a restart keeps them; the owner calls save() when dirty(), at most
// once a second and at shutdown, so 100,000 phones registering do not write the file 100,000
// times. Where a phone is reached is the address its REGISTER came from (the socket's source,
// never a Via or a Contact host a client could forge or a NAT could hide), on the transport it
// came on; the Contact URI is the Request-URI of requests sent to it.
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "e911/json.hpp"
#include "e911/sip_message.hpp"
#include "e911/sip_wire.hpp"
#include "e911/snapshot.hpp"

namespace e911::runtime {

struct Binding {
  std::string contact;  ///< the Contact URI as registered (the Request-URI of calls to it)
  sip::Endpoint source; ///< where the REGISTER came from: calls go there
  bool stream = false;  ///< it came over TCP: calls go on a connection to `source`
  std::int64_t expires = 0;  ///< Unix seconds
  std::string call_id;
  std::uint32_t cseq = 0;
  float q = 1.0F;
  bool authenticated = false;  ///< its REGISTER proved who sent it: credentials, or a trusted network
};

class Authenticator;

struct RegistrarOptions {
  std::int64_t default_expires = 3600;
  std::int64_t min_expires = 60;       ///< shorter is 423 Interval Too Brief
  std::int64_t max_expires = 86400;    ///< longer is shortened to this
  std::size_t max_contacts = 10;       ///< per user: more is 403
};

class Registrar {
 public:
  explicit Registrar(std::string path = {}, RegistrarOptions options = {});

  /// What a REGISTER gets: the status, reason and headers of the response (200 lists every
  /// contact of the user with its `expires`).
  struct Answer {
    int status = 200;
    std::string reason = "OK";
    sip::HeaderList headers;
  };
  /// Handles a REGISTER that passed validation. `domains`: the hosts served (the To URI's host
  /// must be one of them); `now`: Unix seconds. 404 for a domain or user not in the snapshot,
  /// 400 for a bad Contact, Expires or q (RFC 3261 §20.10: 0 to 1, at most 3 decimals), 423 too brief, 403 too many contacts, 500 for an
  /// out-of-order CSeq on the same Call-ID (§10.3 step 7). With `auth`, a user's REGISTER is
  /// authenticated first (§10.3 step 3): 401 with its challenge, or 403 (runtime_auth.hpp).
  /// Bindings a REGISTER did not authenticate never keep out one that did: an authenticated
  /// REGISTER of a security desk (a notification target of the snapshot) removes them all, since
  /// they would take its emergency MESSAGEs; any other user's, past max_contacts, replaces the
  /// oldest of them.
  Answer on_register(const sip::Message& request, const sip::Endpoint& source, bool stream, const Snapshot* snapshot,
                     const std::vector<std::string>& domains, std::int64_t now, Authenticator* auth = nullptr);

  /// The live bindings of `aor` (a user's SIP URI as the snapshot has it), best q first.
  std::vector<Binding> lookup(const std::string& aor, std::int64_t now) const;
  /// Users with at least one binding, and bindings in all (expired ones not yet swept count).
  std::size_t users() const { return bindings_.size(); }
  std::size_t size() const { return count_; }
  /// Drops expired bindings; returns how many.
  std::size_t sweep(std::int64_t now);
  /// Every live binding: [{aor, contact, source, transport, expires_in, call_id, authenticated}], by user.
  Json to_json(std::int64_t now) const;

  bool dirty() const { return dirty_; }
  /// Writes the file (no file: nothing). Throws e911::Error(failure) when it cannot.
  void save();
  /// The path, and how many bindings the file held at start. Each entry is restored on its own:
  /// a damaged one (a q outside 0..1, a missing field, a line that is not JSON) is dropped, the
  /// others kept, the file copied to `<path>.bad` for a person and load_warning() says so; the
  /// phones whose entries were dropped re-register within their expiry.
  const std::string& path() const { return path_; }
  std::size_t loaded() const { return loaded_; }
  const std::string& load_warning() const { return load_warning_; }

  /// The address-of-record of a SIP URI: `sip:user@host`, host lower-cased, no port or
  /// parameters; nullopt when it is not a sip/sips URI with a user.
  static std::optional<std::string> aor_of(std::string_view uri_text);

 private:
  /// One entry of the bindings file: its address-of-record and binding; throws when it is damaged.
  static std::pair<std::string, Binding> restored_binding(const Json& entry);

  std::string path_;
  RegistrarOptions options_;
  std::unordered_map<std::string, std::vector<Binding>> bindings_;
  bool dirty_ = false;
  std::size_t count_ = 0;  ///< bindings in all, kept as they change (size() is per REGISTER)
  std::size_t loaded_ = 0;
  std::string load_warning_;
};

}  // namespace e911::runtime
