#pragma once
// What the SIP layer puts on the wire and takes off it, as pure functions (no sockets): responses
// built from a request (RFC 3261 §8.2.6), the top Via and where a response goes (RFC 3261 §18.2,
// RFC 3581), and message framing on a stream transport (RFC 3261 §18.3, RFC 5626 §3.5.1).
//
// Emergency rule: the facts routing uses (where a caller is, which trunk it came from) come from
// the socket's source address, never from a Via, which any client can forge. The Via functions
// here serve response routing only.
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "e911/sip_message.hpp"
#include "e911/sip_uri.hpp"

namespace e911::sip {

using HeaderList = std::vector<std::pair<std::string, std::string>>;

/// The methods a 405 lists in its Allow header when the Reject does not say.
inline constexpr std::string_view kAllowedMethods = "INVITE, ACK, CANCEL, BYE, OPTIONS";

/// A response to `request` as wire text (RFC 3261 §8.2.6): status line, every Via in order (one
/// line per value; `top_via`, when not empty, replaces the first, e.g. the text stamp_received
/// returned), From, To, Call-ID, CSeq, for 100 the Timestamp (§8.2.6.1), `extra` headers,
/// Content-Length: 0. The To gets `;tag=` when it has none and status > 100: `to_tag`, or, when
/// that is empty, a tag derived from Call-ID, From tag and top branch (the same for every
/// retransmission, as a stateless answer needs). Never call it for an ACK: ACK gets no response.
/// `body` (with its Content-Type among `extra`) follows the headers, Content-Length set to its size.
/// A 513 carries only the top Via: the request was refused for its size, its answer must be small.
std::string make_response(const Message& request, int status, std::string_view reason, std::string_view to_tag = {},
                          const HeaderList& extra = {}, std::string_view top_via = {}, std::string_view body = {});

/// The response for a Reject of validate_request: its status, reason and headers (420 carries
/// Unsupported); a 405 without an Allow header gets `Allow: <allow>`.
std::string make_response(const Message& request, const Reject& reject, std::string_view to_tag = {},
                          std::string_view top_via = {}, std::string_view allow = kAllowedMethods);

/// 100 Trying (no To tag, Timestamp copied).
std::string make_trying(const Message& request, std::string_view top_via = {});

/// The answer to a request that parse() refused (`raw` as received, `error` from parse or
/// StreamFramer). RFC 3261 §8.2 wants a 400 where possible, but a response can only be routed
/// and matched when the request carries them: Via (the top one well-formed), exactly one
/// Call-ID, CSeq, From and To (From and To well-formed). When they are all found, those lines
/// alone are re-parsed and answered with `error.status`; otherwise, or when `raw` is a response,
/// nullopt: the datagram is dropped (and logged) — guessing a destination from a broken message
/// would answer someone who did not ask.
std::optional<std::string> make_error_response(std::string_view raw, const ParseError& error,
                                               std::string_view to_tag = {});

/// A parsed Via value (RFC 3261 §20.42, §18.2.1, RFC 3581).
struct Via {
  std::string transport;              ///< as written: UDP, TCP, TLS, SCTP, WS, ...
  std::string host;                   ///< sent-by host; an IPv6 reference without brackets
  bool ipv6 = false;
  int port = 0;                       ///< 0 when absent
  std::string branch;                 ///< empty when absent
  std::optional<std::string> received;
  bool rport = false;                 ///< the client asked for rport (RFC 3581)
  std::optional<int> rport_value;     ///< filled by the server that received the request
  std::optional<std::string> maddr;
  std::vector<Param> params;          ///< every parameter in order, unquoted

  /// True for transports that keep a connection (everything but UDP).
  bool reliable() const;
  /// `SIP/2.0/<transport> <sent-by><params>`, IPv6 hosts in brackets.
  std::string text() const;
};

/// Parses one Via value (one element of the list); nullopt when malformed.
std::optional<Via> parse_via(std::string_view value);

/// The request's first Via value parsed; nullopt when it has none or it is malformed.
std::optional<Via> top_via(const Message& request);

/// Where a packet came from or a response goes: an IP literal (IPv6 without brackets) or, only
/// for a sent-by without received, a name still to be resolved (RFC 3263 §5).
struct Endpoint {
  std::string host;
  int port = 0;
  bool same_connection = false;  ///< reliable transport: answer on the connection it came on
  bool operator==(const Endpoint&) const = default;
};

/// The request's top Via as the server must pass it on and echo it back (RFC 3261 §18.2.1):
/// `received=<source_ip>` when the sent-by host is not the source address (names always differ;
/// IP literals compare by value, so 2001:DB8:0::1 equals 2001:db8::1), `rport=<source_port>`
/// filled when the client sent a bare rport, and then `received` always (RFC 3581 §4). An existing
/// received or rport value is overwritten. Parameters are written back unquoted. nullopt when
/// there is no well-formed top Via.
std::optional<std::string> stamp_received(const Message& request, std::string_view source_ip, int source_port);

/// Where a response to a request with top Via `top` goes (RFC 3261 §18.2.2, RFC 3581 §4), given
/// the request's source address: reliable transport → the same connection (`source`,
/// same_connection); maddr → maddr at the sent-by port or 5060; otherwise the received address (or
/// the source address, which is what received would say) at the rport value, or at the source
/// port when rport was asked but not stamped, or at the sent-by port, or 5060.
Endpoint response_destination(const Via& top, const Endpoint& source);

/// Cuts a byte stream (TCP, TLS) into messages (RFC 3261 §18.3): a header block up to CRLFCRLF,
/// then exactly Content-Length octets. CRLFs before a start line are skipped; a double CRLF
/// between messages is an RFC 5626 keep-alive ping, counted so the owner answers a CRLF pong.
/// A framing error is fatal — no Content-Length, a bad (negative, non-numeric), repeated or
/// conflicting one (torture ncl, mcl01), or a message over the limits — since the next message's
/// start can no longer be found: the owner answers with make_error_response(pending(), error())
/// if it can and closes the connection. Other faults (a bad header) are parse()'s to find.
class StreamFramer {
 public:
  explicit StreamFramer(Limits limits = {}) : limits_(limits) {}

  /// Appends bytes as they arrive (ignored after a fatal error).
  void feed(std::string_view bytes);
  /// The next complete message (start line to end of body), or nullopt when more bytes are
  /// needed or the stream failed.
  std::optional<std::string> next();
  /// Keep-alive pings seen since the last call; each wants one "\r\n" pong. Resets the count.
  std::size_t take_pongs();
  bool failed() const { return failed_; }
  /// The framing error (400 or 513) once failed().
  const ParseError& error() const { return error_; }
  /// Bytes received but not yet returned as messages.
  std::string_view pending() const { return std::string_view(buffer_).substr(start_); }

 private:
  void fail(int status, std::string reason);
  Limits limits_;
  std::string buffer_;
  std::size_t start_ = 0;    ///< first unconsumed byte
  std::size_t scanned_ = 0;  ///< bytes after start_ already searched for CRLFCRLF
  std::size_t pongs_ = 0;
  bool failed_ = false;
  ParseError error_;
};

}  // namespace e911::sip
