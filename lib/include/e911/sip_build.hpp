#pragma once
#include <optional>
#include <string>
#include <vector>

#include "e911/routing.hpp"

namespace e911::sip {

/// A PIDF-LO document (RFC 4119, 5139, 5491) for `loc`: presence/tuple/status/geopriv with the
/// civicAddress elements in RFC 5139 schema order, `method` and `provided-by`, retransmission
/// allowed, and Lync's msftE911PidfExtn block (conference URI and mode, policy tag) when given.
/// `timestamp` (RFC 3339) is the time of the call; omitted when empty.
std::string build_pidf(const Civic& loc, const std::string& entity, const std::string& method,
                       const std::string& conference_uri, const std::string& conference_mode,
                       const std::string& policy_tag, const std::string& timestamp = {});

/// RFC 3261 §18.1.1: a request larger than this goes over a congestion-controlled transport.
constexpr std::size_t kUdpLimit = 1300;

/// What an INVITE to a trunk takes besides the decision: the identifiers and addresses that the
/// live runtime has and a dry run can only stand in for. The defaults are the dry run's.
struct InviteContext {
  std::string call_id = "dry-run-1@e911ctl.invalid";
  std::string tag = "e911dry";              ///< From tag; also names the multipart boundary and the Content-ID
  std::string branch;                       ///< Via branch; empty: "z9hG4bK" + tag
  std::string sent_by = "e911ctl.invalid";  ///< the runtime's address in Via and Contact (HOST:PORT)
  std::optional<std::string> sdp;           ///< the caller's offer; nullopt: a sample offer; "": none (delayed offer)
  std::size_t attempt = 0;                  ///< which of the decision's attempts (trunk and Request-URI form)
  bool keep_udp = false;                    ///< stay on a UDP trunk's UDP even above kUdpLimit (the retry after TCP failed)
  bool tls_fallback = false;                ///< a TLS trunk tried again over TCP (RFC 6881 SP-31): Via and Contact say TCP
  std::size_t max_message = 0;              ///< the most the INVITE may be, in bytes (serve's max_message); 0: no limit
};

/// An INVITE to a trunk, and what its sender needs to know of it.
struct TrunkInvite {
  std::string text;         ///< the whole message; empty when the decision has no such attempt
  bool stream = true;       ///< goes over TCP (the trunk's transport, or over kUdpLimit)
  bool switched_to_tcp = false;
  bool with_pidf = false;   ///< carries a PIDF-LO (the caller's or the LIS's)
  std::string degraded;     ///< how the INVITE was made to fit InviteContext::max_message; empty: as decided
  std::string from, to, request_uri;  ///< From and To without tags, and the Request-URI
};

/// The INVITE attempt `c.attempt` of `d` sends to its trunk: the one builder both `call dry-run`
/// and the runtime use, so that what an operator is shown is what the provider gets. Request-URI
/// in the trunk's form, Via (with rport), From (display name, callback), To, Call-ID, CSeq,
/// Contact, Allow, Priority: emergency, P-Asserted-Identity, Geolocation: <cid:...> and a
/// multipart/mixed body with the SDP and the PIDF-LO (the caller's own PIDF passed on unchanged
/// when it sent one that decide() did not set aside; none to a trunk that takes none).
/// Content-Length exact. An INVITE over `c.max_message` is made to fit, and `degraded` says how:
/// the caller's PIDF-LO gives way to the LIS's location (without_caller_pidf), else the INVITE
/// goes without a PIDF-LO; one that still does not fit is returned as it is, over the limit.
TrunkInvite build_trunk_invite(const Snapshot& snap, const routing::Decision& d, const routing::CallFacts& f, const InviteContext& c);

/// The INVITE the first trunk of `d` would receive: Request-URI in the trunk's form, Via, From
/// (display name, callback), To, Call-ID, CSeq, Contact, Max-Forwards, Priority: emergency,
/// P-Asserted-Identity, Geolocation: <cid:...> and a multipart/mixed body with the SDP and the
/// PIDF-LO (the caller's own PIDF passed on unchanged when it sent one that decide() did not set
/// aside). Content-Length exact.
/// `call_id` and `tag` make the message reproducible.
std::string build_invite(const Snapshot& snap, const routing::Decision& d, const routing::CallFacts& f, const std::string& call_id,
                         const std::string& tag);

/// The out-of-dialog MESSAGE (RFC 3428) the security desk `target` gets: Priority: emergency,
/// Call-Info: <caller>;purpose=ms-emergency-notification, and a text body with caller name,
/// callback number, time, and every civic field plus the method.
std::string build_notification(const routing::Decision& d, const routing::CallFacts& f, const std::string& target,
                               const std::string& call_id);

/// What a live security-desk MESSAGE takes besides the decision (the defaults are the dry run's).
struct NotificationContext {
  std::string call_id;
  std::string sent_by = "e911ctl.invalid";  ///< the runtime's address in Via
  std::string transport = "TCP";
  std::string branch;       ///< empty: derived from the Call-ID and target
  std::string tag;          ///< From tag; empty: derived likewise
  std::string request_uri;  ///< empty: the target (a registered contact of it otherwise)
};
std::string build_notification(const routing::Decision& d, const routing::CallFacts& f, const std::string& target,
                               const NotificationContext& c);

}  // namespace e911::sip
