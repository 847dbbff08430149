#pragma once
#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace e911::sip {

/// How a message arrived: a datagram holds one message (octets after its body are ignored, a
/// missing Content-Length means "the rest"); a stream needs Content-Length (RFC 3261 §18.3).
enum class Transport { datagram, stream };

/// What the parser and validator accept. Exceeding max_message, max_headers or max_line is
/// answered 513 Message Too Large (RFC 3261 §21.5.14): the request may be fine, just too big
/// for us. Values above max_expires in Expires are 400 (RFC 4475 scalar02).
struct Limits {
  std::size_t max_message = 64 * 1024;  ///< octets in the buffer given to parse()
  std::size_t max_headers = 256;        ///< header lines after unfolding
  std::size_t max_line = 8 * 1024;      ///< octets in one unfolded header line
  unsigned long long max_expires = 4294967295ULL;
};

struct Parsed;

/// One header line: `name` is the canonical long name for known headers (compact forms mapped,
/// case normalised), otherwise as received; `value` has its LWS trimmed, folding unfolded.
struct HeaderField {
  std::string_view name;
  std::string_view value;
};

/// A parsed SIP message. It owns its received buffer (shared and immutable, so copies are cheap)
/// and every view it hands out points into that buffer or into static names: they live as long
/// as the Message or any copy of it.
class Message {
 public:
  bool is_request() const { return request_; }
  std::string_view method() const { return method_; }   ///< requests
  std::string_view uri() const { return uri_; }         ///< requests: the Request-URI as written
  std::string_view version() const { return version_; } ///< "SIP/2.0", or what was received
  int status() const { return status_; }                ///< responses
  std::string_view reason() const { return reason_; }   ///< responses; may be empty
  const std::vector<HeaderField>& headers() const { return headers_; }
  std::string_view body() const { return body_; }
  /// Octets of the buffer this message took (start line to end of body): less than the buffer
  /// when a datagram carried trailing octets or a stream carries the next message.
  std::size_t size() const { return size_; }

  /// Number of header lines named `name` (long name or compact form, case-insensitive).
  std::size_t count(std::string_view name) const;
  /// The value of the first line named `name`, or nullopt.
  std::optional<std::string_view> first(std::string_view name) const;
  /// Every value of `name` in order: the lines' values split at commas outside quoted strings
  /// and `<...>` for list headers (Via, Contact, Route, Require, Accept, ...); whole otherwise.
  /// Empty elements are kept so that validation can see them.
  std::vector<std::string_view> values(std::string_view name) const;

 private:
  friend Parsed parse(std::string buffer, Transport transport, const Limits& limits);
  std::shared_ptr<const std::string> buffer_;
  bool request_ = false;
  std::string_view method_, uri_, version_, reason_, body_;
  int status_ = 0;
  std::vector<HeaderField> headers_;
  std::size_t size_ = 0;
};

/// Why a message could not be parsed: the status a request gets (400, 513) and a short reason
/// for the Warning header or the log. A response that fails to parse is dropped.
struct ParseError {
  int status = 400;
  std::string reason;
};

/// The outcome of parse(): a message, or the error.
struct Parsed {
  std::optional<Message> message;
  ParseError error;
  explicit operator bool() const { return message.has_value(); }
};

/// Parses one SIP message from `buffer` (RFC 3261 §7): CRLFs before the start line skipped,
/// header folding unfolded, compact forms mapped, body delimited by Content-Length. Errors
/// (never exceptions, whatever the input): bad start line, header without a colon or with a
/// non-token name, no blank line (a datagram's headers may end with the datagram instead),
/// Content-Length missing on a stream, negative, repeated or larger than the buffer: 400; over
/// `limits`: 513. A SIP version other than 2.0 parses (so that
/// validate_request can answer 505).
Parsed parse(std::string buffer, Transport transport, const Limits& limits = {});

/// The message as text: start line, header lines in received order one per line, Content-Length
/// recomputed in its place (appended when absent), blank line, body.
std::string serialise(const Message& message);

/// Splits a comma-separated header value at commas outside quoted strings and `<...>`,
/// trimming LWS around each element; empty elements are kept.
std::vector<std::string_view> split_list(std::string_view value);
/// The first item of split_list(value), without building the list.
std::string_view first_list_item(std::string_view value);

/// The answer a request gets instead of being processed.
struct Reject {
  int status = 400;
  std::string reason;                                        ///< reason phrase
  std::vector<std::pair<std::string, std::string>> headers;  ///< e.g. {"Unsupported", "foo, bar"}
};

/// The first step of the runtime: the response a parsed request must get, or nullopt to go on.
/// 505 SIP version not 2.0; 416 Request-URI scheme other than sip, sips, tel, urn; 400 missing
/// Call-ID, CSeq, From, To or Via, several Call-ID/CSeq/From/To/Max-Forwards/Content-Type/Expires,
/// CSeq not `number method` or above 2^31-1 or its method not the request's, Max-Forwards above
/// 255, Expires above limits.max_expires, bad From/To/Contact/Via/Request-URI, headers in a
/// sip(s) Request-URI; 483 Max-Forwards 0; 420 with Unsupported for any Require or Proxy-Require
/// option tag (none supported yet; not for ACK and CANCEL); 406 an INVITE whose Accept lists no
/// SDP type. Max-Forwards may be absent (RFC 2543 clients). Date is not checked.
std::optional<Reject> validate_request(const Message& request, const Limits& limits = {});

/// True when a parsed response must be dropped: status outside 100-699, missing Via, CSeq,
/// Call-ID, From or To, a bad CSeq, or a Via sent-by of 255.255.255.255 (RFC 4475 bcast).
bool validate_response(const Message& response);

/// One part of a multipart body: views into the body it came from.
struct BodyPart {
  std::vector<HeaderField> headers;  ///< names as received (no compact forms in MIME)
  std::string_view content_type;     ///< empty when absent
  std::string_view content_id;       ///< without its `<>`; empty when absent
  std::string_view body;
};

/// The `boundary` parameter of a Content-Type value (quotes removed), or empty.
std::string_view multipart_boundary(std::string_view content_type);

/// Splits a multipart body (RFC 2046 §5.1) at `--boundary` delimiters; the preamble and epilogue
/// are ignored. nullopt when the boundary is empty, never appears, or the closing delimiter is
/// missing. The views point into `body`.
std::optional<std::vector<BodyPart>> split_multipart(std::string_view body, std::string_view boundary);

}  // namespace e911::sip
