// Responses from requests, the top Via and response routing, stream framing: pure functions of
// the SIP layer, no sockets. Never throws on bad input.
#include "e911/sip_wire.hpp"

#include <arpa/inet.h>

#include <array>
#include <cctype>
#include <cstdint>
#include <cstdio>

#include "e911/sip_text.hpp"

namespace e911::sip {
namespace {

std::optional<int> port_number(std::string_view s) {
  if (s.empty() || s.size() > 5) return std::nullopt;
  int n = 0;
  for (char c : s) {
    if (!std::isdigit(static_cast<unsigned char>(c))) return std::nullopt;
    n = n * 10 + (c - '0');
  }
  if (n > 65535) return std::nullopt;
  return n;
}

std::string strip_brackets(std::string_view ip) {
  if (ip.size() >= 2 && ip.front() == '[' && ip.back() == ']') ip = ip.substr(1, ip.size() - 2);
  return std::string(ip);
}

/// Two IP literals equal by value; a name never equals anything.
bool same_ip(const std::string& a, const std::string& b) {
  std::array<unsigned char, 16> x{}, y{};
  if (inet_pton(AF_INET, a.c_str(), x.data()) == 1) return inet_pton(AF_INET, b.c_str(), y.data()) == 1 && x == y;
  if (inet_pton(AF_INET6, a.c_str(), x.data()) == 1) return inet_pton(AF_INET6, b.c_str(), y.data()) == 1 && x == y;
  return false;
}

std::string derived_tag(const Message& request) {
  std::uint64_t h = 1469598103934665603ULL;  // FNV-1a: stable across runs and builds
  auto mix = [&](std::string_view s) {
    for (unsigned char c : s) h = (h ^ c) * 1099511628211ULL;
    h = (h ^ 0xff) * 1099511628211ULL;
  };
  mix(request.first("Call-ID").value_or(""));
  if (auto from = request.first("From"))
    if (auto na = parse_name_addr(*from)) mix(na->tag());
  if (auto via = top_via(request)) mix(via->branch);
  char out[17];
  std::snprintf(out, sizeof out, "%016llx", static_cast<unsigned long long>(h));
  return out;
}

std::string_view default_reason(int status) {
  switch (status) {
    case 400: return "Bad Request";
    case 513: return "Message Too Large";
    default: return "Error";
  }
}

}  // namespace

// ---- responses -------------------------------------------------------------------------------

std::string make_response(const Message& request, int status, std::string_view reason, std::string_view to_tag,
                          const HeaderList& extra, std::string_view top_via, std::string_view body) {
  std::string out;
  out.reserve(512 + body.size());
  out.append("SIP/2.0 ").append(std::to_string(status)).append(" ").append(reason).append("\r\n");
  bool first_via = true;
  // A 513 carries the top Via alone: the request was refused for its size (or its Vias), and the
  // answer must still fit where it goes.
  for (std::string_view v : request.values("Via")) {
    if (!first_via && status == 513) break;
    out.append("Via: ").append(first_via && !top_via.empty() ? top_via : v).append("\r\n");
    first_via = false;
  }
  if (auto from = request.first("From")) out.append("From: ").append(*from).append("\r\n");
  if (auto to = request.first("To")) {
    out.append("To: ").append(*to);
    auto na = parse_name_addr(*to);
    if (status > 100 && na && na->tag().empty()) {
      bool has_tag = false;
      for (const Param& p : na->params) has_tag = has_tag || iequals(p.name, "tag");
      if (!has_tag) out.append(";tag=").append(to_tag.empty() ? derived_tag(request) : std::string(to_tag));
    }
    out.append("\r\n");
  }
  if (auto id = request.first("Call-ID")) out.append("Call-ID: ").append(*id).append("\r\n");
  if (auto cseq = request.first("CSeq")) out.append("CSeq: ").append(*cseq).append("\r\n");
  if (status == 100)
    if (auto ts = request.first("Timestamp")) out.append("Timestamp: ").append(*ts).append("\r\n");
  for (const auto& [name, value] : extra) out.append(name).append(": ").append(value).append("\r\n");
  out.append("Content-Length: ").append(std::to_string(body.size())).append("\r\n\r\n").append(body);
  return out;
}

std::string make_response(const Message& request, const Reject& reject, std::string_view to_tag,
                          std::string_view top_via, std::string_view allow) {
  HeaderList headers = reject.headers;
  if (reject.status == 405) {
    bool has_allow = false;
    for (const auto& h : headers) has_allow = has_allow || iequals(h.first, "Allow");
    if (!has_allow) headers.emplace_back("Allow", std::string(allow));
  }
  return make_response(request, reject.status, reject.reason, to_tag, headers, top_via);
}

std::string make_trying(const Message& request, std::string_view top_via) {
  return make_response(request, 100, "Trying", {}, {}, top_via);
}

std::optional<std::string> make_error_response(std::string_view raw, const ParseError& error, std::string_view to_tag) {
  while (raw.substr(0, 2) == "\r\n") raw.remove_prefix(2);
  if (raw.substr(0, 4) == "SIP/") return std::nullopt;  // a broken response is dropped
  std::size_t head_end = raw.find("\r\n\r\n");
  std::string_view head = raw.substr(0, head_end);
  std::size_t eol = head.find("\r\n");
  if (eol == std::string_view::npos) return std::nullopt;
  head.remove_prefix(eol + 2);  // the start line may be what is broken: replaced below
  std::string text = "OPTIONS sip:invalid.invalid SIP/2.0\r\n";
  bool keep = false;
  // Only the top Via is kept: it is where the answer goes, and a message refused for too many
  // headers or too long a line (a thousand Vias) must still get its 513 in a datagram.
  bool have_via = false;
  while (!head.empty()) {
    std::size_t e = head.find("\r\n");
    std::string_view line = head.substr(0, e);
    head.remove_prefix(e == std::string_view::npos ? head.size() : e + 2);
    if (!line.empty() && (line.front() == ' ' || line.front() == '\t')) {
      if (keep) text.append(line).append("\r\n");
      continue;
    }
    std::size_t colon = line.find(':');
    std::string_view name = trim(line.substr(0, colon));
    keep = colon != std::string_view::npos;
    if (keep) {
      keep = false;
      if (iequals(name, "Via") || iequals(name, "v")) {
        if (!have_via && colon != std::string_view::npos) {
          have_via = true;
          text.append("Via: ").append(trim(first_list_item(line.substr(colon + 1)))).append("\r\n");
        }
        continue;  // folded lines of a Via are dropped with the rest of its values
      }
      for (std::string_view n : {"From", "f", "To", "t", "Call-ID", "i", "CSeq"})
        keep = keep || iequals(name, n);
    }
    if (keep) text.append(line).append("\r\n");
  }
  text.append("Content-Length: 0\r\n\r\n");
  Parsed p = parse(std::move(text), Transport::datagram);
  if (!p) return std::nullopt;
  const Message& m = *p.message;
  for (std::string_view n : {"Call-ID", "CSeq", "From", "To"})
    if (m.count(n) != 1) return std::nullopt;
  if (!parse_name_addr(*m.first("From")) || !parse_name_addr(*m.first("To")) || !top_via(m)) return std::nullopt;
  int status = error.status >= 400 && error.status <= 699 ? error.status : 400;
  return make_response(m, status, default_reason(status), to_tag);
}

// ---- Via -------------------------------------------------------------------------------------

bool Via::reliable() const { return !iequals(transport, "UDP"); }

std::string Via::text() const {
  std::string out = "SIP/2.0/" + transport + " ";
  out += ipv6 ? "[" + host + "]" : host;
  if (port != 0) out += ":" + std::to_string(port);
  for (const Param& p : params) {
    out += ";" + p.name;
    if (p.has_value) out += "=" + p.value;
  }
  return out;
}

std::optional<Via> parse_via(std::string_view v) {
  v = trim(v);
  Via via;
  for (int i = 0; i < 3; ++i) {
    std::size_t n = 0;
    while (n < v.size() && is_token_char(v[n])) ++n;
    if (n == 0) return std::nullopt;
    std::string_view token = v.substr(0, n);
    if ((i == 0 && !iequals(token, "SIP")) || (i == 1 && token != "2.0")) return std::nullopt;
    if (i == 2) via.transport = std::string(token);
    v = trim(v.substr(n));
    if (i < 2) {
      if (v.empty() || v.front() != '/') return std::nullopt;
      v = trim(v.substr(1));
    }
  }
  std::size_t n = 0;
  if (!v.empty() && v.front() == '[') {
    n = v.find(']');
    if (n == std::string_view::npos) return std::nullopt;
    via.host = std::string(v.substr(1, n - 1));
    via.ipv6 = true;
    std::array<unsigned char, 16> a{};
    if (inet_pton(AF_INET6, via.host.c_str(), a.data()) != 1) return std::nullopt;
    ++n;
  } else {
    while (n < v.size() && v[n] != ';' && v[n] != ':' && !is_lws(v[n])) ++n;
    via.host = std::string(v.substr(0, n));
    if (via.host.empty()) return std::nullopt;
    for (char c : via.host)
      if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '-' && c != '_') return std::nullopt;
  }
  v = trim(v.substr(n));
  if (!v.empty() && v.front() == ':') {
    v = trim(v.substr(1));
    std::size_t p = 0;
    while (p < v.size() && std::isdigit(static_cast<unsigned char>(v[p]))) ++p;
    auto port = port_number(v.substr(0, p));
    if (!port) return std::nullopt;
    via.port = *port;
    v = v.substr(p);
  }
  if (!parse_params(v, via.params)) return std::nullopt;
  for (const Param& p : via.params) {
    if (iequals(p.name, "branch")) {
      via.branch = p.value;
    } else if (iequals(p.name, "received")) {
      via.received = strip_brackets(p.value);
    } else if (iequals(p.name, "maddr")) {
      via.maddr = strip_brackets(p.value);
    } else if (iequals(p.name, "rport")) {
      via.rport = true;
      if (p.has_value) {
        auto port = port_number(p.value);
        if (!port) return std::nullopt;
        via.rport_value = *port;
      }
    }
  }
  return via;
}

std::optional<Via> top_via(const Message& request) {
  auto via = request.first("Via");
  if (!via) return std::nullopt;
  return parse_via(first_list_item(*via));
}

std::optional<std::string> stamp_received(const Message& request, std::string_view source_ip, int source_port) {
  auto via = top_via(request);
  if (!via) return std::nullopt;
  std::string ip = strip_brackets(source_ip);
  bool need_received = via->rport || !same_ip(via->host, ip);
  bool has_received = false;
  for (Param& p : via->params) {
    if (iequals(p.name, "received")) {
      has_received = true;
      p.has_value = true;
      p.value = ip;
    } else if (iequals(p.name, "rport")) {
      p.has_value = true;
      p.value = std::to_string(source_port);
    }
  }
  if (need_received && !has_received) via->params.push_back(Param{"received", ip, true});
  return via->text();
}

Endpoint response_destination(const Via& top, const Endpoint& source) {
  if (top.reliable()) return Endpoint{source.host, source.port, true};
  if (top.maddr) return Endpoint{*top.maddr, top.port != 0 ? top.port : 5060, false};
  Endpoint e;
  e.host = top.received ? *top.received : source.host;
  if (top.rport_value) e.port = *top.rport_value;
  else if (top.rport) e.port = source.port;
  else e.port = top.port != 0 ? top.port : 5060;
  return e;
}

// ---- stream framing --------------------------------------------------------------------------

void StreamFramer::feed(std::string_view bytes) {
  if (failed_) return;
  if (start_ > 0 && start_ >= buffer_.size() / 2) {
    buffer_.erase(0, start_);
    start_ = 0;
  }
  buffer_.append(bytes);
}

std::size_t StreamFramer::take_pongs() {
  std::size_t n = pongs_;
  pongs_ = 0;
  return n;
}

void StreamFramer::fail(int status, std::string reason) {
  failed_ = true;
  error_ = {status, std::move(reason)};
}

std::optional<std::string> StreamFramer::next() {
  if (failed_) return std::nullopt;
  std::string_view data = pending();
  // Between messages: "\r\n\r\n" is a keep-alive ping; a lone CRLF is skipped (RFC 3261 §7.5,
  // or a pong from the peer). "\r\n" or "\r\n\r" at the end may still become a ping: wait.
  while (scanned_ == 0 && data.substr(0, 2) == "\r\n") {
    if (data.substr(0, 4) == "\r\n\r\n") {
      ++pongs_;
      start_ += 4;
    } else if (data.size() < 4 && std::string_view("\r\n\r\n").substr(0, data.size()) == data) {
      return std::nullopt;
    } else {
      start_ += 2;
    }
    data = pending();
  }
  if (!data.empty() && data.front() == '\r' && data.size() == 1) return std::nullopt;
  std::size_t from = scanned_ >= 3 ? scanned_ - 3 : 0;
  std::size_t head_end = data.find("\r\n\r\n", from);
  if (head_end == std::string_view::npos) {
    scanned_ = data.size();
    if (data.size() > limits_.max_message) fail(513, "header block too large");
    return std::nullopt;
  }
  scanned_ = head_end;
  // Content-Length from the header block, unfolded line by line.
  std::string_view head = data.substr(0, head_end + 2);
  std::size_t lines = 0;
  std::optional<std::size_t> length;
  std::size_t b = head.find("\r\n");
  b = b == std::string_view::npos ? head.size() : b + 2;
  while (b < head.size()) {
    std::size_t e = head.find("\r\n", b);
    std::string line(head.substr(b, e - b));
    b = e + 2;
    while (b < head.size() && (head[b] == ' ' || head[b] == '\t')) {  // folded continuation
      std::size_t e2 = head.find("\r\n", b);
      line.append(" ").append(head.substr(b, e2 - b));
      b = e2 + 2;
    }
    std::size_t colon = line.find(':');
    if (colon == std::string::npos) continue;  // parse() will refuse it; framing goes on
    std::string_view name = trim(std::string_view(line).substr(0, colon));
    if (!iequals(name, "Content-Length") && !iequals(name, "l")) continue;
    ++lines;
    std::string_view value = trim(std::string_view(line).substr(colon + 1));
    if (value.empty()) { fail(400, "empty content-length"); return std::nullopt; }
    std::size_t n = 0;
    for (char c : value) {
      if (!std::isdigit(static_cast<unsigned char>(c))) { fail(400, "bad content-length"); return std::nullopt; }
      if (n > limits_.max_message) break;
      n = n * 10 + static_cast<std::size_t>(c - '0');
    }
    if (length && *length != n) { fail(400, "conflicting content-length values"); return std::nullopt; }
    length = n;
  }
  if (lines == 0) { fail(400, "no content-length on a stream"); return std::nullopt; }
  if (lines > 1) { fail(400, "more than one content-length"); return std::nullopt; }
  if (*length > limits_.max_message || head_end + 4 + *length > limits_.max_message)
    { fail(513, "message too large"); return std::nullopt; }
  std::size_t total = head_end + 4 + *length;
  if (data.size() < total) return std::nullopt;
  std::string message(data.substr(0, total));
  start_ += total;
  scanned_ = 0;
  return message;
}

}  // namespace e911::sip
