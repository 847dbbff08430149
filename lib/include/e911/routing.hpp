#pragma once
#include <memory>
#include <optional>
#include <span>
#include <string_view>
#include <string>
#include <vector>

#include "e911/snapshot.hpp"

namespace e911::routing {

/// What is known of a call when it arrives.
/// The emergency test number (Teams' 933): like urn:service:test.sos, answered with a read-back
/// of the callback number, location and route, never sent to a PSAP.
inline constexpr std::string_view kTestNumber = "933";  ///< a policy's test number when it sets none

struct CallFacts {
  std::string caller;      ///< the caller's SIP URI (From / P-Asserted-Identity)
  std::string source_ip;   ///< the address the INVITE came from, IPv4 or IPv6
  std::string bssid;       ///< the access point the client reports, if any
  std::string chassis_id;  ///< LLDP chassis of the switch, if any
  std::string port_id;     ///< LLDP port, with chassis_id
  std::string dialled;     ///< digits, or a Request-URI: tel:, sip:...;user=dialstring, urn:service:sos
  std::string pidf;        ///< a PIDF-LO the client sent: passed on unchanged when it passes check_pidf (see Decision::caller_pidf_fault)
  bool priority_emergency = false;  ///< the INVITE carried Priority: emergency
  std::string time;                 ///< RFC 3339 time of the call, for the notification
  std::vector<std::string> trunks_down;  ///< trunks known to be failing: tried last, never dropped
  std::string assume_policy;  ///< audits: decide as if the user had been granted this policy
};

/// One step of the decision and why it came out that way.
struct TraceStep {
  std::string step;     ///< classify, policy, locate, route, callback, notify
  std::string outcome;  ///< what was decided
  std::string why;      ///< the rule or data that decided it
};

/// One place the call will be sent, in failover order. Names point into the decision's snapshot.
struct Attempt {
  std::string_view route;
  std::string_view trunk;
  std::string request_uri;  ///< in the form the trunk wants
  bool trunk_down = false;
};

/// The location a decision sends: a location of the snapshot, decoded the first time it is read
/// (decide() itself never decodes one), or a civic address set directly. Holds its snapshot.
class LocationRef {
 public:
  LocationRef() = default;
  LocationRef(Civic civic) : civic_(std::move(civic)) {}  // NOLINT: implicit, like std::optional
  LocationRef(std::shared_ptr<const Snapshot> snap, int32_t index) : snap_(std::move(snap)), index_(index) {}
  explicit operator bool() const { return civic_.has_value() || index_ >= 0; }
  const Civic& operator*() const;
  const Civic* operator->() const { return &**this; }
  void reset() { *this = LocationRef(); }
  /// The location's id without decoding it.
  std::string_view id() const;
  int32_t index() const { return index_; }

 private:
  std::shared_ptr<const Snapshot> snap_;
  int32_t index_ = -1;
  mutable std::optional<Civic> civic_;  // not thread-safe: one decision belongs to one call
};

/// Everything that happens to a call: routing::decide's answer. The string_views point into
/// `snapshot`, which the decision keeps alive, or at static text. An emergency call routes by its
/// location policy's usage and is located and notified; an ordinary call (any other number)
/// routes by the usages of the caller's voice policy and is neither located nor notified.
struct Decision {
  std::shared_ptr<const Snapshot> snapshot;  ///< the snapshot decided on
  bool emergency = false;
  bool test_call = false;           ///< urn:service:test.sos or the policy's test number
  bool test_line = false;           ///< a test call the provider's test line answers (routed, located)
  /// "emergency", "test" or "ordinary".
  const char* call_type() const { return emergency ? "emergency" : test_call ? "test" : "ordinary"; }
  std::string dialled;              ///< as received
  std::string normalized;           ///< after the dial plan
  std::string_view emergency_number;  ///< the dial string it counts as (a mask is translated)
  std::string_view site;            ///< network site of the source address
  std::string_view policy;          ///< location policy that applies (it says which numbers are emergency numbers)
  std::string_view voice_policy;    ///< ordinary calls: the voice policy whose usages routed it; empty if none applies
  std::string_view user_name;       ///< caller's display name
  std::string callback;             ///< callback number: the user's line, or an ELIN
  std::string caller;

  LocationSource location_source = LocationSource::none;
  LocationRef location;             ///< the location sent to the PSAP (empty with a caller PIDF)
  /// Why the caller's PIDF-LO failed check_pidf (caller_pidf_fault), else empty. Such a PIDF-LO is
  /// set aside for the LIS's location (an access point, port, switch or subnet); where the LIS has
  /// none it is passed on as it is (location_source caller_pidf), since some location beats none,
  /// unless it declares markup (never passed on: the default location, else none).
  std::string caller_pidf_fault;
  std::string method;               ///< PIDF method: LIS, Manual, Default, ...
  bool approximate = false;         ///< Wi-Fi derived
  bool ecrc_screening = false;      ///< the provider's ECRC will confirm the location by voice
  std::string_view ecrc_reason;     ///< static text

  std::string_view usage;         ///< emergency: the location policy's usage; ordinary: the usage of the first attempt's route
  std::vector<Attempt> attempts;  ///< every route and trunk, in the order they are tried
  bool routable = false;
  std::string failure;            ///< why not, when not routable
  bool elin_mode = false;         ///< the callback is an ELIN of the location

  std::span<const std::string> notify;    ///< security-desk URIs that get a MESSAGE
  std::span<const std::string> webhooks;  ///< URLs that get an HTTPS POST of the call's facts
  std::span<const std::string> emails;    ///< e-mail addresses told of the call
  /// True when anyone is told of the call: a SIP URI, a webhook or an e-mail address.
  bool notifies() const { return !notify.empty() || !webhooks.empty() || !emails.empty(); }
  std::string_view conference_uri, conference_mode;
  std::vector<TraceStep> trace;

  /// The decision as JSON (trace included).
  Json to_json() const;
};

/// A call simulated from one place under one policy that applies there (for audits and diffs).
struct SimulatedCall {
  std::string element;  ///< "subnet '10.1.0.0/16'", "wap '00-1A-...'", "site 'Redmond'"
  CallFacts facts;
};

/// Every place a caller can be located (each subnet, access point, switch, port and site) under
/// each policy that can apply there: the site's when it has one (it overrides), else global and
/// every tag policy granted to a user. Each dials the policy's emergency number.
std::vector<SimulatedCall> simulated_calls(const Snapshot& snap);

/// The parts of a decision an operator compares between revisions: policy, location, route,
/// trunk order and notification targets, as one line.
std::string decision_summary(const Decision& d);

/// A caller whose decision differs between two snapshots.
struct RouteChange {
  std::string element, policy;
  std::string before, after;  ///< decision_summary, or "(no such caller)"
};

/// Every simulated caller of either snapshot whose decision summary differs, ordered by element.
std::vector<RouteChange> route_changes(const Snapshot& before, const Snapshot& after);

/// Where the LIS places a caller by the network (DOMAIN.md §2): no caller PIDF-LO, no default.
struct ElementLocation {
  LocationSource source = LocationSource::none;  ///< wap, port, chassis or subnet; none: nothing matched
  int32_t location = -1;                         ///< location index in the snapshot, -1 with none
  const char* method = "";                       ///< the PIDF-LO method: "802.11" (wap) or "Wiremap"
};

/// The location of the network element that places a caller, in the LIS's precedence: the access
/// point `f.bssid`, then the switch port `f.chassis_id` + `f.port_id`, then the switch
/// `f.chassis_id`, then `hit` (the subnet match of the caller's address; an empty hit skips it).
/// An element whose subnet has no location does not count. decide() locates emergency calls with
/// it and the location service (HELD) its clients, so both find the same place. Pure.
ElementLocation locate_element(const Snapshot& snap, const CallFacts& f, const Snapshot::SubnetHit& hit);

/// `d`, decided on `f`, located as if the call had come without its PIDF-LO: the location, its
/// source, method and ECRC screening that decide() gives `f` without `f.pidf` (the LIS's, else the
/// default location, else none); routes, callback and notifications stay as `d` has them. For an
/// INVITE that cannot carry the caller's PIDF-LO (too large to send). Pure.
Decision without_caller_pidf(const Snapshot& snap, const Decision& d, const CallFacts& f);

/// Decides what happens to a call: classify, choose the policy, locate, route, callback and
/// notify. An ordinary call is normalised by the dial plan, then routed by the caller's voice
/// policy (the user's granted tag, else `site:<site of the caller's subnet>`, else global): its
/// usages in order, within a usage the enabled routes by priority whose pattern matches, each
/// route's trunks in order. Pure: no I/O, the same answer for the same snapshot and facts. `with_trace` false
/// skips building the trace (the runtime's hot path); the decision is otherwise identical.
/// `snap` must be owned by a shared_ptr (as build and load return it): the decision holds it.
Decision decide(const Snapshot& snap, const CallFacts& facts, bool with_trace = true);

}  // namespace e911::routing
