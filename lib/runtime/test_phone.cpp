// The phone of `e911ctl call test` (runtime_test_phone.hpp): the messages as pure functions, then
// one call on a POSIX socket, driven by poll() with a deadline for every wait.
#include "e911/runtime_test_phone.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/errqueue.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <functional>
#include <random>

#include "e911/error.hpp"
#include "e911/sip_text.hpp"
#include "e911/sip_uri.hpp"
#include "e911/sip_wire.hpp"

namespace e911::runtime {
namespace {

using Clock = std::chrono::steady_clock;

bool is_v6(const std::string& host) { return host.find(':') != std::string::npos; }

std::string host_port(const std::string& host, int port) {
  return (is_v6(host) ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

std::string sent_by(const PhoneIds& ids) { return host_port(ids.local_host, ids.local_port); }

const char* via_transport(const PhoneOptions& o) { return o.tcp ? "TCP" : "UDP"; }

/// 64 random bits as hex, for tags, branches and the Call-ID.
std::string random_hex() {
  static thread_local std::mt19937_64 rng(std::random_device{}() ^ (static_cast<std::uint64_t>(std::random_device{}()) << 32));
  char out[17];
  std::snprintf(out, sizeof out, "%016llx", static_cast<unsigned long long>(rng()));
  return out;
}

/// A header value without its `tag` parameter (the parameters after the URI only).
std::string without_tag(std::string_view value) {
  std::string v(value);
  const std::size_t from = v.find('>') == std::string::npos ? 0 : v.find('>');
  std::string lower = v;
  for (auto& c : lower) c = static_cast<char>(sip::ascii_lower(static_cast<unsigned char>(c)));
  const std::size_t at = lower.find(";tag=", from);
  if (at == std::string::npos) return v;
  const std::size_t end = v.find(';', at + 1);
  return v.erase(at, end == std::string::npos ? std::string::npos : end - at);
}

std::string tag_of(std::string_view value) {
  auto na = sip::parse_name_addr(value);
  return na ? na->tag() : std::string();
}

/// The From value: the caller's URI in brackets (a URI with parameters needs them).
std::string from_value(const PhoneOptions& o) { return o.from.find('<') == std::string::npos ? "<" + o.from + ">" : o.from; }

std::string contact_value(const PhoneOptions& o, const PhoneIds& ids) {
  std::string user = "phone";
  if (auto u = sip::parse_uri(o.from); u && u->has_user && sip::is_token(u->user)) user = u->user;
  return "<sip:" + user + "@" + sent_by(ids) + (o.tcp ? ";transport=tcp" : "") + ">";
}

std::string sdp_offer(const PhoneIds& ids) {
  const char* family = is_v6(ids.local_host) ? "IP6" : "IP4";
  const std::string session = std::to_string(std::hash<std::string>{}(ids.call_id) % 1000000000u);
  return "v=0\r\no=e911ctl " + session + " 1 IN " + family + " " + ids.local_host + "\r\ns=e911ctl call test\r\nc=IN " + family + " " +
         ids.local_host + "\r\nt=0 0\r\nm=audio 9 RTP/AVP 0 8\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\na=sendrecv\r\n";
}

/// The lines every request of the INVITE transaction shares (RFC 3261 §9.1, §17.1.1.3).
std::string transaction_request(const PhoneOptions& o, const PhoneIds& ids, const std::string& method, const std::string& to) {
  std::string m;
  m.append(method).append(" ").append(dial_uri(o)).append(" SIP/2.0\r\n");
  m.append("Via: SIP/2.0/").append(via_transport(o)).append(" ").append(sent_by(ids)).append(";branch=").append(ids.branch).append(";rport\r\n");
  m.append("Max-Forwards: 70\r\n");
  m.append("From: ").append(from_value(o)).append(";tag=").append(ids.from_tag).append("\r\n");
  m.append("To: ").append(to).append("\r\n");
  m.append("Call-ID: ").append(ids.call_id).append("\r\n");
  m.append("CSeq: 1 ").append(method).append("\r\n");
  return m;
}

}  // namespace

std::string dial_uri(const PhoneOptions& o) {
  if (o.dial.find(':') != std::string::npos) return o.dial;
  std::string host = "invalid";
  if (auto u = sip::parse_uri(o.from); u && !u->host.empty()) host = u->ipv6 ? "[" + u->host + "]" : u->host;
  return "sip:" + o.dial + "@" + host + ";user=phone";
}

std::string build_invite(const PhoneOptions& o, const PhoneIds& ids) {
  std::string m = transaction_request(o, ids, "INVITE", "<" + dial_uri(o) + ">");
  m.append("Contact: ").append(contact_value(o, ids)).append("\r\n");
  m.append("Allow: INVITE, ACK, CANCEL, BYE, OPTIONS, MESSAGE, INFO, NOTIFY\r\n");
  m.append("User-Agent: e911ctl/" E911_VERSION " call test\r\n");
  if (o.priority_emergency) m.append("Priority: emergency\r\n");
  const std::string sdp = sdp_offer(ids);
  std::string body, type = "application/sdp";
  if (!o.pidf.empty()) {
    // RFC 6442: the location by value, a part of a multipart body that Geolocation points to.
    std::string boundary = "e911ctl-" + ids.from_tag;
    while (o.pidf.find(boundary) != std::string::npos || sdp.find(boundary) != std::string::npos) boundary += "x";
    const std::string cid = "location-" + ids.from_tag + "@e911ctl.invalid";
    body = "--" + boundary + "\r\nContent-Type: application/sdp\r\n\r\n" + sdp + "\r\n--" + boundary +
           "\r\nContent-Type: application/pidf+xml\r\nContent-ID: <" + cid + ">\r\n\r\n" + o.pidf + "\r\n--" + boundary + "--\r\n";
    type = "multipart/mixed;boundary=" + boundary;
    m.append("Geolocation: <cid:").append(cid).append(">\r\nGeolocation-Routing: yes\r\n");
  } else {
    body = sdp;
  }
  m.append("Content-Type: ").append(type).append("\r\n");
  m.append("Content-Length: ").append(std::to_string(body.size())).append("\r\n\r\n").append(body);
  return m;
}

std::string build_cancel(const PhoneOptions& o, const PhoneIds& ids) {
  return transaction_request(o, ids, "CANCEL", "<" + dial_uri(o) + ">") + "Content-Length: 0\r\n\r\n";
}

std::string build_non2xx_ack(const PhoneOptions& o, const PhoneIds& ids, const sip::Message& answer) {
  return transaction_request(o, ids, "ACK", std::string(answer.first("To").value_or("<" + dial_uri(o) + ">"))) + "Content-Length: 0\r\n\r\n";
}

PhoneDialog dialog_of(const PhoneOptions& o, const PhoneIds& ids, const sip::Message& answer) {
  PhoneDialog d;
  d.call_id = ids.call_id;
  d.local_uri = from_value(o);
  d.local_tag = ids.from_tag;
  const std::string to(answer.first("To").value_or(""));
  d.remote_uri = without_tag(to);
  d.remote_tag = tag_of(to);
  d.remote_target = dial_uri(o);
  if (auto contact = answer.first("Contact"))
    if (auto na = sip::parse_name_addr(*contact)) d.remote_target = na->uri_text;
  auto rr = answer.values("Record-Route");
  for (auto v = rr.rbegin(); v != rr.rend(); ++v) d.route_set.emplace_back(*v);
  return d;
}

std::string build_in_dialog(const PhoneOptions& o, const PhoneIds& ids, const PhoneDialog& d, const std::string& method, std::uint32_t cseq,
                            const std::string& branch) {
  std::string m;
  m.append(method).append(" ").append(d.remote_target).append(" SIP/2.0\r\n");
  m.append("Via: SIP/2.0/").append(via_transport(o)).append(" ").append(sent_by(ids)).append(";branch=").append(branch).append(";rport\r\n");
  m.append("Max-Forwards: 70\r\n");
  for (const auto& r : d.route_set) m.append("Route: ").append(r).append("\r\n");
  m.append("From: ").append(d.local_uri).append(";tag=").append(d.local_tag).append("\r\n");
  m.append("To: ").append(d.remote_uri);
  if (!d.remote_tag.empty()) m.append(";tag=").append(d.remote_tag);
  m.append("\r\nCall-ID: ").append(d.call_id).append("\r\n");
  m.append("CSeq: ").append(std::to_string(cseq)).append(" ").append(method).append("\r\n");
  m.append("Content-Length: 0\r\n\r\n");
  return m;
}

namespace {

std::string xml_text(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

}  // namespace

std::string held_location_request(const std::string& ip, const std::string& bssid, const std::string& chassis, const std::string& port) {
  std::string m = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<locationRequest xmlns=\"urn:ietf:params:xml:ns:geopriv:held\">\n"
                  "  <locationType exact=\"false\">civic</locationType>\n"
                  "  <device xmlns=\"urn:ietf:params:xml:ns:geopriv:held:id\" xmlns:e=\"urn:e911ctl:params:xml:ns:held:id\">\n";
  if (!ip.empty()) m += "    <ip v=\"" + std::string(is_v6(ip) ? "6" : "4") + "\">" + xml_text(ip) + "</ip>\n";
  if (!bssid.empty()) m += "    <e:bssid>" + xml_text(bssid) + "</e:bssid>\n";
  if (!chassis.empty()) m += "    <e:chassis>" + xml_text(chassis) + "</e:chassis>\n";
  if (!port.empty()) m += "    <e:port>" + xml_text(port) + "</e:port>\n";
  return m + "  </device>\n</locationRequest>\n";
}

std::optional<std::string> held_pidf(std::string_view body, std::string& error) {
  // The runtime's answer holds the PIDF-LO as build_pidf writes it, its namespaces declared on
  // <presence> itself, so the element's text is the document (check_pidf checks it after).
  const auto open = body.find("<presence");
  const auto close = body.rfind("</presence>");
  if (open != std::string_view::npos && close != std::string_view::npos && close > open)
    return std::string(body.substr(open, close + 11 - open)) + "\n";
  const auto code_at = body.find("code=\"");
  std::string code = code_at == std::string_view::npos ? "no location" : std::string(body.substr(code_at + 6, body.find('"', code_at + 6) - code_at - 6));
  std::string message;
  if (const auto m = body.find("<message"); m != std::string_view::npos)
    if (const auto gt = body.find('>', m), end = body.find("</message>", m); gt != std::string_view::npos && end != std::string_view::npos && end > gt)
      message = std::string(body.substr(gt + 1, end - gt - 1));
  error = code + (message.empty() ? "" : ": " + message);
  return std::nullopt;
}

namespace {

union SockAddr {
  sockaddr sa;
  sockaddr_in v4;
  sockaddr_in6 v6;
  sockaddr_storage any;
};

std::optional<SockAddr> sock_addr(const std::string& host, unsigned short port) {
  SockAddr a{};
  if (inet_pton(AF_INET, host.c_str(), &a.v4.sin_addr) == 1) {
    a.v4.sin_family = AF_INET;
    a.v4.sin_port = htons(port);
    return a;
  }
  if (inet_pton(AF_INET6, host.c_str(), &a.v6.sin6_addr) == 1) {
    a.v6.sin6_family = AF_INET6;
    a.v6.sin6_port = htons(port);
    return a;
  }
  return std::nullopt;
}

socklen_t sock_len(const SockAddr& a) { return a.sa.sa_family == AF_INET ? sizeof(sockaddr_in) : sizeof(sockaddr_in6); }

sip::Endpoint endpoint_of(const SockAddr& a) {
  char text[INET6_ADDRSTRLEN] = {};
  if (a.sa.sa_family == AF_INET) {
    inet_ntop(AF_INET, &a.v4.sin_addr, text, sizeof text);
    return {text, ntohs(a.v4.sin_port), false};
  }
  inet_ntop(AF_INET6, &a.v6.sin6_addr, text, sizeof text);
  return {text, ntohs(a.v6.sin6_port), false};
}

int ms_until(Clock::time_point deadline) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
  return left <= 0 ? 0 : static_cast<int>(std::min<long long>(left, 60000)) + 1;
}

/// A message received, and where from.
struct Received {
  sip::Message message;
  sip::Endpoint source;
};

/// The phone's one socket to the runtime. A transport failure (ICMP port unreachable, a refused
/// or closed connection) is kept in `error` and ends the call.
class Link {
 public:
  Link(const PhoneOptions& o, PhoneIds& ids) : tcp_(o.tcp) {
    const auto peer = sock_addr(o.runtime_host, o.runtime_port);
    const auto local = sock_addr(o.local_ip, 0);
    if (!peer) throw Error(ErrorKind::usage, "the runtime's address '" + o.runtime_host + "' is not an IP address", "the runtime is called at an IP address; no name is resolved");
    if (!local) throw Error(ErrorKind::usage, "the phone's address '" + o.local_ip + "' is not an IP address", "give --ip an IPv4 or IPv6 address of this machine");
    if (peer->sa.sa_family != local->sa.sa_family)
      throw Error(ErrorKind::usage, "the phone's address '" + o.local_ip + "' and the runtime's '" + o.runtime_host + "' are not of one IP family",
                  "call an IPv4 runtime from an IPv4 address, an IPv6 runtime from an IPv6 address");
    peer_ = *peer;
    where_ = std::string(tcp_ ? "tcp " : "udp ") + host_port(o.runtime_host, o.runtime_port);
    fd_ = ::socket(peer_.sa.sa_family, (tcp_ ? SOCK_STREAM : SOCK_DGRAM) | SOCK_CLOEXEC, 0);
    if (fd_ < 0) throw Error(ErrorKind::failure, std::string("cannot open a socket: ") + std::strerror(errno));
    int on = 1;
    // ICMP errors (port unreachable: nothing listens) reported on an unconnected UDP socket too.
    if (!tcp_) {
      if (peer_.sa.sa_family == AF_INET) ::setsockopt(fd_, IPPROTO_IP, IP_RECVERR, &on, sizeof on);
      else ::setsockopt(fd_, IPPROTO_IPV6, IPV6_RECVERR, &on, sizeof on);
    }
    if (::bind(fd_, &local->sa, sock_len(*local)) != 0) {
      const int e = errno;
      ::close(fd_);
      throw Error(e == EADDRNOTAVAIL ? ErrorKind::usage : ErrorKind::failure,
                  "cannot send from '" + o.local_ip + "': " + std::strerror(e),
                  e == EADDRNOTAVAIL ? "give --ip an address this machine has (ip -brief address)" : "");
    }
    SockAddr bound{};
    socklen_t len = sizeof bound;
    ::getsockname(fd_, &bound.sa, &len);
    ids.local_host = endpoint_of(bound).host;
    ids.local_port = static_cast<unsigned short>(endpoint_of(bound).port);
    ::fcntl(fd_, F_SETFL, ::fcntl(fd_, F_GETFL) | O_NONBLOCK);
  }
  ~Link() { ::close(fd_); }
  Link(const Link&) = delete;
  Link& operator=(const Link&) = delete;

  const std::string& error() const { return error_; }

  /// TCP: connects by `deadline`; UDP: nothing to do. False (with error()) when it cannot.
  bool connect(Clock::time_point deadline) {
    if (!tcp_) return true;
    if (::connect(fd_, &peer_.sa, sock_len(peer_)) == 0) return true;
    if (errno != EINPROGRESS) return fail_errno(errno);
    pollfd p{fd_, POLLOUT, 0};
    if (::poll(&p, 1, ms_until(deadline)) <= 0) {
      error_ = "no TCP connection to " + where_ + " within the timeout";
      return false;
    }
    int e = 0;
    socklen_t len = sizeof e;
    ::getsockopt(fd_, SOL_SOCKET, SO_ERROR, &e, &len);
    return e == 0 || fail_errno(e);
  }

  bool send(const std::string& m, const sip::Endpoint* to = nullptr) {
    if (!error_.empty()) return false;
    if (!tcp_) {
      SockAddr dest = peer_;
      if (to)
        if (auto a = sock_addr(to->host, static_cast<unsigned short>(to->port))) dest = *a;
      if (::sendto(fd_, m.data(), m.size(), MSG_NOSIGNAL, &dest.sa, sock_len(dest)) < 0 && errno != EAGAIN) return fail_errno(errno);
      return true;
    }
    std::size_t done = 0;
    const auto deadline = Clock::now() + std::chrono::seconds(2);
    while (done < m.size()) {
      const ssize_t n = ::send(fd_, m.data() + done, m.size() - done, MSG_NOSIGNAL);
      if (n > 0) {
        done += static_cast<std::size_t>(n);
        continue;
      }
      if (errno != EAGAIN && errno != EINTR) return fail_errno(errno);
      pollfd p{fd_, POLLOUT, 0};
      if (::poll(&p, 1, ms_until(deadline)) <= 0) {
        error_ = "the connection to " + where_ + " takes no more data";
        return false;
      }
    }
    return true;
  }

  /// Waits until `deadline` for messages; returns those that came (none at the deadline or on
  /// a transport failure). Unparseable ones are dropped, as a phone drops them.
  std::vector<Received> receive(Clock::time_point deadline) {
    std::vector<Received> out;
    while (out.empty() && error_.empty()) {
      if (tcp_)
        while (auto m = framer_.next())
          if (auto p = sip::parse(std::move(*m), sip::Transport::stream)) out.push_back({std::move(*p.message), endpoint_of(peer_)});
      if (!out.empty()) break;
      if (tcp_ && framer_.failed()) {
        error_ = "the runtime sent a broken message on " + where_ + ": " + framer_.error().reason;
        break;
      }
      pollfd p{fd_, POLLIN, 0};
      const int n = ::poll(&p, 1, ms_until(deadline));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      if (p.revents & POLLERR) {
        if (!tcp_) {
          // Read the error queue, so poll stops reporting it; the error itself is in sk_err.
          char buf[512], control[512];
          iovec iov{buf, sizeof buf};
          msghdr mh{};
          mh.msg_iov = &iov;
          mh.msg_iovlen = 1;
          mh.msg_control = control;
          mh.msg_controllen = sizeof control;
          int e = 0;
          if (::recvmsg(fd_, &mh, MSG_ERRQUEUE) >= 0)
            for (cmsghdr* c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c))
              if ((c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_RECVERR) || (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_RECVERR)) {
                sock_extended_err ee;
                std::memcpy(&ee, CMSG_DATA(c), sizeof ee);
                e = static_cast<int>(ee.ee_errno);
              }
          socklen_t len = sizeof(int);
          int pending = 0;
          ::getsockopt(fd_, SOL_SOCKET, SO_ERROR, &pending, &len);
          if (e || pending) fail_errno(e ? e : pending);
          continue;
        }
      }
      if (!tcp_) {
        std::string buf(65536, '\0');
        SockAddr from{};
        socklen_t len = sizeof from;
        const ssize_t got = ::recvfrom(fd_, buf.data(), buf.size(), 0, &from.sa, &len);
        if (got < 0) {
          if (errno != EAGAIN && errno != EINTR) fail_errno(errno);
          continue;
        }
        buf.resize(static_cast<std::size_t>(got));
        if (auto p = sip::parse(std::move(buf), sip::Transport::datagram)) out.push_back({std::move(*p.message), endpoint_of(from)});
      } else {
        char buf[16384];
        const ssize_t got = ::recv(fd_, buf, sizeof buf, 0);
        if (got == 0) {
          error_ = "the runtime closed the connection on " + where_;
        } else if (got < 0) {
          if (errno != EAGAIN && errno != EINTR) fail_errno(errno);
        } else {
          framer_.feed(std::string_view(buf, static_cast<std::size_t>(got)));
          // Keep-alive pings (RFC 5626) get their pong.
          for (std::size_t i = framer_.take_pongs(); i > 0; --i) send("\r\n");
        }
      }
    }
    return out;
  }

 private:
  bool fail_errno(int e) {
    if (e == ECONNREFUSED) error_ = "nothing listens at " + where_ + (tcp_ ? " (connection refused)" : " (ICMP port unreachable)");
    else if (e == ENETUNREACH || e == EHOSTUNREACH) error_ = where_ + " cannot be reached from this address: " + std::strerror(e);
    else error_ = where_ + ": " + std::strerror(e);
    return false;
  }

  bool tcp_;
  int fd_ = -1;
  SockAddr peer_{};
  std::string where_;
  std::string error_;
  sip::StreamFramer framer_;
};

/// "30 s", "2.5 s".
std::string seconds_text(std::chrono::milliseconds d) {
  std::string s = std::to_string(d.count() / 1000);
  if (const auto tenths = d.count() % 1000 / 100) s += "." + std::to_string(tenths);
  return s + " s";
}

std::string status_text(const sip::Message& m) {
  return std::to_string(m.status()) + (m.reason().empty() ? "" : " " + std::string(m.reason()));
}

std::string cseq_method(const sip::Message& m) {
  const std::string_view cseq = m.first("CSeq").value_or("");
  const auto sp = cseq.find_last_of(" \t");
  return std::string(sip::trim(sp == std::string_view::npos ? cseq : cseq.substr(sp + 1)));
}

/// One call, step by step: the INVITE transaction, then the dialog's ACK and BYE, or the CANCEL.
class Call {
 public:
  Call(const PhoneOptions& o, PhoneResult& r) : o_(o), r_(r), link_(o, r.ids) {}

  void run() {
    r_.ids.call_id = "e911ctl-test-" + random_hex() + "@" + (is_v6(r_.ids.local_host) ? "[" + r_.ids.local_host + "]" : r_.ids.local_host);
    r_.ids.from_tag = random_hex();
    r_.ids.branch = "z9hG4bK" + random_hex();
    r_.request_uri = dial_uri(o_);
    r_.transport = o_.tcp ? "tcp" : "udp";
    start_ = Clock::now();
    if (!link_.connect(start_ + o_.timeout)) return transport_failed();
    invite_ = build_invite(o_, r_.ids);
    if (!send(invite_, "INVITE", "INVITE")) return transport_failed();
    invite_phase();
  }

 private:
  std::int64_t ms() const { return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start_).count(); }

  bool send(const std::string& m, const std::string& what, const std::string& method, bool again = false, const sip::Endpoint* to = nullptr) {
    if (!link_.send(m, to)) return false;
    r_.events.push_back({ms(), true, what, method, again});
    return true;
  }

  void transport_failed() {
    if (r_.failure.empty()) r_.failure = link_.error();
  }

  /// Answers a request the runtime sent into the call, and notes it.
  void on_request(const Received& in) {
    const sip::Message& m = in.message;
    const std::string method(m.method());
    r_.events.push_back({ms(), false, method, method, false});
    if (method == "ACK") return;
    int status = 200;
    std::string reason = "OK";
    if (method == "BYE") {
      peer_hung_up_ = true;
    } else if (method == "MESSAGE" || method == "INFO" || method == "NOTIFY") {
      r_.requests.push_back({ms(), method, std::string(sip::trim(m.first("Content-Type").value_or(""))), std::string(m.body())});
    } else if (method == "INVITE") {
      status = 488, reason = "Not Acceptable Here";  // the test phone takes no new offer
    } else if (method == "CANCEL") {
      status = 481, reason = "Call/Transaction Does Not Exist";
    } else if (method != "OPTIONS" && method != "UPDATE") {
      status = 405, reason = "Method Not Allowed";
    }
    const std::string response = sip::make_response(m, status, reason, r_.ids.from_tag, status == 405 ? sip::HeaderList{{"Allow", "INVITE, ACK, CANCEL, BYE, OPTIONS, MESSAGE, INFO, NOTIFY"}} : sip::HeaderList{});
    sip::Endpoint to = in.source;
    if (auto via = sip::top_via(m)) to = sip::response_destination(*via, in.source);
    send(response, std::to_string(status) + " " + reason, method, false, &to);
  }

  /// Waits until `deadline`, answering the runtime's requests and handing the responses of this
  /// call to `on_response` until it returns true. Runs `tick` whenever it wakes (retransmissions).
  /// False on a transport failure.
  bool pump(Clock::time_point deadline, const std::function<bool(const sip::Message&)>& on_response,
            const std::function<Clock::time_point()>& tick = {}) {
    while (Clock::now() < deadline) {
      const Clock::time_point wake = tick ? std::min(deadline, tick()) : deadline;
      for (const Received& in : link_.receive(wake)) {
        if (in.message.is_request()) {
          on_request(in);
          continue;
        }
        if (in.message.first("Call-ID").value_or("") != r_.ids.call_id || sip::validate_response(in.message)) continue;
        r_.reached = true;
        r_.events.push_back({ms(), false, status_text(in.message), cseq_method(in.message), false});
        if (on_response(in.message)) return true;
      }
      if (!link_.error().empty()) return false;
    }
    return true;
  }

  /// Timer A (RFC 3261 §17.1.1.2): over UDP the request goes again at T1, 2 T1, 4 T1... until
  /// `stop` says a response came; `cap` (T2) bounds the interval of a non-INVITE (Timer E).
  std::function<Clock::time_point()> retransmit(const std::string& m, const std::string& what, const bool& stop, bool capped) {
    auto next = std::make_shared<Clock::time_point>(Clock::now() + o_.t1);
    auto interval = std::make_shared<std::chrono::milliseconds>(o_.t1);
    return [this, &m, what, &stop, capped, next, interval]() {
      if (o_.tcp || stop) return Clock::time_point::max();
      if (Clock::now() >= *next) {
        send(m, what, what, true);
        *interval = capped ? std::min(*interval * 2, o_.t1 * 8) : *interval * 2;
        *next = Clock::now() + *interval;
      }
      return *next;
    };
  }

  void invite_phase() {
    bool provisional = false;
    std::optional<sip::Message> final;
    const bool ok = pump(
        start_ + o_.timeout,
        [&](const sip::Message& m) {
          if (cseq_method(m) != "INVITE") return false;
          if (m.status() < 200) {
            provisional = true;
            return false;
          }
          final = m;
          return true;
        },
        retransmit(invite_, "INVITE", provisional, false));
    if (!ok) return transport_failed();
    if (final) return on_final(*final);
    if (!provisional) {
      r_.failure = "no answer from the runtime at " + std::string(o_.tcp ? "tcp " : "udp ") + host_port(o_.runtime_host, o_.runtime_port) + " within " +
                   seconds_text(o_.timeout);
      return;
    }
    cancel();
  }

  void on_final(const sip::Message& m) {
    r_.status = m.status();
    r_.reason = std::string(m.reason());
    r_.final_ms = ms();
    if (!r_.answered()) {
      send(build_non2xx_ack(o_, r_.ids, m), "ACK", "INVITE");
      if (r_.failure.empty()) r_.failure = "the runtime answered " + status_text(m);
      return;
    }
    r_.failure.clear();  // a 2xx that crossed the CANCEL: answered after all
    r_.answer_content_type = std::string(sip::trim(m.first("Content-Type").value_or("")));
    r_.answer_body = std::string(m.body());
    answered(m);
  }

  void answered(const sip::Message& answer) {
    dialog_ = dialog_of(o_, r_.ids, answer);
    ack_ = build_in_dialog(o_, r_.ids, dialog_, "ACK", 1, "z9hG4bK" + random_hex());
    send(ack_, "ACK", "INVITE");
    // A 2xx sent again means our ACK was lost: it goes again (RFC 3261 §13.2.2.4).
    auto reack = [&](const sip::Message& m) {
      if (cseq_method(m) == "INVITE" && m.status() >= 200 && m.status() < 300) send(ack_, "ACK", "INVITE", true);
    };
    const bool ok = pump(Clock::now() + (r_.cancelled ? std::chrono::milliseconds(0) : o_.hold), [&](const sip::Message& m) {
      reack(m);
      return peer_hung_up_;
    });
    if (!ok) {
      r_.hangup = "the connection ended during the call: " + link_.error();
      return;
    }
    if (peer_hung_up_) {
      r_.hangup = "the runtime hung up (BYE)";
      return;
    }
    const std::string bye = build_in_dialog(o_, r_.ids, dialog_, "BYE", 2, "z9hG4bK" + random_hex());
    if (!send(bye, "BYE", "BYE")) {
      r_.hangup = "the BYE could not be sent: " + link_.error();
      return;
    }
    bool provisional = false;
    std::optional<std::string> final;
    pump(
        Clock::now() + o_.end_wait,
        [&](const sip::Message& m) {
          reack(m);
          if (cseq_method(m) != "BYE") return false;
          if (m.status() < 200) {
            provisional = true;
            return false;
          }
          final = status_text(m);
          return true;
        },
        retransmit(bye, "BYE", provisional, true));
    if (final) r_.hangup = "BYE answered " + *final;
    else if (peer_hung_up_) r_.hangup = "the runtime hung up (BYE)";
    else r_.hangup = link_.error().empty() ? "no answer to the BYE within " + seconds_text(o_.end_wait) : "BYE: " + link_.error();
  }

  /// No final answer in time: CANCEL (RFC 3261 §9.1), then the 487 is ACKed, or a 2xx that
  /// crossed the CANCEL is ACKed and ended with BYE at once.
  void cancel() {
    r_.cancelled = true;
    r_.failure = "no final answer within " + seconds_text(o_.timeout) + ": the call was cancelled";
    const std::string cancel_msg = build_cancel(o_, r_.ids);
    if (!send(cancel_msg, "CANCEL", "CANCEL")) return transport_failed();
    bool cancel_answered = false;
    std::optional<sip::Message> final;
    pump(
        Clock::now() + o_.end_wait,
        [&](const sip::Message& m) {
          if (cseq_method(m) == "CANCEL" && m.status() >= 200) cancel_answered = true;
          if (cseq_method(m) == "INVITE" && m.status() >= 200) final = m;
          return final.has_value();
        },
        retransmit(cancel_msg, "CANCEL", cancel_answered, true));
    if (final) on_final(*final);
  }

  const PhoneOptions& o_;
  PhoneResult& r_;
  Link link_;
  Clock::time_point start_;
  std::string invite_, ack_;
  PhoneDialog dialog_;
  bool peer_hung_up_ = false;
};

}  // namespace

PhoneResult place_call(const PhoneOptions& options) {
  PhoneOptions o = options;
  if (o.local_ip.empty()) o.local_ip = is_v6(o.runtime_host) ? "::1" : "127.0.0.1";
  PhoneResult r;
  Call call(o, r);
  call.run();
  return r;
}

}  // namespace e911::runtime
