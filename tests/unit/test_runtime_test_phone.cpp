// The phone of `e911ctl call test`: its messages as the parser reads them, and one call against
// a scripted peer on a UDP socket of 127.0.0.1.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "e911/error.hpp"
#include "e911/runtime_test_phone.hpp"
#include "e911/sip_message.hpp"
#include "e911/sip_wire.hpp"

using namespace e911;
using namespace e911::runtime;

namespace {

PhoneOptions options() {
  PhoneOptions o;
  o.runtime_host = "127.0.0.1";
  o.runtime_port = 5060;
  o.from = "sip:alice@contoso.example";
  o.dial = "911";
  return o;
}

PhoneIds ids() { return {"e911ctl-test-1@127.0.0.1", "tag1", "z9hG4bKbranch1", "127.0.0.1", 40000}; }

sip::Message parsed(const std::string& text) {
  auto p = sip::parse(text, sip::Transport::datagram);
  REQUIRE(p);
  return *p.message;
}

std::string header(const sip::Message& m, const char* name) { return std::string(m.first(name).value_or("")); }

const char* kPidf =
    "<?xml version=\"1.0\"?><presence xmlns=\"urn:ietf:params:xml:ns:pidf\" entity=\"pres:alice@contoso.example\"><tuple id=\"t\">"
    "<status/></tuple></presence>";

}  // namespace

TEST_CASE("test phone: the INVITE of digits dialled is a valid request to the caller's domain") {
  const sip::Message m = parsed(build_invite(options(), ids()));
  CHECK(m.method() == "INVITE");
  CHECK(m.uri() == "sip:911@contoso.example;user=phone");
  CHECK_FALSE(sip::validate_request(m));
  CHECK(header(m, "To") == "<sip:911@contoso.example;user=phone>");
  CHECK(header(m, "From") == "<sip:alice@contoso.example>;tag=tag1");
  CHECK(header(m, "Via") == "SIP/2.0/UDP 127.0.0.1:40000;branch=z9hG4bKbranch1;rport");
  CHECK(header(m, "Contact") == "<sip:alice@127.0.0.1:40000>");
  CHECK(header(m, "CSeq") == "1 INVITE");
  CHECK(header(m, "Content-Type") == "application/sdp");
  CHECK(std::string(m.body()).find("c=IN IP4 127.0.0.1\r\n") != std::string::npos);
  CHECK_FALSE(m.first("Priority"));
  CHECK_FALSE(m.first("Geolocation"));
}

TEST_CASE("test phone: a URI dialled is the Request-URI as given; TCP says so in Via and Contact") {
  PhoneOptions o = options();
  o.dial = "urn:service:test.sos";
  o.tcp = true;
  o.priority_emergency = true;
  const sip::Message m = parsed(build_invite(o, ids()));
  CHECK(m.uri() == "urn:service:test.sos");
  CHECK(header(m, "Via").rfind("SIP/2.0/TCP 127.0.0.1:40000;", 0) == 0);
  CHECK(header(m, "Contact") == "<sip:alice@127.0.0.1:40000;transport=tcp>");
  CHECK(header(m, "Priority") == "emergency");
}

TEST_CASE("test phone: a PIDF-LO goes as RFC 6442 multipart, Geolocation naming its part") {
  PhoneOptions o = options();
  o.pidf = kPidf;
  const sip::Message m = parsed(build_invite(o, ids()));
  const std::string type = header(m, "Content-Type");
  REQUIRE(type.rfind("multipart/mixed;boundary=", 0) == 0);
  const auto parts = sip::split_multipart(m.body(), sip::multipart_boundary(type));
  REQUIRE(parts);
  REQUIRE(parts->size() == 2);
  CHECK((*parts)[0].content_type == "application/sdp");
  CHECK((*parts)[1].content_type == "application/pidf+xml");
  CHECK((*parts)[1].body == kPidf);
  CHECK(header(m, "Geolocation") == "<cid:" + std::string((*parts)[1].content_id) + ">");
  CHECK(header(m, "Geolocation-Routing") == "yes");
}

TEST_CASE("test phone: CANCEL and the ACK of a failure share the INVITE's branch; the ACK takes the answer's To") {
  const sip::Message cancel = parsed(build_cancel(options(), ids()));
  CHECK(cancel.method() == "CANCEL");
  CHECK(cancel.uri() == "sip:911@contoso.example;user=phone");
  CHECK(header(cancel, "Via") == "SIP/2.0/UDP 127.0.0.1:40000;branch=z9hG4bKbranch1;rport");
  CHECK(header(cancel, "CSeq") == "1 CANCEL");
  CHECK_FALSE(sip::validate_request(cancel));

  const sip::Message invite = parsed(build_invite(options(), ids()));
  const sip::Message answer = parsed(sip::make_response(invite, 503, "Service Unavailable", "rt9"));
  const sip::Message ack = parsed(build_non2xx_ack(options(), ids(), answer));
  CHECK(ack.method() == "ACK");
  CHECK(header(ack, "Via") == header(invite, "Via"));
  CHECK(header(ack, "To") == "<sip:911@contoso.example;user=phone>;tag=rt9");
  CHECK(header(ack, "CSeq") == "1 ACK");
}

TEST_CASE("test phone: the dialog of a 2xx: BYE to its Contact, through its Record-Route reversed, with both tags") {
  const sip::Message invite = parsed(build_invite(options(), ids()));
  const sip::Message answer = parsed(sip::make_response(invite, 200, "OK", "rt7",
                                                        {{"Contact", "<sip:b2bua@127.0.0.1:5060>"},
                                                         {"Record-Route", "<sip:p1@127.0.0.1;lr>"},
                                                         {"Record-Route", "<sip:p2@127.0.0.1;lr>"}}));
  const PhoneDialog d = dialog_of(options(), ids(), answer);
  CHECK(d.remote_tag == "rt7");
  CHECK(d.remote_target == "sip:b2bua@127.0.0.1:5060");
  const sip::Message bye = parsed(build_in_dialog(options(), ids(), d, "BYE", 2, "z9hG4bKbye"));
  CHECK(bye.uri() == "sip:b2bua@127.0.0.1:5060");
  CHECK(header(bye, "To") == "<sip:911@contoso.example;user=phone>;tag=rt7");
  CHECK(header(bye, "From") == "<sip:alice@contoso.example>;tag=tag1");
  CHECK(header(bye, "CSeq") == "2 BYE");
  const auto routes = bye.values("Route");
  REQUIRE(routes.size() == 2);
  CHECK(routes[0] == "<sip:p2@127.0.0.1;lr>");
  CHECK(routes[1] == "<sip:p1@127.0.0.1;lr>");
  CHECK_FALSE(sip::validate_request(bye));
}

namespace {

/// A UDP socket on 127.0.0.1 playing the runtime: `script` gets each request and answers it.
struct Peer {
  int fd = -1;
  unsigned short port = 0;
  Peer() {
    fd = ::socket(AF_INET, SOCK_DGRAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    socklen_t len = sizeof a;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    port = ntohs(a.sin_port);
  }
  ~Peer() { ::close(fd); }
  /// The next request within `ms`, and where it came from.
  std::optional<std::pair<sip::Message, sockaddr_in>> next(int ms) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, ms) <= 0) return std::nullopt;
    std::string buf(65536, '\0');
    sockaddr_in from{};
    socklen_t len = sizeof from;
    const ssize_t n = ::recvfrom(fd, buf.data(), buf.size(), 0, reinterpret_cast<sockaddr*>(&from), &len);
    if (n <= 0) return std::nullopt;
    buf.resize(static_cast<std::size_t>(n));
    auto p2 = sip::parse(buf, sip::Transport::datagram);
    if (!p2) return std::nullopt;
    return std::make_pair(*p2.message, from);
  }
  void send(const std::string& m, const sockaddr_in& to) { ::sendto(fd, m.data(), m.size(), 0, reinterpret_cast<const sockaddr*>(&to), sizeof to); }
};

std::vector<std::string> messages_of(const PhoneResult& r) {
  std::vector<std::string> out;
  for (const auto& e : r.events) out.push_back(std::string(e.sent ? "> " : "< ") + e.message + (e.retransmission ? " again" : ""));
  return out;
}

}  // namespace

TEST_CASE("test phone: a call answered after a lost INVITE: Timer A sends it again; ACK, MESSAGE answered, BYE") {
  Peer peer;
  std::vector<std::string> seen;
  std::thread runtime([&] {
    bool dropped = false;
    for (int i = 0; i < 10; ++i) {
      auto in = peer.next(3000);
      if (!in) return;
      const sip::Message& m = in->first;
      if (!m.is_request()) continue;  // the phone's 200 to the MESSAGE
      seen.push_back(std::string(m.method()));
      if (m.method() == "INVITE") {
        if (!dropped) {
          dropped = true;  // the first copy is "lost"
          continue;
        }
        peer.send(sip::make_trying(m), in->second);
        peer.send(sip::make_response(m, 180, "Ringing", "rt1"), in->second);
        peer.send(sip::make_response(m, 200, "OK", "rt1", {{"Contact", "<sip:rt@127.0.0.1:" + std::to_string(peer.port) + ">"}}), in->second);
      } else if (m.method() == "ACK") {
        // A test call's read-back, into the dialog.
        const std::string msg = "MESSAGE sip:alice@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:" + std::to_string(peer.port) +
                                ";branch=z9hG4bKm1\r\nFrom: <sip:rt@127.0.0.1>;tag=rt1\r\nTo: <sip:alice@contoso.example>;tag=tag1\r\nCall-ID: " +
                                std::string(m.first("Call-ID").value_or("")) +
                                "\r\nCSeq: 1 MESSAGE\r\nMax-Forwards: 70\r\nContent-Type: text/plain\r\nContent-Length: 9\r\n\r\ncallback!";
        peer.send(msg, in->second);
      } else if (m.method() == "BYE") {
        peer.send(sip::make_response(m, 200, "OK"), in->second);
        return;
      }
    }
  });
  PhoneOptions o = options();
  o.runtime_port = peer.port;
  o.t1 = std::chrono::milliseconds(50);
  o.hold = std::chrono::milliseconds(200);
  const PhoneResult r = place_call(o);
  runtime.join();
  CHECK(r.answered());
  CHECK(r.status == 200);
  CHECK(r.failure.empty());
  CHECK(r.hangup == "BYE answered 200 OK");
  CHECK(messages_of(r) == std::vector<std::string>{"> INVITE", "> INVITE again", "< 100 Trying", "< 180 Ringing", "< 200 OK", "> ACK",
                                                   "< MESSAGE", "> 200 OK", "> BYE", "< 200 OK"});
  REQUIRE(r.requests.size() == 1);
  CHECK(r.requests[0].body == "callback!");
  CHECK(r.requests[0].content_type == "text/plain");
  CHECK(seen == std::vector<std::string>{"INVITE", "INVITE", "ACK", "BYE"});
}

TEST_CASE("test phone: a failure answer is ACKed on the INVITE's branch and is the call's failure") {
  Peer peer;
  std::string ack_via, invite_via;
  std::thread runtime([&] {
    for (int i = 0; i < 4; ++i) {
      auto in = peer.next(3000);
      if (!in) return;
      const sip::Message& m = in->first;
      if (m.method() == "INVITE") {
        invite_via = std::string(m.first("Via").value_or(""));
        peer.send(sip::make_response(m, 503, "Service Unavailable", "rt2"), in->second);
      } else if (m.method() == "ACK") {
        ack_via = std::string(m.first("Via").value_or(""));
        return;
      }
    }
  });
  PhoneOptions o = options();
  o.runtime_port = peer.port;
  const PhoneResult r = place_call(o);
  runtime.join();
  CHECK_FALSE(r.answered());
  CHECK(r.reached);
  CHECK(r.status == 503);
  CHECK(r.failure == "the runtime answered 503 Service Unavailable");
  CHECK(ack_via == invite_via);
}

TEST_CASE("test phone: where nothing listens the call fails at once, unreached") {
  int probe = ::socket(AF_INET, SOCK_DGRAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(probe, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  socklen_t len = sizeof a;
  ::getsockname(probe, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(probe);  // a port just freed: nothing listens there
  PhoneOptions o = options();
  o.runtime_port = ntohs(a.sin_port);
  o.timeout = std::chrono::seconds(10);
  const auto start = std::chrono::steady_clock::now();
  const PhoneResult r = place_call(o);
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(5));
  CHECK_FALSE(r.reached);
  CHECK(r.status == 0);
  CHECK(r.failure == "nothing listens at udp 127.0.0.1:" + std::to_string(o.runtime_port) + " (ICMP port unreachable)");
}

TEST_CASE("test phone: no answer at all ends at the timeout, without CANCEL") {
  Peer peer;  // takes everything, answers nothing
  PhoneOptions o = options();
  o.runtime_port = peer.port;
  o.t1 = std::chrono::milliseconds(50);
  o.timeout = std::chrono::milliseconds(500);
  const PhoneResult r = place_call(o);
  CHECK_FALSE(r.reached);
  CHECK_FALSE(r.cancelled);
  CHECK(r.failure == "no answer from the runtime at udp 127.0.0.1:" + std::to_string(peer.port) + " within 0.5 s");
  // Timer A: 50, 100, 200 ms after the first: three copies more within 500 ms.
  CHECK(r.events.size() == 4);
}

TEST_CASE("test phone: an address this machine does not have is refused as usage") {
  PhoneOptions o = options();
  o.local_ip = "192.0.2.77";
  CHECK_THROWS_AS(place_call(o), Error);
  try {
    place_call(o);
  } catch (const Error& e) {
    CHECK(e.kind == ErrorKind::usage);
  }
}

TEST_CASE("test phone: the HELD request carries the device identity, escaped; the answer's PIDF-LO or error is read") {
  const std::string req = held_location_request("10.10.1.20", "00-1A-2B-3C-4D-02", "", "");
  CHECK(req.find("<ip v=\"4\">10.10.1.20</ip>") != std::string::npos);
  CHECK(req.find("<e:bssid>00-1A-2B-3C-4D-02</e:bssid>") != std::string::npos);
  CHECK(req.find("chassis") == std::string::npos);
  CHECK(held_location_request("", "", "a<b", "Gi1/0/1&").find("<e:chassis>a&lt;b</e:chassis>\n    <e:port>Gi1/0/1&amp;</e:port>") != std::string::npos);

  std::string error;
  const std::string answer = std::string("<?xml version=\"1.0\"?>\n<locationResponse xmlns=\"urn:ietf:params:xml:ns:geopriv:held\">\n") + kPidf +
                             "</locationResponse>\n";
  const std::string presence = std::string(kPidf).substr(std::string(kPidf).find("<presence"));
  CHECK(held_pidf(answer, error) == presence + "\n");
  CHECK_FALSE(held_pidf("<error xmlns=\"urn:ietf:params:xml:ns:geopriv:held\" code=\"notLocatable\">\n  <message xml:lang=\"en\">no element</message>\n</error>",
                        error));
  CHECK(error == "notLocatable: no element");
}
