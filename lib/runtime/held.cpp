// The location service (see runtime_held.hpp): a locationRequest read with libxml2 behind a
// refusal of every DOCTYPE, located with routing::locate_element, answered with sip::build_pidf,
// served by cpp-httplib on threads of its own as the admin API is.
#include "e911/runtime_held.hpp"
#include "http_server.hpp"

#include <arpa/inet.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xmlerror.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstring>
#include <memory>
#include <mutex>
#include <utility>

#include "e911/diagnostic.hpp"
#include "e911/error.hpp"
#include "e911/routing.hpp"
#include "e911/runtime_snapshot.hpp"
#include "e911/sip_build.hpp"
#include "e911/text.hpp"

namespace e911::runtime {

namespace {

constexpr const char* kHeldContentType = "application/held+xml;charset=utf-8";
constexpr std::size_t kMaxIdentifierBytes = 255;

struct DocFree {
  void operator()(xmlDoc* d) const { xmlFreeDoc(d); }
};
struct CtxtFree {
  void operator()(xmlParserCtxt* c) const { xmlFreeParserCtxt(c); }
};

void init_libxml() {
  static std::once_flag once;
  std::call_once(once, [] { xmlInitParser(); });
}

std::string xml_escape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      default:
        if (static_cast<unsigned char>(c) >= 0x20 || c == '\t' || c == '\n') out += c;
    }
  }
  return out;
}

bool is(const xmlNode* n, const char* ns, const char* name) {
  return n && n->type == XML_ELEMENT_NODE && n->ns && n->ns->href && std::strcmp(reinterpret_cast<const char*>(n->ns->href), ns) == 0 &&
         std::strcmp(reinterpret_cast<const char*>(n->name), name) == 0;
}

// The element's text, trimmed of XML white space.
std::string text_of(const xmlNode* n) {
  xmlChar* raw = xmlNodeGetContent(n);
  std::string s = raw ? reinterpret_cast<const char*>(raw) : "";
  xmlFree(raw);
  const auto b = s.find_first_not_of(" \t\r\n");
  if (b == std::string::npos) return {};
  return s.substr(b, s.find_last_not_of(" \t\r\n") - b + 1);
}

std::string attribute(const xmlNode* n, const char* name) {
  xmlChar* raw = xmlGetNoNsProp(n, reinterpret_cast<const xmlChar*>(name));
  std::string s = raw ? reinterpret_cast<const char*>(raw) : "";
  xmlFree(raw);
  return s;
}

// An IPv4 or IPv6 address as the snapshot matches it (an IPv4-mapped IPv6 address as IPv4), or
// empty when `text` is not one.
std::string normal_ip(std::string_view text) {
  if (text.empty() || text.size() >= INET6_ADDRSTRLEN) return {};
  const std::string s(text);
  unsigned char a[16];
  if (s.find(':') == std::string::npos) return inet_pton(AF_INET, s.c_str(), a) == 1 ? s : std::string();
  if (inet_pton(AF_INET6, s.c_str(), a) != 1) return {};
  static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF};
  char out[INET6_ADDRSTRLEN];
  if (std::memcmp(a, mapped, sizeof mapped) == 0) return inet_ntop(AF_INET, a + 12, out, sizeof out) ? out : "";
  return inet_ntop(AF_INET6, a, out, sizeof out) ? out : "";
}

// Six hex pairs, with '-', ':' or nothing between them (RFC 6155 writes "A0-12-34-56-78-90").
bool is_mac(std::string_view s) {
  std::size_t digits = 0;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (std::isxdigit(static_cast<unsigned char>(c))) ++digits;
    else if ((c != '-' && c != ':') || i % 3 != 2) return false;
  }
  return digits == 12 && (s.size() == 12 || s.size() == 17);
}

// A chassis or port ID: 1..255 bytes of text without control characters (UTF-8 was checked).
bool is_identifier(std::string_view s) {
  if (s.empty() || s.size() > kMaxIdentifierBytes) return false;
  for (char c : s)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) return false;
  return true;
}

HeldParse refuse(std::string code, std::string message) {
  HeldParse p;
  p.error = std::move(code);
  p.message = std::move(message);
  return p;
}

// The RFC 6155 device element and our identifiers in it. Returns an error message, or empty.
std::string read_device(const xmlNode* device, HeldRequest& r) {
  for (const xmlNode* c = device->children; c; c = c->next) {
    if (c->type != XML_ELEMENT_NODE) continue;
    const std::string value = text_of(c);
    if (is(c, kHeldIdNamespace, "ip")) {
      if (!r.ip.empty()) continue;
      r.ip = normal_ip(value);
      if (r.ip.empty()) return "<ip> '" + excerpt(value) + "' is not an IPv4 or IPv6 address";
    } else if (is(c, kHeldIdNamespace, "mac")) {
      if (!is_mac(value)) return "<mac> '" + excerpt(value) + "' is not six hex pairs";
      if (r.mac.empty()) r.mac = value;
    } else if (is(c, kHeldLyncIdNamespace, "bssid")) {
      if (!is_mac(value)) return "<bssid> '" + excerpt(value) + "' is not six hex pairs";
      if (r.bssid.empty()) r.bssid = value;
    } else if (is(c, kHeldLyncIdNamespace, "chassis")) {
      if (!is_identifier(value)) return "<chassis> '" + excerpt(value) + "' is empty, longer than 255 bytes or holds a control character";
      if (r.chassis.empty()) r.chassis = value;
    } else if (is(c, kHeldLyncIdNamespace, "port")) {
      if (!is_identifier(value)) return "<port> '" + excerpt(value) + "' is empty, longer than 255 bytes or holds a control character";
      if (r.port.empty()) r.port = value;
    }
    // Other identifiers (RFC 6155's nai, uri, fqdn, duid...) place nobody in an enterprise LIS: ignored.
  }
  if (!r.port.empty() && r.chassis.empty()) return "<port> '" + excerpt(r.port) + "' names no switch; send <chassis> with it";
  return {};
}

std::string held_error(const std::string& code, const std::string& message) {
  return "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<error xmlns=\"" + std::string(kHeldNamespace) + "\" code=\"" + code +
         "\">\n  <message xml:lang=\"en\">" + xml_escape(message) + "</message>\n</error>\n";
}

LocationOutcome found(LocationSource s) {
  switch (s) {
    case LocationSource::wap: return LocationOutcome::found_wap;
    case LocationSource::port: return LocationOutcome::found_port;
    case LocationSource::chassis: return LocationOutcome::found_chassis;
    default: return LocationOutcome::found_subnet;
  }
}

}  // namespace

HeldParse parse_held_request(std::string_view body) {
  if (body.size() > kHeldMaxRequestBytes)
    return refuse("xmlError", "the request is " + std::to_string(body.size()) + " bytes, more than the " + std::to_string(kHeldMaxRequestBytes) + " read");
  if (body.find_first_not_of(" \t\r\n") == std::string_view::npos) return refuse("xmlError", "the request is empty; send a locationRequest");
  if (const auto at = invalid_utf8_at(body); at != std::string_view::npos)
    return refuse("xmlError", "the request is not UTF-8 at byte " + std::to_string(at));
  // A DOCTYPE is where entities are declared: refusing it before the parser starts keeps entity
  // expansion (billion laughs) and external entities (file or network reads) out entirely.
  if (body.find("<!DOCTYPE") != std::string_view::npos || body.find("<!ENTITY") != std::string_view::npos)
    return refuse("xmlError", "the request has a DOCTYPE or an entity declaration; HELD takes neither");
  init_libxml();
  std::unique_ptr<xmlParserCtxt, CtxtFree> ctxt(xmlNewParserCtxt());
  if (!ctxt) return refuse("xmlError", "the request cannot be parsed: out of memory");
  // NONET: never fetch anything; no NOENT or DTDLOAD: never expand or load an entity.
  std::unique_ptr<xmlDoc, DocFree> doc(xmlCtxtReadMemory(ctxt.get(), body.data(), static_cast<int>(body.size()), nullptr, "UTF-8",
                                                         XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING));
  if (!doc || !ctxt->wellFormed || !ctxt->nsWellFormed || doc->intSubset || doc->extSubset) {
    const xmlError* e = xmlCtxtGetLastError(ctxt.get());
    std::string why = e && e->message ? std::string(e->message) : "it cannot be parsed";
    while (!why.empty() && (why.back() == '\n' || why.back() == '\r')) why.pop_back();
    trim_in_place(why);
    return refuse("xmlError", "the request is not well-formed XML" + (e && e->line > 0 ? " at line " + std::to_string(e->line) : std::string()) + ": " +
                                  excerpt(why, 200));
  }
  const xmlNode* root = xmlDocGetRootElement(doc.get());
  if (!is(root, kHeldNamespace, "locationRequest")) {
    const std::string name = root && root->name ? reinterpret_cast<const char*>(root->name) : "";
    const std::string ns = root && root->ns && root->ns->href ? reinterpret_cast<const char*>(root->ns->href) : "";
    return refuse("unsupportedMessage", "'" + excerpt(name) + "'" + (ns.empty() ? " in no namespace" : " in namespace '" + excerpt(ns) + "'") +
                                            " is not a HELD locationRequest; this LIS answers <locationRequest xmlns=\"" + kHeldNamespace + "\">");
  }
  HeldParse p;
  bool seen_types = false, seen_device = false;
  for (const xmlNode* c = root->children; c; c = c->next) {
    if (is(c, kHeldNamespace, "locationType") && !seen_types) {
      seen_types = true;
      const std::string exact = attribute(c, "exact");
      p.request.exact = exact == "true" || exact == "1";
      // An xs:list: tokens between any XML white space.
      const std::string list = text_of(c);
      std::size_t i = 0;
      while ((i = list.find_first_not_of(" \t\r\n", i)) != std::string::npos) {
        const std::size_t end = std::min(list.find_first_of(" \t\r\n", i), list.size());
        p.request.location_types.push_back(list.substr(i, end - i));
        i = end;
      }
    } else if (is(c, kHeldIdNamespace, "device") && !seen_device) {
      seen_device = true;
      if (std::string why = read_device(c, p.request); !why.empty()) return refuse("badIdentifier", why);
    }
  }
  return p;
}

HeldAnswer answer_held(const Snapshot* snap, std::string_view body, const std::string& peer_ip, const std::string& timestamp, bool may_name_devices) {
  const HeldParse p = parse_held_request(body);
  if (!p.error.empty()) return {held_error(p.error, p.message), LocationOutcome::bad_request};
  // RFC 5985 §4: the requester is the Target. Naming another device (RFC 6155) is for the clients
  // trusted to (§4 of RFC 6155: the LIS authorizes third-party requests). The same answer as for
  // a device nowhere, so a refusal tells nothing of the device named; <mac> locates nothing here.
  const HeldRequest& named = p.request;
  if (!may_name_devices && (!named.bssid.empty() || !named.chassis.empty() || !named.port.empty() || (!named.ip.empty() && named.ip != normal_ip(peer_ip))))
    return {held_error("notLocatable", "this LIS locates a client by its own address only; naming a device (<ip>, BSSID, chassis, port) is for "
                                       "the clients in held_trusted_clients"),
            LocationOutcome::identifier_refused};
  if (!snap) return {held_error("generalLisError", "no location data is in service yet; try again later"), LocationOutcome::lis_error};
  const HeldRequest& r = p.request;
  // Only civic location is served: "any" and "civic" get it, and so does any other list unless
  // it is exact (RFC 5985 §6.1: without exact, the LIS gives what it can).
  bool civic = r.location_types.empty();
  for (const auto& t : r.location_types) civic = civic || t == "any" || t == "civic";
  if (!civic && r.exact)
    return {held_error("cannotProvideLiType", "this LIS provides civic locations only; ask for locationType civic or any"),
            LocationOutcome::cannot_provide_li_type};

  routing::CallFacts f;
  f.bssid = r.bssid;
  f.chassis_id = r.chassis;
  f.port_id = r.port;
  const std::string ip = r.ip.empty() ? normal_ip(peer_ip) : r.ip;
  const Snapshot::SubnetHit hit = ip.empty() ? Snapshot::SubnetHit{} : snap->match_subnet(ip);
  const routing::ElementLocation at = routing::locate_element(*snap, f, hit);
  if (at.source == LocationSource::none)
    return {held_error("notLocatable", "no access point, switch port, switch or subnet of this LIS places the device" +
                                           (ip.empty() ? std::string() : " (address " + ip + ")")),
            LocationOutcome::not_locatable};

  std::string pidf = sip::build_pidf(snap->location(at.location), "", at.method, "", "", "", timestamp);
  if (pidf.rfind("<?xml", 0) == 0) pidf.erase(0, pidf.find('\n') + 1);  // the document's declaration is the response's
  HeldAnswer a;
  a.outcome = found(at.source);
  a.body = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<locationResponse xmlns=\"" + std::string(kHeldNamespace) + "\">\n" + pidf +
           "</locationResponse>\n";
  return a;
}

namespace {

std::string without_brackets(const std::string& address) {
  if (address.size() >= 2 && address.front() == '[' && address.back() == ']') return address.substr(1, address.size() - 2);
  return address;
}

// The media type of a Content-Type header, lower case, without parameters.
std::string media_type(const std::string& header) {
  return to_lower(trim(std::string_view(header).substr(0, header.find(';'))));
}

void plain(http::Response& res, int status, const std::string& text) {
  res.status = status;
  res.set_content(text + "\n", "text/plain; charset=utf-8");
}

}  // namespace

HeldServer::HeldServer(const std::string& address, unsigned short port, const SnapshotSlot& slot, Metrics* metrics, HeldAccess access) {
  const std::string host = without_brackets(address);
  unsigned char buf[sizeof(in6_addr)];
  if (inet_pton(AF_INET, host.c_str(), buf) != 1 && inet_pton(AF_INET6, host.c_str(), buf) != 1)
    throw Error(ErrorKind::usage, "the location service address '" + address + "' is not an IP address",
                "give an IPv4 or IPv6 address such as 10.10.0.5 or [::1]; names are never resolved");
  init_libxml();  // on the starting thread, before any request thread parses

  const auto count = [metrics](LocationOutcome o) {
    if (metrics) metrics->location_request(o);
  };
  // Answered on the listener's thread: a request is microseconds of lookups on a snapshot read
  // through the slot, never a wait; the thread reads every connection without blocking, so a
  // client trickling its request holds no thread another needs.
  // Refusals are logged at most once per 10 s, with how many there were: a scan of identifiers
  // must not flood the log. The handler runs on the listener's thread alone.
  struct Refusals {
    std::chrono::steady_clock::time_point last{};
    std::uint64_t unlogged = 0;
  };
  const auto refusals = std::make_shared<Refusals>();
  const auto trusted = std::make_shared<const std::vector<Cidr>>(std::move(access.trusted_clients));
  const auto on_refused = std::move(access.on_refused);
  const auto handler = [&slot, count, refusals, trusted, on_refused](http::Request& req, http::Respond respond) {
    http::Response res;
    if (req.path != "/" && req.path != "/held") {
      count(LocationOutcome::bad_request);
      plain(res, 404, "no route '" + req.path + "': POST HELD requests to /held");
    } else if (req.method != "POST") {
      count(LocationOutcome::bad_request);
      res.set_header("Allow", "POST");
      plain(res, 405, "HELD takes POST (RFC 5985 section 9)");
    } else if (const std::string type = media_type(req.header("Content-Type")); type != "application/held+xml" && type != "application/xml") {
      count(LocationOutcome::bad_request);
      plain(res, 415, "a HELD request is application/held+xml (RFC 5985 section 9)");
    } else {
      const bool may_name = std::any_of(trusted->begin(), trusted->end(), [&](const Cidr& net) { return cidr_contains(net, req.remote_addr); });
      const HeldAnswer a = answer_held(slot.current().get(), req.body, req.remote_addr, utc_now(), may_name);
      count(a.outcome);
      if (a.outcome == LocationOutcome::identifier_refused && on_refused) {
        ++refusals->unlogged;
        const auto now = std::chrono::steady_clock::now();
        if (refusals->last == std::chrono::steady_clock::time_point{} || now - refusals->last >= std::chrono::seconds(10)) {
          on_refused(req.remote_addr, std::exchange(refusals->unlogged, 0));
          refusals->last = now;
        }
      }
      res.status = 200;
      res.set_header("Cache-Control", "no-store");  // a location is personal: no cache keeps it
      res.set_content(a.body, kHeldContentType);
    }
    respond(std::move(res));
  };
  const auto refusal = [count](http::Response& res) {
    count(LocationOutcome::bad_request);
    plain(res, res.status,
          res.status == 413   ? "the request is larger than 64 KiB"
          : res.status == 408 ? "the request did not arrive whole in time"
                              : "the request was refused (HTTP " + std::to_string(res.status) + ")");
  };
  http::Settings settings;
  settings.what = "the location service";
  settings.max_body_bytes = kHeldMaxRequestBytes;
  // Headers, deadlines and timeouts: http::Settings' defaults (8 KiB, 10 s, 5 s, 5 s).
  settings.max_connections = 1024;
  server_ = std::make_unique<http::Server>(host, port, settings, handler, refusal);
  port_ = server_->port();
}

HeldServer::~HeldServer() { stop(); }

void HeldServer::stop() { server_->stop(); }

}  // namespace e911::runtime
