#include "e911/sip_build.hpp"

#include <sstream>

namespace e911::sip {

namespace {

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
      default: out += c;
    }
  }
  return out;
}

std::string upper(std::string s) {
  for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

// The host a SIP URI names, for From and Contact headers.
std::string host_of(const std::string& uri) {
  const auto at = uri.find('@');
  if (at == std::string::npos) return "e911ctl.invalid";
  std::string h = uri.substr(at + 1);
  return h.substr(0, h.find_first_of(";>?"));
}

std::string crlf(const std::string& text) {
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\n' && (i == 0 || text[i - 1] != '\r')) out += '\r';
    out += text[i];
  }
  return out;
}

}  // namespace

std::string build_pidf(const Civic& loc, const std::string& entity, const std::string& method, const std::string& conference_uri,
                       const std::string& conference_mode, const std::string& policy_tag, const std::string& timestamp) {
  std::ostringstream o;
  o << "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
       "<presence xmlns=\"urn:ietf:params:xml:ns:pidf\" xmlns:gp=\"urn:ietf:params:xml:ns:pidf:geopriv10\" "
       "xmlns:ca=\"urn:ietf:params:xml:ns:pidf:geopriv10:civicAddr\" xmlns:gbp=\"urn:ietf:params:xml:ns:pidf:geopriv10:basicPolicy\" "
       "xmlns:ms=\"urn:schema:Rtc.LIS.msftE911PidfExtn.2008\" entity=\""
    << xml(entity.empty() ? "pres:unknown@e911ctl.invalid" : entity) << "\">\n"
    << "  <tuple id=\"e911-location\">\n    <status>\n      <gp:geopriv>\n"
    << "        <gp:location-info>\n          <ca:civicAddress xml:lang=\"en\">\n";
  // RFC 5139 schema order: country, A1..A6, PRM, PRD, RD, STS, POD, POM, RDSEC, RDBR, RDSUBBR,
  // HNO, HNS, LMK, LOC, FLR, NAM, PC, BLD, UNIT, ROOM, SEAT, PLC, PCN, POBOX, ADDCODE.
  const std::pair<const char*, std::string> fields[] = {
      {"country", upper(loc.country)}, {"A1", loc.state},         {"A3", loc.city},          {"PRD", loc.pre_directional},
      {"RD", loc.street_name},         {"STS", loc.street_suffix}, {"POD", loc.post_directional}, {"HNO", loc.house_number},
      {"HNS", loc.house_number_suffix}, {"LMK", loc.landmark},     {"LOC", loc.location},     {"FLR", loc.floor},
      {"NAM", loc.company_name},       {"PC", loc.postal_code},   {"BLD", loc.building},     {"UNIT", loc.unit},
      {"ROOM", loc.room},              {"SEAT", loc.seat}};
  for (const auto& [tag, value] : fields)
    if (!value.empty()) o << "            <ca:" << tag << ">" << xml(value) << "</ca:" << tag << ">\n";
  o << "          </ca:civicAddress>\n        </gp:location-info>\n        <gp:usage-rules>\n"
       "          <gbp:retransmission-allowed>true</gbp:retransmission-allowed>\n        </gp:usage-rules>\n"
    << "        <gp:method>" << xml(method.empty() ? "Manual" : method) << "</gp:method>\n"
    << "        <gp:provided-by><ms:ProvidedBy>e911ctl</ms:ProvidedBy></gp:provided-by>\n      </gp:geopriv>\n    </status>\n";
  if (!conference_uri.empty() || !policy_tag.empty()) {
    o << "    <ms:msftE911PidfExtn>\n";
    if (!conference_uri.empty()) {
      o << "      <ms:ConferenceUri>" << xml(conference_uri) << "</ms:ConferenceUri>\n";
      o << "      <ms:ConferenceMode>" << (conference_mode == "two-way" ? "twoway" : "oneway") << "</ms:ConferenceMode>\n";
    }
    if (!policy_tag.empty()) o << "      <ms:LocationPolicyTagID>" << xml(policy_tag) << "</ms:LocationPolicyTagID>\n";
    o << "    </ms:msftE911PidfExtn>\n";
  }
  if (!timestamp.empty()) o << "    <timestamp>" << xml(timestamp) << "</timestamp>\n";
  o << "  </tuple>\n</presence>\n";
  return o.str();
}

std::string build_invite(const Snapshot& snap, const routing::Decision& d, const routing::CallFacts& f, const std::string& call_id,
                         const std::string& tag) {
  if (d.attempts.empty()) return {};
  const routing::Attempt& a = d.attempts.front();
  const Json* trunk = snap.object("trunk", a.trunk);
  const std::string host = trunk ? trunk->value("host", "") : "";
  const std::string transport = trunk ? trunk->value("transport", "tcp") : "tcp";
  const int port = trunk ? trunk->value("port", 5060) : 5060;
  const bool pidf_ok = trunk && trunk->value("accepts_pidf_lo", false);
  const bool pai = !trunk || trunk->value("forward_pai", true);
  const std::string ruri = a.request_uri.rfind("urn:", 0) == 0 ? a.request_uri
                                                                 : "sip:" + a.request_uri + "@" + host + ":" + std::to_string(port) + ";user=phone";
  const std::string caller_host = host_of(f.caller);
  const std::string from_uri = !d.callback.empty() ? "sip:" + d.callback + "@" + caller_host + ";user=phone" : f.caller;

  const std::string sdp = crlf(
      "v=0\no=e911ctl 1 1 IN IP4 127.0.0.1\ns=emergency call\nc=IN IP4 127.0.0.1\nt=0 0\nm=audio 40000 RTP/AVP 0 8 101\n"
      "a=rtpmap:0 PCMU/8000\na=rtpmap:8 PCMA/8000\na=rtpmap:101 telephone-event/8000\na=sendrecv\n");
  std::string pidf;
  if (pidf_ok) {
    if (!f.pidf.empty()) pidf = f.pidf;  // RFC 6881 SP-18: a caller's location is passed on unchanged
    else if (d.location) pidf = build_pidf(*d.location, f.caller, d.method, d.conference_uri, d.conference_mode, d.policy, f.time);
  }
  const std::string boundary = "e911ctl-boundary-" + tag;
  const std::string cid = "location-" + tag + "@e911ctl.invalid";
  std::string body, content_type;
  if (!pidf.empty()) {
    body = "--" + boundary + "\r\nContent-Type: application/sdp\r\n\r\n" + sdp + "--" + boundary +
           "\r\nContent-Type: application/pidf+xml\r\nContent-ID: <" + cid + ">\r\n\r\n" + crlf(pidf) + "--" + boundary + "--\r\n";
    content_type = "multipart/mixed;boundary=" + boundary;
  } else {
    body = sdp;
    content_type = "application/sdp";
  }
  std::ostringstream m;
  m << "INVITE " << ruri << " SIP/2.0\r\n"
    << "Via: SIP/2.0/" << upper(transport) << " e911ctl.invalid;branch=z9hG4bK" << tag << "\r\n"
    << "Max-Forwards: 70\r\n"
    << "From: " << (d.user_name.empty() ? "" : "\"" + d.user_name + "\" ") << "<" << from_uri << ">;tag=" << tag << "\r\n"
    << "To: <" << ruri << ">\r\n"
    << "Call-ID: " << call_id << "\r\n"
    << "CSeq: 1 INVITE\r\n"
    << "Contact: <sip:e911ctl@127.0.0.1;transport=" << transport << ">\r\n";
  if (d.emergency) m << "Priority: emergency\r\n";
  if (pai) m << "P-Asserted-Identity: " << (d.user_name.empty() ? "" : "\"" + d.user_name + "\" ") << "<" << (d.callback.empty() ? f.caller : "tel:" + d.callback) << ">\r\n";
  if (!pidf.empty()) m << "Geolocation: <cid:" << cid << ">\r\nGeolocation-Routing: yes\r\n";
  m << "Content-Type: " << content_type << "\r\n"
    << "Content-Length: " << body.size() << "\r\n\r\n"
    << body;
  return m.str();
}

std::string build_notification(const routing::Decision& d, const routing::CallFacts& f, const std::string& target, const std::string& call_id) {
  std::ostringstream b;
  b << "Emergency call to " << (d.emergency_number.empty() ? d.normalized : d.emergency_number) << "\n";
  b << "Caller: " << (d.user_name.empty() ? "" : d.user_name + " ") << "<" << f.caller << ">\n";
  b << "Callback: " << (d.callback.empty() ? "unknown" : d.callback) << (d.elin_mode ? " (ELIN)" : "") << "\n";
  b << "Time: " << (f.time.empty() ? "unknown" : f.time) << "\n";
  if (d.location) {
    const Civic& l = *d.location;
    b << "Location:\n";
    const std::pair<const char*, const std::string*> lines[] = {
        {"Location", &l.location}, {"Company", &l.company_name}, {"House number", &l.house_number}, {"House number suffix", &l.house_number_suffix},
        {"Pre-directional", &l.pre_directional}, {"Street", &l.street_name}, {"Street suffix", &l.street_suffix}, {"Post-directional", &l.post_directional},
        {"City", &l.city}, {"State", &l.state}, {"Postal code", &l.postal_code}, {"Country", &l.country}, {"Building", &l.building},
        {"Floor", &l.floor}, {"Unit", &l.unit}, {"Room", &l.room}, {"Seat", &l.seat}, {"Landmark", &l.landmark}};
    for (const auto& [label, value] : lines)
      if (!value->empty()) b << "  " << label << ": " << *value << "\n";
  } else if (d.location_source == LocationSource::caller_pidf) {
    b << "Location: as sent by the caller's client\n";
  } else {
    b << "Location: unknown; the provider's operator will ask the caller\n";
  }
  b << "Method: " << (d.method.empty() ? "none" : d.method) << "\n";
  const std::string body = crlf(b.str());
  std::ostringstream m;
  m << "MESSAGE " << target << " SIP/2.0\r\n"
    << "Via: SIP/2.0/TCP e911ctl.invalid;branch=z9hG4bKnotify\r\n"
    << "Max-Forwards: 70\r\n"
    << "From: <sip:e911ctl@" << host_of(f.caller) << ">;tag=e911notify\r\n"
    << "To: <" << target << ">\r\n"
    << "Call-ID: " << call_id << "\r\n"
    << "CSeq: 1 MESSAGE\r\n"
    << "Priority: emergency\r\n"
    << "Call-Info: <" << f.caller << ">;purpose=ms-emergency-notification\r\n"
    << "Content-Type: text/plain;charset=utf-8\r\n"
    << "Content-Length: " << body.size() << "\r\n\r\n"
    << body;
  return m.str();
}

}  // namespace e911::sip
