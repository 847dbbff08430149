// libFuzzer target: the HELD locationRequest reader (RFC 5985) and the answer built from it
// with no snapshot in service. Whatever the body, the answer is a HELD document: a crash, an
// exception, an entity expanded or fetched, or a hang is a bug.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "e911/runtime_held.hpp"

using namespace e911::runtime;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  const HeldParse p = parse_held_request(body);
  // A refusal always names one of the errors the header promises.
  if (!p.error.empty() && p.error != "xmlError" && p.error != "unsupportedMessage" && p.error != "badIdentifier") std::abort();
  const HeldAnswer a = answer_held(nullptr, body, "192.0.2.7", "2026-01-01T00:00:00Z", true);
  if (a.body.empty()) std::abort();
  return 0;
}
