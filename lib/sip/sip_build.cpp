#include "e911/sip_build.hpp"

#include <cctype>
#include <cstdint>
#include <cstdio>
#include <sstream>
#include <type_traits>
#include <string_view>

namespace e911::sip {

namespace {

/// What the builders write into: a string with `<<` for text and numbers, without the locale
/// and stream state an ostringstream sets up for every message (an emergency call builds three:
/// the PIDF-LO, the provider's INVITE and the desk's MESSAGE).
struct Text {
  std::string s;
  Text() { s.reserve(1024); }
  Text& operator<<(std::string_view v) {
    s.append(v);
    return *this;
  }
  Text& operator<<(char c) {
    s += c;
    return *this;
  }
  template <class N, std::enable_if_t<std::is_integral_v<N> && !std::is_same_v<N, char> && !std::is_same_v<N, bool>, int> = 0>
  Text& operator<<(N n) {
    s += std::to_string(n);
    return *this;
  }
  std::string str() && { return std::move(s); }
};


// The civic fields in RFC 5139 schema order, with Lync's mapping and the label the security desk
// reads. One table serves the PIDF-LO and the notification, so they can never list different fields.
struct CivicField {
  const char* tag;
  const char* label;
  std::string Civic::*member;
};
const CivicField kCivicFields[] = {
    {"country", "Country", &Civic::country},
    {"A1", "State", &Civic::state},
    {"A3", "City", &Civic::city},
    {"PRD", "Pre-directional", &Civic::pre_directional},
    {"RD", "Street", &Civic::street_name},
    {"STS", "Street suffix", &Civic::street_suffix},
    {"POD", "Post-directional", &Civic::post_directional},
    {"HNO", "House number", &Civic::house_number},
    {"HNS", "House number suffix", &Civic::house_number_suffix},
    {"LMK", "Landmark", &Civic::landmark},
    {"LOC", "Location", &Civic::location},
    {"FLR", "Floor", &Civic::floor},
    {"NAM", "Company", &Civic::company_name},
    {"PC", "Postal code", &Civic::postal_code},
    {"BLD", "Building", &Civic::building},
    {"UNIT", "Unit", &Civic::unit},
    {"ROOM", "Room", &Civic::room},
    {"SEAT", "Seat", &Civic::seat},
};

constexpr const char* kMsNamespace = "urn:schema:Rtc.LIS.msftE911PidfExtn.2008";
// MS-SIPRE appendix D: the tag ID is an extensibility element in a namespace of its own.
constexpr const char* kPolicyTagNamespace = "urn:schema:Rtc.Lis.LocationPolicyTagID.2008";

// Text and attribute values. Control characters XML 1.0 forbids are dropped: one stray byte in a
// location name must not make the PSAP's parser reject the whole location.
std::string xml(const std::string& s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&apos;"; break;
      default:
        if (static_cast<unsigned char>(c) >= 0x20 || c == '\t' || c == '\n' || c == '\r') out += c;
    }
  }
  return out;
}

std::string upper(std::string s) {
  for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

// A value on one line: CR or LF in a name would start a forged header or body line.
std::string one_line(const std::string& s) {
  std::string out = s;
  for (char& c : out)
    if (c == '\r' || c == '\n' || (static_cast<unsigned char>(c) < 0x20 && c != '\t')) c = ' ';
  return out;
}

// A display name as an RFC 3261 quoted-string.
std::string quoted(const std::string& s) {
  std::string out = "\"";
  for (char c : one_line(s)) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

// The host a SIP URI names, for From and Contact headers.
std::string host_of(const std::string& uri) {
  const auto at = uri.find('@');
  if (at == std::string::npos) return "e911ctl.invalid";
  std::string h = uri.substr(at + 1);
  h = h.substr(0, h.find_first_of(";>?"));
  return h.empty() ? "e911ctl.invalid" : h;
}

std::string crlf(const std::string& text) {
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\n' && (i == 0 || text[i - 1] != '\r')) out += '\r';
    out += text[i];
  }
  return out;
}

// Branch and tag for a MESSAGE: unique per call and target (one transaction each), yet the same
// for the same inputs so dry runs are reproducible.
std::string fnv_hex(const std::string& s) {
  std::uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
  return buf;
}

bool is_number(const std::string& s) {
  const std::size_t start = !s.empty() && s[0] == '+' ? 1 : 0;
  if (s.size() == start) return false;
  for (std::size_t i = start; i < s.size(); ++i)
    if ((s[i] < '0' || s[i] > '9') && s[i] != '*' && s[i] != '#') return false;
  return true;
}

// An IPv6 literal is bracketed inside a SIP URI (RFC 3261 §25.1).
std::string uri_host(const std::string& host) {
  return host.find(':') != std::string::npos && host.front() != '[' ? "[" + host + "]" : host;
}

// Lync writes the conference mode as oneway/twoway (MS-SIPRE appendix D); policies say one-way.
std::string lync_mode(const std::string& mode) {
  std::string m;
  for (char c : mode)
    if (c != '-' && c != '_' && c != ' ') m += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return m == "twoway" ? "twoway" : "oneway";
}

std::string xml_unescape(const std::string& s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '&') {
      out += s[i];
      continue;
    }
    const auto semi = s.find(';', i);
    if (semi == std::string::npos) {
      out += s.substr(i);
      break;
    }
    const std::string ent = s.substr(i + 1, semi - i - 1);
    if (ent == "amp") out += '&';
    else if (ent == "lt") out += '<';
    else if (ent == "gt") out += '>';
    else if (ent == "quot") out += '"';
    else if (ent == "apos") out += '\'';
    else if (ent.size() > 1 && ent[0] == '#') {
      unsigned long cp = 0;
      try {
        cp = ent[1] == 'x' || ent[1] == 'X' ? std::stoul(ent.substr(2), nullptr, 16) : std::stoul(ent.substr(1));
      } catch (const std::exception&) {
        cp = '?';
      }
      if (cp < 0x80) {
        out += static_cast<char>(cp);
      } else if (cp < 0x800) {
        out += static_cast<char>(0xC0 | (cp >> 6));
        out += static_cast<char>(0x80 | (cp & 0x3F));
      } else if (cp < 0x10000) {
        out += static_cast<char>(0xE0 | (cp >> 12));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
      } else {
        out += static_cast<char>(0xF0 | (cp >> 18));
        out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
      }
    } else {
      out += s.substr(i, semi - i + 1);
    }
    i = semi;
  }
  return out;
}

// The children of the first civicAddress of a PIDF-LO the client sent, as (local name, text), in
// document order. A scan, not a parser: the notification must go out even when the client's XML
// is odd, and whatever is readable is better than nothing for the security desk.
std::vector<std::pair<std::string, std::string>> civic_elements(const std::string& pidf) {
  std::vector<std::pair<std::string, std::string>> out;
  std::size_t pos = 0;
  for (;; pos += 12) {  // the start tag: '<', an optional prefix, the name, then a space, '/' or '>'
    pos = pidf.find("civicAddress", pos);
    if (pos == std::string::npos) return out;
    const auto lt = pidf.rfind('<', pos);
    if (lt == std::string::npos) continue;
    const std::string prefix = pidf.substr(lt + 1, pos - lt - 1);
    const bool name_ok = prefix.empty() || (prefix.back() == ':' && prefix.find_first_of(" \t\r\n\"'/>=") == std::string::npos);
    if (name_ok && pos + 12 < pidf.size() && std::string_view(" \t\r\n/>").find(pidf[pos + 12]) != std::string_view::npos) break;
  }
  pos = pidf.find('>', pos);
  if (pos == std::string::npos || pidf[pos - 1] == '/') return out;
  for (;;) {
    const auto open = pidf.find('<', pos);
    if (open == std::string::npos || open + 1 >= pidf.size() || pidf[open + 1] == '/') return out;
    if (pidf.compare(open, 4, "<!--") == 0) {
      const auto end = pidf.find("-->", open);
      if (end == std::string::npos) return out;
      pos = end + 3;
      continue;
    }
    const auto name_end = pidf.find_first_of(" \t\r\n/>", open + 1);
    const auto gt = pidf.find('>', open);
    if (name_end == std::string::npos || gt == std::string::npos) return out;
    const std::string qname = pidf.substr(open + 1, name_end - open - 1);
    if (pidf[gt - 1] == '/') {  // an empty element says nothing
      pos = gt + 1;
      continue;
    }
    const auto close = pidf.find("</" + qname, gt);
    if (close == std::string::npos) return out;
    const std::string text = pidf.substr(gt + 1, close - gt - 1);
    const auto colon = qname.find(':');
    if (text.find('<') == std::string::npos)
      out.emplace_back(colon == std::string::npos ? qname : qname.substr(colon + 1), xml_unescape(text));
    pos = pidf.find('>', close);
    if (pos == std::string::npos) return out;
  }
}

std::string trim(const std::string& s) {
  const auto b = s.find_first_not_of(" \t\r\n");
  if (b == std::string::npos) return {};
  return s.substr(b, s.find_last_not_of(" \t\r\n") - b + 1);
}

}  // namespace

std::string build_pidf(const Civic& loc, const std::string& entity, const std::string& method, const std::string& conference_uri,
                       const std::string& conference_mode, const std::string& policy_tag, const std::string& timestamp) {
  const bool extension = !conference_uri.empty() || !policy_tag.empty();
  Text o;
  o << "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
       "<presence xmlns=\"urn:ietf:params:xml:ns:pidf\" xmlns:gp=\"urn:ietf:params:xml:ns:pidf:geopriv10\" "
       "xmlns:ca=\"urn:ietf:params:xml:ns:pidf:geopriv10:civicAddr\" xmlns:gbp=\"urn:ietf:params:xml:ns:pidf:geopriv10:basicPolicy\" "
       "xmlns:ms=\""
    << kMsNamespace << "\" entity=\"" << xml(entity.empty() ? "pres:unknown@e911ctl.invalid" : entity) << "\">\n"
    << "  <tuple id=\"e911-location\">\n    <status>\n      <gp:geopriv>\n"
    << "        <gp:location-info>\n          <ca:civicAddress xml:lang=\"en\">\n";
  for (const auto& f : kCivicFields) {
    const std::string& raw = loc.*f.member;
    if (raw.empty()) continue;
    const std::string value = f.member == &Civic::country ? upper(raw) : raw;
    o << "            <ca:" << f.tag << ">" << xml(value) << "</ca:" << f.tag << ">\n";
  }
  o << "          </ca:civicAddress>\n        </gp:location-info>\n        <gp:usage-rules>\n"
       "          <gbp:retransmission-allowed>true</gbp:retransmission-allowed>\n        </gp:usage-rules>\n"
    << "        <gp:method>" << xml(method.empty() ? "Manual" : method) << "</gp:method>\n"
    << "        <gp:provided-by><ms:ProvidedBy>e911ctl</ms:ProvidedBy></gp:provided-by>\n      </gp:geopriv>\n";
  // Where Lync puts it (MS-SIPRE 2.2.23 and 4.14): inside status, after geopriv.
  if (extension) {
    o << "      <ms:msftE911PidfExtn>\n";
    if (!conference_uri.empty()) {
      o << "        <ms:ConferenceUri>" << xml(conference_uri) << "</ms:ConferenceUri>\n"
        << "        <ms:ConferenceMode>" << lync_mode(conference_mode) << "</ms:ConferenceMode>\n";
    }
    if (!policy_tag.empty())
      o << "        <LocationPolicyTagID xmlns=\"" << kPolicyTagNamespace << "\">" << xml(policy_tag) << "</LocationPolicyTagID>\n";
    o << "      </ms:msftE911PidfExtn>\n";
  }
  o << "    </status>\n";
  if (!timestamp.empty()) o << "    <timestamp>" << xml(timestamp) << "</timestamp>\n";
  o << "  </tuple>\n</presence>\n";
  return std::move(o).str();
}

namespace {

// build_trunk_invite's INVITE as `d` decides it; with `no_pidf` without any PIDF-LO.
TrunkInvite invite_as_decided(const Snapshot& snap, const routing::Decision& d, const routing::CallFacts& f, const InviteContext& c, bool no_pidf) {
  TrunkInvite out;
  if (c.attempt >= d.attempts.size()) return out;
  const routing::Attempt& a = d.attempts[c.attempt];
  const Json* trunk = snap.object("trunk", std::string(a.trunk));
  const std::string host = uri_host(trunk ? trunk->value("host", "") : "");
  std::string trunk_transport = trunk ? trunk->value("transport", "tcp") : "tcp";
  if (c.tls_fallback && trunk_transport == "tls") trunk_transport = "tcp";
  const int port = trunk ? trunk->value("port", 5060) : 5060;
  const bool pidf_ok = trunk && trunk->value("accepts_pidf_lo", false);
  const bool pai = !trunk || trunk->value("forward_pai", true);

  std::string ruri = a.request_uri;
  if (ruri.rfind("tel:", 0) == 0) ruri = ruri.substr(4, ruri.find(';') - 4);  // npos - 4 still means "to the end"
  if (is_number(ruri)) ruri = "sip:" + ruri + "@" + host + ":" + std::to_string(port) + ";user=phone";

  const std::string caller_host = host_of(f.caller);
  const std::string caller_uri = f.caller.empty() ? "sip:anonymous@anonymous.invalid" : f.caller;
  const std::string from_uri = d.callback.empty() ? caller_uri : "sip:" + d.callback + "@" + caller_host + ";user=phone";
  // A tel: URI without + would need a phone-context (RFC 3966): an ELIN of national digits goes as sip.
  const std::string pai_uri = d.callback.empty()       ? caller_uri
                              : d.callback[0] == '+'   ? "tel:" + d.callback
                                                       : from_uri;
  const std::string display = d.user_name.empty() ? "" : quoted(std::string(d.user_name)) + " ";

  const std::string sdp = c.sdp ? *c.sdp
                                : crlf("v=0\no=e911ctl 1 1 IN IP4 127.0.0.1\ns=sample offer (call dry-run --sdp FILE shows the phone's)\nc=IN IP4 127.0.0.1\nt=0 0\nm=audio 40000 RTP/AVP 0 8 101\n"
                                       "a=rtpmap:0 PCMU/8000\na=rtpmap:8 PCMA/8000\na=rtpmap:101 telephone-event/8000\na=fmtp:101 0-16\na=sendrecv\n");
  std::string pidf;
  if (pidf_ok && !no_pidf) {
    // RFC 6881 SP-18: the caller's location is passed on unchanged, unless it failed the checks
    // and decide() located the caller otherwise (Decision::caller_pidf_fault).
    if (!f.pidf.empty() && (d.location_source == LocationSource::caller_pidf || d.caller_pidf_fault.empty())) pidf = f.pidf;
    else if (d.location) pidf = crlf(build_pidf(*d.location, f.caller, d.method, std::string(d.conference_uri), std::string(d.conference_mode), std::string(d.policy), f.time));
  }
  std::string boundary = "e911ctl-boundary-" + c.tag;
  while (pidf.find(boundary) != std::string::npos) boundary += "x";  // a caller's PIDF may hold anything
  const std::string cid = "location-" + c.tag + "@e911ctl.invalid";
  std::string body, content_type;
  if (!pidf.empty()) {
    // Each delimiter is CRLF "--" boundary (RFC 2046 §5.1.1): the CRLF before it belongs to the
    // delimiter, so every part keeps its exact bytes, the caller's PIDF included. Without an
    // offer (the caller's INVITE had none) the body is the location alone, still multipart.
    body = "--" + boundary;
    if (!sdp.empty()) body += "\r\nContent-Type: application/sdp\r\n\r\n" + sdp + "\r\n--" + boundary;
    body += "\r\nContent-Type: application/pidf+xml\r\nContent-ID: <" + cid + ">\r\n\r\n" + pidf + "\r\n--" + boundary + "--\r\n";
    content_type = "multipart/mixed;boundary=" + boundary;
  } else if (!sdp.empty()) {
    body = sdp;
    content_type = "application/sdp";
  }
  out.from = display + "<" + from_uri + ">";
  out.to = "<" + ruri + ">";
  out.request_uri = ruri;
  out.with_pidf = !pidf.empty();
  auto text = [&](const std::string& transport) {
    std::string t = transport;
    for (auto& ch : t) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    Text m;
    m << "INVITE " << ruri << " SIP/2.0\r\n"
      << "Via: SIP/2.0/" << upper(transport) << " " << c.sent_by << ";branch=" << (c.branch.empty() ? "z9hG4bK" + c.tag : c.branch) << ";rport\r\n"
      << "Max-Forwards: 70\r\n"
      << "From: " << out.from << ";tag=" << c.tag << "\r\n"
      << "To: " << out.to << "\r\n"
      << "Call-ID: " << c.call_id << "\r\n"
      << "CSeq: 1 INVITE\r\n"
      << "Contact: <sip:e911ctl@" << c.sent_by << ";transport=" << t << ">\r\n"
      << "Allow: INVITE, ACK, CANCEL, BYE, OPTIONS, UPDATE, INFO, PRACK, MESSAGE, NOTIFY\r\n";
    if (d.emergency) m << "Priority: emergency\r\n";
    if (pai) m << "P-Asserted-Identity: " << display << "<" << pai_uri << ">\r\n";
    if (!pidf.empty()) m << "Geolocation: <cid:" << cid << ">\r\nGeolocation-Routing: yes\r\n";
    if (!content_type.empty()) m << "Content-Type: " << content_type << "\r\n";
    m << "Content-Length: " << body.size() << "\r\n\r\n" << body;
    return std::move(m).str();
  };
  out.stream = trunk_transport != "udp";
  out.text = text(trunk_transport);
  if (!out.stream && !c.keep_udp && out.text.size() > kUdpLimit) {
    // RFC 3261 §18.1.1: a request over 1300 bytes (an INVITE with a PIDF-LO) goes over TCP.
    out.stream = true;
    out.switched_to_tcp = true;
    out.text = text("tcp");
  }
  return out;
}

}  // namespace

TrunkInvite build_trunk_invite(const Snapshot& snap, const routing::Decision& d, const routing::CallFacts& f, const InviteContext& c) {
  TrunkInvite out = invite_as_decided(snap, d, f, c, false);
  if (c.max_message == 0 || out.text.size() <= c.max_message) return out;
  // An emergency call goes out whatever it brought (issue 24): an INVITE the provider's limit and
  // ours refuse would lose the provider, so a caller's PIDF-LO too large to send gives way to the
  // location the LIS gives the caller, and where even that does not fit (or the LIS has none)
  // the call goes without a location, the provider's ECRC asking the caller where they are.
  const std::size_t as_decided = out.text.size();
  const auto over = [&](std::size_t n) { return std::to_string(n) + " bytes, over the " + std::to_string(c.max_message) + " a message may be"; };
  if (d.location_source == LocationSource::caller_pidf && out.with_pidf) {
    const routing::Decision lis = routing::without_caller_pidf(snap, d, f);
    routing::CallFacts without = f;
    without.pidf.clear();
    TrunkInvite smaller = invite_as_decided(snap, lis, without, c, false);
    if (smaller.text.size() <= c.max_message) {
      smaller.degraded = "with the caller's PIDF-LO (" + std::to_string(f.pidf.size()) + " bytes) the INVITE would be " + over(as_decided) + ": " +
                         (smaller.with_pidf ? "sent with the LIS's location instead (" + std::string(to_string(lis.location_source)) + " location '" +
                                                  std::string(lis.location.id()) + "')"
                                            : "sent without a location, the LIS having none for the caller");
      return smaller;
    }
  }
  if (!out.with_pidf) return out;  // too large with no location in it: the sender refuses it
  TrunkInvite bare = invite_as_decided(snap, d, f, c, true);
  if (bare.text.size() > c.max_message) return out;
  bare.degraded = "with its PIDF-LO the INVITE would be " + over(as_decided) + ": sent without a location";
  return bare;
}

std::string build_invite(const Snapshot& snap, const routing::Decision& d, const routing::CallFacts& f, const std::string& call_id,
                         const std::string& tag) {
  InviteContext c;
  c.call_id = call_id;
  c.tag = tag;
  return build_trunk_invite(snap, d, f, c).text;
}

std::string build_notification(const routing::Decision& d, const routing::CallFacts& f, const std::string& target, const std::string& call_id) {
  return build_notification(d, f, target, NotificationContext{call_id});
}

std::string build_notification(const routing::Decision& d, const routing::CallFacts& f, const std::string& target, const NotificationContext& c) {
  const std::string& call_id = c.call_id;
  const std::string caller = f.caller.empty() ? d.caller : f.caller;
  const std::string to = target.find(':') == std::string::npos ? "sip:" + target : target;
  Text b;
  b << (d.test_call ? "Test emergency call to " : "Emergency call to ")
    << one_line(d.emergency_number.empty() ? (d.normalized.empty() ? d.dialled : d.normalized) : std::string(d.emergency_number)) << "\n";
  b << "Caller: " << (d.user_name.empty() ? "" : one_line(std::string(d.user_name)) + " ") << "<" << one_line(caller) << ">\n";
  b << "Callback: " << (d.callback.empty() ? "unknown" : one_line(d.callback)) << (d.elin_mode ? " (ELIN)" : "") << "\n";
  b << "Time: " << (f.time.empty() ? "unknown" : one_line(f.time)) << "\n";
  // MS-SIPRE 3.17.5.2: every civic element of the location, then the method.
  std::vector<std::pair<std::string, std::string>> lines;
  if (d.location) {
    for (const auto& fld : kCivicFields)
      if (!((*d.location).*fld.member).empty()) lines.emplace_back(fld.label, (*d.location).*fld.member);
  } else if (d.location_source == LocationSource::caller_pidf) {
    for (auto& [tag, text] : civic_elements(f.pidf)) {
      const std::string value = trim(text);
      if (value.empty()) continue;
      std::string label = tag;
      for (const auto& fld : kCivicFields)
        if (tag == fld.tag) label = fld.label;
      lines.emplace_back(label, value);
    }
  }
  if (!lines.empty()) {
    b << "Location:" << (d.location ? "" : " as sent by the caller's client") << "\n";
    for (const auto& [label, value] : lines) b << "  " << one_line(label) << ": " << one_line(value) << "\n";
  } else if (d.location_source == LocationSource::caller_pidf) {
    b << "Location: sent by the caller's client, no civic address readable\n";
  } else {
    b << "Location: none known; the provider's operator will ask the caller\n";
  }
  b << "Method: " << (d.method.empty() ? "none" : one_line(d.method)) << "\n";
  const std::string body = crlf(std::move(b).str());
  const std::string id = fnv_hex(call_id + "\x1f" + to);
  Text m;
  m << "MESSAGE " << (c.request_uri.empty() ? to : c.request_uri) << " SIP/2.0\r\n"
    << "Via: SIP/2.0/" << upper(c.transport) << " " << c.sent_by << ";branch=" << (c.branch.empty() ? "z9hG4bK" + id : c.branch) << ";rport\r\n"
    << "Max-Forwards: 70\r\n"
    << "From: <sip:e911ctl@" << host_of(caller) << ">;tag=" << (c.tag.empty() ? id.substr(0, 8) : c.tag) << "\r\n"
    << "To: <" << to << ">\r\n"
    << "Call-ID: " << call_id << "\r\n"
    << "CSeq: 1 MESSAGE\r\n"
    << "Priority: emergency\r\n"
    << "Call-Info: <" << (caller.empty() ? "sip:anonymous@anonymous.invalid" : caller) << ">;purpose=ms-emergency-notification\r\n"
    << "Content-Type: text/plain;charset=utf-8\r\n"
    << "Content-Length: " << body.size() << "\r\n\r\n"
    << body;
  return std::move(m).str();
}

}  // namespace e911::sip
