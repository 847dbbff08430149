// call test: one real SIP call through a running `e911ctl serve`, the CLI acting as the phone
// (lib/runtime/test_phone), then the runtime's own record of that call read from its admin API:
// the route each attempt took, the location sent and the notifications.
//
// --runtime names the runtime as `runtime status` does (its admin URL, or a runtime of the
// store), or gives its SIP address directly. With an admin URL or a name, the SIP address is
// --sip, else the one the runtime lists in /v1/status; with a SIP address there is no admin API,
// so the record cannot be read.
#include <arpa/inet.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <fstream>
#include <iostream>
#include <thread>

#include "context.hpp"
#include "e911/admin_client.hpp"
#include "e911/call_input.hpp"
#include "e911/error.hpp"
#include "e911/http_client.hpp"
#include "e911/runtime_config.hpp"
#include "e911/runtime_test_phone.hpp"
#include "e911/sip_text.hpp"
#include "e911/sip_uri.hpp"
#include "e911/text.hpp"
#include "render/render.hpp"
#include "runtime_target.hpp"

namespace e911::cli {

namespace {

/// How long the record is read again while the security desk's notifications are under way.
constexpr auto kRecordWait = std::chrono::seconds(5);

struct TestCallOptions {
  RuntimeTarget target;
  std::string sip, transport, local_ip, from, dial, pidf_file, bssid, chassis, port, location_service;
  bool priority_emergency = false;
  double timeout = 30, hold = 1;
  CLI::Option* sip_option = nullptr;
  CLI::Option* transport_option = nullptr;
};

/// A SIP address: where the phone sends.
struct SipAddress {
  std::string host;  ///< an IP literal, IPv6 without brackets
  unsigned short port = 5060;
  std::string transport;  ///< "udp", "tcp", or empty when the address does not say
};

bool ip_literal(const std::string& host) {
  unsigned char buf[16];
  return inet_pton(AF_INET, host.c_str(), buf) == 1 || inet_pton(AF_INET6, host.c_str(), buf) == 1;
}

/// Reads "sip:127.0.0.1:5060;transport=tcp", "udp:127.0.0.1:5060", "tcp:[::1]:5060",
/// "127.0.0.1:5060", "127.0.0.1" or "[::1]". nullopt when `text` is not one of these with an IP
/// literal host; throws Error(usage) when it says it is (sip:, udp:, tcp:) but is not.
std::optional<SipAddress> parse_sip_address(const std::string& text, const std::string& option) {
  SipAddress a;
  std::string rest = text;
  bool said = false;  // the text declares itself a SIP address: a fault in it is an error
  auto refuse = [&](const std::string& why) -> std::optional<SipAddress> {
    if (!said) return std::nullopt;
    throw Error(ErrorKind::usage, option + " '" + excerpt(text) + "': " + why,
                "give the runtime's SIP address as an IP address and port, such as 127.0.0.1:5060, sip:127.0.0.1:5060;transport=tcp or tcp:[::1]:5060");
  };
  auto lower_prefix = [&](const char* p) {
    const std::string prefix(p);
    if (rest.size() < prefix.size()) return false;
    for (std::size_t i = 0; i < prefix.size(); ++i)
      if (std::tolower(static_cast<unsigned char>(rest[i])) != prefix[i]) return false;
    rest.erase(0, prefix.size());
    return said = true;
  };
  if (lower_prefix("sips:")) return refuse("the runtime serves no TLS");
  if (lower_prefix("sip:")) {
    if (const auto semi = rest.find(';'); semi != std::string::npos) {
      std::vector<sip::Param> params;
      if (!sip::parse_params(rest.substr(semi), params)) return refuse("bad URI parameters");
      rest.erase(semi);
      for (const auto& p : params)
        if (sip::iequals(p.name, "transport")) {
          std::string t = p.value;
          for (auto& c : t) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
          if (t != "udp" && t != "tcp") return refuse("transport '" + p.value + "' is not served (udp or tcp)");
          a.transport = t;
        }
    }
    if (rest.find('@') != std::string::npos) return refuse("a user part: give the runtime's address alone");
  } else if (lower_prefix("udp:")) {
    a.transport = "udp";
  } else if (lower_prefix("tcp:")) {
    a.transport = "tcp";
  }
  std::string port;
  if (!rest.empty() && rest.front() == '[') {
    const auto close = rest.find(']');
    if (close == std::string::npos) return refuse("no ']' after the IPv6 address");
    a.host = rest.substr(1, close - 1);
    if (close + 1 < rest.size()) {
      if (rest[close + 1] != ':') return refuse("text after the address");
      port = rest.substr(close + 2);
    }
  } else if (std::count(rest.begin(), rest.end(), ':') == 1) {
    a.host = rest.substr(0, rest.find(':'));
    port = rest.substr(rest.find(':') + 1);
  } else {
    a.host = rest;
  }
  if (!ip_literal(a.host)) return refuse("'" + excerpt(a.host) + "' is not an IP address (the runtime is called at one; no name is resolved)");
  if (!port.empty() || (!a.host.empty() && rest.back() == ':')) {
    if (port.empty() || port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos || std::stoi(port) < 1 || std::stoi(port) > 65535)
      return refuse("port '" + excerpt(port) + "' is not 1 to 65535");
    a.port = static_cast<unsigned short>(std::stoi(port));
  }
  return a;
}

bool is_url(const std::string& s) { return s.rfind("http://", 0) == 0 || s.rfind("https://", 0) == 0; }

/// The SIP address the runtime lists in /v1/status ("udp 127.0.0.1:5060, tcp 127.0.0.1:5060"
/// per transport), for `transport` (empty: UDP first); a wildcard address is called at loopback.
std::optional<SipAddress> listed_address(const Json& status, const std::string& transport) {
  std::vector<SipAddress> found;
  const auto it = status.is_object() ? status.find("listening") : status.end();
  if (it == status.end() || !it->is_array()) return std::nullopt;
  for (const auto& entry : *it) {
    if (!entry.is_string()) continue;
    std::string text = entry.get<std::string>();
    for (std::size_t at = 0; at < text.size();) {
      std::size_t end = text.find(", ", at);
      std::string one = text.substr(at, end == std::string::npos ? std::string::npos : end - at);
      at = end == std::string::npos ? text.size() : end + 2;
      if (const auto sp = one.find(' '); sp != std::string::npos) one[sp] = ':';  // "udp 1.2.3.4:5" as "udp:1.2.3.4:5"
      try {
        if (auto a = parse_sip_address(one, "listening"); a && !a->transport.empty()) found.push_back(*a);
      } catch (const Error&) {
      }
    }
  }
  for (const char* want : {"udp", "tcp"})
    for (auto& a : found)
      if (a.transport == (transport.empty() ? want : transport)) {
        if (a.host == "0.0.0.0") a.host = "127.0.0.1";
        if (a.host == "::") a.host = "::1";
        return a;
      }
  return std::nullopt;
}

std::string read_pidf(const std::string& path) {
  // One byte past the limit, no more: a huge file is refused without holding it.
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(ErrorKind::failure, "cannot read '" + excerpt(path) + "'");
  std::string pidf(routing::kMaxPidfBytes + 1, '\0');
  in.read(pidf.data(), static_cast<std::streamsize>(pidf.size()));
  pidf.resize(static_cast<std::size_t>(in.gcount()));
  if (pidf.size() > routing::kMaxPidfBytes)
    throw Error(ErrorKind::invalid, "PIDF-LO '" + excerpt(path) + "' is more than the " + std::to_string(routing::kMaxPidfBytes) + " bytes a SIP message body may hold",
                "a client's PIDF-LO is a few kilobytes; give the location document alone");
  routing::check_pidf(pidf, path);
  return pidf;
}

/// The runtime's record of the call with `call_id`, read after the call; waits (up to
/// kRecordWait) while the security desk's MESSAGEs are still under way. `note` says why there is
/// none, or what is still missing.
Json read_record(const AdminClient& c, const std::string& call_id, std::string& note) {
  const auto until = std::chrono::steady_clock::now() + kRecordWait;
  Json found;
  for (;;) {
    const Json calls = c.call("GET", "/v1/calls?limit=1000");
    found = nullptr;
    if (calls.is_array())
      for (const auto& r : calls)
        if (r.is_object() && r.value("call_id", "") == call_id) found = r;
    std::size_t want = 0, have = 0;
    if (found.is_object()) {
      if (const auto d = found.find("decision"); d != found.end() && d->is_object() && d->contains("notify") && (*d)["notify"].is_array())
        want = (*d)["notify"].size();
      if (const auto n = found.find("notifications"); n != found.end() && n->is_array()) have = n->size();
    }
    const bool done = found.is_object() && found.contains("outcome") && have >= want;
    if (done || std::chrono::steady_clock::now() >= until) {
      if (!found.is_object()) note = "the runtime at " + c.url + " has no record of Call-ID '" + call_id + "' (restarted, or it keeps fewer calls)";
      else if (have < want) note = std::to_string(want - have) + " of " + std::to_string(want) + " security-desk notification(s) still under way when the record was read";
      return found;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
}

Json model_of(const runtime::PhoneResult& r, const SipAddress& at, const std::string& admin_url, const std::string& from, bool pidf,
              bool priority, const Json& record, const std::string& note) {
  Json events = Json::array();
  for (const auto& e : r.events)
    events.push_back({{"ms", e.ms}, {"direction", e.sent ? "sent" : "received"}, {"message", e.message}, {"transaction", e.cseq_method},
                      {"retransmission", e.retransmission}});
  Json requests = Json::array();
  for (const auto& q : r.requests) requests.push_back({{"ms", q.ms}, {"method", q.method}, {"content_type", q.content_type}, {"body", q.body}});
  const std::string address = (at.host.find(':') != std::string::npos ? "[" + at.host + "]" : at.host) + ":" + std::to_string(at.port);
  Json m = {{"runtime", {{"sip", r.transport + ":" + address}, {"admin", admin_url.empty() ? Json(nullptr) : Json(admin_url)}}},
            {"call_id", r.ids.call_id},
            {"from", from},
            {"request_uri", r.request_uri},
            {"local", (r.ids.local_host.find(':') != std::string::npos ? "[" + r.ids.local_host + "]" : r.ids.local_host) + ":" + std::to_string(r.ids.local_port)},
            {"transport", r.transport},
            {"pidf_lo", pidf},
            {"priority_emergency", priority},
            {"messages", events},
            {"answered", r.answered()},
            {"status", r.status ? Json(r.status) : Json(nullptr)},
            {"reason", r.status ? Json(r.reason) : Json(nullptr)},
            {"answer_ms", r.final_ms >= 0 ? Json(r.final_ms) : Json(nullptr)},
            {"cancelled", r.cancelled},
            {"failure", r.failure.empty() ? Json(nullptr) : Json(r.failure)},
            {"hangup", r.hangup.empty() ? Json(nullptr) : Json(r.hangup)},
            {"requests", requests},
            {"record", record.is_object() ? record : Json(nullptr)},
            {"record_note", note.empty() ? Json(nullptr) : Json(note)}};
  if (r.answered()) m["answer"] = {{"content_type", r.answer_content_type}, {"body", r.answer_body}};
  return m;
}

std::string text_of(const Json& v) { return v.is_null() ? "" : cell_text(v); }

void print_model(std::ostream& out, const Json& m, bool color) {
  out << "== call test: " << m["from"].get<std::string>() << " -> " << m["request_uri"].get<std::string>() << "\n";
  out << "   via " << m["runtime"]["sip"].get<std::string>() << " from " << m["local"].get<std::string>() << (m["pidf_lo"].get<bool>() ? ", PIDF-LO sent" : "")
      << ", Call-ID " << m["call_id"].get<std::string>() << "\n\n";
  std::vector<std::vector<std::string>> rows;
  for (const auto& e : m["messages"]) {
    const bool sent = e["direction"] == "sent";
    std::string what = e["message"].get<std::string>();
    if (!sent && !what.empty() && std::isdigit(static_cast<unsigned char>(what[0])) && e["transaction"] != "INVITE") what += " (" + e["transaction"].get<std::string>() + ")";
    if (e["retransmission"].get<bool>()) what += " (again)";
    rows.push_back({std::to_string(e["ms"].get<std::int64_t>()), (sent ? "-> " : "<- ") + what});
  }
  print_table(out, {"ms", "message"}, rows, color);
  out << "\n";
  if (m["answered"].get<bool>()) {
    out << "answered: " << text_of(m["status"]) << " " << text_of(m["reason"]) << " after " << text_of(m["answer_ms"]) << " ms";
    if (!m["hangup"].is_null()) out << "; " << m["hangup"].get<std::string>();
    out << "\n";
  } else {
    out << "NOT ANSWERED: " << text_of(m["failure"]) << "\n";
  }
  for (const auto& q : m["requests"]) {
    out << "\n== " << q["method"].get<std::string>() << " from the runtime at " << q["ms"].get<std::int64_t>() << " ms";
    if (!q["content_type"].get<std::string>().empty()) out << " (" << q["content_type"].get<std::string>() << ")";
    out << "\n" << q["body"].get<std::string>() << (q["body"].get<std::string>().empty() || q["body"].get<std::string>().back() == '\n' ? "" : "\n");
  }
  if (m.contains("answer") && m["answer"]["content_type"].get<std::string>().rfind("text/", 0) == 0)
    out << "\n== the answer's body (" << m["answer"]["content_type"].get<std::string>() << ")\n" << m["answer"]["body"].get<std::string>() << "\n";

  if (const Json& lr = m["location_request"]; lr.is_object())
    out << "\nlocation from " << lr["service"].get<std::string>() << ": "
        << (lr["located"].get<bool>() ? "located, sent with the call" : "not located (" + text_of(lr["error"]) + "), none sent") << "\n";
  const Json& rec = m["record"];
  if (!rec.is_object()) {
    out << "\nroute, location and notifications: not shown: " << text_of(m["record_note"]) << "\n";
    return;
  }
  out << "\n== the runtime's record: " << text_of(rec.value("kind", Json())) << " call, " << text_of(rec.value("outcome", Json()));
  if (rec.contains("policy")) out << ", policy '" << text_of(rec["policy"]) << "'";
  if (rec.contains("callback") && !rec["callback"].is_null() && !text_of(rec["callback"]).empty()) out << ", callback " << text_of(rec["callback"]);
  out << "\n";
  if (rec.contains("failure")) out << "failure: " << text_of(rec["failure"]) << "\n";
  const Json attempts = rec.value("attempts", Json::array());
  out << "\n== route taken\n";
  if (!attempts.is_array() || attempts.empty()) out << "  no attempt: the runtime answered the call itself\n";
  int i = 1;
  for (const auto& a : attempts) {
    out << "  " << i++ << ". " << text_of(a.value("target", Json())) << " " << text_of(a.value("request_uri", Json())) << " at "
        << text_of(a.value("transport", Json())) << " " << text_of(a.value("destination", Json())) << ": ";
    if (a.contains("status")) out << text_of(a["status"]) << (a.contains("reason") ? " " + text_of(a["reason"]) : "") << (a.contains("ms") ? " after " + text_of(a["ms"]) + " ms" : "");
    else out << "no answer recorded";
    if (a.contains("pidf_lo")) out << (a["pidf_lo"].get<bool>() ? ", PIDF-LO sent" : ", no PIDF-LO");
    out << "\n";
  }
  if (rec.contains("location_source")) {
    const std::string method = rec.contains("method") ? text_of(rec["method"]) : "";
    out << "\n== location sent (source " << text_of(rec["location_source"]) << (method.empty() ? "" : ", method " + method) << ")\n";
    if (rec.contains("location") && rec["location"].is_object()) print_fields(out, rec["location"], color);
    else out << "  none from the location database: the caller's own PIDF-LO, if it sent one, else no location\n";
  }
  if (rec.contains("notifications") && rec["notifications"].is_array()) {
    out << "\n== notifications\n";
    if (rec["notifications"].empty()) out << "  none delivered yet\n";
    for (const auto& n : rec["notifications"]) {
      out << "  " << text_of(n.value("kind", Json())) << " " << text_of(n.value("target", Json())) << ": " << text_of(n.value("outcome", Json()));
      if (n.contains("attempts") && n["attempts"] != 0) out << " after " << text_of(n["attempts"]) << " attempt(s)";
      if (n.contains("detail") && !text_of(n["detail"]).empty()) out << " (" << text_of(n["detail"]) << ")";
      out << "\n";
    }
  }
  if (!m["record_note"].is_null()) out << "\nnote: " << m["record_note"].get<std::string>() << "\n";
}

void run_call_test(const Context& ctx, const TestCallOptions& o) {
  // What the phone sends is checked first, as a dry run checks it.
  if (!sip::parse_uri(o.from) || o.from.find(':') == std::string::npos)
    throw Error(ErrorKind::usage, "--from '" + excerpt(o.from) + "' is not a URI", "give the caller's SIP URI, such as sip:alice@contoso.example");
  if (o.timeout < 1 || o.timeout > 600) throw Error(ErrorKind::usage, "--timeout must be 1 to 600 seconds");
  if (o.hold < 0 || o.hold > 3600) throw Error(ErrorKind::usage, "--hold must be 0 to 3600 seconds");
  std::string pidf = o.pidf_file.empty() ? std::string() : read_pidf(o.pidf_file);
  routing::CallFacts facts;
  facts.caller = o.from;
  facts.dialled = o.dial;
  facts.source_ip = o.local_ip;
  facts.bssid = o.bssid;
  facts.chassis_id = o.chassis;
  facts.port_id = o.port;
  facts.pidf = pidf;
  routing::check_call_facts(facts);
  const std::string local_ip = facts.source_ip;
  Json location_request = nullptr;
  if (!o.bssid.empty() || !o.chassis.empty() || !o.port.empty()) {
    // The runtime learns an access point or a switch port only from the location a client
    // brings: the phone asks the runtime's location service for it, as a Lync client asks its LIS.
    if (!o.pidf_file.empty()) throw Error(ErrorKind::usage, "--pidf and --bssid/--chassis both give the location", "give one of them");
    if (!o.port.empty() && o.chassis.empty()) throw Error(ErrorKind::usage, "--port '" + excerpt(o.port) + "' names no switch", "give --chassis with it");
    if (o.location_service.empty())
      throw Error(ErrorKind::usage, "--bssid, --chassis and --port need --location-service",
                  "the runtime sees no access point or switch port in a call: give the address of its location service (serve --location-service) to ask for the location the phone sends");
    const std::string url = "http://" + runtime::parse_location_service_address(o.location_service).endpoint() + "/held";
    HttpRequest req;
    req.method = "POST";
    req.url = url;
    req.headers = {"Content-Type: application/held+xml"};
    req.body = runtime::held_location_request(local_ip, o.bssid, o.chassis, o.port);
    const HttpAnswer a = http_exchange(req);
    if (a.status == 0) throw Error(ErrorKind::remote, "the location service at " + url + " does not answer: " + a.error, "is the runtime started with --location-service?");
    if (a.status != 200) throw Error(ErrorKind::failure, "the location service at " + url + " answered HTTP " + std::to_string(a.status));
    std::string why;
    if (auto got = runtime::held_pidf(a.body, why)) {
      pidf = *got;
      routing::check_pidf(pidf, url);
    } else if (why.rfind("badIdentifier", 0) == 0) {
      throw Error(ErrorKind::usage, "the location service refused the device identity: " + why);
    }
    location_request = {{"service", url}, {"located", why.empty()}, {"error", why.empty() ? Json(nullptr) : Json(why)}};
    if (!why.empty()) ctx.note("the location service did not locate the phone (" + why + "): the call goes without a PIDF-LO");
  }

  // Where to call, and whether the record can be read afterwards.
  std::optional<SipAddress> at;
  std::optional<AdminClient> admin;
  std::string note;
  if (!is_url(o.target.runtime) && (at = parse_sip_address(o.target.runtime, "--runtime"))) {
    if (o.sip_option->count())
      throw Error(ErrorKind::usage, "--sip is given, and --runtime is a SIP address too", "give the SIP address once; --runtime names the admin API when --sip is given");
    if (o.target.token_option->count())
      throw Error(ErrorKind::usage, "--token-file needs the runtime's admin API, and --runtime is a SIP address",
                  "give --runtime the admin API's URL or a stored runtime's name, and the SIP address with --sip");
    note = "--runtime is a SIP address, so the runtime's admin API is not known: give --runtime its URL or a stored runtime's name, the SIP address with --sip, and a token";
  } else {
    if (o.sip_option->count()) at = parse_sip_address(o.sip, "--sip");
    if (o.sip_option->count() && !at)
      throw Error(ErrorKind::usage, "--sip '" + excerpt(o.sip) + "' is not an IP address and port", "give the runtime's SIP address, such as 127.0.0.1:5060");
    try {
      admin = client_for(ctx, o.target);
    } catch (const Error& e) {
      if (e.kind == ErrorKind::usage || !at) throw Error(e.kind, e.what(), at ? e.hint : "give --sip ADDR:PORT to call without the admin API");
      note = std::string("cannot read the runtime's record of the call: ") + e.what();
    }
    if (!at) {
      try {
        at = listed_address(admin->call("GET", "/v1/status"), o.transport_option->count() ? o.transport : "");
      } catch (const Error& e) {
        throw Error(e.kind, e.what(), "give the runtime's SIP address with --sip, such as --sip 127.0.0.1:5060");
      }
      if (!at) throw Error(ErrorKind::failure, "the runtime at " + admin->url + " lists no " + (o.transport_option->count() ? o.transport + " " : "") + "SIP address it serves",
                           "give it with --sip ADDR:PORT");
    }
  }
  std::string transport = at->transport.empty() ? "udp" : at->transport;
  if (o.transport_option->count()) {
    if (!at->transport.empty() && at->transport != o.transport)
      throw Error(ErrorKind::usage, "--transport " + o.transport + " contradicts the address's " + at->transport, "give the transport once");
    transport = o.transport;
  }

  runtime::PhoneOptions p;
  p.runtime_host = at->host;
  p.runtime_port = at->port;
  p.tcp = transport == "tcp";
  p.local_ip = local_ip;
  p.from = o.from;
  p.dial = o.dial;
  p.pidf = pidf;
  p.priority_emergency = o.priority_emergency;
  p.timeout = std::chrono::milliseconds(static_cast<long long>(o.timeout * 1000));
  p.hold = std::chrono::milliseconds(static_cast<long long>(o.hold * 1000));
  ctx.note("calling " + runtime::dial_uri(p) + " through " + transport + " " + at->host + ":" + std::to_string(at->port));
  const runtime::PhoneResult r = runtime::place_call(p);

  Json record;
  if (admin) {
    try {
      record = read_record(*admin, r.ids.call_id, note);
    } catch (const Error& e) {
      note = std::string("cannot read the runtime's record of the call: ") + e.what();
    }
  }
  Json model = model_of(r, *at, admin ? admin->url : "", o.from, !pidf.empty(), o.priority_emergency, record, note);
  model["location_request"] = location_request;
  ctx.emit("call.test", model, [&](std::ostream& out) { print_model(out, model, ctx.color); });
  if (r.answered()) return;
  // Unreached (nothing listens, nothing answered) is the runtime's absence, 4; an answer that
  // refused the call, or a call cancelled unanswered, is a failed call, 1.
  if (ctx.format == "text") std::cerr << "error: the call was not answered: " << r.failure << "\n";
  throw Exit{r.reached ? 1 : 4};
}

}  // namespace

void register_call_test_command(CLI::App& app, Context& ctx) {
  CLI::App* call = app.get_subcommand("call");
  call->description("dry-run emergency and ordinary calls offline, or test one live through a running runtime");
  CLI::App* cmd = call->add_subcommand("test", "place a real call through a running runtime, as a phone on this machine, and report what it did");
  auto o = std::make_shared<TestCallOptions>();
  o->target.runtime = "http://127.0.0.1:5080";
  o->target.runtime_option = cmd->add_option("--runtime", o->target.runtime,
                                             "the runtime: its SIP address (127.0.0.1:5060, sip:ADDR:PORT;transport=tcp), or its admin API's URL or the "
                                             "name of a runtime of the store, with --sip")
                                 ->envname("E911_RUNTIME")
                                 ->type_name("ADDR|URL|NAME")
                                 ->default_str("http://127.0.0.1:5080");
  o->sip_option = cmd->add_option("--sip", o->sip, "the runtime's SIP address when --runtime names its admin API (default: the first it lists in its status)")
                      ->type_name("ADDR:PORT");
  o->transport_option = cmd->add_option("--transport", o->transport, "udp or tcp (default: the address's, else udp)")->type_name("udp|tcp")->check(CLI::IsMember({"udp", "tcp"}));
  cmd->add_option("--from", o->from, "the caller's SIP URI")->type_name("URI")->required();
  cmd->add_option("--dial", o->dial, "digits dialled (sent as sip:DIGITS@<caller's domain>;user=phone), or a Request-URI such as urn:service:test.sos")
      ->type_name("DIGITS|URI")
      ->required();
  cmd->add_option("--ip", o->local_ip, "the address the phone sends from, one this machine has (default 127.0.0.1, ::1 for an IPv6 runtime)")->type_name("ADDR");
  cmd->add_option("--pidf", o->pidf_file, "a PIDF-LO file the phone sends with the call (RFC 6442 multipart), checked as call dry-run checks it")
      ->type_name("FILE")
      ->check(CLI::ExistingFile);
  cmd->add_option("--bssid", o->bssid, "the access point the phone is on: its location is asked of --location-service and sent with the call");
  cmd->add_option("--chassis", o->chassis, "the LLDP switch the phone is on (with --port), asked of --location-service likewise");
  cmd->add_option("--port", o->port, "the LLDP port ID, with --chassis");
  cmd->add_option("--location-service", o->location_service, "the runtime's location service (serve --location-service), asked for the location of --bssid or --chassis")
      ->type_name("ADDR:PORT");
  cmd->add_flag("--priority-emergency", o->priority_emergency, "the INVITE carries Priority: emergency");
  cmd->add_option("--timeout", o->timeout, "seconds to wait for a final answer before the call is cancelled (1 to 600)")->type_name("SECONDS")->default_str("30");
  cmd->add_option("--hold", o->hold, "seconds an answered call is held before the phone hangs up with BYE (0 to 3600)")->type_name("SECONDS")->default_str("1");
  add_token_file_option(*cmd, o->target);
  add_format_option(*cmd, ctx);
  cmd->callback([&ctx, o] { run_call_test(ctx, *o); });
}

}  // namespace e911::cli
