#pragma once
// A phone for `e911ctl call test`: one real SIP call placed through a running runtime, as a
// user agent client would place it (RFC 3261 §8.1, §13.2, §17.1), over UDP or TCP from an address
// the machine has, with plain POSIX sockets. It sends the INVITE (SDP offer, the caller's PIDF-LO
// as RFC 6442 multipart when given), retransmits it on Timer A over UDP, notes every message with
// its time, ACKs the final answer, and ends the call with BYE after the hold time, or with CANCEL
// when no final answer came in time. Requests the runtime sends meanwhile (a test call's MESSAGE
// reading back the location, a BYE) are answered and noted. Every wait is bounded.
//
// The messages are built by pure functions, so their text is unit-tested without sockets.
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "e911/sip_message.hpp"

namespace e911::runtime {

/// What to call, from where, and for how long.
struct PhoneOptions {
  std::string runtime_host;           ///< the runtime's IP literal (IPv6 without brackets); never a name
  unsigned short runtime_port = 5060;
  bool tcp = false;                   ///< TCP, else UDP
  std::string local_ip;               ///< bound before sending; empty: 127.0.0.1, or ::1 for an IPv6 runtime
  std::string from;                   ///< the caller's URI (From, Contact user)
  std::string dial;                   ///< digits (sent as sip:<digits>@<From's host>;user=phone) or a URI
  std::string pidf;                   ///< a PIDF-LO to send with the call; empty: none
  bool priority_emergency = false;    ///< add Priority: emergency
  std::chrono::milliseconds timeout{30000};  ///< until a final answer; then CANCEL (or give up)
  std::chrono::milliseconds hold{1000};      ///< from the answer to the BYE
  std::chrono::milliseconds t1{500};         ///< RFC 3261 T1 (T2 is 8 T1)
  std::chrono::milliseconds end_wait{4000};  ///< the longest wait for the answer to a BYE or CANCEL
};

/// The identifiers of one call and where the phone sends from: random in place_call, fixed in tests.
struct PhoneIds {
  std::string call_id;
  std::string from_tag;
  std::string branch;      ///< the INVITE's branch, with the z9hG4bK prefix
  std::string local_host;  ///< the bound address (IPv6 without brackets)
  unsigned short local_port = 0;
};

/// The dialog an answered INVITE made (RFC 3261 §12.1.2), for the ACK and the BYE.
struct PhoneDialog {
  std::string call_id;
  std::string local_uri;      ///< our From value, without its tag
  std::string local_tag;
  std::string remote_uri;     ///< the To value of the answer, without its tag
  std::string remote_tag;
  std::string remote_target;  ///< the answer's Contact URI; the Request-URI when it has none
  std::vector<std::string> route_set;  ///< the answer's Record-Route values, reversed
};

/// The Request-URI (and To) for `options.dial`: a URI as given; digits as
/// sip:<digits>@<host of options.from>;user=phone, the way a phone of that domain dials.
std::string dial_uri(const PhoneOptions& options);

/// The INVITE: Request-URI and To from dial_uri, From with `ids.from_tag`, Via with `ids.branch`
/// and rport, Contact at the bound address, CSeq 1, an SDP offer at that address, and, with a
/// PIDF-LO, a multipart/mixed body holding the SDP and the PIDF-LO with Geolocation: <cid:...> and
/// Geolocation-Routing: yes (RFC 6442). Priority: emergency when asked.
std::string build_invite(const PhoneOptions& options, const PhoneIds& ids);

/// The CANCEL of that INVITE (RFC 3261 §9.1): same Request-URI, Via, From, To, Call-ID, CSeq 1.
std::string build_cancel(const PhoneOptions& options, const PhoneIds& ids);

/// The ACK of a non-2xx final answer (RFC 3261 §17.1.1.3): the INVITE's Via and Request-URI, the
/// answer's To (with its tag).
std::string build_non2xx_ack(const PhoneOptions& options, const PhoneIds& ids, const sip::Message& answer);

/// The dialog a 2xx answer to the INVITE makes.
PhoneDialog dialog_of(const PhoneOptions& options, const PhoneIds& ids, const sip::Message& answer);

/// A request in `dialog` (RFC 3261 §12.2.1.1): to its remote target, with its route set, our Via
/// with `branch`, `cseq` and `method` (ACK of a 2xx, BYE).
std::string build_in_dialog(const PhoneOptions& options, const PhoneIds& ids, const PhoneDialog& dialog, const std::string& method,
                            std::uint32_t cseq, const std::string& branch);

/// What a Lync client sends its LIS at sign-in (runtime_held.hpp): a HELD locationRequest
/// (RFC 5985) for a civic location, with the device identity it has: `ip` as RFC 6155 <ip>, and
/// e911ctl's <bssid>, <chassis> and <port>; each empty one is left out, every value XML-escaped.
std::string held_location_request(const std::string& ip, const std::string& bssid, const std::string& chassis, const std::string& port);

/// The PIDF-LO of a HELD locationResponse: its <presence> element, as the client sends it with a
/// call. nullopt when `body` is a HELD error (`error` gets "code: message") or holds no presence.
std::optional<std::string> held_pidf(std::string_view body, std::string& error);

/// One message of the call as the phone saw it.
struct PhoneEvent {
  std::int64_t ms = 0;        ///< since the INVITE was first sent
  bool sent = false;          ///< sent by the phone, else received
  std::string message;        ///< "INVITE", "ACK", "100 Trying", "200 OK", a request the runtime sent
  std::string cseq_method;    ///< the transaction it belongs to: INVITE, CANCEL, BYE, MESSAGE...
  bool retransmission = false;
};

/// A request the runtime sent into the call (a test call's MESSAGE reading back the location).
struct PhoneRequest {
  std::int64_t ms = 0;
  std::string method;
  std::string content_type;
  std::string body;
};

/// What happened.
struct PhoneResult {
  PhoneIds ids;
  std::string request_uri;
  std::string transport;       ///< "udp" or "tcp"
  std::vector<PhoneEvent> events;
  bool reached = false;        ///< the runtime answered anything at all
  int status = 0;              ///< the INVITE's final status; 0: none came
  std::string reason;
  std::int64_t final_ms = -1;  ///< when it came
  bool answered() const { return status >= 200 && status < 300; }
  bool cancelled = false;      ///< a CANCEL was sent at the timeout
  std::string failure;         ///< why the call was not answered, as a sentence for people; empty when answered
  std::string hangup;          ///< how an answered call ended: "BYE answered 200 OK", "the runtime sent BYE"...
  std::string answer_content_type;
  std::string answer_body;     ///< the 2xx's body (an SDP answer, or a test call's read-back)
  std::vector<PhoneRequest> requests;
};

/// Places the call and returns what happened; the call ends within timeout + hold + 2 end_wait.
/// No answer, a refusal (ICMP port unreachable, TCP connection refused) or a failure answer is in
/// the result, never thrown. Throws Error(usage) when `local_ip` is not an address of this machine
/// or not of the runtime's family, or a host is not an IP literal; Error(failure) when no socket
/// can be made.
PhoneResult place_call(const PhoneOptions& options);

}  // namespace e911::runtime
