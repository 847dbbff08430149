// The B2BUA core: calls as a caller leg and outbound legs mapped to each other.
#include "e911/runtime_b2bua.hpp"

#include "e911/call_input.hpp"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <deque>
#include <functional>
#include <random>
#include <sstream>

#include "e911/routing.hpp"
#include "e911/runtime_call_record.hpp"
#include "e911/runtime_log.hpp"
#include "e911/runtime_metrics.hpp"
#include "e911/runtime_notify.hpp"
#include "e911/runtime_registrar.hpp"
#include "e911/sip_build.hpp"
#include "e911/sip_text.hpp"
#include "e911/sip_uri.hpp"

namespace e911::runtime {

namespace {

using Clock = std::chrono::steady_clock;

/// Tags, Call-IDs and branches: 64 random bits as hex (splitmix64 from a random seed).
std::string token() {
  static thread_local std::uint64_t state = std::random_device{}() ^ (static_cast<std::uint64_t>(std::random_device{}()) << 32) ^
                                            static_cast<std::uint64_t>(Clock::now().time_since_epoch().count());
  std::uint64_t z = (state += 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  z ^= z >> 31;
  char out[17];
  std::snprintf(out, sizeof out, "%016llx", static_cast<unsigned long long>(z));
  return out;
}

/// The branch prefix of every request the runtime sends: with our sent-by it tells a request
/// that came back to us (482).
constexpr std::string_view kBranchPrefix = "z9hG4bKe911";

/// RFC 3261 §18.1.1: requests larger than this go over TCP (path MTU 1500 less 200).
using sip::kUdpLimit;

std::int64_t unix_now() { return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count(); }


bool ip_literal(const std::string& host) {
  std::error_code ec;
  (void)asio::ip::make_address(host, ec);
  return !ec;
}

std::string host_port(const std::string& host, int port) {
  return (host.find(':') != std::string::npos ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

/// A header value without its `;tag=` parameter (the tags of each leg are its own).
std::string without_tag(std::string_view value) {
  auto na = sip::parse_name_addr(value);
  if (!na) return std::string(value);
  std::string out;
  if (!na->display.empty()) out += "\"" + na->display + "\" ";
  out += "<" + na->uri_text + ">";
  for (const auto& p : na->params)
    if (!sip::iequals(p.name, "tag")) out += ";" + p.name + (p.has_value ? "=" + p.value : "");
  return out;
}

std::string tag_of(std::string_view value) {
  auto na = sip::parse_name_addr(value);
  return na ? na->tag() : std::string();
}

std::uint32_t cseq_number(const sip::Message& m) {
  std::string_view c = sip::trim(m.first("CSeq").value_or(""));
  c = c.substr(0, c.find_first_of(" \t"));
  std::uint32_t n = 0;
  std::from_chars(c.data(), c.data() + c.size(), n);
  return n;
}

int max_forwards(const sip::Message& m) {
  auto v = m.first("Max-Forwards");
  if (!v) return 70;
  int n = 70;
  std::string_view t = sip::trim(*v);
  std::from_chars(t.data(), t.data() + t.size(), n);
  return n;
}

/// Headers that cross from one leg to the other with a request or a response; everything
/// else (Via, Route, Contact, tags, CSeq, Supported, Require, Session-Expires, ...) is each
/// leg's own.
constexpr std::string_view kCrossing[] = {"Content-Type", "Content-Disposition", "Content-Encoding", "Content-Language", "Priority",
                                          "Geolocation", "Geolocation-Routing", "Accept", "Subject", "Alert-Info", "Call-Info",
                                          "Privacy", "Event", "Subscription-State", "Info-Package", "Reason", "Warning", "Retry-After"};

void copy_crossing(const sip::Message& from, std::string& out) {
  for (const auto& h : from.headers())
    for (std::string_view name : kCrossing)
      if (sip::iequals(h.name, name)) {
        out.append(h.name).append(": ").append(h.value).append("\r\n");
        break;
      }
}

sip::HeaderList crossing_list(const sip::Message& from) {
  sip::HeaderList out;
  for (const auto& h : from.headers())
    for (std::string_view name : kCrossing)
      if (sip::iequals(h.name, name)) {
        out.emplace_back(std::string(h.name), std::string(h.value));
        break;
      }
  return out;
}

/// The part of `m`'s body of content type `wanted` (the whole body when that is its type, or the
/// first such part of a multipart body); nullopt when there is none.
// The body of the part whose Content-Type line names `wanted` (RFC 2046 part headers, then a blank
// line), up to the next line that starts a delimiter ("--") or the end; nullopt when none does.
std::optional<std::string> loose_part(std::string_view body, std::string_view wanted) {
  std::size_t at = 0;
  while (at < body.size()) {
    std::size_t eol = body.find('\n', at);
    if (eol == std::string_view::npos) eol = body.size();
    std::string_view line = sip::trim(body.substr(at, eol - at));
    at = eol + 1;
    const std::size_t colon = line.find(':');
    if (colon == std::string_view::npos || !sip::iequals(sip::trim(line.substr(0, colon)), "Content-Type")) continue;
    std::string_view type = sip::trim(line.substr(colon + 1));
    if (!sip::iequals(sip::trim(type.substr(0, type.find(';'))), wanted)) continue;
    // Its headers end at the first empty line.
    std::size_t start = at;
    while (start < body.size()) {
      std::size_t e = body.find('\n', start);
      if (e == std::string_view::npos) return std::nullopt;
      const bool empty = sip::trim(body.substr(start, e - start)).empty();
      start = e + 1;
      if (empty) break;
    }
    std::size_t end = start;
    while (end < body.size() && body.substr(end, 2) != "--") {
      const std::size_t e = body.find('\n', end);
      end = e == std::string_view::npos ? body.size() : e + 1;
    }
    std::string_view part = body.substr(start, end - start);
    if (part.size() >= 2 && part.substr(part.size() - 2) == "\r\n") part.remove_suffix(2);  // the CRLF before a delimiter is its own
    else if (!part.empty() && part.back() == '\n') part.remove_suffix(1);
    if (part.empty()) return std::nullopt;
    return std::string(part);
  }
  return std::nullopt;
}

std::optional<std::string> part_of(const sip::Message& m, std::string_view wanted) {
  const std::string_view type = sip::trim(m.first("Content-Type").value_or(""));
  auto is = [wanted](std::string_view t) {
    t = sip::trim(t.substr(0, t.find(';')));
    return sip::iequals(t, wanted);
  };
  if (m.body().empty()) return std::nullopt;
  if (is(type)) return std::string(m.body());
  if (type.size() >= 10 && sip::iequals(type.substr(0, 10), "multipart/")) {
    if (auto parts = sip::split_multipart(m.body(), sip::multipart_boundary(type))) {
      for (const auto& p : *parts)
        if (is(p.content_type)) return std::string(p.body);
      return std::nullopt;
    }
    // A multipart body that cannot be split (no boundary, the wrong one, no closing delimiter):
    // the part is looked for by its own Content-Type line, up to the next delimiter line. The
    // caller's SDP was dropped otherwise, and an emergency call reached the provider with no offer
    // while the caller waited for an answer (issue 24).
    return loose_part(m.body(), wanted);
  }
  return std::nullopt;
}

/// The caller's PIDF-LO (RFC 6442): the application/pidf+xml part of a multipart body, or the
/// whole body when that is its type.
std::string pidf_of(const sip::Message& m) { return part_of(m, "application/pidf+xml").value_or(std::string()); }

}  // namespace

/// One side of a dialog as the runtime sees it (RFC 3261 §12): what it needs to send requests
/// into it.
struct Dialog {
  std::string call_id, local_tag, remote_tag;
  std::string local_uri, remote_uri;  ///< From / To values of our requests, without tags
  std::string remote_target;          ///< Request-URI of our requests (the peer's Contact)
  std::vector<std::string> route_set; ///< Route values, in order
  std::uint32_t local_cseq = 1;
  Destination dest;
};

/// A request the runtime sends inside dialog `d` (RFC 3261 §12.2.1.1): our Via, From and To
/// with their tags, Call-ID, `cseq` with `method`, the route set, then `extra` (whole header
/// lines) and `body`. Empty when no transport serves the dialog's peer. The one builder of
/// every ACK, BYE and relayed request, so they cannot drift apart.
static std::string dialog_request(const Chain& chain, const Dialog& d, std::string_view method, std::uint32_t cseq, int max_forwards,
                                  std::string_view extra = {}, std::string_view body = {}) {
  auto local = chain.local(d.dest);
  if (!local) return {};
  std::string m;
  m.reserve(512 + extra.size() + body.size());
  m.append(method).append(" ").append(d.remote_target).append(" SIP/2.0\r\n");
  m.append("Via: SIP/2.0/").append(local->first).append(" ").append(local->second).append(";branch=").append(kBranchPrefix).append(token()).append(";rport\r\n");
  m.append("Max-Forwards: ").append(std::to_string(max_forwards)).append("\r\n");
  m.append("From: ").append(d.local_uri).append(";tag=").append(d.local_tag).append("\r\n");
  m.append("To: ").append(d.remote_uri);
  if (!d.remote_tag.empty()) m.append(";tag=").append(d.remote_tag);
  m.append("\r\nCall-ID: ").append(d.call_id).append("\r\n");
  m.append("CSeq: ").append(std::to_string(cseq)).append(" ").append(method).append("\r\n");
  for (const auto& route : d.route_set) m.append("Route: ").append(route).append("\r\n");
  m.append(extra);
  m.append("Content-Length: ").append(std::to_string(body.size())).append("\r\n\r\n").append(body);
  return m;
}

/// Where one outbound leg goes.
struct Target {
  std::string label;        ///< for the record: "trunk 'pstn-gateway'", "contact sip:bob@..."
  std::string request_uri;
  std::string to;           ///< the To value of the INVITE
  Destination dest;
  bool trunk = false;
  std::string route, trunk_name;
  int failover_seconds = 0; ///< 0: no failover timer
  bool forward_pai = false;
  bool parallel = false;    ///< forked with the targets after it that are parallel too
  bool switched_to_tcp = false;  ///< over 1300 bytes: sent over TCP though the target is UDP
  bool keep_udp = false;         ///< the TCP attempt failed: this one stays on UDP
  bool tls_fallback = false;     ///< a TLS trunk an emergency call may try again over TCP (RFC 6881 SP-31)
  int tls_fallback_port = 0;     ///< the trunk's TCP port for that
  bool fell_back = false;        ///< this is that try, TLS having failed
  std::size_t attempt = 0;       ///< a trunk's: which attempt of the decision it is
  std::string degraded;     ///< how its INVITE was made to fit max_message (sip::TrunkInvite::degraded)
  std::string error;        ///< why it cannot be tried (then it fails at once)
};

struct B2bua::Branch {
  Target target;
  std::optional<sip::TransactionKey> tx;
  Dialog dialog;             ///< toward this leg; remote tag, target and routes from its answer
  bool provisional = false;  ///< a 101-199 came: it rings
  bool done = false;         ///< a final answer, a timeout or a transport error ended it
  bool cancel_wanted = false;
  std::uint32_t invite_cseq = 1;
  int status = 0;
  std::string reason;
  TimerWheel::Handle failover;
  Clock::time_point started;
};

struct B2bua::Call {
  std::uint64_t id = 0;
  std::string kind = "ordinary";  ///< internal, ordinary, emergency, test
  std::string source;  ///< the INVITE's packet source address, counted in per_source_ until the call ends
  bool refused_by_limit = false;  ///< 503 by a limit: counted and logged by the limits, no call line or record
  Clock::time_point started, answered_at;
  std::string time;
  // The caller's leg.
  sip::TransactionKey a_key;
  sip::Message a_invite;
  std::string a_top_via;
  Dialog a;
  bool a_final = false;
  // The outbound legs.
  std::vector<std::unique_ptr<Branch>> branches;
  std::deque<Target> pending;  ///< targets not yet tried, in order
  int winner = -1;
  int best_status = 0;
  std::string best_reason;
  sip::HeaderList best_headers;
  std::string failure_detail;
  // The 2xx to the caller, sent again (UDP) until its ACK (RFC 3261 §13.3.1.4).
  std::string a_2xx;
  TimerWheel::Handle a_2xx_timer;
  sip::Duration a_2xx_interval{0}, a_2xx_elapsed{0};
  bool a_acked = false;
  std::string b_ack;  ///< the ACK sent to the winner, sent again on its 2xx retransmissions
  TimerWheel::Handle ring;
  // Connected, both sides are asked every dialog_keepalive whether they still hold the dialog
  // (an OPTIONS in it): a side that answers 481 or 408, or not at all, is gone, and the call ends.
  TimerWheel::Handle keepalive;
  bool probing[2] = {false, false};  ///< an OPTIONS is out to the caller [0] / the winner [1]
  bool reinviting[2] = {false, false};  ///< a re-INVITE from the caller [0] / the winner [1] awaits its final answer
  // An emergency or test call to the provider: its INVITEs are built from the decision by the
  // builder `call dry-run` shows (sip::build_trunk_invite), so what the operator is shown is
  // what the provider gets.
  std::shared_ptr<routing::Decision> provider;
  routing::CallFacts facts;
  bool notified = false;  ///< the security desk has been sent its MESSAGEs
  bool desk_timed = false;  ///< its first MESSAGE's delay is in desk_notify_seconds
  // A test call (urn:service:test.sos, 933) is answered here, never sent to a PSAP: after the
  // caller's ACK it gets a MESSAGE reading back what an emergency call would send, then BYE.
  bool self_answered = false;
  std::string readback;
  // The record, and the decision's trace on demand.
  CallRecord record;
  std::function<Json()> decision;
  bool ended = false;
};

B2bua::B2bua(Chain& chain) : chain_(chain), elins_(chain.options().callback_window) {
  // OPTIONS pings (Lync's SIP trunk keep-alives): every trunk with options_ping, at its interval,
  // the first one interval after start. A trunk that does not answer, or answers 503 or 408, is
  // tried last by the calls that follow, never skipped: an emergency call still reaches it.
  ping_timer_ = chain_.wheel().start(std::chrono::seconds(1), &B2bua::ping_due, this, 0);
}

void B2bua::ping_due(void* self, std::uint64_t) {
  auto& me = *static_cast<B2bua*>(self);
  me.ping_trunks();
  me.ping_timer_ = me.chain_.wheel().start(std::chrono::seconds(1), &B2bua::ping_due, self, 0);
}

std::vector<std::string> B2bua::trunks_down() const {
  std::vector<std::string> out;
  for (const auto& [name, h] : trunks_)
    if (h.down) out.push_back(name);
  return out;
}

void B2bua::trunk_health(const std::string& trunk, bool up, const std::string& why) {
  auto it = trunks_.find(trunk);
  if (it == trunks_.end()) return;
  TrunkHealth& h = it->second;
  h.in_flight = false;
  if (h.down == !up) return;
  h.down = !up;
  h.why = why;
  if (chain_.options().on_event)
    chain_.options().on_event(up ? "info" : "warn", up ? "trunk '" + trunk + "' answers OPTIONS again (" + why + ")"
                                                      : "trunk '" + trunk + "' is down: " + why + "; calls try it last");
}

void B2bua::ping_trunks() {
  const std::shared_ptr<const Snapshot> snap = chain_.snapshots() ? chain_.snapshots()->current() : nullptr;
  if (!snap) return;
  const auto now = Clock::now();
  for (const Snapshot::TrunkRec& t : snap->trunks()) {
    if (!t.options_ping || !ip_literal(t.host)) {
      trunks_.erase(t.name);
      continue;
    }
    auto [it, fresh] = trunks_.try_emplace(t.name);
    TrunkHealth& h = it->second;
    if (fresh) h.next = now + std::chrono::seconds(std::max(5, t.options_interval));
    if (h.in_flight || now < h.next) continue;
    h.next = now + std::chrono::seconds(std::max(5, t.options_interval));
    const Destination to{sip::Endpoint{t.host, t.port, false}, t.stream, t.tls, t.tls_server_name};
    auto local = chain_.local(to);
    if (!local) continue;
    const std::string target = "sip:" + host_port(t.host, t.port);
    std::string m;
    m.append("OPTIONS ").append(target).append(" SIP/2.0\r\n");
    m.append("Via: SIP/2.0/").append(local->first).append(" ").append(local->second).append(";branch=").append(kBranchPrefix).append(token()).append(";rport\r\n");
    m.append("Max-Forwards: 70\r\n");
    m.append("From: <sip:e911ctl@").append(local->second).append(">;tag=").append(token()).append("\r\n");
    m.append("To: <").append(target).append(">\r\n");
    m.append("Call-ID: ").append(token()).append("@e911ctl\r\n");
    m.append("CSeq: 1 OPTIONS\r\n");
    m.append("Accept: application/sdp\r\n");
    m.append("Content-Length: 0\r\n\r\n");
    const std::string name = t.name;
    h.in_flight = true;
    auto key = chain_.request(std::move(m), to, [this, name](const ClientEvent& e) {
      if (e.kind == ClientEvent::Kind::response) {
        const int status = e.response->status();
        if (status < 200) return;
        const std::string what = std::to_string(status) + " " + std::string(e.response->reason()) + " to OPTIONS";
        return trunk_health(name, status != 503 && status != 408, what);
      }
      trunk_health(name, false, e.kind == ClientEvent::Kind::timeout ? "no answer to OPTIONS (Timer F)" : "transport failure sending OPTIONS");
    });
    if (!key) h.in_flight = false;
  }
}
B2bua::~B2bua() { chain_.wheel().cancel(ping_timer_); }

B2bua::Call* B2bua::find(std::uint64_t id) {
  auto it = calls_.find(id);
  return it == calls_.end() || it->second->ended ? nullptr : it->second.get();
}

void B2bua::answer_a(Call& call, int status, const std::string& reason, const sip::HeaderList& extra, std::string_view body) {
  if (call.a_final) return;
  sip::HeaderList headers = extra;
  if (status > 100) {
    if (auto local = chain_.local(call.a.dest))
      headers.emplace_back("Contact", "<sip:" + local->second + (local->first == "TLS" ? ";transport=tls" : call.a.dest.stream ? ";transport=tcp" : "") + ">");
  }
  std::string response = sip::make_response(call.a_invite, status, reason, call.a.local_tag, headers, call.a_top_via, body);
  if (status >= 200) {
    call.a_final = true;
    pending_.erase(call.a_key);
  }
  if (status >= 200 && status < 300) {
    call.a_2xx = response;
    if (!call.a.dest.stream) {
      // §13.3.1.4: T1, doubling to T2, until the ACK or 64*T1.
      call.a_2xx_interval = chain_.timers().t1;
      call.a_2xx_elapsed = sip::Duration{0};
      chain_.wheel().restart(call.a_2xx_timer, call.a_2xx_interval, &B2bua::retransmit_2xx_due, this, call.id);
    }
  }
  chain_.respond(call.a_key, std::move(response));
}

void B2bua::retransmit_2xx(std::uint64_t id) {
  Call* call = find(id);
  if (!call || call->a_acked) return;
  call->a_2xx_elapsed += call->a_2xx_interval;
  if (call->a_2xx_elapsed >= 64 * chain_.timers().t1) {
    // No ACK: the caller is gone (§13.3.1.4: the UAS ends the dialog).
    call->record.set("note", "no ACK from the caller for the 2xx");
    bye(*call, false);
    bye(*call, true);
    return finish(*call, "failed", 408);
  }
  chain_.respond(call->a_key, call->a_2xx);
  if (chain_.options().metrics) chain_.options().metrics->retransmission();
  call->a_2xx_interval = std::min(2 * call->a_2xx_interval, chain_.timers().t2);
  chain_.wheel().restart(call->a_2xx_timer, call->a_2xx_interval, &B2bua::retransmit_2xx_due, this, id);
}

void B2bua::on_invite(const sip::TransactionKey& key, const sip::Message& invite, const Inbound& in, const std::string& top_via) {
  const auto decide_start = Clock::now();
  auto owned = std::make_unique<Call>();
  Call& call = *owned;
  call.id = next_id_++;
  call.started = decide_start;
  call.time = rfc3339_ms(std::chrono::system_clock::now());  // the log's own format
  call.a_key = key;
  call.a_invite = invite;
  call.a_top_via = top_via;
  call.a.call_id = std::string(invite.first("Call-ID").value_or(""));
  call.a.local_tag = token();
  call.a.remote_tag = tag_of(invite.first("From").value_or(""));
  call.a.local_uri = without_tag(invite.first("To").value_or(""));
  call.a.remote_uri = without_tag(invite.first("From").value_or(""));
  call.a.dest = Destination{in.source, in.stream};
  if (auto contact = invite.first("Contact"))
    if (auto na = sip::parse_name_addr(*contact)) call.a.remote_target = na->uri_text;
  if (call.a.remote_target.empty()) call.a.remote_target = "sip:" + host_port(in.source.host, in.source.port);
  {
    auto rr = invite.values("Record-Route");
    for (auto v : rr) call.a.route_set.emplace_back(v);  // UAS: in order (§12.1.1)
  }
  calls_.emplace(call.id, std::move(owned));
  ++active_;
  call.source = in.source.host;
  per_source_.add(call.source);
  dialogs_[call.a.call_id + '\x1f' + call.a.local_tag] = {call.id, 0};
  pending_[key] = call.id;
  if (Metrics* m = chain_.options().metrics) m->call_started();

  const std::string ruri(invite.uri());
  const std::string from(invite.first("From").value_or(""));
  auto from_na = sip::parse_name_addr(from);
  call.record.set("id", call.id);
  call.record.set("time", call.time);
  call.record.set("call_id", call.a.call_id);
  call.record.set("from", from_na ? from_na->uri_text : from);
  call.record.set("request_uri", ruri);
  call.record.set("source", host_port(in.source.host, in.source.port));
  call.record.set("transport", in.tls ? "tls" : in.stream ? "tcp" : "udp");

  // Shutting down (SIGTERM): new calls go elsewhere, but an emergency call is still taken
  // (below, once decide() has said what it is) and the drain waits for it.
  auto refuse_draining = [&] {
    answer_a(call, 503, "Service Unavailable (shutting down)", {{"Retry-After", "5"}});
    finish(call, "rejected", 503);
  };
  const std::shared_ptr<const Snapshot> snap = chain_.snapshots() ? chain_.snapshots()->current() : nullptr;
  if (!snap) {
    answer_a(call, 503, "Service Unavailable (no snapshot in service)", {{"Retry-After", "30"}});
    call.record.set("failure", "no snapshot in service: publish one and start the runtime with --snapshot");
    return finish(call, "failed", 503);
  }
  call.record.set("snapshot", snap->revision());
  const std::vector<std::string> domains = chain_.domains(snap.get());
  const std::int64_t now = unix_now();

  // Who calls: a user of the snapshot by From, else by P-Asserted-Identity; else as written.
  std::string caller = from_na ? from_na->uri_text : std::string();
  const Snapshot::UserRec* caller_user = nullptr;
  if (auto aor = Registrar::aor_of(caller); aor && (caller_user = snap->user(*aor))) caller = *aor;
  if (!caller_user)
    if (auto pai = invite.first("P-Asserted-Identity"))
      if (auto na = sip::parse_name_addr(*pai))
        if (auto aor = Registrar::aor_of(na->uri_text); aor && (caller_user = snap->user(*aor))) caller = *aor;
  call.record.set("caller", caller);
  // Ordinary and internal calls from phones prove who calls (runtime_auth.hpp): 401 or 403 here.
  // Emergency and test calls never have to, and a caller who is no user is dealt with below.
  // Asked once: a second check of the same INVITE would take its nonce count for a replay.
  bool auth_passed = false;
  auto authenticated = [&] {
    if (!caller_user || auth_passed) return true;
    Authenticator::Verdict v = chain_.auth().check(invite, in.source.host, caller, *snap, now);
    if (v) return auth_passed = true;
    call.record.set("failure", v.status == 401 ? std::string("challenged for credentials") : v.reason);
    answer_a(call, v.status, v.reason, v.headers);
    finish(call, "rejected", v.status);
    return false;
  };

  // To whom: a user's SIP URI in a domain served here forks to the user's phones.
  // Where a phone is reached: over TCP the connection it registered on while it is open (the
  // phone may not listen at all, RFC 5626), else its Contact's address when that is an IP
  // literal, else the address its REGISTER came from. Nothing is ever resolved.
  auto binding_destination = [this](const Binding& b) { return reach(b); };
  auto target_user = [&](const std::string& aor, const char* kind = "internal") {
    // A PSAP calling back is never turned away, not even while draining.
    if (chain_.draining() && std::string_view(kind) != "callback") return refuse_draining();
    call.kind = kind;
    if (refused_by_limits(call, std::string_view(kind) == "internal", *snap)) return;
    if (std::string_view(kind) == "internal" && !authenticated()) return;
    call.record.set("callee", aor);
    const auto bindings = chain_.registrar().lookup(aor, now);
    for (const Binding& b : bindings) {
      Target t;
      t.label = "contact " + b.contact;
      t.request_uri = b.contact;
      t.to = call.a.local_uri;
      t.dest = binding_destination(b);
      t.parallel = true;
      call.pending.push_back(std::move(t));
    }
    if (bindings.empty()) {
      call.record.set("failure", "'" + aor + "' has no registered phone");
      answer_a(call, 480, "Temporarily Unavailable");
      return finish(call, "failed", 480);
    }
    chain_.wheel().restart(call.ring, chain_.options().ring_timeout, &B2bua::ring_expired, this, call.id);
    start_next(call);
  };
  auto uri = sip::parse_uri(ruri);
  if (uri && (uri->scheme == sip::Scheme::sip || uri->scheme == sip::Scheme::sips) && uri->has_user && !uri->param("user")) {
    std::string host = uri->host;
    for (auto& c : host) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    const bool ours = std::find(domains.begin(), domains.end(), host) != domains.end();
    if (ours) {
      const std::string aor = "sip:" + uri->user + "@" + host;
      if (snap->user(aor)) return target_user(aor);
      // sip:bob@<our address>: bob of a domain served here.
      for (const std::string& domain : domains)
        if (snap->user("sip:" + uri->user + "@" + domain)) return target_user("sip:" + uri->user + "@" + domain);
      // A name in a domain served here that no user has (a number goes on to decide()).
      if (uri->user.find_first_not_of("0123456789+*#-.()") != std::string::npos) {
        call.record.set("failure", "no user '" + aor + "' in the snapshot");
        answer_a(call, 404, "Not Found");
        return finish(call, "failed", 404);
      }
    }
  }

  // Everything else is a number (or a service URN): decide() on the snapshot.
  routing::CallFacts facts;
  facts.caller = caller;
  facts.source_ip = in.source.host;
  facts.dialled = ruri;
  facts.priority_emergency = sip::iequals(sip::trim(invite.first("Priority").value_or("")), "emergency");
  facts.pidf = pidf_of(invite);
  facts.time = call.time;
  if (!trunks_.empty()) facts.trunks_down = trunks_down();
  routing::Decision d = routing::decide(*snap, facts, false);
  if (Metrics* m = chain_.options().metrics) m->observe_decision(Clock::now() - decide_start);
  call.kind = d.call_type();
  call.record.set("dialled", d.normalized);
  if (!d.caller_pidf_fault.empty()) caller_pidf_refused(call, d);
  if (call.kind == "emergency") ++emergency_;
  if (d.emergency || d.test_call) refused_by_limits(call, false, *snap);  // never refused: counted past a limit
  if (d.test_call && !d.test_line) return answer_test_call(call, facts, snap);
  if (d.emergency && d.elin_mode) {
    // The ELIN this call goes out with (DOMAIN.md §5): decide() names the location's first; the
    // runtime, which knows which are in use, takes the first free one, else the one idle longest.
    // The PSAP will call it back: remember whom it stands for now.
    const auto all = snap->location_elins(d.location.index());
    std::string why;
    if (const std::size_t i = elins_.pick(all, caller, Clock::now(), &why); i < all.size()) {
      d.callback = all[i];
      call.record.set("elin_choice", why);
    }
    call.record.set("elin", d.callback);
    elins_.map(d.callback, caller, std::vector<std::string>(d.notify.begin(), d.notify.end()), Clock::now());
  }
  if (!d.emergency) {
    // A call to an ELIN the runtime has sent: the PSAP calling back. Within the callback window
    // it reaches the last caller sent with it, later that call's security desk (DOMAIN.md §5).
    // The PSAP calls through the provider, so only a trunk's host or a trusted network is taken
    // for it: anyone else dialling the ELIN would ring the emergency caller. That call goes on
    // as an ordinary call to the number dialled.
    auto cb = elins_.callback(d.normalized, Clock::now());
    if (cb && !chain_.auth().trusted(in.source.host, *snap)) {
      cb.reset();
      call.record.set("elin_callback_refused", "from " + in.source.host + ", no trunk's host and in no trusted network: an ordinary call");
      if (Metrics* m = chain_.options().metrics) m->elin_callback_refused();
      chain_.limit_log().refused("elin callback " + in.source.host,
                                 "call to ELIN " + d.normalized + " from " + in.source.host +
                                     " not taken as the PSAP's callback (no trunk's host, in no trusted network): an ordinary call");
    }
    if (cb) {
      call.record.set("elin", d.normalized);
      if (cb->in_window) {
        call.record.set("callback_for", cb->caller);
        return target_user(cb->caller, "callback");
      }
      for (const std::string& desk : cb->desks)
        if (auto aor = Registrar::aor_of(desk); aor && snap->user(*aor)) {
          call.record.set("callback_for", "security desk (the callback window has passed)");
          return target_user(*aor, "callback");
        }
      call.record.set("failure", "ELIN " + d.normalized + ": the callback window has passed and no security desk is a user here");
      answer_a(call, 480, "Temporarily Unavailable");
      return finish(call, "failed", 480);
    }
  }
  if (chain_.draining() && !d.emergency) return refuse_draining();
  if (!d.emergency && !d.test_call && refused_by_limits(call, true, *snap)) return;
  if (!d.emergency && !d.test_call && !authenticated()) return;
  if (!d.emergency && !d.test_call)
    if (const std::string* user = snap->user_by_line(d.normalized)) return target_user(*user);
  if (!d.emergency && !d.test_call && !caller_user) {
    // Only the users of the snapshot may call out (toll fraud); emergency calls are never refused.
    call.record.set("failure", "caller '" + caller + "' is not a user of the snapshot: only users call out");
    answer_a(call, 403, "Forbidden (not a user of this runtime)");
    return finish(call, "rejected", 403);
  }
  if (!d.routable) {
    call.record.set("failure", d.failure);
    answer_a(call, d.emergency ? 503 : 404, d.emergency ? "Service Unavailable (no emergency route)" : "Not Found (no route)");
    return finish(call, "unroutable", d.emergency ? 503 : 404);
  }
  for (const routing::Attempt& a : d.attempts) {
    Target t;
    t.attempt = static_cast<std::size_t>(&a - d.attempts.data());
    const int32_t ti = snap->trunk_index(std::string(a.trunk));
    const Snapshot::TrunkRec* trunk = ti >= 0 ? &snap->trunk_at(ti) : nullptr;
    t.trunk = true;
    t.route = std::string(a.route);
    t.trunk_name = std::string(a.trunk);
    t.label = "trunk '" + t.trunk_name + "' (route '" + t.route + "')";
    std::string number = a.request_uri;
    if (trunk) {
      t.dest = Destination{sip::Endpoint{trunk->host, trunk->port, false}, trunk->stream, trunk->tls, trunk->tls_server_name};
      t.tls_fallback = trunk->tls && trunk->tls_fallback;
      t.tls_fallback_port = trunk->tls_fallback_port;
      t.failover_seconds = trunk->failover_seconds;
      t.forward_pai = trunk->forward_pai;
      if (number.rfind("urn:", 0) == 0 || number.rfind("sip:", 0) == 0 || number.rfind("tel:", 0) == 0) t.request_uri = number;
      else t.request_uri = "sip:" + number + "@" + host_port(trunk->host, trunk->port) + ";user=phone";
      if (!ip_literal(trunk->host)) t.error = "trunk host '" + trunk->host + "' is not an IP address (the runtime resolves no names)";
    } else {
      t.error = "trunk '" + t.trunk_name + "' is not in the snapshot";
    }
    t.to = "<" + t.request_uri + ">";
    call.pending.push_back(std::move(t));
  }
  call.record.set("callback", d.callback);
  if (d.emergency || d.test_call) call.record.set("policy", std::string(d.policy));
  else call.record.set("voice_policy", std::string(d.voice_policy));
  call.record.set("user_name", std::string(d.user_name));
  if (d.emergency || d.test_call) {
    call.facts = facts;
    call.provider = std::make_shared<routing::Decision>(d);
    call.record.set("location_source", std::string(to_string(d.location_source)));
    call.record.set("method", d.method);
    if (d.location) call.record.set_json("location", d.location->to_json());
  }
  // The decision with its trace is computed only when the record is read (/v1/calls): the same
  // pure decide() on the same snapshot and facts gives the same answer, and the hot path builds
  // no trace. A record outliving its snapshot (reloaded since) says so instead.
  call.decision = [weak = std::weak_ptr<const Snapshot>(snap), facts, revision = snap->revision()]() -> Json {
    auto s = weak.lock();
    if (!s) return Json{{"note", "snapshot revision " + std::to_string(revision) + " is no longer loaded: its trace is gone"}};
    return routing::decide(*s, facts, true).to_json();
  };
  start_next(call);
}

void B2bua::caller_pidf_refused(Call& call, const routing::Decision& d) {
  const std::string what = d.location_source == LocationSource::caller_pidf
                               ? "passed on as it is: the LIS has no location for the caller, and some location beats none"
                           : d.location ? "set aside, located by the LIS instead (" + std::string(to_string(d.location_source)) + " location '" +
                                              std::string(d.location.id()) + "')"
                                        : "set aside, and the LIS has no location for the caller: the call goes without one";
  call.record.set("caller_pidf_refused", d.caller_pidf_fault + ": " + what);
  if (chain_.options().on_event)
    chain_.options().on_event("warn", std::string(call.kind == "emergency" ? "emergency call " : "call ") + std::to_string(call.id) + " (Call-ID " +
                                          call.a.call_id + "): " + d.caller_pidf_fault + ": " + what);
}

// Calls in progress hold memory, timers and the loop's time: past max_calls_per_source from one
// address (the trunks' hosts are not limited: a gateway carries many callers) or past max_calls
// in all, an ordinary or internal call gets 503 with Retry-After, before its authentication,
// with no call line or record of its own (a flood writes one log line a source in 10 s, and
// cannot push the emergency calls out of the ring of recent calls). Emergency, test and PSAP
// callback calls are never refused: taken, counted in calls_over_limit_admitted_total and logged.
bool B2bua::refused_by_limits(Call& call, bool may_refuse, const Snapshot& snap) {
  const CoreOptions& o = chain_.options();
  const std::size_t from_source = per_source_.count(call.source);  // this call included
  bool per_source = o.max_calls_per_source != 0 && from_source > o.max_calls_per_source;
  if (per_source) {
    std::error_code ec;
    const auto source = asio::ip::make_address(call.source, ec);
    for (const auto& trunk : snap.trunks()) {
      std::error_code tec;
      if (!ec && asio::ip::make_address(trunk.host, tec) == source && !tec) per_source = false;
    }
  }
  const bool total = o.max_calls != 0 && active_ > o.max_calls;
  if (!per_source && !total) return false;
  const std::string why = per_source ? std::to_string(from_source - 1) + " calls in progress from that address (max_calls_per_source " +
                                           std::to_string(o.max_calls_per_source) + ")"
                                     : std::to_string(active_ - 1) + " calls in progress (max_calls " + std::to_string(o.max_calls) + ")";
  const char* limit = per_source ? "max_calls_per_source" : "max_calls";
  if (!may_refuse) {
    if (o.metrics) o.metrics->call_over_limit_admitted(per_source);
    chain_.limit_log().refused(std::string("taken past ") + limit + " " + call.source,
                               call.kind + " call from " + call.source + " taken though past a limit, as every " + call.kind + " call is: " + why);
    return false;
  }
  if (o.metrics) o.metrics->call_refused(per_source);
  chain_.limit_log().refused(std::string(limit) + (per_source ? " " + call.source : std::string()),
                             call.kind + " call from " + call.source + " refused (503): " + why);
  call.refused_by_limit = true;
  answer_a(call, 503, per_source ? "Service Unavailable (too many calls from this address)" : "Service Unavailable (too many calls in progress)",
           {{"Retry-After", "10"}});
  finish(call, "rejected", 503);
  return true;
}

void B2bua::start_next(Call& call) {
  if (call.ended || call.a_final) return;
  // A run of parallel targets (a user's phones) starts together; a trunk alone.
  while (!call.pending.empty()) {
    Target t = std::move(call.pending.front());
    call.pending.pop_front();
    const bool parallel = t.parallel;
    auto b = std::make_unique<Branch>();
    b->target = std::move(t);
    call.branches.push_back(std::move(b));
    start_branch(call, call.branches.size() - 1);
    if (!find(call.id) || call.a_final) return;
    if (!parallel || call.pending.empty() || !call.pending.front().parallel) break;
  }
}

void B2bua::start_branch(Call& call, std::size_t index) {
  Branch& b = *call.branches[index];
  b.started = Clock::now();
  if (!b.target.error.empty()) return branch_failed(call, index, 503, b.target.error, true);
  auto local = chain_.local(b.target.dest);
  if (!local) return branch_failed(call, index, 503, "no transport for " + b.target.dest.to.host, true);
  const std::string& transport = local->first;
  const std::string& sent_by = local->second;
  b.dialog.call_id = token() + "@e911ctl";
  b.dialog.local_tag = token();
  b.dialog.dest = b.target.dest;
  b.dialog.remote_target = b.target.request_uri;
  b.dialog.remote_uri = b.target.to;
  const sip::Message& a = call.a_invite;
  // From: the caller; on a trunk, its callback number when it has one (Lync's Mediation Server
  // presents the line URI), with P-Asserted-Identity when the trunk wants it.
  std::string from = call.a.remote_uri;
  const std::string callback(call.record.str("callback"));
  if (b.target.trunk && !callback.empty()) {
    std::string host = "invalid";
    if (auto na = sip::parse_name_addr(call.a.remote_uri); na && !na->uri.host.empty()) host = na->uri.host;
    const std::string name(call.record.str("user_name"));
    from = (name.empty() ? "" : "\"" + name + "\" ") + "<sip:" + callback + "@" + host + ";user=phone>";
  }
  b.dialog.local_uri = from;
  std::string m;
  if (call.provider && b.target.trunk) {
    // To the provider: the dry run's INVITE, with this call's identifiers and addresses.
    sip::InviteContext ctx;
    ctx.call_id = b.dialog.call_id;
    ctx.tag = b.dialog.local_tag;
    ctx.branch = std::string(kBranchPrefix) + token();
    ctx.sent_by = sent_by;
    ctx.sdp = part_of(a, "application/sdp").value_or(std::string());  // none: a delayed offer
    ctx.attempt = b.target.attempt;
    ctx.keep_udp = b.target.keep_udp;
    ctx.tls_fallback = b.target.fell_back;
    ctx.max_message = chain_.limits().max_message;
    sip::TrunkInvite inv = sip::build_trunk_invite(*call.provider->snapshot, *call.provider, call.facts, ctx);
    if (inv.text.empty()) return branch_failed(call, index, 500, "the INVITE could not be built", true);
    if (inv.text.size() > ctx.max_message)
      return branch_failed(call, index, 500, "the INVITE would be " + std::to_string(inv.text.size()) + " bytes, over max_message " +
                                                 std::to_string(ctx.max_message) + " even without a location", true);
    if (!inv.degraded.empty()) {
      b.target.degraded = std::move(inv.degraded);
      if (chain_.options().on_event)
        chain_.options().on_event("warn", std::string(call.kind == "emergency" ? "emergency call " : "call ") + std::to_string(call.id) + " (Call-ID " +
                                              call.a.call_id + ") to " + b.target.label + ": " + b.target.degraded);
    }
    m = std::move(inv.text);
    b.dialog.local_uri = inv.from;
    b.dialog.remote_uri = inv.to;
    b.dialog.remote_target = inv.request_uri;
    b.target.request_uri = inv.request_uri;
    b.target.dest.stream = inv.stream;
    b.target.switched_to_tcp = inv.switched_to_tcp;
    b.dialog.dest = b.target.dest;
    return send_branch_invite(call, index, std::move(m), inv.with_pidf);
  }
  m.reserve(1024 + a.body().size());
  m.append("INVITE ").append(b.target.request_uri).append(" SIP/2.0\r\n");
  m.append("Via: SIP/2.0/").append(transport).append(" ").append(sent_by).append(";branch=").append(kBranchPrefix).append(token()).append(";rport\r\n");
  m.append("Max-Forwards: ").append(std::to_string(std::max(0, max_forwards(a) - 1))).append("\r\n");
  m.append("From: ").append(from).append(";tag=").append(b.dialog.local_tag).append("\r\n");
  m.append("To: ").append(b.target.to).append("\r\n");
  m.append("Call-ID: ").append(b.dialog.call_id).append("\r\n");
  m.append("CSeq: 1 INVITE\r\n");
  m.append("Contact: <sip:").append(sent_by).append(b.target.dest.tls ? ";transport=tls" : b.target.dest.stream ? ";transport=tcp" : "").append(">\r\n");
  m.append("Allow: INVITE, ACK, CANCEL, BYE, OPTIONS, UPDATE, INFO, PRACK, MESSAGE, NOTIFY\r\n");
  if (b.target.trunk && b.target.forward_pai && !callback.empty())
    m.append("P-Asserted-Identity: <").append(callback[0] == '+' ? "tel:" + callback : "sip:" + callback + "@invalid;user=phone").append(">\r\n");
  if (call.kind == "emergency" && !a.first("Priority")) m.append("Priority: emergency\r\n");
  copy_crossing(a, m);
  m.append("Content-Length: ").append(std::to_string(a.body().size())).append("\r\n\r\n").append(a.body());
  if (!b.target.dest.stream && !b.target.keep_udp && m.size() > kUdpLimit) {
    // RFC 3261 §18.1.1: a request over 1300 bytes (an INVITE with a PIDF-LO, say) goes over
    // TCP, its Via and Contact saying so. If the peer takes no TCP the attempt is made again
    // over UDP (see on_branch_event): a location is never the reason a call is lost.
    b.target.dest.stream = true;
    b.target.switched_to_tcp = true;
    b.dialog.dest = b.target.dest;
    const std::string via_udp = "Via: SIP/2.0/UDP ";
    m.replace(m.find(via_udp), via_udp.size(), "Via: SIP/2.0/TCP ");
    const std::string contact = "Contact: <sip:" + sent_by + ">";
    if (auto at = m.find(contact); at != std::string::npos) m.replace(at, contact.size(), "Contact: <sip:" + sent_by + ";transport=tcp>");
  }
  send_branch_invite(call, index, std::move(m), false);
}

void B2bua::send_branch_invite(Call& call, std::size_t index, std::string m, bool with_pidf) {
  Branch& b = *call.branches[index];
  b.dialog.local_cseq = 1;
  b.invite_cseq = 1;
  dialogs_[b.dialog.call_id + '\x1f' + b.dialog.local_tag] = {call.id, index + 1};
  const std::uint64_t id = call.id;
  const std::size_t bytes = m.size();
  b.tx = chain_.request(std::move(m), b.target.dest, [this, id, index](const ClientEvent& e) { on_branch_event(id, index, e); });
  if (!b.tx) return branch_failed(call, index, 500, "the INVITE (" + std::to_string(bytes) + " bytes) could not be sent", true);
  if (Metrics* mt = chain_.options().metrics) mt->transaction_started(true);
  CallRecord::Attempt& attempt = record_attempt(call, b);
  if (call.provider) attempt.pidf_lo = with_pidf ? 1 : 0;
  // The desk is told at the moment the call leaves (never before a trunk has it, never after).
  if (call.provider && !call.notified) {
    if (Metrics* mt = chain_.options().metrics; mt && call.kind == "emergency") mt->observe_emergency_invite(Clock::now() - call.started);
    notify_desk(call);
  }
  if (b.target.failover_seconds > 0) {
    // Lync's fast failover: no ringing answer within the trunk's time moves to the next trunk.
    chain_.wheel().restart(b.failover, std::chrono::seconds(b.target.failover_seconds), &B2bua::failover_expired, this,
                           (id << 16) | (index & 0xffff));
  }
}

CallRecord::Attempt& B2bua::record_attempt(Call& call, const Branch& b) {
  CallRecord::Attempt& attempt = call.record.attempts.emplace_back();
  attempt.target = b.target.label;
  attempt.request_uri = b.target.request_uri;
  attempt.destination = host_port(b.target.dest.to.host, b.target.dest.to.port);
  attempt.transport = b.target.dest.tls ? "tls" : b.target.dest.stream ? "tcp" : "udp";
  if (b.target.fell_back) attempt.tls_fallback = 1;
  attempt.degraded = b.target.degraded;
  return attempt;
}

void B2bua::branch_failed(Call& call, std::size_t index, int status, const std::string& reason, bool failover) {
  Branch& b = *call.branches[index];
  if (b.done) return;
  b.done = true;
  b.status = status;
  b.reason = reason;
  chain_.wheel().cancel(b.failover);
  // The record: the attempt's outcome. One that failed before its INVITE left (no transport, an
  // INVITE that cannot be built or sent) is recorded here, so that every target tried is listed.
  CallRecord::Attempt* attempt = nullptr;
  for (auto& a : call.record.attempts)
    if (a.target == b.target.label && a.status == 0) {
      attempt = &a;
      break;
    }
  if (!attempt) {
    attempt = &record_attempt(call, b);
    if (chain_.options().on_event && (call.kind == "emergency" || call.kind == "test"))
      chain_.options().on_event("warn", std::string(call.kind == "emergency" ? "emergency call " : "call ") + std::to_string(call.id) + " (Call-ID " +
                                            call.a.call_id + "): " + b.target.label + " skipped: " + reason);
  }
  attempt->status = status;
  attempt->has_reason = true;
  attempt->reason = reason;
  attempt->ms = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - b.started).count();
  if (call.a_final) return;
  // Keep the answer the caller should hear if nothing better comes: 6xx over others, then a
  // definite 4xx (486 busy, 404...) over timeouts and server failures (RFC 3261 §16.7).
  auto rank = [](int s) { return s >= 600 ? 4 : (s >= 400 && s < 500 && s != 408) ? 3 : s >= 300 && s < 400 ? 2 : s == 408 ? 1 : 0; };
  if (call.best_status == 0 || rank(status) > rank(call.best_status)) {
    call.best_status = status;
    call.best_reason = reason;
  }
  const bool emergency = call.kind == "emergency" || call.kind == "test";
  const bool next = failover || status == 408 || (status >= 500 && status < 600) || (emergency && status >= 600 && status != 603);
  if (b.target.trunk && !next) {
    // A definite answer from the far end (busy, not found, declined): the caller hears it.
    cancel_branches(call, -1);
    call.pending.clear();
  }
  for (const auto& other : call.branches)
    if (!other->done) return;  // a parallel leg still rings
  if (!call.pending.empty()) return start_next(call);
  // Every leg failed.
  int status_out = call.best_status ? call.best_status : 408;
  std::string reason_out = call.best_reason;
  if (status_out < 300 || status_out >= 700) status_out = 500;
  // Failures that are ours (timeouts, unreachable trunks) are told as such.
  if (reason_out.find('(') != std::string::npos || reason_out.find(' ') != std::string::npos) {
    reason_out = status_out == 408 ? "Request Timeout" : status_out == 503 ? "Service Unavailable" : reason_out;
  }
  if (reason_out.empty()) reason_out = status_out == 408 ? "Request Timeout" : "Service Unavailable";
  call.record.set("failure", "every attempt failed");
  answer_a(call, status_out, reason_out, call.best_headers);
  const std::string outcome = status_out == 486 || status_out == 600 ? "busy" : status_out == 408 || status_out == 480 ? "no-answer" : "failed";
  finish(call, outcome, status_out);
}

void B2bua::cancel_branches(Call& call, int except) {
  for (std::size_t i = 0; i < call.branches.size(); ++i) {
    if (static_cast<int>(i) == except) continue;
    Branch& b = *call.branches[i];
    if (b.done) continue;
    b.cancel_wanted = true;
    chain_.wheel().cancel(b.failover);
    if (b.tx) chain_.cancel(*b.tx);  // not sendable yet: sent when its first provisional comes
  }
}

void B2bua::on_branch_event(std::uint64_t id, std::size_t index, const ClientEvent& e) {
  auto it = calls_.find(id);
  if (it == calls_.end()) return;
  Call& call = *it->second;
  if (index >= call.branches.size()) return;
  Branch& b = *call.branches[index];
  if (e.kind == ClientEvent::Kind::timeout) return branch_failed(call, index, 408, "no final answer (Timer B)", true);
  if (e.kind == ClientEvent::Kind::transport_error) {
    if (b.target.switched_to_tcp && !call.a_final) {
      // The peer took no TCP for a large request: the same target once more, over UDP.
      Target again = b.target;
      again.dest.stream = false;
      again.switched_to_tcp = false;
      again.keep_udp = true;
      again.label += " over UDP";
      call.pending.push_front(std::move(again));
    }
    const std::string why = b.target.dest.tls ? chain_.transport_failure(b.target.dest) : std::string();
    if (b.target.tls_fallback && call.kind == "emergency" && !call.a_final) {
      // RFC 6881 SP-31: an emergency call is never lost to TLS. The same trunk at once, over TCP.
      Target again = b.target;
      again.dest.tls = false;
      again.dest.tls_name.clear();
      again.dest.to.port = again.tls_fallback_port;
      again.tls_fallback = false;
      again.fell_back = true;
      again.label += " over TCP";
      call.pending.push_front(std::move(again));
      call.record.set_json("tls_fallback", Json{{"trunk", b.target.trunk_name}, {"reason", why.empty() ? "transport failure" : why}});
      if (Metrics* mt = chain_.options().metrics) mt->tls_fallback();
      if (chain_.options().on_event)
        chain_.options().on_event("warn", "TLS to trunk '" + b.target.trunk_name + "' failed (" + (why.empty() ? "transport failure" : why) +
                                              "): the emergency call is tried again over TCP port " + std::to_string(b.target.tls_fallback_port) +
                                              " (RFC 6881 SP-31)");
    }
    return branch_failed(call, index, 503, why.empty() ? "transport failure" : why, true);
  }
  const sip::Message& r = *e.response;
  const int status = r.status();
  if (status < 200) {
    if (status == 100) return;
    b.provisional = true;
    chain_.wheel().cancel(b.failover);
    if (b.cancel_wanted || call.ended) {
      if (b.tx) chain_.cancel(*b.tx);
      return;
    }
    // RFC 3261 §16.6 step 11 (Timer C): a trunk that rings gets ring_timeout from its latest
    // provisional answer; then it is cancelled and the next trunk tried. Without it a trunk that
    // dies after ringing (a UDP peer: no connection tells) would hold the call for ever.
    if (b.target.trunk)
      chain_.wheel().restart(b.failover, chain_.options().ring_timeout, &B2bua::trunk_ring_expired, this,
                             (call.id << 16) | (index & 0xffff));
    if (call.a_final) return;
    // §12.1: an early dialog; the caller hears the ringing (with early media when it has a body).
    answer_a(call, status, std::string(r.reason()), crossing_list(r), r.body());
    return;
  }
  if (status < 300) {
    // A 2xx: the winner, unless another leg won, the call was cancelled or already answered.
    const std::string to_tag = tag_of(r.first("To").value_or(""));
    if (call.winner == static_cast<int>(index)) {
      // A retransmission of the winner's 2xx: our ACK was lost (or not sent yet: the caller's ACK comes).
      if (!call.b_ack.empty()) chain_.send(b.dialog.dest, call.b_ack);
      return;
    }
    b.dialog.remote_tag = to_tag;
    if (auto contact = r.first("Contact"))
      if (auto na = sip::parse_name_addr(*contact)) b.dialog.remote_target = na->uri_text;
    b.dialog.route_set.clear();
    auto rr = r.values("Record-Route");
    for (auto v = rr.rbegin(); v != rr.rend(); ++v) b.dialog.route_set.emplace_back(*v);  // UAC: reversed (§12.1.2)
    if (call.winner >= 0 || call.a_final || call.ended) {
      // Too late: acknowledge and hang up this leg.
      Dialog& d = b.dialog;
      if (std::string ack = dialog_request(chain_, d, "ACK", b.invite_cseq, 70); !ack.empty()) chain_.send(d.dest, std::move(ack));
      b.done = true;
      b.status = status;
      // A BYE in its own transaction; its answer does not matter.
      if (std::string byes = dialog_request(chain_, d, "BYE", ++d.local_cseq, 70); !byes.empty())
        chain_.request(std::move(byes), d.dest, [](const ClientEvent&) {});
      return;
    }
    call.winner = static_cast<int>(index);
    b.done = true;
    b.status = status;
    chain_.wheel().cancel(b.failover);
    chain_.wheel().cancel(call.ring);
    for (auto& a : call.record.attempts)
      if (a.target == b.target.label && a.status == 0) {
        a.status = status;
        a.ms = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - b.started).count();
        break;
      }
    cancel_branches(call, call.winner);
    call.pending.clear();
    call.answered_at = Clock::now();
    call.record.set("answered_by", b.target.label);
    answer_a(call, status, std::string(r.reason()), crossing_list(r), r.body());
    return;
  }
  // 3xx-6xx: the client transaction has sent the ACK.
  if (status >= 300 && status < 400) {
    // Redirects are not followed (a trunk or phone redirecting an emergency call is refused
    // by policy): treated as a failure of this leg.
    return branch_failed(call, index, status, std::string(r.reason()), true);
  }
  if (!call.a_final && (call.best_status == 0 || status == 486 || status == 600 || status >= 600)) call.best_headers = crossing_list(r);
  branch_failed(call, index, status, std::string(r.reason()), b.cancel_wanted);
}

bool B2bua::on_cancel(const sip::TransactionKey& invite) {
  auto it = pending_.find(invite);
  if (it == pending_.end()) return false;
  Call* call = find(it->second);
  if (!call || call->a_final) return false;
  call->record.set("failure", "cancelled by the caller");
  cancel_branches(*call, -1);
  call->pending.clear();
  answer_a(*call, 487, "Request Terminated");
  finish(*call, "cancelled", 487);
  return true;
}

void B2bua::on_ack(const sip::Message& ack) {
  const std::string key = std::string(ack.first("Call-ID").value_or("")) + '\x1f' + tag_of(ack.first("To").value_or(""));
  auto it = dialogs_.find(key);
  if (it == dialogs_.end()) return;
  Call* call = find(it->second.first);
  if (!call || it->second.second != 0 || call->a_acked) return;
  if (call->self_answered) return test_call_acked(*call);
  if (call->winner < 0) return;
  if (cseq_number(ack) != cseq_number(call->a_invite)) return;  // an ACK of a re-INVITE: absorbed
  call->a_acked = true;
  chain_.wheel().cancel(call->a_2xx_timer);
  if (chain_.options().dialog_keepalive.count() > 0)
    chain_.wheel().restart(call->keepalive, chain_.options().dialog_keepalive, &B2bua::keepalive_due, this, call->id);
  // The winner's ACK, with the caller's body (a delayed offer's answer).
  Branch& b = *call->branches[static_cast<std::size_t>(call->winner)];
  Dialog& d = b.dialog;
  std::string crossing;
  copy_crossing(ack, crossing);
  std::string m = dialog_request(chain_, d, "ACK", b.invite_cseq, 70, crossing, ack.body());
  if (m.empty()) return;
  call->b_ack = m;
  chain_.send(d.dest, std::move(m));
}

void B2bua::bye(Call& call, bool to_a) {
  Dialog* d = nullptr;
  if (to_a) {
    d = &call.a;
  } else {
    if (call.winner < 0) return;
    d = &call.branches[static_cast<std::size_t>(call.winner)]->dialog;
  }
  // Toward the caller, our From is its To (with our tag) and our To its From.
  std::string m = dialog_request(chain_, *d, "BYE", ++d->local_cseq, 70);
  if (m.empty()) return;
  chain_.request(std::move(m), d->dest, [](const ClientEvent&) {});
}

bool B2bua::knows_dialog(const sip::Message& request) const {
  const std::string dkey = std::string(request.first("Call-ID").value_or("")) + '\x1f' + tag_of(request.first("To").value_or(""));
  return dialogs_.count(dkey) != 0;
}

void B2bua::on_in_dialog(const sip::TransactionKey& key, const sip::Message& request, const std::string& top_via) {
  const std::string dkey = std::string(request.first("Call-ID").value_or("")) + '\x1f' + tag_of(request.first("To").value_or(""));
  auto it = dialogs_.find(dkey);
  Call* call = it == dialogs_.end() ? nullptr : find(it->second.first);
  const std::size_t side = it == dialogs_.end() ? 0 : it->second.second;
  const bool from_a = side == 0;
  if (!call || (!from_a && static_cast<int>(side - 1) != call->winner) || (from_a && call->winner < 0 && !call->self_answered)) {
    // A late BYE of a leg that lost the race, or no such dialog.
    if (call && !from_a && request.method() == "BYE") return chain_.respond(key, sip::make_response(request, 200, "OK", {}, {}, top_via));
    return chain_.respond(key, sip::make_response(request, 481, "Call/Transaction Does Not Exist", {}, {}, top_via));
  }
  if (request.method() == "BYE") {
    // The call ends whatever the other side says: answered at once, BYE to the other leg.
    chain_.respond(key, sip::make_response(request, 200, "OK", {}, {}, top_via));
    if (from_a && !call->a_acked) {
      call->a_acked = true;
      chain_.wheel().cancel(call->a_2xx_timer);
      // The caller's ACK was lost: the winner still gets its ACK before the BYE, or it would
      // retransmit its 2xx and take the BYE for one outside the dialog it knows.
      if (call->winner >= 0 && call->b_ack.empty()) {
        Branch& b = *call->branches[static_cast<std::size_t>(call->winner)];
        if (std::string ack = dialog_request(chain_, b.dialog, "ACK", b.invite_cseq, 70); !ack.empty()) {
          call->b_ack = ack;
          chain_.send(b.dialog.dest, std::move(ack));
        }
      }
    }
    bye(*call, !from_a);
    call->record.set("ended_by", from_a ? "caller" : "callee");
    return finish(*call, "answered", 200);
  }
  if (call->self_answered) return answer_in_test_call(key, request, top_via);
  relay(*call, from_a, key, request, top_via);
}

void B2bua::relay(Call& call, bool from_a, const sip::TransactionKey& key, const sip::Message& request, const std::string& top_via) {
  Dialog& d = from_a ? call.branches[static_cast<std::size_t>(call.winner)]->dialog : call.a;
  const std::string method(request.method());
  const std::size_t side = from_a ? 0 : 1;
  if (method == "INVITE") {
    // RFC 3261 §14.2: one re-INVITE at a time in a dialog. A second from the same side before the
    // first has its answer gets 500 with Retry-After (0 to 10 s); one crossing a re-INVITE of the
    // other side's gets 491 (glare), and each side tries again after its own random pause.
    if (call.reinviting[side])
      return chain_.respond(key, sip::make_response(request, 500, "Server Internal Error (a re-INVITE is already in progress)", {},
                                                    {{"Retry-After", std::to_string(call.id % 11)}}, top_via));
    if (call.reinviting[1 - side]) return chain_.respond(key, sip::make_response(request, 491, "Request Pending", {}, {}, top_via));
  }
  std::string extra;
  if (method == "INVITE" || method == "UPDATE")
    if (auto local = chain_.local(d.dest)) extra = "Contact: <sip:" + local->second + (local->first == "TLS" ? ";transport=tls" : d.dest.stream ? ";transport=tcp" : "") + ">\r\n";
  copy_crossing(request, extra);
  std::string m = dialog_request(chain_, d, method, ++d.local_cseq, std::max(0, max_forwards(request) - 1), extra, request.body());
  if (m.empty()) return chain_.respond(key, sip::make_response(request, 500, "Server Internal Error", {}, {}, top_via));
  const std::uint64_t id = call.id;
  const std::uint32_t sent_cseq = d.local_cseq;
  auto origin = std::make_shared<sip::Message>(request);
  auto tx = chain_.request(std::move(m), d.dest, [this, id, from_a, key, origin, top_via, sent_cseq](const ClientEvent& e) {
    Call* c = find(id);
    if (!c) return;
    if (origin->method() == "INVITE" && (e.kind != ClientEvent::Kind::response || e.response->status() >= 200)) c->reinviting[from_a ? 0 : 1] = false;
    if (e.kind != ClientEvent::Kind::response) {
      chain_.respond(key, sip::make_response(*origin, e.kind == ClientEvent::Kind::timeout ? 408 : 503,
                                             e.kind == ClientEvent::Kind::timeout ? "Request Timeout" : "Service Unavailable", {}, {}, top_via));
      return;
    }
    const sip::Message& r = *e.response;
    if (r.status() == 100) return;
    if (origin->method() == "INVITE" && r.status() >= 200 && r.status() < 300) {
      // A re-INVITE's 2xx: acknowledged toward its sender at once (a delayed offer in a
      // re-INVITE is not supported: the answer would come in the ACK).
      Dialog& dd = from_a ? c->branches[static_cast<std::size_t>(c->winner)]->dialog : c->a;
      if (std::string ack = dialog_request(chain_, dd, "ACK", sent_cseq, 70); !ack.empty()) chain_.send(dd.dest, std::move(ack));
    }
    sip::HeaderList extra = crossing_list(r);
    if (origin->method() == "INVITE" || origin->method() == "UPDATE") {
      const Dialog& back = from_a ? c->a : c->branches[static_cast<std::size_t>(c->winner)]->dialog;
      if (auto l = chain_.local(back.dest)) extra.emplace_back("Contact", "<sip:" + l->second + (l->first == "TLS" ? ";transport=tls" : back.dest.stream ? ";transport=tcp" : "") + ">");
    }
    chain_.respond(key, sip::make_response(*origin, r.status(), r.reason(), {}, extra, top_via, r.body()));
  });
  if (!tx) return chain_.respond(key, sip::make_response(request, 500, "Server Internal Error", {}, {}, top_via));
  if (method == "INVITE") call.reinviting[side] = true;
}

void B2bua::finish(Call& call, const std::string& outcome, int status) {
  if (call.ended) return;
  call.ended = true;
  --active_;
  per_source_.remove(call.source);
  if (call.kind == "emergency") --emergency_;
  chain_.wheel().cancel(call.ring);
  chain_.wheel().cancel(call.keepalive);
  if (call.a_acked || outcome != "answered") chain_.wheel().cancel(call.a_2xx_timer);
  for (auto& b : call.branches)
    chain_.wheel().cancel(b->failover);
  pending_.erase(call.a_key);
  const auto end = Clock::now();
  call.record.set("kind", call.kind);
  call.record.set("outcome", outcome);
  call.record.set("status", status);
  call.record.set("duration_ms", std::chrono::duration_cast<std::chrono::milliseconds>(end - call.started).count());
  if (call.winner >= 0) call.record.set("talk_ms", std::chrono::duration_cast<std::chrono::milliseconds>(end - call.answered_at).count());
  const CoreOptions& o = chain_.options();
  if (o.metrics) o.metrics->call_ended(call.kind, outcome);
  if (o.on_call && !call.refused_by_limit) o.on_call(call.record);
  if (o.call_log && !call.refused_by_limit) o.call_log->add_text(call.record.json_text(), std::move(call.decision));
  // The dialogs stay a little longer: late messages (a leg's 2xx retransmitted because our
  // ACK was lost, a 2xx racing a CANCEL) still find their call; then it goes. T4 (5 s) is
  // enough: once a call has ended by BYE no peer retransmits a 2xx, and retransmitted
  // requests are absorbed by their own transactions (Timer J, L). Keeping calls for 64*T1
  // instead held 90 MB at 200 calls/s for nothing.
  const std::uint64_t id = call.id;
  chain_.wheel().start(chain_.timers().t4, &B2bua::linger_over, this, id);
}

Destination B2bua::reach(const Binding& b) const {
  Destination d{b.source, b.stream};
  auto contact = sip::parse_uri(b.contact);
  if (contact) {
    if (const sip::Param* t = contact->param("transport")) d.stream = !sip::iequals(t->value, "udp");
    if (d.stream && b.stream && chain_.connected(b.source)) return d;
    if (ip_literal(contact->host)) d.to = sip::Endpoint{contact->host, contact->port ? contact->port : 5060, false};
  }
  return d;
}

// ---------------------------------------------------------------- the security desk
// DOMAIN.md §4: at the moment the emergency call leaves, every notification URI of its location
// policy gets a MESSAGE: at its registered contacts when it is a user served here, else at its
// host (an IP literal: nothing is resolved). Each delivery is its own client transaction, retried
// on timeout, transport failure, 408, 5xx and 6xx; none of it ever waits on or delays the call.

struct B2bua::Delivery {
  std::uint64_t call = 0;
  std::string target;       ///< the policy's notification URI
  std::string request_uri;  ///< the target, or one of its registered contacts
  Destination dest;
  int attempts = 0;
  int status = 0;
  std::string last;          ///< the last failure
  // What the MESSAGE says, held by the delivery itself: a retry after the call has ended (a short
  // call, a desk that was slow) still tells the desk. The decision and facts serve the first
  // attempt only (they may hold a whole snapshot); then the MESSAGE's text is kept, and each retry
  // is that text with a Call-ID, branch and tag of its own (a new request, RFC 3261 §8.2.2.2).
  std::shared_ptr<const routing::Decision> decision;
  std::shared_ptr<const routing::CallFacts> facts;
  std::string text;
  std::string call_id, branch, tag;  ///< the last attempt's, replaced in `text` by the next
  TimerWheel::Handle retry;
  Clock::time_point started;
};

void B2bua::notify_desk(Call& call) {
  if (call.notified || !call.provider) return;
  call.notified = true;
  const routing::Decision& d = *call.provider;
  if (!d.notifies()) return;
  call.record.notifications_said = true;
  if ((!d.webhooks.empty() || !d.emails.empty()) && chain_.options().notify) {
    // Beyond Lync: the same facts as JSON to webhooks and as text to e-mail addresses, on the
    // notifier's own thread (submit never blocks; a full queue is a "dropped" outcome).
    NotifyFacts facts;
    facts.call_id = std::to_string(call.id);
    facts.time = call.time;
    facts.caller_uri = call.facts.caller;
    facts.caller_name = std::string(d.user_name);
    facts.callback = d.callback;
    if (d.location) {
      facts.location = *d.location;
      std::string line;
      for (const std::string* part : {&facts.location.location, &facts.location.house_number, &facts.location.street_name,
                                      &facts.location.street_suffix, &facts.location.city, &facts.location.state,
                                      &facts.location.postal_code, &facts.location.country})
        if (!part->empty()) line += (line.empty() ? "" : part == &facts.location.house_number || part == &facts.location.city ? ", " : " ") + *part;
      facts.location_text = line;
    } else {
      facts.location_text = d.location_source == LocationSource::caller_pidf ? "as sent by the caller's client" : "unknown";
    }
    facts.method = d.method;
    facts.policy = std::string(d.policy);
    if (!d.attempts.empty()) {
      facts.route = std::string(d.attempts.front().route);
      facts.trunk = std::string(d.attempts.front().trunk);
    }
    facts.test = d.test_call;
    std::vector<NotifyTarget> targets;
    for (const std::string& w : d.webhooks) targets.push_back({NotifyKind::webhook, w});
    for (const std::string& e : d.emails) targets.push_back({NotifyKind::email, e});
    chain_.options().notify(facts, targets);
  }
  if (d.notify.empty()) return;
  const std::vector<std::string> domains = chain_.domains(d.snapshot.get());
  const std::int64_t now = unix_now();
  std::shared_ptr<const routing::CallFacts> desk_facts;  // one copy for every MESSAGE of this call
  for (const std::string& target : d.notify) {
    const std::string uri = target.find(':') == std::string::npos ? "sip:" + target : target;
    std::vector<std::pair<std::string, Destination>> to;
    std::string why;
    if (auto parsed = sip::parse_uri(uri)) {
      std::string host = parsed->host;
      for (auto& ch : host) ch = static_cast<char>(sip::ascii_lower(static_cast<unsigned char>(ch)));
      const bool ours = std::find(domains.begin(), domains.end(), host) != domains.end();
      if (ours && parsed->has_user)
        for (const Binding& b : chain_.registrar().lookup("sip:" + parsed->user + "@" + host, now)) to.emplace_back(b.contact, reach(b));
      if (to.empty() && ip_literal(parsed->host)) {
        bool stream = false;
        if (const sip::Param* t = parsed->param("transport")) stream = !sip::iequals(t->value, "udp");
        to.emplace_back(uri, Destination{sip::Endpoint{parsed->host, parsed->port ? parsed->port : 5060, false}, stream});
      }
      if (to.empty())
        why = ours ? "no registered contact, and its host is not an IP address" : "its host is not an IP address (the runtime resolves no names)";
    } else {
      why = "not a SIP URI";
    }
    if (to.empty()) {
      call.record.notifications.push_back({{"kind", "sip"}, {"target", target}, {"outcome", "failed"}, {"attempts", 0}, {"detail", why}});
      if (Metrics* m = chain_.options().metrics) m->notification("sip", "failed");
      continue;
    }
    if (!desk_facts) desk_facts = std::make_shared<const routing::CallFacts>(call.facts);
    for (auto& [request_uri, dest] : to) {
      const std::uint64_t id = next_delivery_++;
      Delivery& del = *(deliveries_[id] = std::make_unique<Delivery>());
      del.call = call.id;
      del.decision = call.provider;
      del.facts = desk_facts;
      del.target = target;
      del.request_uri = request_uri;
      del.dest = dest;
      del.started = Clock::now();
      send_delivery(id);
    }
  }
}

void B2bua::send_delivery(std::uint64_t id) {
  auto it = deliveries_.find(id);
  if (it == deliveries_.end()) return;
  Delivery& del = *it->second;
  auto local = chain_.local(del.dest);
  if (!local) return delivery_done(id, false, "no transport for " + del.dest.to.host);
  ++del.attempts;
  std::string call_id = token() + "@e911ctl", branch = std::string(kBranchPrefix) + token(), tag = token();
  if (del.text.empty()) {
    if (!del.decision || !del.facts) return delivery_done(id, false, "nothing to tell (the call has no decision)");
    sip::NotificationContext ctx;
    ctx.call_id = call_id;
    ctx.sent_by = local->second;
    ctx.transport = del.dest.stream ? "TCP" : "UDP";
    ctx.branch = branch;
    ctx.tag = tag;
    ctx.request_uri = del.request_uri;
    del.text = sip::build_notification(*del.decision, *del.facts, del.target, ctx);
    del.decision.reset();
    del.facts.reset();
  } else {
    // The tokens are random and of fixed length: each occurs once in the headers, never in the body.
    const auto swap = [&](const std::string& prefix, const std::string& old_value, const std::string& value) {
      const std::size_t at = del.text.find(prefix + old_value);
      if (at != std::string::npos) del.text.replace(at + prefix.size(), old_value.size(), value);
    };
    swap("\r\nCall-ID: ", del.call_id, call_id);
    swap(";branch=", del.branch, branch);
    swap(";tag=", del.tag, tag);
  }
  del.call_id = std::move(call_id);
  del.branch = std::move(branch);
  del.tag = std::move(tag);
  auto key = chain_.request(del.text, del.dest, [this, id](const ClientEvent& e) { on_delivery_event(id, e); });
  if (!key) return delivery_done(id, false, "the MESSAGE could not be built");
  if (auto c = calls_.find(del.call); del.attempts == 1 && c != calls_.end() && !c->second->desk_timed) {
    c->second->desk_timed = true;
    if (Metrics* m = chain_.options().metrics) m->observe_desk_notify(Clock::now() - c->second->started);
  }
  if (Metrics* m = chain_.options().metrics) m->transaction_started(true);
}

void B2bua::on_delivery_event(std::uint64_t id, const ClientEvent& e) {
  auto it = deliveries_.find(id);
  if (it == deliveries_.end()) return;
  Delivery& del = *it->second;
  bool retry = true;
  if (e.kind == ClientEvent::Kind::response) {
    const int status = e.response->status();
    if (status < 200) return;
    del.status = status;
    if (status < 300) return delivery_done(id, true, std::to_string(status) + " " + std::string(e.response->reason()));
    del.last = std::to_string(status) + " " + std::string(e.response->reason());
    retry = status == 408 || status >= 500;  // a definite 4xx will not change on its own
  } else {
    del.last = e.kind == ClientEvent::Kind::timeout ? "no answer (Timer F)" : "transport failure";
  }
  if (!retry || del.attempts >= kDeliveryAttempts) return delivery_done(id, false, del.last);
  chain_.wheel().restart(del.retry, kDeliveryRetry, &B2bua::delivery_retry_due, this, id);
}

void B2bua::delivery_retry_due(void* self, std::uint64_t id) { static_cast<B2bua*>(self)->send_delivery(id); }

void B2bua::delivery_done(std::uint64_t id, bool ok, const std::string& detail) {
  auto it = deliveries_.find(id);
  if (it == deliveries_.end()) return;
  Delivery& del = *it->second;
  chain_.wheel().cancel(del.retry);
  Json outcome = {{"kind", "sip"},
                  {"target", del.target},
                  {"contact", del.request_uri},
                  {"destination", host_port(del.dest.to.host, del.dest.to.port)},
                  {"outcome", ok ? "ok" : "failed"},
                  {"attempts", del.attempts},
                  {"detail", detail},
                  {"ms", std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - del.started).count()}};
  if (Metrics* m = chain_.options().metrics) m->notification("sip", ok ? "ok" : "failed");
  auto c = calls_.find(del.call);
  if (c != calls_.end() && !c->second->ended) {
    c->second->record.notifications.push_back(std::move(outcome));
  } else if (chain_.options().on_event) {
    // The call was over before the desk answered: its record is written; this line completes it.
    chain_.options().on_event(ok ? "info" : "warn", "security desk notification of call " + std::to_string(del.call) + " to " + del.target +
                                                        ": " + (ok ? "delivered" : "failed") + " after " + std::to_string(del.attempts) +
                                                        " attempt(s): " + detail);
  }
  deliveries_.erase(it);
}

void B2bua::on_notify_outcome(const DeliveryOutcome& o) {
  std::uint64_t id = 0;
  std::from_chars(o.call_id.data(), o.call_id.data() + o.call_id.size(), id);
  auto c = calls_.find(id);
  if (c != calls_.end() && !c->second->ended) {
    c->second->record.notifications.push_back(o.to_json());
  } else if (chain_.options().on_event) {
    chain_.options().on_event(o.result == DeliveryResult::ok ? "info" : "warn",
                              std::string(to_string(o.kind)) + " notification of call " + o.call_id + " to " + o.target + ": " +
                                  to_string(o.result) + " after " + std::to_string(o.attempts) + " attempt(s)" +
                                  (o.detail.empty() ? "" : ": " + o.detail));
  }
}

// ---------------------------------------------------------------- test calls
// RFC 6881 §15 and Teams' 933: a test call is answered (200) by the runtime, which then reads back
// in a text/plain MESSAGE what an emergency call from the same phone would send: the callback
// number, the location and the route. No PSAP, no trunk, no security desk is involved.

void B2bua::answer_test_call(Call& call, const routing::CallFacts& facts, const std::shared_ptr<const Snapshot>& snap) {
  routing::CallFacts as_emergency = facts;
  as_emergency.dialled = "urn:service:sos";
  const routing::Decision e = routing::decide(*snap, as_emergency, false);
  std::string text = "Emergency test call: nothing was sent to emergency services.\r\nAn emergency call from this phone now would send:\r\n";
  text += "  Callback number: " + (e.callback.empty() ? std::string("none (the PSAP could not call you back)") : e.callback) + "\r\n";
  std::string where;
  if (e.location) {
    const Civic& c = *e.location;
    for (const std::string* part : {&c.location, &c.house_number, &c.pre_directional, &c.street_name, &c.street_suffix, &c.city, &c.state,
                                    &c.postal_code, &c.country})
      if (!part->empty()) where += (where.empty() ? "" : " ") + *part;
  } else if (e.location_source == LocationSource::caller_pidf) {
    where = "the location your phone sent with the call";
  }
  text += "  Location: " + (where.empty() ? std::string("unknown (the PSAP would ask you where you are)") : where) +
          (e.method.empty() ? "" : " (" + e.method + ")") + "\r\n";
  if (e.attempts.empty()) {
    text += "  Route: NONE: " + e.failure + "\r\n";
  } else {
    text += "  Route:";
    for (const auto& a : e.attempts) text += " trunk '" + std::string(a.trunk) + "' (route '" + std::string(a.route) + "')" + (&a == &e.attempts.back() ? "" : ",");
    text += "\r\n";
  }
  std::string desks;
  for (const auto& n : e.notify) desks += (desks.empty() ? "" : ", ") + n;
  text += "  Security desk: " + (desks.empty() ? std::string("none") : desks) + "\r\n";
  call.readback = text;
  call.self_answered = true;
  call.record.set("callback", e.callback);
  call.record.set("policy", std::string(e.policy));
  call.record.set("location_source", std::string(to_string(e.location_source)));
  call.record.set("method", e.method);
  if (e.location) call.record.set_json("location", e.location->to_json());
  if (e.attempts.empty()) call.record.set_null("would_route");
  else call.record.set("would_route", std::string(e.attempts.front().trunk));
  call.record.set("answered_by", "the runtime (test call)");
  // The answer: the caller's media declined (port 0, RFC 3264 §6), so no media is expected.
  std::string sdp = "v=0\r\no=e911ctl 1 1 IN IP4 0.0.0.0\r\ns=emergency test call\r\nc=IN IP4 0.0.0.0\r\nt=0 0\r\n";
  bool any = false;
  if (auto offer = part_of(call.a_invite, "application/sdp")) {
    std::size_t at = 0;
    while ((at = offer->find("m=", at)) != std::string::npos) {
      if (at != 0 && (*offer)[at - 1] != '\n') {
        at += 2;
        continue;
      }
      const std::size_t end = offer->find_first_of("\r\n", at);
      std::istringstream fields(offer->substr(at + 2, end == std::string::npos ? std::string::npos : end - at - 2));
      std::string media, port, proto, fmt;
      fields >> media >> port >> proto >> fmt;
      if (!media.empty() && !proto.empty()) {
        sdp += "m=" + media + " 0 " + proto + " " + (fmt.empty() ? "0" : fmt) + "\r\n";
        any = true;
      }
      at = end == std::string::npos ? offer->size() : end;
    }
  }
  if (!any) sdp += "m=audio 0 RTP/AVP 0\r\n";
  answer_a(call, 200, "OK", {{"Content-Type", "application/sdp"}}, sdp);
}

// A test call has no other leg to relay to: the runtime is the callee. It takes no new media
// (the answer declined every stream) and keeps nothing the caller sends in the dialog.
void B2bua::answer_in_test_call(const sip::TransactionKey& key, const sip::Message& request, const std::string& top_via) {
  const std::string_view method = request.method();
  if (method == "INVITE" || method == "UPDATE")
    return chain_.respond(key, sip::make_response(request, 488, "Not Acceptable Here", {}, {{"Warning", "399 e911ctl \"an emergency test call takes no media\""}}, top_via));
  if (method == "OPTIONS" || method == "INFO" || method == "MESSAGE" || method == "NOTIFY")
    return chain_.respond(key, sip::make_response(request, 200, "OK", {}, {}, top_via));
  chain_.respond(key, sip::make_response(request, 405, "Method Not Allowed", {}, {{"Allow", "INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, UPDATE, MESSAGE, NOTIFY"}}, top_via));
}

void B2bua::test_call_acked(Call& call) {
  call.a_acked = true;
  chain_.wheel().cancel(call.a_2xx_timer);
  std::string m = dialog_request(chain_, call.a, "MESSAGE", ++call.a.local_cseq, 70, "Content-Type: text/plain;charset=utf-8\r\n", call.readback);
  if (!m.empty()) chain_.request(std::move(m), call.a.dest, [](const ClientEvent&) {});
  bye(call, true);
  call.record.set("ended_by", "runtime (read-back sent)");
  finish(call, "answered", 200);
}

void B2bua::ring_expired(void* self, std::uint64_t id) {
  auto& me = *static_cast<B2bua*>(self);
  Call* c = me.find(id);
  if (!c) return;
  c->ring = TimerWheel::Handle{};
  if (c->winner >= 0 || c->a_final) return;
  c->record.set("failure", "no answer within the ring timeout");
  me.cancel_branches(*c, -1);
  c->pending.clear();
  me.answer_a(*c, 408, "Request Timeout");
  me.finish(*c, "no-answer", 408);
}

void B2bua::failover_expired(void* self, std::uint64_t id_and_branch) { static_cast<B2bua*>(self)->expire_branch(id_and_branch, false); }

void B2bua::trunk_ring_expired(void* self, std::uint64_t id_and_branch) { static_cast<B2bua*>(self)->expire_branch(id_and_branch, true); }

void B2bua::expire_branch(std::uint64_t id_and_branch, bool ringing) {
  const std::uint64_t id = id_and_branch >> 16;
  const std::size_t index = id_and_branch & 0xffff;
  Call* c = find(id);
  if (!c || c->a_final || index >= c->branches.size()) return;
  Branch& br = *c->branches[index];
  br.failover = TimerWheel::Handle{};
  // The failover timer is for a trunk that has not answered at all; once it rings, Timer C.
  if (br.done || (!ringing && br.provisional)) return;
  br.cancel_wanted = true;
  if (br.tx) chain_.cancel(*br.tx);
  branch_failed(*c, index, 408,
                ringing ? "rang " + std::to_string(chain_.options().ring_timeout.count()) + " s without an answer (ring_timeout, RFC 3261 Timer C)"
                        : "no answer within the trunk's failover time (" + std::to_string(br.target.failover_seconds) + " s)",
                true);
}

void B2bua::keepalive_due(void* self, std::uint64_t id) { static_cast<B2bua*>(self)->probe_dialogs(id); }

void B2bua::probe_dialogs(std::uint64_t id) {
  Call* call = find(id);
  if (!call || call->winner < 0) return;
  call->keepalive = TimerWheel::Handle{};
  // RFC 5057 §5.1: an OPTIONS inside the dialog, answered 481 or 408 or not at all (a transaction
  // timeout or a transport failure), means the peer holds the dialog no longer; any other answer
  // (200, 405, 501...) proves it does. One probe to each side at a time.
  for (int side = 0; side < 2; ++side) {
    if (call->probing[side]) continue;
    Dialog& d = side == 0 ? call->a : call->branches[static_cast<std::size_t>(call->winner)]->dialog;
    std::string m = dialog_request(chain_, d, "OPTIONS", ++d.local_cseq, 70);
    if (m.empty()) continue;
    call->probing[side] = true;
    auto tx = chain_.request(std::move(m), d.dest, [this, id, side](const ClientEvent& e) {
      Call* c = find(id);
      if (!c) return;
      if (e.kind == ClientEvent::Kind::response && e.response->status() < 200) return;
      c->probing[side] = false;
      std::string gone;
      const bool silent = e.kind != ClientEvent::Kind::response;
      if (e.kind == ClientEvent::Kind::timeout) gone = "no answer";
      else if (e.kind == ClientEvent::Kind::transport_error) gone = "transport failure";
      else if (e.response->status() == 481 || e.response->status() == 408)
        gone = std::to_string(e.response->status()) + " " + std::string(e.response->reason());
      if (gone.empty()) return;
      // An emergency call is never hung up on its caller because the provider's side is silent
      // (an SBC that ignores OPTIONS in a dialog, a congested path): only the provider's 481 or
      // 408 ends it, or a BYE. The caller, if the PSAP is truly gone, hears silence and hangs up.
      if (silent && side == 1 && c->kind == "emergency") {
        if (chain_.options().on_event)
          chain_.options().on_event("warn", "emergency call " + std::to_string(id) + " (Call-ID " + c->a.call_id + "): " + gone +
                                                " from the provider to an in-dialog OPTIONS; the call is kept (only a BYE, 481 or 408 ends it)");
        return;
      }
      dialog_gone(*c, side == 0, gone);
    });
    if (!tx) call->probing[side] = false;
  }
  chain_.wheel().restart(call->keepalive, chain_.options().dialog_keepalive, &B2bua::keepalive_due, this, id);
}

void B2bua::dialog_gone(Call& call, bool caller, const std::string& why) {
  // The side that is gone gets no BYE (it has no dialog to end); the other side does, so a PSAP
  // sees the caller hang up (and may call back) rather than talk to silence.
  bye(call, !caller);
  const std::string who = caller ? "caller" : "callee";
  call.record.set("ended_by", "runtime (the " + who + " no longer holds the dialog: " + why + " to an in-dialog OPTIONS)");
  if (chain_.options().on_event)
    chain_.options().on_event("warn", std::string(call.kind == "emergency" ? "emergency call " : "call ") + std::to_string(call.id) + " (Call-ID " +
                                          call.a.call_id + ") ended: the " + who + " no longer holds the dialog (" + why +
                                          " to an in-dialog OPTIONS); BYE sent to the " + (caller ? "callee" : "caller"));
  finish(call, "answered", 200);
}

void B2bua::retransmit_2xx_due(void* self, std::uint64_t id) { static_cast<B2bua*>(self)->retransmit_2xx(id); }

void B2bua::linger_over(void* self, std::uint64_t id) { static_cast<B2bua*>(self)->end_call(id); }

void B2bua::end_call(std::uint64_t id) {
  auto it = calls_.find(id);
  if (it == calls_.end()) return;
  Call& call = *it->second;
  dialogs_.erase(call.a.call_id + '\x1f' + call.a.local_tag);
  for (auto& b : call.branches) dialogs_.erase(b->dialog.call_id + '\x1f' + b->dialog.local_tag);
  pending_.erase(call.a_key);
  calls_.erase(it);
}

Json B2bua::active_json(std::size_t limit) const {
  std::vector<const Call*> up;
  up.reserve(active_);
  for (const auto& [id, call] : calls_)
    if (!call->ended) up.push_back(call.get());
  std::sort(up.begin(), up.end(), [](const Call* a, const Call* b) { return a->id < b->id; });
  const auto now = Clock::now();
  Json items = Json::array();
  for (const Call* c : up) {
    if (items.size() >= limit) break;
    // Where the call stands: still choosing a leg, ringing, answered but without the caller's
    // ACK, or connected (both sides answered; it ends with a BYE from either).
    const bool ringing = std::any_of(c->branches.begin(), c->branches.end(), [](const auto& b) { return b->provisional && !b->done; });
    const char* state = c->winner >= 0 || c->self_answered ? (c->a_acked ? "connected" : "answered, awaiting the caller's ACK")
                        : ringing                          ? "ringing"
                                                           : "trying";
    Json legs = Json::array();
    for (const auto& b : c->branches)
      legs.push_back({{"target", b->target.label},
                      {"state", b->done ? "ended" : b->provisional ? "ringing" : "trying"},
                      {"status", b->status}});
    items.push_back({{"id", c->id},
                     {"kind", c->kind},
                     {"state", state},
                     {"age_seconds", std::chrono::duration_cast<std::chrono::seconds>(now - c->started).count()},
                     {"from", c->a.remote_uri},
                     {"request_uri", std::string(c->a_invite.uri())},
                     {"source", c->source},
                     {"call_id", c->a.call_id},
                     {"answered_by", c->winner >= 0 ? c->branches[static_cast<std::size_t>(c->winner)]->target.label
                                     : c->self_answered ? std::string("the runtime (test call)")
                                                        : std::string()},
                     {"legs", std::move(legs)}});
  }
  return Json{{"total", active_}, {"emergency", emergency_}, {"items", std::move(items)}};
}

}  // namespace e911::runtime
