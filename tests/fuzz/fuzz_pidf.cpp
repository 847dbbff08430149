// libFuzzer target: the PIDF-LO a call brings. The input is a SIP INVITE as it arrives in one
// datagram; its application/pidf+xml body, alone or as a part of a multipart/mixed body (the way
// the runtime's pidf_of finds it, RFC 6442), goes through routing::check_pidf, the libxml2 check
// a dry run and `call test` apply. The whole input is also checked as a PIDF-LO by itself, so the
// XML parser sees the mutations directly. A bad document must be refused with e911::Error, never
// a crash, another exception, an entity expanded or fetched, or a hang.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "e911/call_input.hpp"
#include "e911/error.hpp"
#include "e911/sip_message.hpp"
#include "e911/sip_text.hpp"

using namespace e911;

namespace {

bool is_type(std::string_view type, std::string_view wanted) {
  return sip::iequals(sip::trim(type.substr(0, type.find(';'))), wanted);
}

/// The body of type application/pidf+xml: the whole body, or the first such multipart part.
std::string_view pidf_part(const sip::Message& m) {
  const std::string_view type = sip::trim(m.first("Content-Type").value_or(""));
  if (is_type(type, "application/pidf+xml")) return m.body();
  if (type.size() >= 10 && sip::iequals(type.substr(0, 10), "multipart/"))
    if (auto parts = sip::split_multipart(m.body(), sip::multipart_boundary(type)))
      for (const sip::BodyPart& p : *parts)
        if (is_type(p.content_type, "application/pidf+xml")) return p.body;
  return {};
}

void check(std::string_view pidf) {
  try {
    routing::check_pidf(pidf, "fuzz");
  } catch (const Error&) {
    // refused: what a bad document gets
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  if (sip::Parsed p = sip::parse(std::string(input), sip::Transport::datagram)) {
    if (const std::string_view pidf = pidf_part(*p.message); !pidf.empty()) check(pidf);
  }
  check(input);
  return 0;
}
