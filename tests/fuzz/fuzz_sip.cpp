// libFuzzer target: the SIP parser and everything the runtime does with what it returns, as a
// datagram and as a stream cut at an input-chosen point. Bad input must come back as an error,
// never as a crash, a sanitizer report, an exception or a hang. A request the parser takes must
// serialise to a message it takes again.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "e911/sip_message.hpp"
#include "e911/sip_uri.hpp"
#include "e911/sip_wire.hpp"

using namespace e911::sip;

namespace {

void walk(const Message& m) {
  for (const HeaderField& h : m.headers()) (void)m.values(h.name);
  for (std::string_view name : {"From", "To", "Contact", "Route", "Record-Route"})
    for (std::string_view v : m.values(name)) {
      std::string why;
      (void)parse_name_addr(v, &why);
    }
  for (std::string_view v : m.values("Via")) (void)parse_via(v);
  if (auto type = m.first("Content-Type"))
    if (auto parts = split_multipart(m.body(), multipart_boundary(*type)))
      for (const BodyPart& p : *parts) (void)split_list(p.content_type);
  if (m.is_request()) {
    std::string why;
    (void)parse_uri(m.uri(), &why);
    const auto reject = validate_request(m);
    if (m.method() != "ACK") {
      (void)(reject ? make_response(m, *reject, "fz") : make_response(m, 486, "Busy Here", "fz"));
      (void)make_trying(m);
    }
    if (auto via = top_via(m)) {
      (void)via->text();
      (void)response_destination(*via, Endpoint{"192.0.2.1", 5060, false});
    }
    (void)stamp_received(m, "192.0.2.1", 5062);
    (void)stamp_received(m, "2001:db8::1", 5062);
  } else {
    (void)validate_response(m);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);

  Parsed p = parse(std::string(input), Transport::datagram);
  if (p) {
    walk(*p.message);
    // What the runtime puts on the wire from a message it took must be a message it takes.
    const std::string again = serialise(*p.message);
    if (!parse(again, Transport::stream)) std::abort();
  } else {
    (void)make_error_response(input, p.error, "fz");
  }

  // The same bytes as a TCP stream in two reads, split where the first byte says.
  StreamFramer framer;
  const std::size_t cut = size ? data[0] % (size + 1) : 0;
  framer.feed(input.substr(0, cut));
  for (int round = 0; round < 2; ++round) {
    while (auto message = framer.next()) {
      Parsed q = parse(std::move(*message), Transport::stream);
      if (q) walk(*q.message);
    }
    if (round == 0) framer.feed(input.substr(cut));
  }
  (void)framer.take_pongs();
  if (framer.failed()) (void)make_error_response(framer.pending(), framer.error());

  // URIs and name-addrs alone, as a header value or a Request-URI brings them.
  std::string why;
  (void)parse_uri(input, &why);
  (void)parse_name_addr(input, &why);
  (void)percent_decode(input);
  return 0;
}
