#pragma once
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

/// The INVITE the first trunk of `d` would receive: Request-URI in the trunk's form, Via, From
/// (display name, callback), To, Call-ID, CSeq, Contact, Max-Forwards, Priority: emergency,
/// P-Asserted-Identity, Geolocation: <cid:...> and a multipart/mixed body with the SDP and the
/// PIDF-LO (the caller's own PIDF passed on unchanged when it sent one). Content-Length exact.
/// `call_id` and `tag` make the message reproducible.
std::string build_invite(const Snapshot& snap, const routing::Decision& d, const routing::CallFacts& f, const std::string& call_id,
                         const std::string& tag);

/// The out-of-dialog MESSAGE (RFC 3428) the security desk `target` gets: Priority: emergency,
/// Call-Info: <caller>;purpose=ms-emergency-notification, and a text body with caller name,
/// callback number, time, and every civic field plus the method.
std::string build_notification(const routing::Decision& d, const routing::CallFacts& f, const std::string& target,
                               const std::string& call_id);

}  // namespace e911::sip
