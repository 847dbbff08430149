#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "e911/json.hpp"
#include "e911/pattern.hpp"
#include "e911/store.hpp"

namespace e911 {

/// A civic address and sub-location, as the PSAP will receive it.
struct Civic {
  std::string id;  ///< location id; empty for a location that came with the call
  std::string location, company_name, house_number, house_number_suffix, pre_directional, street_name, street_suffix,
      post_directional, city, state, postal_code, country;  ///< Lync's 12 fields
  std::string building, floor, unit, room, seat, landmark;  ///< RFC 5139 extras
  std::vector<std::string> elins;
  std::optional<double> latitude, longitude;
  std::string validation_status = "unvalidated";
  std::string description;

  /// The civic fields as JSON (only non-empty ones), for outputs.
  Json to_json() const;
};

/// Where a location came from, in the order the LIS tries them.
enum class LocationSource { caller_pidf, wap, port, chassis, subnet, default_location, none };
const char* to_string(LocationSource s);

/// The published, immutable form of the store that calls are decided on: indexes for a million
/// elements (longest-prefix match for subnets, hash maps for BSSIDs, chassis and ports) and the
/// small objects (policies, routes, trunks, users...) as normalised JSON.
class Snapshot : public std::enable_shared_from_this<Snapshot> {
 public:
  /// Compiles the store as of revision `rev` (0: the latest). Throws Error(store) on read errors.
  static std::shared_ptr<const Snapshot> build(const Store& store, std::int64_t rev = 0);
  /// Compiles only what a call from these places can touch: the small kinds, the subnets that
  /// contain `ip` (every prefix, written as network addresses), the access point, switch and port
  /// named (any case, '-' or ':'), and the locations they and the default locations name. On a
  /// store of a million elements this takes milliseconds; decisions for this caller are the same
  /// as on the full snapshot. Empty arguments match nothing.
  static std::shared_ptr<const Snapshot> build_for_call(const Store& store, const std::string& ip, const std::string& bssid,
                                                        const std::string& chassis, const std::string& port);
  /// Reads a snapshot file. Throws Error(invalid) when it is truncated, corrupt or of another
  /// format version, and Error(failure) when it cannot be read.
  static std::shared_ptr<const Snapshot> load(const std::string& path);
  /// load() of the bytes `file` of a snapshot file, read by the caller; `path` names it in
  /// errors. For a caller that keeps exactly the bytes it checked (the runtime's last-good copy).
  static std::shared_ptr<const Snapshot> parse(std::string file, const std::string& path);
  /// Writes the snapshot whole or not at all, and on disk before it returns (write_file_durably:
  /// a temporary file, fsync, renamed over `path`). Throws Error(failure).
  void save(const std::string& path) const;

  std::int64_t revision() const { return revision_; }
  const std::string& created_at() const { return created_at_; }
  /// FNV-1a 64 of the payload, as 16 hex digits.
  std::string checksum() const;
  std::size_t location_count() const { return loc_offsets_.size(); }
  std::size_t element_count() const;

  // Lookups used by routing::decide. Every index is into this snapshot.
  /// The location index of the LIS element, or -1.
  int32_t find_wap(std::string_view bssid) const;
  int32_t find_port(std::string_view chassis, std::string_view port) const;
  int32_t find_chassis(std::string_view chassis) const;
  /// Longest-prefix match of an IPv4 or IPv6 address: the subnet record, or -1.
  int32_t find_subnet(std::string_view ip) const;
  /// The same match with what a call needs of it, read from one index entry.
  struct SubnetHit {
    int32_t subnet = -1, location = -1, site = -1;
  };
  SubnetHit match_subnet(std::string_view ip) const;
  struct SubnetRec {
    std::string cidr;
    int32_t location = -1;  ///< -1: none
    int32_t site = -1;      ///< index into sites(), -1: none
  };
  const SubnetRec& subnet(int32_t i) const { return subnets_[static_cast<std::size_t>(i)]; }
  /// The location with this index, decoded.
  Civic location(int32_t index) const;
  /// Parts of a location read without decoding the rest (the call path): its id, its
  /// address-validation status, and its first ELIN (empty when it has none).
  std::string_view location_id(int32_t index) const;
  std::string_view location_status(int32_t index) const;
  enum class LocationStatus : uint8_t { unvalidated, valid, invalid, other };
  LocationStatus location_status_code(int32_t index) const {
    return index >= 0 && static_cast<std::size_t>(index) < loc_status_.size() ? static_cast<LocationStatus>(loc_status_[static_cast<std::size_t>(index)])
                                                                              : LocationStatus::unvalidated;
  }
  std::string location_first_elin(int32_t index) const;
  /// Every ELIN of the location, in the order configured (ELIN gateway mode picks among them).
  std::vector<std::string> location_elins(int32_t index) const;
  /// The index of location `id`, or -1.
  int32_t location_index(const std::string& id) const;

  /// Small objects by kind noun (policy, voicepolicy, site, user, route, trunk, dialplan, usage, region), each
  /// a JSON object keyed by identity with the normalised object as value.
  const Json& objects(const std::string& noun) const;
  /// The object of `noun` named `key`, or nullptr.
  const Json* object(const std::string& noun, const std::string& key) const;
  /// Site names by index (SubnetRec::site).
  const std::vector<std::string>& sites() const { return site_names_; }

  // The small objects compiled for per-call use: no JSON lookups on the call path.
  struct EmergencyNumber {
    std::string dial, mask;  ///< mask empty for the dial string itself
  };
  struct PolicyRec {
    std::string identity, usage, conference_uri, conference_mode, default_location_id;
    bool e911 = false;
    std::vector<EmergencyNumber> numbers;  ///< emergency_numbers, else the dial string and its masks
    std::vector<std::string> notify;    ///< notification_uris: SIP URIs that get a MESSAGE
    std::vector<std::string> webhooks;  ///< notification_webhooks: https:// URLs (http:// only to loopback)
    std::vector<std::string> emails;    ///< notification_emails: e-mail addresses
    int32_t default_location = -1;
    std::string test_number = "933";    ///< test_number: dialled, a test call (RFC 6881)
    bool test_by_provider = false;      ///< test_call_answer: provider (its test line), else the runtime
  };
  enum class UriForm : uint8_t { as_dialled, plus, digits, sos_urn };
  struct TrunkRec {
    std::string name, form;  ///< form: plus, digits or sos-urn
    bool accepts_pidf_lo = false, strip_plus = false, forward_pai = true;
    UriForm uri_form = UriForm::as_dialled;  ///< `form`, compiled
    std::string host;                        ///< where the runtime sends: an IP literal (names are not resolved)
    int port = 5060;
    bool stream = true;                      ///< transport tcp (or tls); false for udp
    bool tls = false;                        ///< transport tls
    std::string tls_server_name;             ///< the name its certificate must hold; empty: `host`
    bool tls_fallback = false;               ///< an emergency call may retry over TCP when TLS fails (RFC 6881 SP-31)
    int tls_fallback_port = 5060;            ///< the TCP port of that retry
    int failover_seconds = 10;               ///< unanswered (no 18x) this long: the next trunk
    bool options_ping = true;                ///< the runtime sends it OPTIONS to know it is alive
    int options_interval = 30;               ///< seconds between those OPTIONS
  };
  struct UserRec {
    std::string display_name, callback, policy;  ///< callback without "tel:"
    std::string voice_policy;                    ///< granted voice policy tag, or empty
    std::string ha1_md5, ha1_sha256;             ///< digest secrets (runtime_auth.hpp), lower-case hex, or empty
  };
  struct SiteRec {
    std::string name, policy, default_location_id, dial_plan;  ///< dial_plan: "site:<name>" when it exists
    std::string voice_policy;                                  ///< "site:<name>" when such a voice policy exists
    int32_t default_location = -1;
  };
  struct RouteRec {
    std::string name;
    int priority = 0;
    bool enabled = true, valid = false;  ///< valid: the pattern compiled
    Pattern pattern;
    std::vector<std::string> usages;
    std::vector<int32_t> trunks;  ///< into trunk_at(); unknown trunks left out
  };
  /// A voice policy compiled for ordinary calls: its usages in order, each with the enabled
  /// routes (indexes into routes(), in priority order) that serve it and have a valid pattern.
  struct VoicePolicyRec {
    struct Usage {
      std::string name;
      std::vector<int32_t> routes;
    };
    std::string identity;
    std::vector<Usage> usages;
  };
  /// One route and trunk an emergency call of a usage and number tries, in order.
  struct Path {
    int32_t route, trunk;
  };
  struct CompiledRule {
    std::string name, pattern, translation;
    DialRule rule;
  };

  const PolicyRec* policy(const std::string& identity) const;
  /// The voice policy `identity` (global, site:<name> or a tag), or nullptr.
  const VoicePolicyRec* voice_policy(const std::string& identity) const;
  const UserRec* user(const std::string& uri) const;
  /// The SIP URI of the user whose line (DID) is `number` (E.164 with '+', as a callback is
  /// stored), or nullptr.
  const std::string* user_by_line(std::string_view number) const;
  /// The hosts of the users' SIP URIs, lower-case and sorted: the domains a runtime serves by default.
  const std::vector<std::string>& user_domains() const { return user_domains_; }
  /// The addresses the location policies send their security-desk MESSAGEs to (notification_uris
  /// of every policy), each as sip:user@host with the host lower-cased, as the registrar keys its
  /// users; sorted, each once. Only a phone that proves who it is may register one of them.
  const std::vector<std::string>& notification_targets() const { return notification_targets_; }
  /// True when `aor` (sip:user@host, host lower-cased) is one of notification_targets().
  bool notification_target(std::string_view aor) const;
  const SiteRec& site_at(int32_t i) const { return site_recs_[static_cast<std::size_t>(i)]; }
  const TrunkRec& trunk_at(int32_t i) const { return trunk_recs_[static_cast<std::size_t>(i)]; }
  const std::vector<TrunkRec>& trunks() const { return trunk_recs_; }
  int32_t trunk_index(const std::string& name) const;
  /// Routes in the order they are tried (priority, then name).
  const std::vector<RouteRec>& routes() const { return route_recs_; }
  /// The routes and trunks (before failover reordering) an emergency call to `number` under
  /// `usage` tries; computed at load for every usage and emergency number of every policy.
  const std::vector<Path>* emergency_paths(std::string_view usage, std::string_view number) const;
  /// The compiled rules of dial plan `name`, or nullptr when there is no such plan.
  const std::vector<CompiledRule>* dial_rules(const std::string& name) const;
  /// `number` normalised by dial plan `plan`: the result and the rule that matched (empty when
  /// none did). Emergency numbers and masks are looked up, others matched.
  std::pair<std::string, std::string> normalize_number(const std::string& plan, const std::string& number) const;
  /// The precomputed normalisation of an emergency number or mask under `plan`, or nullptr when
  /// `number` is not one (then normalize_number matches the rules).
  const std::pair<std::string, std::string>* known_normalization(const std::string& plan, const std::string& number) const;

  /// Every subnet, access point, switch and port: (noun, key, location index), for audits.
  struct ElementRef {
    std::string noun, key;
    int32_t location;
  };
  std::vector<ElementRef> elements() const;

 private:
  Snapshot() = default;
  struct Filter;  // candidate keys of build_for_call
  static std::shared_ptr<const Snapshot> build_impl(const Store& store, std::int64_t rev, const Filter* filter);
  void index();  // builds the hash maps from the element arrays
  std::string payload() const;
  static std::shared_ptr<Snapshot> from_payload(std::string payload);

  std::int64_t revision_ = 0;
  std::string created_at_;
  Json objects_;  // noun -> {key -> object}

  // Locations: one blob, each record its id then its fields, joined by \x1f in kLocationFields
  // order: two allocations for a million locations instead of tens of millions.
  std::string loc_blob_;
  std::vector<uint32_t> loc_offsets_;  // start of each record; the next start (or blob end) ends it
  void index_locations();
  // id -> location index: open addressing over the blob, a slot being the id's hash in the high
  // half and index + 1 in the low (0: empty); half the memory of a node map, one probe per lookup.
  std::vector<uint64_t> loc_slots_;
  uint64_t loc_mask_ = 0;
  int32_t find_location(std::string_view id) const;

  std::vector<SubnetRec> subnets_;
  std::vector<std::string> site_names_;
  std::vector<std::pair<std::string, int32_t>> waps_, switches_, ports_;  // (key as stored, location)

  // Indexes (not serialised; rebuilt by index()).
  void compile_objects();
  std::unordered_map<std::string, std::unordered_map<std::string_view, const Json*>> object_index_;
  std::unordered_map<std::string, PolicyRec> policy_recs_;
  std::unordered_map<std::string, VoicePolicyRec> voice_policy_recs_;
  std::unordered_map<std::string, UserRec> user_recs_;
  std::unordered_map<std::string, std::string> user_by_line_;  // line without "tel:" -> user URI
  std::vector<std::string> user_domains_;
  std::vector<std::string> notification_targets_;
  std::vector<SiteRec> site_recs_;
  std::vector<TrunkRec> trunk_recs_;
  std::unordered_map<std::string, int32_t> trunk_by_name_;
  std::vector<RouteRec> route_recs_;
  std::unordered_map<std::string, std::vector<Path>> emergency_paths_;  // usage \x1f number
  std::unordered_map<std::string, std::vector<CompiledRule>> dial_rules_;
  std::unordered_map<std::string, std::pair<std::string, std::string>> normalized_;  // plan \x1f number
  struct V6Key {
    uint64_t hi, lo;
    int len;
    bool operator==(const V6Key& o) const { return hi == o.hi && lo == o.lo && len == o.len; }
  };
  struct V6Hash {
    std::size_t operator()(const V6Key& k) const { return std::hash<uint64_t>()(k.hi * 1000003u ^ k.lo ^ static_cast<uint64_t>(k.len) << 56); }
  };
  // (len << 32 | network) -> the subnet with its location and site: open addressing with linear
  // probing in one huge-page-backed array, so a lookup costs one cache line, not a bucket, a node
  // and a subnet record.
  struct V4Slot {
    uint64_t key;
    int32_t subnet, location, site;
  };
  struct FlatMap {
    static constexpr uint64_t kEmpty = ~0ull;
    struct Free {
      void operator()(V4Slot* p) const;
    };
    std::unique_ptr<V4Slot[], Free> slots;
    uint64_t mask = 0;
    void build(const std::vector<V4Slot>& items);
    const V4Slot* find(uint64_t key) const;
  };
  FlatMap v4_;
  std::vector<uint8_t> loc_status_;  // LocationStatus per location, for the call path
  std::vector<int> v4_lengths_;               // prefix lengths present, longest first
  std::unordered_map<V6Key, int32_t, V6Hash> v6_;
  std::vector<int> v6_lengths_;
  std::unordered_map<uint64_t, int32_t> wap_exact_;      // 48-bit BSSID -> location
  std::unordered_map<uint64_t, int32_t> wap_wild_[3];    // by wildcard hex digits (1 or 2): prefix -> location
  std::unordered_map<std::string, int32_t> chassis_;     // normalised chassis -> location
  std::unordered_map<std::string, int32_t> port_index_;  // normalised chassis|PORT -> location
};

/// The emergency numbers of a location policy object: its emergency_numbers pairs, else its dial
/// string, each followed by its masks (a mask is {dial, mask}; the dial string itself {dial, ""}).
std::vector<Snapshot::EmergencyNumber> policy_emergency_numbers(const Json& policy);

/// A chassis ID or BSSID compared without case or separators.
std::string normalize_mac(std::string_view s);

}  // namespace e911
