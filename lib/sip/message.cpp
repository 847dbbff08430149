// The SIP message layer of the runtime: parse into views of one owned buffer, validate as the
// first request step, serialise, split multipart bodies. Never throws on bad input.
#include "e911/sip_message.hpp"

#include <array>
#include <cctype>

#include "e911/sip_uri.hpp"

#include "e911/sip_text.hpp"

namespace e911::sip {
namespace {

struct Known {
  std::string_view name;
  char compact;  ///< RFC 3261 §7.3.3 and extensions; 0 when none
  bool list;     ///< values may be comma-separated
};

constexpr std::array<Known, 40> kKnown{{
    {"Accept", 0, true},           {"Accept-Encoding", 0, true},    {"Accept-Language", 0, true},
    {"Alert-Info", 0, true},       {"Allow", 0, true},              {"Allow-Events", 'u', true},
    {"Authorization", 0, false},   {"Call-ID", 'i', false},         {"Call-Info", 0, true},
    {"Contact", 'm', true},        {"Content-Disposition", 0, false},{"Content-Encoding", 'e', true},
    {"Content-Language", 0, true}, {"Content-Length", 'l', false},  {"Content-Type", 'c', false},
    {"CSeq", 0, false},            {"Date", 0, false},              {"Error-Info", 0, true},
    {"Event", 'o', false},         {"Expires", 0, false},           {"From", 'f', false},
    {"Geolocation", 0, true},      {"In-Reply-To", 0, true},        {"Max-Forwards", 0, false},
    {"Min-Expires", 0, false},     {"P-Asserted-Identity", 0, true},{"Priority", 0, false},
    {"Proxy-Authenticate", 0, false},{"Proxy-Authorization", 0, false},{"Proxy-Require", 0, true},
    {"Record-Route", 0, true},     {"Refer-To", 'r', false},        {"Require", 0, true},
    {"Route", 0, true},            {"Subject", 's', false},         {"Supported", 'k', true},
    {"To", 't', false},            {"Unsupported", 0, true},        {"Via", 'v', true},
    {"Warning", 0, true},
}};

const Known* known(std::string_view name) {
  // Every header lookup and every parsed header line comes here: bucketed by first letter (and
  // a table for the compact forms), so a lookup compares a handful of names, not forty.
  struct Index {
    std::array<const Known*, 256> compact{};
    std::array<std::array<const Known*, 12>, 26> by_first{};  // null-terminated
  };
  static const Index index = [] {
    Index x;
    std::array<std::size_t, 26> used{};
    for (const Known& k : kKnown) {
      if (k.compact != 0) x.compact[static_cast<unsigned char>(k.compact)] = &k;
      const unsigned char f = ascii_lower(static_cast<unsigned char>(k.name[0]));
      if (f >= 'a' && f <= 'z') x.by_first[f - 'a'][used[f - 'a']++] = &k;  // at most 9 share a letter (C)
    }
    return x;
  }();
  if (name.empty()) return nullptr;
  const unsigned char first = ascii_lower(static_cast<unsigned char>(name[0]));
  if (name.size() == 1) return index.compact[first];
  if (first < 'a' || first > 'z') return nullptr;
  for (const Known* k : index.by_first[first - 'a']) {
    if (!k) break;
    if (k->name.size() == name.size() && iequals(name, k->name)) return k;
  }
  return nullptr;
}

/// `name` as stored in HeaderField: the canonical spelling for known headers.
std::string_view canonical(std::string_view name) {
  const Known* k = known(name);
  return k ? k->name : name;
}

bool all_digits(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s)
    if (!std::isdigit(static_cast<unsigned char>(c))) return false;
  return true;
}

/// A decimal number, nullopt when not digits or above `max`.
std::optional<unsigned long long> number(std::string_view s, unsigned long long max) {
  if (!all_digits(s)) return std::nullopt;
  unsigned long long n = 0;
  for (char c : s) {
    unsigned digit = static_cast<unsigned>(c - '0');
    if (n > (max - digit) / 10) return std::nullopt;
    n = n * 10 + digit;
  }
  return n;
}

Parsed error(int status, std::string reason) {
  Parsed p;
  p.error = {status, std::move(reason)};
  return p;
}

bool is_sip_version(std::string_view v) {
  if (v.size() < 7 || v.substr(0, 4) != "SIP/") return false;
  std::size_t dot = v.find('.', 4);
  return dot != std::string_view::npos && all_digits(v.substr(4, dot - 4)) && all_digits(v.substr(dot + 1));
}

/// CSeq `number method`: the pair, or nullopt.
std::optional<std::pair<unsigned long long, std::string_view>> parse_cseq(std::string_view v) {
  v = trim(v);
  std::size_t n = 0;
  while (n < v.size() && !is_lws(v[n])) ++n;
  auto seq = number(v.substr(0, n), 2147483647ULL);
  std::string_view method = trim(v.substr(n));
  if (!seq || n == v.size() || !is_token(method)) return std::nullopt;
  return std::make_pair(*seq, method);
}

/// A Via value: `SIP / 2.0 / transport sent-by params`, LWS allowed around the slashes.
bool valid_via(std::string_view v, std::string* sent_by) {
  v = trim(v);
  for (int i = 0; i < 3; ++i) {
    std::size_t n = 0;
    while (n < v.size() && is_token_char(v[n])) ++n;
    if (n == 0) return false;
    v = trim(v.substr(n));
    if (i < 2) {
      if (v.empty() || v.front() != '/') return false;
      v = trim(v.substr(1));
    }
  }
  std::size_t n = 0;
  while (n < v.size() && v[n] != ';' && !is_lws(v[n])) ++n;
  std::string_view host = v.substr(0, n);
  v = trim(v.substr(n));
  if (!v.empty() && v.front() == ':') {  // "host : port" with LWS
    v = trim(v.substr(1));
    std::size_t p = 0;
    while (p < v.size() && std::isdigit(static_cast<unsigned char>(v[p]))) ++p;
    if (p == 0 || host.find(':') != std::string_view::npos) return false;
    v = v.substr(p);
  }
  if (host.empty() || host.find('@') != std::string_view::npos) return false;
  if (!valid_hostport(host)) return false;
  if (sent_by) *sent_by = std::string(host);
  return valid_params(v);
}

Reject reject(int status, std::string reason) { return Reject{status, std::move(reason), {}}; }

}  // namespace

std::size_t Message::count(std::string_view name) const {
  std::string_view c = canonical(name);
  std::size_t n = 0;
  for (const HeaderField& h : headers_)
    if (iequals(h.name, c)) ++n;
  return n;
}

std::optional<std::string_view> Message::first(std::string_view name) const {
  std::string_view c = canonical(name);
  for (const HeaderField& h : headers_)
    if (iequals(h.name, c)) return h.value;
  return std::nullopt;
}

std::vector<std::string_view> Message::values(std::string_view name) const {
  const Known* k = known(name);
  std::string_view c = k ? k->name : name;
  std::vector<std::string_view> out;
  for (const HeaderField& h : headers_) {
    if (!iequals(h.name, c)) continue;
    if (k && k->list) {
      for (std::string_view v : split_list(h.value)) out.push_back(v);
    } else {
      out.push_back(h.value);
    }
  }
  return out;
}

namespace {
/// Where the list item starting at `start` ends: the next comma outside quotes and angle
/// brackets, else the end of `value`.
std::size_t list_item_end(std::string_view value, std::size_t start) {
  bool quoted = false;
  int angle = 0;
  for (std::size_t i = start; i < value.size(); ++i) {
    char c = value[i];
    if (quoted) {
      if (c == '\\') ++i;
      else if (c == '"') quoted = false;
    } else if (c == '"') {
      quoted = true;
    } else if (c == '<') {
      ++angle;
    } else if (c == '>' && angle > 0) {
      --angle;
    } else if (c == ',' && angle == 0) {
      return i;
    }
  }
  return value.size();
}
}  // namespace

std::string_view first_list_item(std::string_view value) {
  // split_list(value).front(), without the vector: the top Via of every message is read so.
  return trim(value.substr(0, list_item_end(value, 0)));
}

std::vector<std::string_view> split_list(std::string_view value) {
  std::vector<std::string_view> out;
  std::size_t start = 0;
  while (true) {
    const std::size_t end = list_item_end(value, start);
    out.push_back(trim(value.substr(start, end - start)));
    if (end >= value.size()) return out;
    start = end + 1;
  }
}

Parsed parse(std::string buffer, Transport transport, const Limits& limits) {
  if (buffer.size() > limits.max_message) return error(513, "message too large");
  std::size_t pos = 0;
  while (buffer.compare(pos, 2, "\r\n") == 0) pos += 2;
  std::size_t head_end = buffer.find("\r\n\r\n", pos);
  // A datagram is the whole message: headers that end with the datagram (a last CRLF but no
  // blank line, as RFC 4475 baddn) mean an empty body.
  if (head_end == std::string::npos && transport == Transport::datagram && buffer.size() >= pos + 2 &&
      buffer.compare(buffer.size() - 2, 2, "\r\n") == 0) {
    buffer += "\r\n";
    head_end = buffer.size() - 4;
  }
  if (head_end == std::string::npos) return error(400, "no blank line after the headers");
  // Unfold in place: CRLF followed by SP or HT becomes two spaces, so offsets stay put.
  for (std::size_t i = pos; i + 2 < head_end + 2; ++i)
    if (buffer[i] == '\r' && buffer[i + 1] == '\n' && (buffer[i + 2] == ' ' || buffer[i + 2] == '\t'))
      buffer[i] = buffer[i + 1] = ' ';

  struct Span { std::size_t pos, len; };
  auto span = [](std::size_t b, std::size_t e) { return Span{b, e - b}; };
  std::size_t line_end = buffer.find("\r\n", pos);
  std::string_view start(buffer.data() + pos, line_end - pos);
  Message m;
  Span method{0, 0}, uri{0, 0}, version{0, 0}, reason{0, 0};
  if (start.substr(0, 4) == "SIP/") {
    std::size_t sp1 = start.find(' ');
    if (sp1 == std::string_view::npos || !is_sip_version(start.substr(0, sp1))) return error(400, "bad status line");
    std::size_t sp2 = start.find(' ', sp1 + 1);
    std::string_view code = start.substr(sp1 + 1, sp2 == std::string_view::npos ? std::string_view::npos : sp2 - sp1 - 1);
    if (code.size() != 3 || !all_digits(code)) return error(400, "bad status code");
    m.status_ = std::stoi(std::string(code));
    version = span(pos, pos + sp1);
    reason = sp2 == std::string_view::npos ? Span{line_end, 0} : span(pos + sp2 + 1, line_end);
  } else {
    std::size_t sp1 = start.find(' ');
    std::size_t sp2 = sp1 == std::string_view::npos ? sp1 : start.find(' ', sp1 + 1);
    if (sp2 == std::string_view::npos || start.find(' ', sp2 + 1) != std::string_view::npos)
      return error(400, "request line is not 'method SP uri SP version'");
    std::string_view m_text = start.substr(0, sp1), u_text = start.substr(sp1 + 1, sp2 - sp1 - 1),
                     v_text = start.substr(sp2 + 1);
    if (!is_token(m_text)) return error(400, "bad method");
    if (u_text.empty()) return error(400, "empty request-uri");
    for (unsigned char c : u_text)
      if (c <= 0x20 || c == 0x7f) return error(400, "control character in request-uri");
    if (!is_sip_version(v_text)) return error(400, "bad sip version");
    m.request_ = true;
    method = span(pos, pos + sp1);
    uri = span(pos + sp1 + 1, pos + sp2);
    version = span(pos + sp2 + 1, line_end);
  }

  struct RawHeader { Span name, value; const Known* known; };
  std::vector<RawHeader> raw;
  std::size_t content_length_lines = 0;
  std::optional<std::size_t> content_length;
  for (std::size_t b = line_end + 2; b < head_end + 2;) {
    std::size_t e = buffer.find("\r\n", b);
    if (e - b > limits.max_line) return error(513, "header line too long");
    if (raw.size() >= limits.max_headers) return error(513, "too many headers");
    std::string_view line(buffer.data() + b, e - b);
    std::size_t colon = line.find(':');
    if (colon == std::string_view::npos) return error(400, "header line without a colon");
    std::string_view name = line.substr(0, colon);
    while (!name.empty() && (name.back() == ' ' || name.back() == '\t')) name.remove_suffix(1);
    if (!is_token(name)) return error(400, "bad header name");
    std::size_t vb = b + colon + 1, ve = e;
    while (vb < ve && is_lws(buffer[vb])) ++vb;
    while (ve > vb && is_lws(buffer[ve - 1])) --ve;
    const Known* k = known(name);
    raw.push_back({Span{b, name.size()}, span(vb, ve), k});
    if (k && k->name == "Content-Length") {
      ++content_length_lines;
      auto n = number(std::string_view(buffer.data() + vb, ve - vb), limits.max_message);
      if (!n) {
        if (all_digits(std::string_view(buffer.data() + vb, ve - vb))) return error(513, "content-length too large");
        return error(400, "bad content-length");
      }
      if (content_length && *content_length != *n) return error(400, "conflicting content-length values");
      content_length = *n;
    }
    b = e + 2;
  }
  if (content_length_lines > 1) return error(400, "more than one content-length");
  std::size_t body_begin = head_end + 4;
  std::size_t body_len = buffer.size() - body_begin;
  if (content_length) {
    if (*content_length > body_len) return error(400, "content-length larger than the message");
    body_len = *content_length;
  } else if (transport == Transport::stream) {
    return error(400, "no content-length on a stream");
  }
  if (body_begin + body_len - pos > limits.max_message) return error(513, "message too large");

  m.size_ = body_begin + body_len;
  m.buffer_ = std::make_shared<const std::string>(std::move(buffer));
  const std::string& buf = *m.buffer_;
  auto view = [&](Span s) { return std::string_view(buf.data() + s.pos, s.len); };
  m.method_ = view(method);
  m.uri_ = view(uri);
  m.version_ = view(version);
  m.reason_ = view(reason);
  m.body_ = view(Span{body_begin, body_len});
  m.headers_.reserve(raw.size());
  for (const RawHeader& h : raw) m.headers_.push_back({h.known ? h.known->name : view(h.name), view(h.value)});
  Parsed p;
  p.message = std::move(m);
  return p;
}

std::string serialise(const Message& m) {
  std::string out;
  out.reserve(m.size() + 64);
  if (m.is_request()) {
    out.append(m.method()).append(" ").append(m.uri()).append(" ").append(m.version());
  } else {
    // Always three digits, as parse() requires: a status of 001 read must not be written as 1.
    const int s = m.status();
    const char code[3] = {static_cast<char>('0' + s / 100 % 10), static_cast<char>('0' + s / 10 % 10), static_cast<char>('0' + s % 10)};
    out.append(m.version()).append(" ").append(code, 3).append(" ").append(m.reason());
  }
  out += "\r\n";
  bool length_written = false;
  for (const HeaderField& h : m.headers()) {
    out.append(h.name).append(": ");
    if (h.name == "Content-Length") {
      out += std::to_string(m.body().size());
      length_written = true;
    } else {
      out.append(h.value);
    }
    out += "\r\n";
  }
  if (!length_written) out += "Content-Length: " + std::to_string(m.body().size()) + "\r\n";
  out += "\r\n";
  out.append(m.body());
  return out;
}

std::optional<Reject> validate_request(const Message& m, const Limits& limits) {
  if (m.version() != "SIP/2.0") return reject(505, "Version Not Supported");
  auto ruri = parse_uri(m.uri());
  if (!ruri) return reject(400, "Bad Request-URI");
  if (ruri->scheme == Scheme::other) return reject(416, "Unsupported URI Scheme");
  if ((ruri->scheme == Scheme::sip || ruri->scheme == Scheme::sips) && !ruri->headers.empty())
    return reject(400, "Headers In Request-URI");

  for (std::string_view name : {"Call-ID", "CSeq", "From", "To", "Via"})
    if (m.count(name) == 0) return reject(400, "Missing " + std::string(name));
  for (std::string_view name : {"Call-ID", "CSeq", "From", "To", "Max-Forwards", "Content-Type", "Expires"})
    if (m.count(name) > 1) return reject(400, "Multiple " + std::string(name));

  auto cseq = parse_cseq(*m.first("CSeq"));
  if (!cseq) return reject(400, "Bad CSeq");
  if (cseq->second != m.method()) return reject(400, "CSeq Method Mismatch");
  std::optional<unsigned long long> max_forwards;
  if (auto mf = m.first("Max-Forwards")) {
    max_forwards = number(*mf, 255);
    if (!max_forwards) return reject(400, "Bad Max-Forwards");
  }
  if (auto ex = m.first("Expires"); ex && !number(*ex, limits.max_expires)) return reject(400, "Bad Expires");

  for (std::string_view name : {"From", "To"})
    if (!parse_name_addr(*m.first(name))) return reject(400, "Bad " + std::string(name));
  for (std::string_view c : m.values("Contact"))
    if (c != "*" && !parse_name_addr(c)) return reject(400, "Bad Contact");
  // Every Via value is copied into every response: past max_headers of them, or past half of
  // max_message in all, a response may no longer fit a datagram, and an emergency call was
  // answered by its provider while its caller heard nothing (issue 24). Refused up front.
  std::size_t vias = 0, via_bytes = 0;
  for (std::string_view v : m.values("Via")) {
    if (!valid_via(v, nullptr)) return reject(400, "Bad Via");
    ++vias;
    via_bytes += v.size() + 7;
  }
  if (vias > limits.max_headers || via_bytes > limits.max_message / 2) return reject(513, "Message Too Large (too many Via values)");

  if (max_forwards && *max_forwards == 0) return reject(483, "Too Many Hops");
  if (m.method() != "ACK" && m.method() != "CANCEL") {
    std::string unsupported;
    for (std::string_view name : {"Require", "Proxy-Require"})
      for (std::string_view tag : m.values(name)) {
        if (tag.empty()) continue;
        if (!unsupported.empty()) unsupported += ", ";
        unsupported += tag;
      }
    if (!unsupported.empty()) {
      Reject r = reject(420, "Bad Extension");
      r.headers.emplace_back("Unsupported", unsupported);
      return r;
    }
  }
  if (m.method() == "INVITE" && m.count("Accept") > 0) {
    bool sdp = false;
    for (std::string_view a : m.values("Accept")) {
      std::string_view type = trim(a.substr(0, a.find(';')));
      if (iequals(type, "application/sdp") || iequals(type, "application/*") || type == "*/*" || iequals(type, "multipart/mixed"))
        sdp = true;
    }
    if (!sdp) return reject(406, "Not Acceptable");
  }
  return std::nullopt;
}

bool validate_response(const Message& m) {
  if (m.is_request() || m.status() < 100 || m.status() > 699) return true;
  for (std::string_view name : {"Via", "CSeq", "Call-ID", "From", "To"})
    if (m.count(name) == 0) return true;
  if (!parse_cseq(*m.first("CSeq"))) return true;
  for (std::string_view v : m.values("Via")) {
    std::string sent_by;
    if (!valid_via(v, &sent_by)) return true;
    if (sent_by.substr(0, sent_by.find(':')) == "255.255.255.255") return true;
  }
  return false;
}

std::string_view multipart_boundary(std::string_view content_type) {
  std::size_t semi = content_type.find(';');
  if (semi == std::string_view::npos) return {};
  std::string_view rest = content_type.substr(semi);
  while (!rest.empty()) {
    rest = trim(rest.substr(1));
    std::size_t end = rest.find(';');
    std::string_view item = rest.substr(0, end);
    std::size_t eq = item.find('=');
    if (eq != std::string_view::npos && iequals(trim(item.substr(0, eq)), "boundary")) {
      std::string_view v = trim(item.substr(eq + 1));
      if (v.size() >= 2 && v.front() == '"' && v.back() == '"') v = v.substr(1, v.size() - 2);
      return v;
    }
    if (end == std::string_view::npos) break;
    rest = rest.substr(end);
  }
  return {};
}

std::optional<std::vector<BodyPart>> split_multipart(std::string_view body, std::string_view boundary) {
  if (boundary.empty()) return std::nullopt;
  std::string delimiter = "--" + std::string(boundary);
  // A delimiter starts the body or follows a CRLF; the CRLF before it belongs to it.
  auto find_delim = [&](std::size_t from) -> std::size_t {
    if (from == 0 && body.substr(0, delimiter.size()) == delimiter) return 0;
    std::size_t at = body.find("\r\n" + delimiter, from);
    return at == std::string_view::npos ? at : at + 2;
  };
  std::size_t at = find_delim(0);
  if (at == std::string_view::npos) return std::nullopt;
  std::vector<BodyPart> parts;
  while (true) {
    std::size_t after = at + delimiter.size();
    if (body.substr(after, 2) == "--") return parts;
    std::size_t eol = body.find("\r\n", after);
    if (eol == std::string_view::npos) return std::nullopt;
    std::size_t part_begin = eol + 2;
    std::size_t next = find_delim(part_begin);
    if (next == std::string_view::npos) return std::nullopt;
    std::size_t part_end = next >= part_begin + 2 ? next - 2 : part_begin;
    std::string_view part = body.substr(part_begin, part_end - part_begin);
    BodyPart bp;
    std::size_t head_end = part.substr(0, 2) == "\r\n" ? 0 : part.find("\r\n\r\n");
    if (head_end == std::string_view::npos) {
      bp.body = part;  // no headers and no blank line: the whole part is body
    } else {
      std::string_view head = part.substr(0, head_end);
      while (!head.empty()) {
        std::size_t e = head.find("\r\n");
        std::string_view line = head.substr(0, e);
        std::size_t colon = line.find(':');
        if (colon != std::string_view::npos) {
          HeaderField h{trim(line.substr(0, colon)), trim(line.substr(colon + 1))};
          if (iequals(h.name, "Content-Type")) bp.content_type = h.value;
          if (iequals(h.name, "Content-ID")) {
            std::string_view id = h.value;
            if (id.size() >= 2 && id.front() == '<' && id.back() == '>') id = id.substr(1, id.size() - 2);
            bp.content_id = id;
          }
          bp.headers.push_back(h);
        }
        if (e == std::string_view::npos) break;
        head.remove_prefix(e + 2);
      }
      bp.body = part.substr(std::min(part.size(), head_end + (head_end == 0 ? 2 : 4)));
    }
    parts.push_back(bp);
    at = next;
  }
}

}  // namespace e911::sip
