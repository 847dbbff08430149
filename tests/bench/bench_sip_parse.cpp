// Parser figure (issue 12): messages per second on one core for a typical INVITE of about
// 1.2 KB (15 headers, an SDP body), through e911::sip::parse alone and parse + validate_request,
// the runtime's first step. Usage: bench_sip_parse [MESSAGES] (default 1000000)
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "e911/sip_message.hpp"

using namespace e911;
using Clock = std::chrono::steady_clock;

namespace {

// What a desk phone sends through a proxy: two Vias, a Route, display names, Supported/Allow
// lists and an SDP offer with two codecs and telephone-event.
std::string typical_invite() {
  const std::string sdp =
      "v=0\r\n"
      "o=alice 2890844526 2890844526 IN IP4 10.10.1.20\r\n"
      "s=-\r\n"
      "c=IN IP4 10.10.1.20\r\n"
      "t=0 0\r\n"
      "m=audio 49170 RTP/AVP 0 8 9 101\r\n"
      "a=rtpmap:0 PCMU/8000\r\n"
      "a=rtpmap:8 PCMA/8000\r\n"
      "a=rtpmap:9 G722/8000\r\n"
      "a=rtpmap:101 telephone-event/8000\r\n"
      "a=fmtp:101 0-16\r\n"
      "a=ptime:20\r\n"
      "a=sendrecv\r\n";
  std::string m =
      "INVITE sip:+14255550102@contoso.example;user=phone SIP/2.0\r\n"
      "Via: SIP/2.0/UDP 10.10.1.1:5060;branch=z9hG4bK-524287-1---8f1d4b7e5f0a2c3d;rport\r\n"
      "Via: SIP/2.0/UDP 10.10.1.20:5060;received=10.10.1.20;branch=z9hG4bK-776asdhds-3a9f;rport=5060\r\n"
      "Max-Forwards: 69\r\n"
      "Route: <sip:edge.contoso.example;lr>\r\n"
      "From: \"Alice Example\" <sip:alice@contoso.example>;tag=1928301774-a1b2c3\r\n"
      "To: <sip:+14255550102@contoso.example;user=phone>\r\n"
      "Call-ID: a84b4c76e66710-4f3b-9d2e-7c1a0b5e6f70@10.10.1.20\r\n"
      "CSeq: 314159 INVITE\r\n"
      "Contact: \"Alice Example\" <sip:alice@10.10.1.20:5060;transport=udp>;+sip.instance=\"<urn:uuid:00000000-0000-1000-8000-00a0c91e6bf6>\"\r\n"
      "Allow: INVITE, ACK, CANCEL, BYE, OPTIONS, UPDATE, INFO, PRACK, REFER, NOTIFY\r\n"
      "Supported: replaces, timer, 100rel, path\r\n"
      "User-Agent: Contoso-DeskPhone/7.2.1 (model 500)\r\n"
      "P-Asserted-Identity: \"Alice Example\" <sip:alice@contoso.example>\r\n"
      "Session-Expires: 1800;refresher=uac\r\n"
      "Content-Type: application/sdp\r\n"
      "Content-Length: " +
      std::to_string(sdp.size()) + "\r\n\r\n" + sdp;
  return m;
}

}  // namespace

int main(int argc, char** argv) {
  const long messages = argc > 1 ? std::atol(argv[1]) : 1000000;
  if (messages <= 0) {
    std::fprintf(stderr, "usage: bench_sip_parse [MESSAGES]\n");
    return 2;
  }
  const std::string invite = typical_invite();
  {
    sip::Parsed p = sip::parse(invite, sip::Transport::datagram);
    if (!p || sip::validate_request(*p.message)) {
      std::fprintf(stderr, "bench_sip_parse: the sample INVITE does not pass parse + validate\n");
      return 1;
    }
    std::printf("sample INVITE: %zu octets, %zu header lines, %zu octets of SDP\n", invite.size(),
                p.message->headers().size(), p.message->body().size());
  }
  // parse() takes its buffer by value (the Message owns it), as the runtime hands it the
  // datagram it received: the copy made here stands for that buffer and is counted in.
  std::size_t sink = 0;
  auto run = [&](bool validate) {
    const auto t = Clock::now();
    for (long i = 0; i < messages; ++i) {
      sip::Parsed p = sip::parse(invite, sip::Transport::datagram);
      sink += p.message->headers().size();
      if (validate && sip::validate_request(*p.message)) sink += 1;
    }
    return std::chrono::duration<double>(Clock::now() - t).count();
  };
  run(true);  // warm the caches and the allocator
  const double parse_s = run(false);
  const double both_s = run(true);
  std::printf("%-44s %12.0f msg/s  (%.2f us each, %ld messages)\n", "sip::parse", messages / parse_s, parse_s * 1e6 / messages, messages);
  std::printf("%-44s %12.0f msg/s  (%.2f us each, %ld messages)\n", "sip::parse + sip::validate_request", messages / both_s,
              both_s * 1e6 / messages, messages);
  return sink == 0 ? 1 : 0;
}
