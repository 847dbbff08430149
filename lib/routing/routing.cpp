#include "e911/routing.hpp"

#include <algorithm>
#include <map>
#include <optional>

#include "e911/call_input.hpp"

namespace e911::routing {

namespace {

// The number part of what was dialled, and whether the form itself says "emergency".
struct Dialled {
  std::string number;
  bool sos_urn = false;
  bool test_urn = false;
  std::string form;  // digits, tel, sip, urn
};

// RFC 3261 §19.1.4 (and RFC 3986 for tel and urn): an escaped character is the character, so
// sip:%39%31%31@host is 911. A '%' not followed by two hex digits stays as it is.
std::string unescape(const std::string& s) {
  if (s.find('%') == std::string::npos) return s;
  const auto hex = [](char c) { return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1; };
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && hex(s[i + 1]) >= 0 && hex(s[i + 2]) >= 0) {
      out += static_cast<char>(hex(s[i + 1]) * 16 + hex(s[i + 2]));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

Dialled parse_dialled(const std::string& d) {
  Dialled r;
  const auto plain = [](char c) { return (c >= '0' && c <= '9') || c == '+' || c == '*' || c == '#'; };
  if (std::all_of(d.begin(), d.end(), plain)) {  // the common case: digits as dialled
    r.form = "digits";
    r.number = d;
    return r;
  }
  const std::string lower = [&] {
    std::string s = d;
    for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
  }();
  if (lower.rfind("urn:service:", 0) == 0) {
    r.form = "urn";
    std::string service = unescape(lower.substr(12));
    for (char& c : service) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    r.test_urn = service.rfind("test.sos", 0) == 0;
    r.sos_urn = !r.test_urn && (service == "sos" || service.rfind("sos.", 0) == 0);
    return r;
  }
  std::string rest = d;
  if (lower.rfind("tel:", 0) == 0) {
    r.form = "tel";
    rest = d.substr(4);
  } else if (lower.rfind("sip:", 0) == 0 || lower.rfind("sips:", 0) == 0) {
    // RFC 4967 dial strings and tel-in-sip: the user part is the number.
    r.form = "sip";
    rest = d.substr(d.find(':') + 1);
    const auto at = rest.find('@');
    if (at != std::string::npos) rest = rest.substr(0, at);
  } else {
    r.form = "digits";
  }
  // Split at ';' before unescaping: an escaped ';' is part of the number, never a parameter.
  rest = unescape(rest.substr(0, rest.find(';')));
  for (char c : rest)
    if ((c >= '0' && c <= '9') || c == '+' || c == '*' || c == '#') r.number += c;
  return r;
}

// The PIDF-LO method of a location the client sent ("Manual" means the user typed it).
std::string pidf_method(const std::string& pidf) {
  const auto tag = pidf.find("method>");
  if (tag == std::string::npos) return "";
  const auto start = tag + 7;
  const auto end = pidf.find('<', start);
  if (end == std::string::npos) return "";
  std::string m = pidf.substr(start, end - start);
  m.erase(0, m.find_first_not_of(" \t\r\n"));
  m.erase(m.find_last_not_of(" \t\r\n") + 1);
  return m;
}

std::string str(const Json* obj, const char* key) {
  if (!obj) return {};
  const auto it = obj->find(key);
  return it != obj->end() && it->is_string() ? it->get<std::string>() : std::string();
}

}  // namespace

const Civic& LocationRef::operator*() const {
  if (!civic_) civic_ = snap_ && index_ >= 0 ? snap_->location(index_) : Civic();
  return *civic_;
}

std::string_view LocationRef::id() const {
  if (civic_) return civic_->id;
  return snap_ ? snap_->location_id(index_) : std::string_view();
}

namespace {
std::string str(std::string_view v) { return std::string(v); }

// Everyone a decision tells of the call, as one line: the SIP URIs as written, then each webhook
// and e-mail address named as such.
std::string notify_targets(const Decision& d) {
  std::string who;
  const auto add = [&](const char* label, std::span<const std::string> list) {
    for (const auto& n : list) who.append(who.empty() ? "" : ", ").append(label).append(n);
  };
  add("", d.notify);
  add("webhook ", d.webhooks);
  add("e-mail ", d.emails);
  return who;
}
}  // namespace

ElementLocation locate_element(const Snapshot& snap, const CallFacts& f, const Snapshot::SubnetHit& hit) {
  int32_t loc = -1;
  if (!f.bssid.empty() && (loc = snap.find_wap(f.bssid)) >= 0) return {LocationSource::wap, loc, "802.11"};
  if (!f.chassis_id.empty() && !f.port_id.empty() && (loc = snap.find_port(f.chassis_id, f.port_id)) >= 0) return {LocationSource::port, loc, "Wiremap"};
  if (!f.chassis_id.empty() && (loc = snap.find_chassis(f.chassis_id)) >= 0) return {LocationSource::chassis, loc, "Wiremap"};
  if (hit.subnet >= 0 && hit.location >= 0) return {LocationSource::subnet, hit.location, "Wiremap"};
  return {};
}

Decision decide(const Snapshot& snap, const CallFacts& f, bool with_trace) {
  using PolicyRec = Snapshot::PolicyRec;
  Decision d;
  d.snapshot = snap.shared_from_this();
  // The arguments are only evaluated when a trace is wanted: the hot path builds no text.
#define trace(step, outcome, why)                                      \
  do {                                                                 \
    if (with_trace) d.trace.push_back({step, outcome, why});           \
  } while (0)
  d.dialled = f.dialled;
  d.caller = f.caller;

  // Who and where: the user's record, and the network site of the source address.
  const Snapshot::UserRec* user = f.caller.empty() ? nullptr : snap.user(f.caller);
  if (user) {
    d.user_name = user->display_name;
    d.callback = user->callback;
  }
  const Snapshot::SubnetHit hit = f.source_ip.empty() ? Snapshot::SubnetHit{} : snap.match_subnet(f.source_ip);
  const int32_t subnet = hit.subnet;
  const Snapshot::SiteRec* site = nullptr;
  if (hit.site >= 0) {
    site = &snap.site_at(hit.site);
    d.site = site->name;
  }

  // Step 2 of the brief, done first because which numbers are emergency numbers is the
  // policy's to say: the site's policy overrides the user's, then the user's, then global.
  const PolicyRec* policy = nullptr;
  if (site && !site->policy.empty() && (policy = snap.policy(site->policy))) {
    d.policy = policy->identity;
    trace("policy", str(d.policy), "caller is on subnet '" + snap.subnet(subnet).cidr + "' of site '" + str(d.site) + "', whose policy overrides the user's");
  } else if (user && !user->policy.empty() && (policy = snap.policy(user->policy))) {
    d.policy = policy->identity;
    trace("policy", str(d.policy), "granted to user '" + f.caller + "'" + (d.site.empty() ? "" : "; site '" + str(d.site) + "' has no policy"));
  } else if (!f.assume_policy.empty() && (policy = snap.policy(f.assume_policy))) {
    d.policy = policy->identity;
    trace("policy", str(d.policy), "assumed for this simulated call");
  } else {
    static const std::string global = "global";
    policy = snap.policy(global);
    d.policy = "global";
    trace("policy", "global", user ? "neither the site nor the user has a policy" : "caller '" + f.caller + "' is not a known user and the site has no policy");
  }

  // Classify: normalise with the site's dial plan (else global), then match the policy's numbers.
  const Dialled dialled = parse_dialled(f.dialled);
  d.normalized = dialled.number;
  if (!dialled.number.empty()) {
    static const std::string global_plan = "global";
    const std::string& plan = site && !site->dial_plan.empty() ? site->dial_plan : global_plan;
    // Emergency numbers were normalised when the snapshot was made; others match the rules now.
    const auto* known = snap.known_normalization(plan, dialled.number);
    auto [normalized, rule] = known ? std::pair<std::string, std::string>() : snap.normalize_number(plan, dialled.number);
    const std::string& rule_name = known ? known->second : rule;
    if (!rule_name.empty()) {
      d.normalized = known ? known->first : std::move(normalized);
      trace("normalize", d.normalized, "dial plan '" + plan + "' rule '" + rule_name + "'");
    }
  }
  static const std::vector<Snapshot::EmergencyNumber> none;
  const auto& numbers = policy ? policy->numbers : none;
  const std::string_view bare = !d.normalized.empty() && d.normalized[0] == '+' ? std::string_view(d.normalized).substr(1) : std::string_view(d.normalized);
  for (const auto& n : numbers) {
    if (bare == (n.mask.empty() ? n.dial : n.mask)) {
      d.emergency = true;
      d.emergency_number = n.dial;
      if (n.mask.empty()) trace("classify", "emergency", "'" + d.normalized + "' is the emergency dial string of policy '" + str(d.policy) + "'");
      else trace("classify", "emergency", "'" + d.normalized + "' is an emergency dial mask of policy '" + str(d.policy) + "', translated to '" + n.dial + "'");
      break;
    }
  }
  const std::string_view policy_dial = numbers.empty() ? std::string_view("911") : std::string_view(numbers.front().dial);
  if (!d.emergency && dialled.sos_urn) {
    d.emergency = true;
    d.emergency_number = policy_dial;
    trace("classify", "emergency", "Request-URI '" + f.dialled + "' is an emergency service URN (RFC 5031)");
  } else if (!d.emergency && dialled.test_urn) {
    d.test_call = true;
    trace("classify", "test call", "'" + f.dialled + "' is urn:service:test.sos (RFC 6881): answered, never routed to a PSAP");
  } else if (!d.emergency && d.normalized == (policy ? std::string_view(policy->test_number) : kTestNumber)) {
    d.test_call = true;
    trace("classify", "test call", "'" + d.normalized + "' is the test number of policy '" + str(d.policy) + "': a test, never an emergency call to a PSAP");
  } else if (!d.emergency && f.priority_emergency) {
    d.emergency = true;
    d.emergency_number = policy_dial;
    trace("classify", "emergency", "the INVITE carries Priority: emergency");
  } else if (!d.emergency) {
    trace("classify", "ordinary call", "'" + d.normalized + "' is not an emergency number of policy '" + str(d.policy) + "'");
  }
  const bool e911 = policy && policy->e911;
  if (d.test_call) {
    // RFC 6881 test calls: the runtime reads back what an emergency call would carry, or the
    // provider's test line answers, reached like an emergency call but marked as none.
    d.test_line = policy && policy->test_by_provider && e911;
    trace("test call", d.test_line ? "the provider's test line" : "the runtime",
          d.test_line ? "policy '" + str(d.policy) + "' has test_call_answer: provider; routed by its usage, with the caller's location, nobody notified"
                      : "answered with a read-back of the callback number, location and route; nobody notified");
  }
  if (d.emergency && !e911)
    trace("classify", "enhanced emergency services off", "policy '" + str(d.policy) + "' sends no location and notifies nobody");

  // Locate: the caller's own PIDF-LO, else the LIS by precedence, else a default location.
  int32_t loc = -1;
  // The caller's PIDF-LO is judged as check_pidf judges a dry run's (README's promise): one that
  // fails is set aside for the LIS's location, the provider's parser being no place to find out
  // what it does with plain text, broken XML or an entity. Only where the LIS has none does it go
  // on as it is, some location beating none; one that declares markup never.
  std::optional<PidfFault> fault;
  if ((d.emergency || d.test_call) && !f.pidf.empty() && (fault = caller_pidf_fault(f.pidf))) d.caller_pidf_fault = std::move(fault->why);
  if ((d.emergency || d.test_line) && e911) {
    const ElementLocation at = f.pidf.empty() || fault ? locate_element(snap, f, hit) : ElementLocation{};
    const bool caller_pidf = !f.pidf.empty() && (!fault || (at.source == LocationSource::none && !fault->markup));
    if (fault && !caller_pidf)
      trace("locate", "the caller's PIDF-LO set aside", d.caller_pidf_fault + (fault->markup ? ": never passed on to the provider" : "") +
                                                        (at.source != LocationSource::none ? "; the LIS's location instead" : "; the LIS has no location for the caller"));
    if (caller_pidf) {
      d.location_source = LocationSource::caller_pidf;
      d.method = pidf_method(f.pidf);
      if (fault) {
        trace("locate", "the caller's PIDF-LO, as it is", d.caller_pidf_fault + "; the LIS has no location for the caller, and some location beats none");
        d.ecrc_screening = true;
        d.ecrc_reason = "the caller's PIDF-LO fails the checks and the LIS has no location for the caller";
      } else {
        trace("locate", "the caller's PIDF-LO", "a location that comes with the call is routed on and passed on unchanged (RFC 6881 SP-18)");
        if (d.method == "Manual") {
          d.ecrc_screening = true;
          d.ecrc_reason = "the user entered the location by hand";
        }
      }
    } else if (at.source != LocationSource::none) {
      loc = at.location;
      d.location_source = at.source;
      d.method = at.method;
      d.approximate = at.source == LocationSource::wap;
      switch (at.source) {
        case LocationSource::wap: trace("locate", str(snap.location_id(loc)), "access point '" + f.bssid + "' (Wi-Fi: approximate)"); break;
        case LocationSource::port: trace("locate", str(snap.location_id(loc)), "switch port '" + f.chassis_id + " " + f.port_id + "'"); break;
        case LocationSource::chassis: trace("locate", str(snap.location_id(loc)), "switch '" + f.chassis_id + "'"); break;
        default: trace("locate", str(snap.location_id(loc)), "subnet '" + snap.subnet(subnet).cidr + "' (longest prefix)"); break;
      }
    } else {
      const bool from_policy = policy->default_location >= 0;
      loc = from_policy ? policy->default_location : site ? site->default_location : -1;
      if (loc >= 0) {
        d.location_source = LocationSource::default_location;
        d.method = "Default";
        d.ecrc_screening = true;
        d.ecrc_reason = "no element located the caller; the default location was inserted (RFC 6881 SP-22)";
        trace("locate", from_policy ? policy->default_location_id : site->default_location_id,
              std::string("default location of the ") + (from_policy ? "policy" : "site") + "; the provider's ECRC confirms it");
      } else {
        d.ecrc_screening = true;
        d.ecrc_reason = "no location is known";
        trace("locate", "none", "no access point, port, switch or subnet matches and there is no default location; the ECRC asks the caller");
      }
    }
    if (loc >= 0) {
      d.location = LocationRef(d.snapshot, loc);
      using Status = Snapshot::LocationStatus;
      const Status status = snap.location_status_code(loc);
      if (status != Status::valid && !d.ecrc_screening) {
        d.ecrc_screening = true;
        d.ecrc_reason = status == Status::invalid       ? "the address is invalid with the provider"
                        : status == Status::unvalidated ? "the address is unvalidated with the provider"
                                                        : "the address is not validated with the provider";
      }
    }
  }

  // Voice policy, for ordinary calls only: the user's granted tag, else the policy of the site
  // the caller is on, else global (Lync's per-user, site, global). Emergency calls never read it.
  const bool ordinary = !d.emergency && !d.test_call;
  const Snapshot::VoicePolicyRec* voice = nullptr;
  if (ordinary && !d.normalized.empty()) {
    static const std::string global = "global";
    if (user && !user->voice_policy.empty() && (voice = snap.voice_policy(user->voice_policy))) {
      trace("voice policy", voice->identity, "granted to user '" + f.caller + "'");
    } else if (site && !site->voice_policy.empty() && (voice = snap.voice_policy(site->voice_policy))) {
      trace("voice policy", voice->identity, "caller is on subnet '" + snap.subnet(subnet).cidr + "' of site '" + str(d.site) + "'" +
                                                 (user ? "; the user has no voice policy of their own" : ""));
    } else if ((voice = snap.voice_policy(global))) {
      trace("voice policy", "global", user ? "neither the user nor the caller's site has a voice policy"
                                           : "caller '" + f.caller + "' is not a known user and the site has no voice policy");
    } else {
      trace("voice policy", "none", "there is no global voice policy");
    }
    if (voice) d.voice_policy = voice->identity;
  }

  // Route: the location policy's usage for emergency calls, the voice policy's usages in order
  // for ordinary ones; routes by priority, their trunks in order, trunks known to be down moved
  // last but never dropped.
  // A test for the provider's line takes the emergency number's routes, and carries the test number.
  const std::string_view number = d.emergency ? d.emergency_number : d.test_line ? policy_dial : std::string_view(d.normalized);
  const std::string_view carried = d.test_line ? std::string_view(d.normalized) : number;
  int32_t first_trunk = -1;  // the trunk of the first attempt
  int32_t first_route = -1;  // and its route
  if ((d.emergency || d.test_line) && policy) d.usage = policy->usage;
  if (d.test_call && !d.test_line) {
    d.failure = "test calls are answered locally";
  } else if ((d.emergency || d.test_line) && d.usage.empty()) {
    d.failure = "policy '" + str(d.policy) + "' has no PSTN usage";
    trace("route", "none", d.failure);
  } else if (number.empty()) {
    d.failure = "nothing was dialled";
  } else if (!d.emergency && !d.test_line && !voice) {
    d.failure = "no voice policy applies to the caller and there is no global voice policy";
    trace("route", "none", d.failure);
  } else {
    std::vector<Snapshot::Path> found;
    const bool by_usage = d.emergency || d.test_line;
    const std::vector<Snapshot::Path>* paths = by_usage ? snap.emergency_paths(d.usage, number) : nullptr;
    const auto& routes = snap.routes();
    auto add_route = [&](std::size_t ri) {
      for (int32_t t : routes[ri].trunks)
        if (std::none_of(found.begin(), found.end(), [&](const Snapshot::Path& x) { return x.trunk == t; }))
          found.push_back({static_cast<int32_t>(ri), t});
    };
    if (!paths && by_usage) {
      // Emergency numbers not known in advance: match the usage's routes now.
      const std::string num(number);
      for (std::size_t ri = 0; ri < routes.size(); ++ri) {
        const auto& r = routes[ri];
        if (!r.valid || !r.enabled || std::find(r.usages.begin(), r.usages.end(), d.usage) == r.usages.end()) continue;
        if (r.pattern.search(num) || r.pattern.search("+" + num)) add_route(ri);
      }
      paths = &found;
    } else if (!paths) {
      // Ordinary: the voice policy's usages in order, and within each usage its routes by
      // priority, as Lync builds its route list; a route serving two usages is tried once.
      for (const auto& u : voice->usages)
        for (const int32_t ri : u.routes)
          if (routes[static_cast<std::size_t>(ri)].pattern.search(number))
            add_route(static_cast<std::size_t>(ri));
      paths = &found;
    }
    d.attempts.reserve(paths->size());
    const std::string_view digits = !carried.empty() && carried[0] == '+' ? carried.substr(1) : carried;
    // Healthy trunks keep their order in front; failing ones follow in theirs.
    for (int pass = 0; pass < 2; ++pass) {
      for (const auto& p : *paths) {
        const auto& trunk = snap.trunk_at(p.trunk);
        const bool down = !f.trunks_down.empty() && std::find(f.trunks_down.begin(), f.trunks_down.end(), trunk.name) != f.trunks_down.end();
        if (down != (pass == 1)) continue;
        if (d.attempts.empty()) {
          first_trunk = p.trunk;
          first_route = p.route;
        }
        Attempt& a = d.attempts.emplace_back();
        a.route = snap.routes()[static_cast<std::size_t>(p.route)].name;
        a.trunk = trunk.name;
        a.trunk_down = down;
        using Form = Snapshot::UriForm;
        if (d.test_line && (dialled.test_urn || trunk.uri_form == Form::sos_urn)) {
          a.request_uri = "urn:service:test.sos";
        } else if (d.emergency && trunk.uri_form == Form::sos_urn) {
          a.request_uri = "urn:service:sos";
        } else if (trunk.uri_form == Form::plus && !trunk.strip_plus) {
          a.request_uri.reserve(digits.size() + 1);
          a.request_uri += '+';
          a.request_uri += digits;
        } else {
          a.request_uri = trunk.strip_plus || trunk.uri_form == Form::digits ? digits : carried;
        }
      }
      if (pass == 0 && d.attempts.size() == paths->size()) break;
    }
    d.routable = !d.attempts.empty();
    // An ordinary call's usage is the one through which its first attempt's route was found.
    if (!by_usage && d.routable)
      for (const auto& u : voice->usages)
        if (std::find(u.routes.begin(), u.routes.end(), first_route) != u.routes.end()) {
          d.usage = u.name;
          break;
        }
    if (!d.routable) {
      if (by_usage) {
        d.failure = "no enabled route serves usage '" + str(d.usage) + "' with a pattern matching '" + str(number) + "' and a trunk";
      } else {
        std::string usages;
        for (const auto& u : voice->usages) usages += (usages.empty() ? "'" : ", '") + u.name + "'";
        d.failure = "no enabled route with a trunk serving " + (usages.empty() ? "a usage" : "usage " + usages) + " of voice policy '" +
                    str(d.voice_policy) + "' matches '" + str(number) + "'";
      }
      trace("route", "none", d.failure);
    } else if (with_trace) {
      std::string order;
      for (const auto& a : d.attempts) order += (order.empty() ? "" : " -> ") + str(a.trunk) + (a.trunk_down ? " (down)" : "");
      const auto& first = routes[static_cast<std::size_t>(first_route)];
      trace("route", str(d.attempts.front().route) + " via " + str(d.attempts.front().trunk),
            by_usage ? "usage '" + str(d.usage) + "', failover order " + order
                        : "voice policy '" + str(d.voice_policy) + "' usage '" + str(d.usage) + "', route priority " + std::to_string(first.priority) +
                              " (usages in the policy's order, within a usage routes by priority); failover order " + order);
    }
  }

  // Callback and notification (a test for the provider's line has a callback, and tells nobody).
  if ((d.emergency || d.test_line) && e911) {
    const Snapshot::TrunkRec* first = first_trunk >= 0 ? &snap.trunk_at(first_trunk) : nullptr;
    std::string elin = loc >= 0 && first && !first->accepts_pidf_lo ? snap.location_first_elin(loc) : std::string();
    if (!elin.empty()) {
      d.elin_mode = true;
      d.callback = std::move(elin);
      trace("callback", d.callback, "ELIN of location '" + str(d.location.id()) + "': the trunk takes no PIDF-LO, the carrier's ALI maps the ELIN");
    } else if (!d.callback.empty()) {
      trace("callback", d.callback, "the line URI of user '" + f.caller + "'");
    } else {
      trace("callback", "none", "the caller has no line URI; the PSAP cannot call back");
    }
  }
  if (d.emergency && e911) {
    d.notify = policy->notify;
    d.webhooks = policy->webhooks;
    d.emails = policy->emails;
    d.conference_uri = policy->conference_uri;
    d.conference_mode = policy->conference_mode;
    if (d.notifies()) {
      if (with_trace) trace("notify", notify_targets(d), "notification targets of policy '" + str(d.policy) + "', sent at the same time as the call");
    } else {
      trace("notify", "nobody", "policy '" + str(d.policy) + "' has no notification URI, webhook or e-mail address");
    }
    if (!d.conference_uri.empty())
      trace("conference", str(d.conference_uri) + " (" + (d.conference_mode.empty() ? std::string("one-way") : str(d.conference_mode)) + ")",
            "policy '" + str(d.policy) + "'");
  }
  return d;
#undef trace
}

Decision without_caller_pidf(const Snapshot& snap, const Decision& d, const CallFacts& f) {
  CallFacts without = f;
  without.pidf.clear();
  const Decision lis = decide(snap, without, false);
  Decision out = d;
  out.location_source = lis.location_source;
  out.location = lis.location;
  out.method = lis.method;
  out.approximate = lis.approximate;
  out.ecrc_screening = lis.ecrc_screening;
  out.ecrc_reason = lis.ecrc_reason;
  return out;
}

Json Decision::to_json() const {
  Json j;
  j["call_type"] = call_type();
  j["emergency"] = emergency;
  j["test_call"] = test_call;
  if (test_call) j["test_line"] = test_line;
  j["dialled"] = dialled;
  j["normalized"] = normalized;
  if (!emergency_number.empty()) j["emergency_number"] = emergency_number;
  j["caller"] = caller;
  if (!user_name.empty()) j["caller_name"] = user_name;
  j["site"] = site.empty() ? Json(nullptr) : Json(site);
  j["policy"] = policy;
  if (!emergency && !test_call) j["voice_policy"] = voice_policy.empty() ? Json(nullptr) : Json(voice_policy);
  j["location_source"] = to_string(location_source);
  j["location"] = location ? location->to_json() : Json(nullptr);
  if (!caller_pidf_fault.empty()) j["caller_pidf_refused"] = caller_pidf_fault;
  if (!method.empty()) j["method"] = method;
  j["approximate"] = approximate;
  j["ecrc_screening"] = ecrc_screening;
  if (!ecrc_reason.empty()) j["ecrc_reason"] = ecrc_reason;
  if (!usage.empty()) j["pstn_usage"] = usage;
  j["routable"] = routable;
  if (!failure.empty()) j["failure"] = failure;
  Json attempts_json = Json::array();
  for (const auto& a : attempts)
    attempts_json.push_back({{"route", a.route}, {"trunk", a.trunk}, {"request_uri", a.request_uri}, {"trunk_down", a.trunk_down}});
  j["attempts"] = attempts_json;
  j["callback"] = callback.empty() ? Json(nullptr) : Json(callback);
  j["elin_mode"] = elin_mode;
  j["notify"] = notify;
  j["notify_webhooks"] = webhooks;
  j["notify_emails"] = emails;
  if (!conference_uri.empty()) j["conference"] = {{"uri", conference_uri}, {"mode", conference_mode.empty() ? "one-way" : conference_mode}};
  Json t = Json::array();
  for (const auto& s : trace) t.push_back({{"step", s.step}, {"outcome", s.outcome}, {"why", s.why}});
  j["trace"] = t;
  return j;
}

namespace {

// An address inside a subnet to play a caller from: the first host, or the network for /31-/32.
std::string host_in(const std::string& cidr) {
  const auto slash = cidr.find('/');
  std::string addr = cidr.substr(0, slash);
  const int len = slash == std::string::npos ? 32 : std::atoi(cidr.c_str() + slash + 1);
  if (addr.find(':') != std::string::npos) return len < 128 ? addr + (addr.size() >= 2 && addr.substr(addr.size() - 2) == "::" ? "1" : "") : addr;
  if (len >= 31) return addr;
  const auto dot = addr.rfind('.');
  return addr.substr(0, dot + 1) + std::to_string(std::atoi(addr.c_str() + dot + 1) + 1);
}

}  // namespace

std::vector<SimulatedCall> simulated_calls(const Snapshot& snap) {
  // Policies a user can carry: global and every tag granted to someone.
  std::vector<std::string> user_policies = {"global"};
  for (const auto& [uri, u] : snap.objects("user").items()) {
    const std::string p = u.value("location_policy", "");
    if (!p.empty() && snap.object("policy", p) && std::find(user_policies.begin(), user_policies.end(), p) == user_policies.end())
      user_policies.push_back(p);
  }
  auto dial_of = [&](const std::string& policy) {
    const Json* p = snap.object("policy", policy);
    const auto nums = p ? policy_emergency_numbers(*p) : std::vector<Snapshot::EmergencyNumber>{};
    return nums.empty() ? std::string("911") : nums.front().dial;
  };
  auto policies_at = [&](int32_t site) -> std::vector<std::string> {
    if (site >= 0) {
      const Json* s = snap.object("site", snap.sites()[static_cast<std::size_t>(site)]);
      const std::string sp = str(s, "location_policy");
      if (!sp.empty() && snap.object("policy", sp)) return {sp};
    }
    return user_policies;
  };
  std::vector<SimulatedCall> out;
  auto add = [&](const std::string& element, CallFacts f, int32_t site) {
    for (const auto& p : policies_at(site)) {
      CallFacts one = f;
      one.assume_policy = p;
      one.dialled = dial_of(p);
      one.caller = "sip:audit@e911ctl.invalid";
      out.push_back({element, std::move(one)});
    }
  };
  std::map<int32_t, std::string> site_ip;  // a caller address on each site
  for (const auto& e : snap.elements()) {
    CallFacts f;
    int32_t site = -1;
    if (e.noun == "subnet") {
      f.source_ip = host_in(e.key);
      const int32_t idx = snap.find_subnet(f.source_ip);
      if (idx >= 0) site = snap.subnet(idx).site;
      if (site >= 0) site_ip.emplace(site, f.source_ip);
    } else if (e.noun == "wap") {
      std::string b = e.key;
      for (char& c : b)
        if (c == '*') c = '0';
      if (b.size() == 16) b += '0';
      f.bssid = b;
    } else if (e.noun == "switch") {
      f.chassis_id = e.key;
    } else {
      const auto bar = e.key.find('|');
      f.chassis_id = e.key.substr(0, bar);
      f.port_id = e.key.substr(bar + 1);
    }
    add(e.noun + " '" + Kind::display_key(e.key) + "'", std::move(f), site);
  }
  for (std::size_t i = 0; i < snap.sites().size(); ++i) {
    CallFacts f;
    const auto it = site_ip.find(static_cast<int32_t>(i));
    if (it != site_ip.end()) f.source_ip = it->second;
    add("site '" + snap.sites()[i] + "'", std::move(f), it != site_ip.end() ? static_cast<int32_t>(i) : -1);
  }
  return out;
}

std::string decision_summary(const Decision& d) {
  std::string s = "policy " + str(d.policy) + "; location " + (d.location ? str(d.location.id()) : to_string(d.location_source)) + "; route ";
  if (d.attempts.empty()) s += "none";
  for (std::size_t i = 0; i < d.attempts.size(); ++i) s.append(i ? " -> " : "").append(d.attempts[i].route).append("/").append(d.attempts[i].trunk);
  s += "; notify " + (d.notifies() ? notify_targets(d) : std::string("nobody"));
  return s;
}

std::vector<RouteChange> route_changes(const Snapshot& before, const Snapshot& after) {
  std::map<std::pair<std::string, std::string>, std::pair<std::string, std::string>> calls;
  for (const auto& c : simulated_calls(before)) calls[{c.element, c.facts.assume_policy}].first = decision_summary(decide(before, c.facts, false));
  for (const auto& c : simulated_calls(after)) calls[{c.element, c.facts.assume_policy}].second = decision_summary(decide(after, c.facts, false));
  std::vector<RouteChange> out;
  for (auto& [key, v] : calls) {
    if (v.first == v.second) continue;
    out.push_back({key.first, key.second, v.first.empty() ? "(no such caller)" : v.first, v.second.empty() ? "(no such caller)" : v.second});
  }
  return out;
}

}  // namespace e911::routing
