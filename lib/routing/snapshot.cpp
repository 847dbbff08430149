#include "e911/snapshot.hpp"

#include <SQLiteCpp/SQLiteCpp.h>
#include <arpa/inet.h>
#include <sys/mman.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <set>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "e911/durable_file.hpp"
#include "e911/error.hpp"
#include "e911/key_index.hpp"
#include "e911/rows.hpp"
#include "e911/sip_uri.hpp"
#include "e911/text.hpp"

namespace e911 {

namespace {

constexpr char kMagic[8] = {'E', '9', '1', '1', 'S', 'N', 'A', 'P'};
// 2: voice policies (and users' voice_policy) among the small objects.
constexpr uint32_t kFormatVersion = 3;  // 3: the small objects as [noun, [[key, object]...]] arrays

// Location fields in the order of a location record.
const char* const kLocationFields[] = {"description", "location", "company_name", "house_number", "house_number_suffix", "pre_directional",
                                       "street_name", "street_suffix", "post_directional", "city", "state", "postal_code", "country",
                                       "building", "floor", "unit", "room", "seat", "landmark", "elins", "latitude", "longitude",
                                       "validation_status"};
constexpr std::size_t kLocationFieldCount = sizeof(kLocationFields) / sizeof(kLocationFields[0]);

// The kinds small enough to keep as JSON objects.
const char* const kObjectNouns[] = {"policy", "voicepolicy", "region", "site", "usage", "route", "trunk", "dialplan", "user"};

uint64_t fnv1a(std::string_view data) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : data) h = (h ^ c) * 1099511628211ull;
  return h;
}

// Binary writing and bounds-checked reading of the payload.
struct Out {
  std::string buf;
  void u32(uint32_t v) { buf.append(reinterpret_cast<const char*>(&v), 4); }
  void i32(int32_t v) { buf.append(reinterpret_cast<const char*>(&v), 4); }
  void i64(int64_t v) { buf.append(reinterpret_cast<const char*>(&v), 8); }
  void str(std::string_view s) {
    u32(static_cast<uint32_t>(s.size()));
    buf.append(s);
  }
};

struct In {
  std::string_view data;
  std::size_t pos = 0;
  void need(std::size_t n) const {
    if (data.size() - pos < n) throw Error(ErrorKind::invalid, "snapshot is corrupt: a record runs past the end of the payload");
  }
  uint32_t u32() {
    need(4);
    uint32_t v;
    std::memcpy(&v, data.data() + pos, 4);
    pos += 4;
    return v;
  }
  int32_t i32() { return static_cast<int32_t>(u32()); }
  int64_t i64() {
    need(8);
    int64_t v;
    std::memcpy(&v, data.data() + pos, 8);
    pos += 8;
    return v;
  }
  std::string str() {
    const uint32_t n = u32();
    need(n);
    std::string s(data.substr(pos, n));
    pos += n;
    return s;
  }
};

int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool parse_ip(std::string_view text, bool& v6, unsigned char (&addr)[16]) {
  char buf[64];
  if (text.size() >= sizeof buf) return false;
  std::memcpy(buf, text.data(), text.size());
  buf[text.size()] = 0;
  v6 = std::memchr(buf, ':', text.size()) != nullptr;
  std::memset(addr, 0, 16);
  return inet_pton(v6 ? AF_INET6 : AF_INET, buf, addr) == 1;
}

uint64_t be64(const unsigned char* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = v << 8 | p[i];
  return v;
}

uint64_t mask_hi(int len) { return len <= 0 ? 0 : len >= 64 ? ~0ull : ~0ull << (64 - len); }

}  // namespace

const char* to_string(LocationSource s) {
  switch (s) {
    case LocationSource::caller_pidf: return "caller-pidf";
    case LocationSource::wap: return "wireless-access-point";
    case LocationSource::port: return "switch-port";
    case LocationSource::chassis: return "switch";
    case LocationSource::subnet: return "subnet";
    case LocationSource::default_location: return "default-location";
    case LocationSource::none: return "none";
  }
  return "none";
}

std::string normalize_mac(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    if (c == '-' || c == ':' || c == '.' || c == ' ') continue;
    out += (c >= 'a' && c <= 'z') ? static_cast<char>(c - 'a' + 'A') : c;
  }
  return out;
}

Json Civic::to_json() const {
  Json j = Json::object();
  auto put = [&](const char* k, const std::string& v) {
    if (!v.empty()) j[k] = v;
  };
  put("id", id);
  put("location", location);
  put("company_name", company_name);
  put("house_number", house_number);
  put("house_number_suffix", house_number_suffix);
  put("pre_directional", pre_directional);
  put("street_name", street_name);
  put("street_suffix", street_suffix);
  put("post_directional", post_directional);
  put("city", city);
  put("state", state);
  put("postal_code", postal_code);
  put("country", country);
  put("building", building);
  put("floor", floor);
  put("unit", unit);
  put("room", room);
  put("seat", seat);
  put("landmark", landmark);
  if (!elins.empty()) j["elins"] = elins;
  if (latitude) j["latitude"] = *latitude;
  if (longitude) j["longitude"] = *longitude;
  put("validation_status", validation_status);
  return j;
}

// ---- build ---------------------------------------------------------------------------------

struct Snapshot::Filter {
  // The candidate keys of each table, as JSON arrays bound to :keys (never SQL text: a port ID
  // is whatever the phone or the command line says).
  std::string subnets, waps, switches, ports;
};

namespace {

// Selects the rows whose key is one of the JSON array bound to :keys.
constexpr const char* kKeyInList = " AND key IN (SELECT value FROM json_each(:keys))";

std::string json_list(const std::set<std::string>& values) {
  Json list = Json::array();
  for (const auto& v : values) list.push_back(v);
  // Text that is not UTF-8 matches no key (keys are checked UTF-8 where they enter).
  return list.dump(-1, ' ', false, Json::error_handler_t::replace);
}

// A MAC-like identifier as people may have stored it: either case, '-' or ':' separators.
std::set<std::string> mac_variants(const std::string& s) {
  std::set<std::string> out;
  if (s.empty()) return out;
  const std::string n = normalize_mac(s);
  for (const bool lower : {false, true}) {
    std::string base = lower ? to_lower(n) : n;
    out.insert(base);
    for (const char sep : {'-', ':'}) {
      std::string with;
      for (std::size_t i = 0; i < base.size(); ++i) {
        if (i && i % 2 == 0 && base.size() == 12) with += sep;
        with += base[i];
      }
      out.insert(with);
    }
  }
  out.insert(s);
  return out;
}

}  // namespace

std::shared_ptr<const Snapshot> Snapshot::build(const Store& store, std::int64_t rev) { return build_impl(store, rev, nullptr); }

std::shared_ptr<const Snapshot> Snapshot::build_for_call(const Store& store, const std::string& ip, const std::string& bssid,
                                                         const std::string& chassis, const std::string& port) {
  Filter f;
  std::set<std::string> nets, waps, switches, ports;
  bool v6 = false;
  unsigned char a[16];
  if (!ip.empty() && parse_ip(ip, v6, a)) {
    // Every prefix of the address, as a network address in canonical text.
    const int total = v6 ? 128 : 32;
    for (int len = 0; len <= total; ++len) {
      unsigned char m[16];
      std::memcpy(m, a, 16);
      for (int i = len; i < total; ++i) m[i / 8] &= static_cast<unsigned char>(~(1 << (7 - i % 8)));
      char buf[INET6_ADDRSTRLEN];
      inet_ntop(v6 ? AF_INET6 : AF_INET, m, buf, sizeof buf);
      nets.insert(std::string(buf) + "/" + std::to_string(len));
    }
  }
  for (const auto& b : mac_variants(bssid)) {
    waps.insert(b);
    // The wildcard forms that could cover it: the last one or two characters as '*'.
    if (b.size() == 17) {
      waps.insert(b.substr(0, 16) + "*");
      waps.insert(b.substr(0, 15) + "*");
    }
  }
  switches = mac_variants(chassis);
  if (!port.empty()) {
    // Ports compare without case; the usual spellings are tried by key: as given, gi1/0/1,
    // GI1/0/1 and Gi1/0/1.
    std::string capital = to_lower(port);
    capital[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(capital[0])));
    const std::string spellings[] = {port, to_lower(port), normalize_mac(port), capital};
    for (const auto& c : switches)
      for (const auto& p : spellings) ports.insert(c + "|" + p);
  }
  f.subnets = json_list(nets);
  f.waps = json_list(waps);
  f.switches = json_list(switches);
  f.ports = json_list(ports);
  return build_impl(store, 0, &f);
}

namespace {

/// Appends `key` to an ordered JSON object known not to hold it (no lookup: ordered_json's
/// operator[] searches linearly).
void push_unique(Json& object, std::string key, Json value) {
  auto& pairs = static_cast<std::vector<std::pair<const std::string, Json>>&>(object.get_ref<Json::object_t&>());
  pairs.emplace_back(std::move(key), std::move(value));
}

}  // namespace

std::shared_ptr<const Snapshot> Snapshot::build_impl(const Store& store, std::int64_t rev, const Filter* filter) {
  std::shared_ptr<Snapshot> s(new Snapshot);
  s->revision_ = rev > 0 ? rev : store.head();
  s->created_at_ = utc_now();
  s->objects_ = Json::object();
  for (const char* noun : kObjectNouns) {
    const Kind& k = kind_by_noun(noun);
    Json& all = s->objects_[noun] = Json::object();
    store.for_each(
        k,
        [&](Json&& obj) {
          std::string key = k.key_of(obj);  // before the move below
          // One current row per key: appended without the ordered map's linear search, which
          // made 100,000 users a quadratic build.
          push_unique(all, std::move(key), normalize(k, std::move(obj)));
        },
        rev);
  }
  try {
    auto& db = const_cast<Store&>(store).db();
    const std::string alive = Store::alive_at(rev);
    // Locations go straight from columns to the record blob: a million of them as JSON would
    // cost more than the whole build may take.
    std::string cols;
    for (const char* f : kLocationFields) cols += std::string(", ") + f;
    // Rowid order: ordering by key would read a million rows through the index, at random.
    // A call's snapshot reads only the locations its candidate elements and defaults name.
    std::string loc_where = " NOT INDEXED WHERE " + alive, loc_keys;
    if (filter) {
      std::set<std::string> ids;
      for (const char* noun : {"policy", "site"})
        for (const auto& [key, obj] : s->objects_[noun].items())
          if (obj.contains("default_location")) ids.insert(obj["default_location"].get<std::string>());
      const std::pair<const char*, const std::string*> tables[] = {
          {"subnet", &filter->subnets}, {"wap", &filter->waps}, {"switch", &filter->switches}, {"port", &filter->ports}};
      for (const auto& [table, list] : tables) {
        Rows q(db, std::string("SELECT location FROM ") + table + " WHERE " + alive + kKeyInList);
        q.bind(":rev", rev).bind(":keys", *list);
        while (q.next())
          if (!q.null(0)) ids.insert(std::string(q.text(0)));
      }
      loc_where = " WHERE " + alive + kKeyInList;
      loc_keys = json_list(ids);
    }
    Rows loc(db, "SELECT key" + cols + " FROM location" + loc_where);
    loc.bind(":rev", rev).bind(":keys", loc_keys);
    // max(rowid) bounds the rows (it is read from the b-tree's edge): reserving for it keeps a
    // million-location blob from being copied and faulted in again at every doubling.
    if (!filter) {
      const std::size_t rows = max_rowid(db, "location");
      s->loc_offsets_.reserve(rows);
      s->loc_blob_.reserve(rows * 80);
      s->subnets_.reserve(max_rowid(db, "subnet"));
    }
    while (loc.next()) {
      s->loc_offsets_.push_back(static_cast<uint32_t>(s->loc_blob_.size()));
      s->loc_blob_ += loc.text(0);
      for (std::size_t i = 0; i < kLocationFieldCount; ++i) {
        s->loc_blob_ += '\x1f';
        s->loc_blob_ += loc.text(static_cast<int>(i) + 1);
      }
    }
    if (s->loc_blob_.size() > UINT32_MAX) throw Error(ErrorKind::failure, "too many locations for one snapshot");
    s->index_locations();
    auto loc_of = [&](const Rows& r, int col) -> int32_t { return r.null(col) ? -1 : s->find_location(r.text(col)); };
    for (const auto& [name, site] : s->objects_["site"].items()) s->site_names_.push_back(name);
    std::unordered_map<std::string, int32_t> site_index;
    for (std::size_t i = 0; i < s->site_names_.size(); ++i) site_index.emplace(s->site_names_[i], static_cast<int32_t>(i));
    Rows sub(db, "SELECT key, location, site FROM subnet" + (filter ? " WHERE " + alive + kKeyInList : " NOT INDEXED WHERE " + alive));
    sub.bind(":rev", rev);
    if (filter) sub.bind(":keys", filter->subnets);
    std::string site_name;
    while (sub.next()) {
      SubnetRec r{std::string(sub.text(0)), loc_of(sub, 1), -1};
      if (!sub.null(2)) {
        site_name.assign(sub.text(2));
        const auto it = site_index.find(site_name);
        if (it != site_index.end()) r.site = it->second;
      }
      s->subnets_.push_back(std::move(r));
    }
    auto elements = [&](const char* table, std::vector<std::pair<std::string, int32_t>>& out, const std::string* list) {
      Rows st(db, std::string("SELECT key, location FROM ") + table + (filter ? " WHERE " + alive + kKeyInList : " NOT INDEXED WHERE " + alive));
      st.bind(":rev", rev);
      if (list) st.bind(":keys", *list);
      while (st.next()) out.emplace_back(std::string(st.text(0)), loc_of(st, 1));
    };
    elements("wap", s->waps_, filter ? &filter->waps : nullptr);
    elements("switch", s->switches_, filter ? &filter->switches : nullptr);
    elements("port", s->ports_, filter ? &filter->ports : nullptr);
  } catch (const SQLite::Exception& e) {
    throw Error(ErrorKind::store, std::string("cannot read the store: ") + e.what());
  }
  s->index();
  return s;
}

void Snapshot::index_locations() {
  std::size_t cap = 16;
  while (cap < loc_offsets_.size() * 2) cap <<= 1;
  loc_slots_.assign(cap, 0);
  loc_mask_ = cap - 1;
  for (std::size_t i = 0; i < loc_offsets_.size(); ++i) {
    const std::string_view id = location_id(static_cast<int32_t>(i));
    const uint64_t hash = KeyIndex::hash(id);
    const uint64_t tag = hash & 0xffffffff00000000ull;
    for (uint64_t h = hash & loc_mask_;; h = (h + 1) & loc_mask_) {
      uint64_t& slot = loc_slots_[h];
      if (slot == 0) {
        slot = tag | (static_cast<uint64_t>(i) + 1);
        break;
      }
      if ((slot & 0xffffffff00000000ull) == tag && location_id(static_cast<int32_t>((slot & 0xffffffffu) - 1)) == id) break;  // the first wins
    }
  }
}

int32_t Snapshot::find_location(std::string_view id) const {
  if (loc_slots_.empty()) return -1;
  const uint64_t hash = KeyIndex::hash(id);
  const uint64_t tag = hash & 0xffffffff00000000ull;
  for (uint64_t h = hash & loc_mask_;; h = (h + 1) & loc_mask_) {
    const uint64_t slot = loc_slots_[h];
    if (slot == 0) return -1;
    const auto index = static_cast<int32_t>((slot & 0xffffffffu) - 1);
    if ((slot & 0xffffffff00000000ull) == tag && location_id(index) == id) return index;
  }
}

void Snapshot::index() {
  // ordered_json finds keys by a linear search: index the objects once for per-call lookups.
  object_index_.clear();
  for (const auto& [noun, all] : objects_.items()) {
    auto& idx = object_index_[noun];
    idx.reserve(all.size());
    for (const auto& [key, obj] : all.items()) idx.emplace(key, &obj);
  }
  if (loc_slots_.size() < loc_offsets_.size() * 2 || loc_slots_.empty()) index_locations();
  loc_status_.resize(loc_offsets_.size());
  for (std::size_t i = 0; i < loc_offsets_.size(); ++i) {
    const std::string_view st = location_status(static_cast<int32_t>(i));
    loc_status_[i] = static_cast<uint8_t>(st == "valid"         ? LocationStatus::valid
                                          : st == "unvalidated" ? LocationStatus::unvalidated
                                          : st == "invalid"     ? LocationStatus::invalid
                                                                : LocationStatus::other);
  }
  compile_objects();

  v6_.clear();
  std::vector<bool> v4len(33), v6len(129);
  std::vector<V4Slot> v4;
  v4.reserve(subnets_.size());
  for (std::size_t i = 0; i < subnets_.size(); ++i) {
    const std::string& cidr = subnets_[i].cidr;
    const auto slash = cidr.find('/');
    if (slash == std::string::npos) continue;
    bool v6 = false;
    unsigned char a[16];
    if (!parse_ip(std::string_view(cidr).substr(0, slash), v6, a)) continue;
    const int len = std::atoi(cidr.c_str() + slash + 1);
    if (!v6) {
      if (len < 0 || len > 32) continue;
      const uint32_t ip = static_cast<uint32_t>(a[0]) << 24 | a[1] << 16 | a[2] << 8 | a[3];
      const uint32_t net = len == 0 ? 0 : ip & (~0u << (32 - len));
      v4.push_back({static_cast<uint64_t>(len) << 32 | net, static_cast<int32_t>(i), subnets_[i].location, subnets_[i].site});
      v4len[static_cast<std::size_t>(len)] = true;
    } else {
      if (len < 0 || len > 128) continue;
      const uint64_t hi = be64(a), lo = be64(a + 8);
      V6Key k{hi & mask_hi(len), lo & mask_hi(len - 64), len};
      v6_.emplace(k, static_cast<int32_t>(i));
      v6len[static_cast<std::size_t>(len)] = true;
    }
  }
  v4_.build(v4);
  v4_lengths_.clear();
  v6_lengths_.clear();
  for (int l = 32; l >= 0; --l)
    if (v4len[static_cast<std::size_t>(l)]) v4_lengths_.push_back(l);
  for (int l = 128; l >= 0; --l)
    if (v6len[static_cast<std::size_t>(l)]) v6_lengths_.push_back(l);

  wap_exact_.clear();
  for (auto& m : wap_wild_) m.clear();
  wap_exact_.reserve(waps_.size());
  for (const auto& [bssid, loc] : waps_) {
    const std::string n = normalize_mac(bssid);
    std::size_t hex = n.size();
    const bool wild = !n.empty() && n.back() == '*';
    if (wild) --hex;
    uint64_t v = 0;
    bool ok = hex <= 12;
    for (std::size_t i = 0; i < hex && ok; ++i) {
      const int h = hexval(n[i]);
      ok = h >= 0;
      v = v << 4 | static_cast<uint64_t>(h);
    }
    if (!ok) continue;
    if (!wild && hex == 12) wap_exact_.emplace(v, loc);
    else if (wild && hex >= 10) wap_wild_[12 - hex].emplace(v, loc);
  }
  chassis_.clear();
  chassis_.reserve(switches_.size());
  for (const auto& [key, loc] : switches_) chassis_.emplace(normalize_mac(key), loc);
  port_index_.clear();
  port_index_.reserve(ports_.size());
  for (const auto& [key, loc] : ports_) {
    const auto bar = key.find('|');
    if (bar == std::string::npos) continue;
    port_index_.emplace(normalize_mac(key.substr(0, bar)) + "|" + to_lower(key.substr(bar + 1)), loc);
  }
}

// ---- lookups -------------------------------------------------------------------------------

namespace {
inline uint64_t mix64(uint64_t x) {  // splitmix64's finaliser: consecutive networks spread out
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}
}  // namespace

void Snapshot::FlatMap::Free::operator()(V4Slot* p) const { std::free(p); }

void Snapshot::FlatMap::build(const std::vector<V4Slot>& items) {
  std::size_t cap = 16;
  while (cap < items.size() * 2) cap <<= 1;  // at most half full
  const std::size_t bytes = cap * sizeof(V4Slot);
  constexpr std::size_t kHuge = 2u << 20;
  // Huge pages where the kernel offers them on request: a random probe then rarely misses the TLB.
  void* mem = bytes >= kHuge ? std::aligned_alloc(kHuge, (bytes + kHuge - 1) / kHuge * kHuge) : std::malloc(bytes);
  if (!mem) throw std::bad_alloc();
#ifdef MADV_HUGEPAGE
  if (bytes >= kHuge) madvise(mem, (bytes + kHuge - 1) / kHuge * kHuge, MADV_HUGEPAGE);
#endif
  slots.reset(static_cast<V4Slot*>(mem));
  for (std::size_t i = 0; i < cap; ++i) slots[i] = {kEmpty, -1, -1, -1};
  mask = cap - 1;
  for (const auto& item : items) {
    for (uint64_t h = mix64(item.key) & mask;; h = (h + 1) & mask) {
      V4Slot& slot = slots[h];
      if (slot.key == item.key) break;  // the first one wins, as emplace would
      if (slot.key == kEmpty) {
        slot = item;
        break;
      }
    }
  }
}

const Snapshot::V4Slot* Snapshot::FlatMap::find(uint64_t key) const {
  if (!slots) return nullptr;
  for (uint64_t h = mix64(key) & mask;; h = (h + 1) & mask) {
    const V4Slot& slot = slots[h];
    if (slot.key == key) return &slot;
    if (slot.key == kEmpty) return nullptr;
  }
}

int32_t Snapshot::find_wap(std::string_view bssid) const {
  const std::string n = normalize_mac(bssid);
  if (n.size() != 12) return -1;
  uint64_t v = 0;
  for (char c : n) {
    const int h = hexval(c);
    if (h < 0) return -1;
    v = v << 4 | static_cast<uint64_t>(h);
  }
  if (auto it = wap_exact_.find(v); it != wap_exact_.end()) return it->second;
  if (auto it = wap_wild_[1].find(v >> 4); it != wap_wild_[1].end()) return it->second;
  if (auto it = wap_wild_[2].find(v >> 8); it != wap_wild_[2].end()) return it->second;
  return -1;
}

int32_t Snapshot::find_chassis(std::string_view chassis) const {
  const auto it = chassis_.find(normalize_mac(chassis));
  return it == chassis_.end() ? -1 : it->second;
}

int32_t Snapshot::find_port(std::string_view chassis, std::string_view port) const {
  const auto it = port_index_.find(normalize_mac(chassis) + "|" + to_lower(port));
  return it == port_index_.end() ? -1 : it->second;
}

int32_t Snapshot::find_subnet(std::string_view ip) const {
  bool v6 = false;
  unsigned char a[16];
  if (!parse_ip(ip, v6, a)) return -1;
  if (!v6) {
    const uint32_t addr = static_cast<uint32_t>(a[0]) << 24 | a[1] << 16 | a[2] << 8 | a[3];
    for (int len : v4_lengths_) {
      const uint32_t net = len == 0 ? 0 : addr & (~0u << (32 - len));
      if (const V4Slot* slot = v4_.find(static_cast<uint64_t>(len) << 32 | net)) return slot->subnet;
    }
    return -1;
  }
  const uint64_t hi = be64(a), lo = be64(a + 8);
  for (int len : v6_lengths_) {
    if (auto it = v6_.find(V6Key{hi & mask_hi(len), lo & mask_hi(len - 64), len}); it != v6_.end()) return it->second;
  }
  return -1;
}

Snapshot::SubnetHit Snapshot::match_subnet(std::string_view ip) const {
  SubnetHit hit;
  bool v6 = false;
  unsigned char a[16];
  if (!parse_ip(ip, v6, a)) return hit;
  if (!v6) {
    const uint32_t addr = static_cast<uint32_t>(a[0]) << 24 | a[1] << 16 | a[2] << 8 | a[3];
    for (int len : v4_lengths_) {
      const uint32_t net = len == 0 ? 0 : addr & (~0u << (32 - len));
      if (const V4Slot* slot = v4_.find(static_cast<uint64_t>(len) << 32 | net)) return {slot->subnet, slot->location, slot->site};
    }
    return hit;
  }
  hit.subnet = find_subnet(ip);
  if (hit.subnet >= 0) {
    hit.location = subnets_[static_cast<std::size_t>(hit.subnet)].location;
    hit.site = subnets_[static_cast<std::size_t>(hit.subnet)].site;
  }
  return hit;
}

int32_t Snapshot::location_index(const std::string& id) const {
  return find_location(id);
}

namespace {
std::string_view record_of(const std::string& blob, const std::vector<uint32_t>& offsets, int32_t index) {
  if (index < 0 || static_cast<std::size_t>(index) >= offsets.size()) return {};
  const std::size_t i = static_cast<std::size_t>(index);
  const std::size_t start = offsets[i];
  const std::size_t end = i + 1 < offsets.size() ? offsets[i + 1] : blob.size();
  return std::string_view(blob).substr(start, end - start);
}
}  // namespace

std::string_view Snapshot::location_id(int32_t index) const {
  const std::string_view rec = record_of(loc_blob_, loc_offsets_, index);
  return rec.substr(0, rec.find('\x1f'));
}

std::string_view Snapshot::location_status(int32_t index) const {
  // validation_status is the last field of a record.
  const std::string_view rec = record_of(loc_blob_, loc_offsets_, index);
  const auto sep = rec.rfind('\x1f');
  const std::string_view status = sep == std::string_view::npos ? std::string_view() : rec.substr(sep + 1);
  return status.empty() ? std::string_view("unvalidated") : status;
}

std::string Snapshot::location_first_elin(int32_t index) const {
  auto all = location_elins(index);
  return all.empty() ? std::string() : std::move(all.front());
}

std::vector<std::string> Snapshot::location_elins(int32_t index) const {
  if (index < 0 || static_cast<std::size_t>(index) >= loc_offsets_.size()) return {};
  const std::string_view rec = record_of(loc_blob_, loc_offsets_, index);
  // elins is the fourth field from the end: elins, latitude, longitude, validation_status.
  std::size_t end = rec.size();
  for (int i = 0; i < 3 && end != std::string_view::npos; ++i) end = rec.rfind('\x1f', end - 1);
  if (end == std::string_view::npos || end == 0) return {};
  const auto start = rec.rfind('\x1f', end - 1);
  if (start == std::string_view::npos) return {};
  const std::string_view elins = rec.substr(start + 1, end - start - 1);
  if (elins.empty()) return {};
  const Json j = Json::parse(elins, nullptr, false);
  std::vector<std::string> out;
  if (j.is_array())
    for (const auto& e : j)
      if (e.is_string()) out.push_back(e.get<std::string>());
  return out;
}

Civic Snapshot::location(int32_t index) const {
  Civic c;
  if (index < 0 || static_cast<std::size_t>(index) >= loc_offsets_.size()) return c;
  const std::size_t i = static_cast<std::size_t>(index);
  const std::size_t start = loc_offsets_[i];
  const std::size_t end = i + 1 < loc_offsets_.size() ? loc_offsets_[i + 1] : loc_blob_.size();
  const std::string_view rec = std::string_view(loc_blob_).substr(start, end - start);
  std::string* slots[] = {&c.description, &c.location, &c.company_name, &c.house_number, &c.house_number_suffix, &c.pre_directional,
                          &c.street_name, &c.street_suffix, &c.post_directional, &c.city, &c.state, &c.postal_code, &c.country,
                          &c.building, &c.floor, &c.unit, &c.room, &c.seat, &c.landmark};
  std::size_t p = rec.find('\x1f');
  c.id.assign(rec.substr(0, p));
  p = p == std::string_view::npos ? rec.size() : p + 1;
  std::size_t field = 0;
  std::string elins, lat, lon, status;
  while (field < kLocationFieldCount) {
    std::size_t q = rec.find('\x1f', p);
    if (q == std::string_view::npos) q = rec.size();
    const std::string_view v = rec.substr(p, q - p);
    if (field < 19) slots[field]->assign(v);
    else if (field == 19) elins.assign(v);
    else if (field == 20) lat.assign(v);
    else if (field == 21) lon.assign(v);
    else status.assign(v);
    ++field;
    p = q + 1;
    if (q == rec.size()) break;
  }
  if (!elins.empty()) {
    const Json j = Json::parse(elins, nullptr, false);
    if (j.is_array())
      for (const auto& e : j) c.elins.push_back(e.get<std::string>());
  }
  if (!lat.empty()) c.latitude = std::atof(lat.c_str());
  if (!lon.empty()) c.longitude = std::atof(lon.c_str());
  if (!status.empty()) c.validation_status = status;
  return c;
}

const Json& Snapshot::objects(const std::string& noun) const {
  static const Json empty = Json::object();
  const auto it = objects_.find(noun);
  return it == objects_.end() ? empty : *it;
}

const Json* Snapshot::object(const std::string& noun, const std::string& key) const {
  const auto idx = object_index_.find(noun);
  if (idx == object_index_.end()) return nullptr;
  const auto it = idx->second.find(key);
  return it == idx->second.end() ? nullptr : it->second;
}

namespace {

std::string jstr(const Json& o, const char* key) {
  const auto it = o.find(key);
  return it != o.end() && it->is_string() ? it->get<std::string>() : std::string();
}

}  // namespace

std::vector<Snapshot::EmergencyNumber> policy_emergency_numbers(const Json& p) {
  std::vector<Snapshot::EmergencyNumber> out;
  auto masks = [&](const std::string& dial, const std::string& list) {
    for (const auto& m : split(list, ';'))
      if (!m.empty()) out.push_back({dial, m});
  };
  if (p.contains("emergency_numbers")) {
    for (const auto& n : p["emergency_numbers"]) {
      out.push_back({jstr(n, "dial_string"), ""});
      masks(jstr(n, "dial_string"), jstr(n, "dial_mask"));
    }
  } else if (p.contains("emergency_dial_string")) {
    out.push_back({jstr(p, "emergency_dial_string"), ""});
    masks(jstr(p, "emergency_dial_string"), jstr(p, "emergency_dial_mask"));
  }
  return out;
}

void Snapshot::compile_objects() {
  policy_recs_.clear();
  for (const auto& [id, p] : objects("policy").items()) {
    PolicyRec r;
    r.identity = id;
    r.e911 = p.value("enhanced_emergency_services", false);
    r.usage = jstr(p, "pstn_usage");
    r.conference_uri = jstr(p, "conference_uri");
    r.conference_mode = jstr(p, "conference_mode");
    r.default_location_id = jstr(p, "default_location");
    r.default_location = r.default_location_id.empty() ? -1 : location_index(r.default_location_id);
    r.numbers = policy_emergency_numbers(p);
    if (const std::string t = jstr(p, "test_number"); !t.empty()) r.test_number = t;
    r.test_by_provider = jstr(p, "test_call_answer") == "provider";
    // The three kinds of target travel in the policy's JSON, which the format already carries
    // whole: a snapshot with webhooks or e-mails is still format 3.
    for (const auto& [field, list] : {std::pair{"notification_uris", &r.notify}, {"notification_webhooks", &r.webhooks}, {"notification_emails", &r.emails}})
      if (p.contains(field))
        for (const auto& u : p[field]) list->push_back(u.get<std::string>());
    policy_recs_.emplace(id, std::move(r));
  }
  notification_targets_.clear();
  for (const auto& [id, r] : policy_recs_)
    for (const std::string& target : r.notify) {
      // As the B2BUA reads a notification URI: "sip:" when it has no scheme.
      auto uri = sip::parse_uri(target.find(':') == std::string::npos ? "sip:" + target : target);
      if (!uri || (uri->scheme != sip::Scheme::sip && uri->scheme != sip::Scheme::sips) || !uri->has_user || uri->user.empty()) continue;
      std::string host = uri->host;
      for (auto& c : host) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      notification_targets_.push_back("sip:" + uri->user + "@" + host);
    }
  std::sort(notification_targets_.begin(), notification_targets_.end());
  notification_targets_.erase(std::unique(notification_targets_.begin(), notification_targets_.end()), notification_targets_.end());
  user_recs_.clear();
  user_by_line_.clear();
  user_domains_.clear();
  user_recs_.reserve(objects("user").size());
  for (const auto& [uri, u] : objects("user").items()) {
    const std::string line = jstr(u, "line_uri");
    user_recs_.emplace(uri, UserRec{jstr(u, "display_name"), line.rfind("tel:", 0) == 0 ? line.substr(4) : line, jstr(u, "location_policy"),
                                    jstr(u, "voice_policy"), jstr(u, "ha1_md5"), jstr(u, "ha1_sha256")});
    if (!line.empty()) {
      std::string number = line.rfind("tel:", 0) == 0 ? line.substr(4) : line;
      number = number.substr(0, number.find(';'));  // tel:+14255550101;ext=101: the number
      user_by_line_.emplace(std::move(number), uri);
    }
    const auto at = uri.find('@');
    if (at != std::string::npos) {
      std::string host = uri.substr(at + 1);
      host = host.substr(0, host.find_first_of(";:>"));
      for (auto& c : host) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      if (!host.empty() && std::find(user_domains_.begin(), user_domains_.end(), host) == user_domains_.end()) user_domains_.push_back(host);
    }
  }
  std::sort(user_domains_.begin(), user_domains_.end());
  site_recs_.clear();
  for (const auto& name : site_names_) {
    const Json* o = object("site", name);
    SiteRec r;
    r.name = name;
    if (o) {
      r.policy = jstr(*o, "location_policy");
      r.default_location_id = jstr(*o, "default_location");
      r.default_location = r.default_location_id.empty() ? -1 : location_index(r.default_location_id);
    }
    if (object("dialplan", "site:" + name)) r.dial_plan = "site:" + name;
    if (object("voicepolicy", "site:" + name)) r.voice_policy = "site:" + name;
    site_recs_.push_back(std::move(r));
  }
  trunk_recs_.clear();
  trunk_by_name_.clear();
  for (const auto& [name, t] : objects("trunk").items()) {
    trunk_by_name_.emplace(name, static_cast<int32_t>(trunk_recs_.size()));
    TrunkRec rec{name, jstr(t, "request_uri_form"), t.value("accepts_pidf_lo", false), t.value("strip_plus", false), t.value("forward_pai", true)};
    rec.uri_form = rec.form == "plus" ? UriForm::plus : rec.form == "digits" ? UriForm::digits : rec.form == "sos-urn" ? UriForm::sos_urn : UriForm::as_dialled;
    rec.host = jstr(t, "host");
    rec.port = t.value("port", 5060);
    rec.stream = jstr(t, "transport") != "udp";
    rec.tls = jstr(t, "transport") == "tls";
    rec.tls_server_name = jstr(t, "tls_server_name");
    rec.tls_fallback = t.value("tls_fallback", false);
    rec.tls_fallback_port = t.value("tls_fallback_port", 5060);
    rec.failover_seconds = t.value("failover_seconds", 10);
    rec.options_ping = t.value("options_ping", true);
    rec.options_interval = t.value("options_interval", 30);
    trunk_recs_.push_back(std::move(rec));
  }
  route_recs_.clear();
  for (const auto& [name, r] : objects("route").items()) {
    RouteRec c;
    c.name = name;
    c.priority = r.value("priority", 0);
    c.enabled = r.value("enabled", true);
    c.pattern = Pattern(jstr(r, "number_pattern"));
    c.valid = c.pattern.ok();  // validate reports one that is not (E406); such a route matches nothing
    if (r.contains("pstn_usages"))
      for (const auto& u : r["pstn_usages"]) c.usages.push_back(u.get<std::string>());
    if (r.contains("trunks"))
      for (const auto& t : r["trunks"]) {
        const int32_t ti = trunk_index(t.get<std::string>());
        if (ti >= 0) c.trunks.push_back(ti);
      }
    route_recs_.push_back(std::move(c));
  }
  std::stable_sort(route_recs_.begin(), route_recs_.end(), [](const RouteRec& a, const RouteRec& b) { return a.priority < b.priority; });
  // Ordinary calls: each voice policy's usages in order, with the routes that serve each.
  voice_policy_recs_.clear();
  for (const auto& [id, p] : objects("voicepolicy").items()) {
    VoicePolicyRec v;
    v.identity = id;
    if (p.contains("pstn_usages"))
      for (const auto& u : p["pstn_usages"]) {
        VoicePolicyRec::Usage usage{u.get<std::string>(), {}};
        for (std::size_t ri = 0; ri < route_recs_.size(); ++ri) {
          const RouteRec& r = route_recs_[ri];
          if (r.valid && r.enabled && !r.trunks.empty() && std::find(r.usages.begin(), r.usages.end(), usage.name) != r.usages.end())
            usage.routes.push_back(static_cast<int32_t>(ri));
        }
        v.usages.push_back(std::move(usage));
      }
    voice_policy_recs_.emplace(id, std::move(v));
  }
  dial_rules_.clear();
  for (const auto& [name, plan] : objects("dialplan").items()) {
    auto& rules = dial_rules_[name];
    if (!plan.contains("rules")) continue;
    for (const auto& r : plan["rules"]) {
      const std::string pattern = jstr(r, "pattern"), translation = jstr(r, "translation");
      CompiledRule c{jstr(r, "name"), pattern, translation, DialRule(pattern, translation)};
      if (c.rule.ok()) rules.push_back(std::move(c));
    }
  }
  // The hot path of an emergency call, decided once: how each plan normalises each emergency
  // number and mask, and which routes and trunks each usage and number reach.
  std::vector<std::string> numbers;
  std::vector<std::string> usages;
  for (const auto& [id, p] : policy_recs_) {
    for (const auto& n : p.numbers) {
      numbers.push_back(n.dial);
      numbers.push_back("+" + n.dial);
      if (!n.mask.empty()) numbers.push_back(n.mask);
    }
    if (!p.usage.empty()) usages.push_back(p.usage);
  }
  normalized_.clear();
  for (const auto& [plan, rules] : dial_rules_)
    for (const auto& n : numbers) {
      std::pair<std::string, std::string> result{n, ""};
      for (const auto& r : rules)
        if (auto out = r.rule.apply(n)) {
          result = {std::move(*out), r.name.empty() ? r.pattern : r.name};
          break;
        }
      normalized_.emplace(plan + '\x1f' + n, std::move(result));
    }
  emergency_paths_.clear();
  for (const auto& usage : usages)
    for (const auto& [id, p] : policy_recs_)
      for (const auto& n : p.numbers) {
        auto& paths = emergency_paths_[usage + '\x1f' + n.dial];
        if (!paths.empty()) continue;
        for (std::size_t ri = 0; ri < route_recs_.size(); ++ri) {
          const RouteRec& r = route_recs_[ri];
          if (!r.valid || !r.enabled || std::find(r.usages.begin(), r.usages.end(), usage) == r.usages.end()) continue;
          if (!r.pattern.search(n.dial) && !r.pattern.search("+" + n.dial)) continue;
          for (int32_t t : r.trunks)
            if (std::none_of(paths.begin(), paths.end(), [&](const Path& x) { return x.trunk == t; }))
              paths.push_back({static_cast<int32_t>(ri), t});
        }
      }
}

const Snapshot::PolicyRec* Snapshot::policy(const std::string& identity) const {
  const auto it = policy_recs_.find(identity);
  return it == policy_recs_.end() ? nullptr : &it->second;
}

const Snapshot::VoicePolicyRec* Snapshot::voice_policy(const std::string& identity) const {
  const auto it = voice_policy_recs_.find(identity);
  return it == voice_policy_recs_.end() ? nullptr : &it->second;
}

const std::string* Snapshot::user_by_line(std::string_view number) const {
  const auto it = user_by_line_.find(std::string(number));
  return it == user_by_line_.end() ? nullptr : &it->second;
}

bool Snapshot::notification_target(std::string_view aor) const {
  return std::binary_search(notification_targets_.begin(), notification_targets_.end(), aor);
}

const Snapshot::UserRec* Snapshot::user(const std::string& uri) const {
  const auto it = user_recs_.find(uri);
  return it == user_recs_.end() ? nullptr : &it->second;
}

int32_t Snapshot::trunk_index(const std::string& name) const {
  const auto it = trunk_by_name_.find(name);
  return it == trunk_by_name_.end() ? -1 : it->second;
}

const std::vector<Snapshot::Path>* Snapshot::emergency_paths(std::string_view usage, std::string_view number) const {
  std::string key;
  key.reserve(usage.size() + number.size() + 1);
  key.append(usage).append(1, '\x1f').append(number);
  const auto it = emergency_paths_.find(key);
  return it == emergency_paths_.end() ? nullptr : &it->second;
}

const std::pair<std::string, std::string>* Snapshot::known_normalization(const std::string& plan, const std::string& number) const {
  std::string key;
  key.reserve(plan.size() + number.size() + 1);
  key.append(plan).append(1, '\x1f').append(number);
  const auto it = normalized_.find(key);
  return it == normalized_.end() ? nullptr : &it->second;
}

std::pair<std::string, std::string> Snapshot::normalize_number(const std::string& plan, const std::string& number) const {
  if (const auto it = normalized_.find(plan + '\x1f' + number); it != normalized_.end()) return it->second;
  if (const auto* rules = dial_rules(plan))
    for (const auto& r : *rules)
      if (auto out = r.rule.apply(number)) return {std::move(*out), r.name.empty() ? r.pattern : r.name};
  return {number, ""};
}

const std::vector<Snapshot::CompiledRule>* Snapshot::dial_rules(const std::string& name) const {
  const auto it = dial_rules_.find(name);
  return it == dial_rules_.end() ? nullptr : &it->second;
}

std::size_t Snapshot::element_count() const { return subnets_.size() + waps_.size() + switches_.size() + ports_.size(); }

std::vector<Snapshot::ElementRef> Snapshot::elements() const {
  std::vector<ElementRef> out;
  out.reserve(element_count());
  for (const auto& s : subnets_) out.push_back({"subnet", s.cidr, s.location});
  for (const auto& [k, l] : waps_) out.push_back({"wap", k, l});
  for (const auto& [k, l] : switches_) out.push_back({"switch", k, l});
  for (const auto& [k, l] : ports_) out.push_back({"port", k, l});
  return out;
}

// ---- files ---------------------------------------------------------------------------------

std::string Snapshot::payload() const {
  Out o;
  o.buf.reserve(loc_blob_.size() + loc_offsets_.size() * 4 + element_count() * 32 + (1 << 16));
  o.str(created_at_);
  o.i64(revision_);
  // The small objects as arrays, not objects: parsing a JSON object into ordered_json searches
  // its keys linearly for each one, quadratic in 100,000 users.
  Json arrays = Json::array();
  for (const auto& [noun, all] : objects_.items()) {
    Json pairs = Json::array();
    for (const auto& [key, obj] : all.items()) pairs.push_back(Json::array({key, obj}));
    arrays.push_back(Json::array({noun, std::move(pairs)}));
  }
  o.str(arrays.dump());
  o.u32(static_cast<uint32_t>(loc_offsets_.size()));
  o.str(loc_blob_);
  o.buf.append(reinterpret_cast<const char*>(loc_offsets_.data()), loc_offsets_.size() * 4);
  o.u32(static_cast<uint32_t>(site_names_.size()));
  for (const auto& n : site_names_) o.str(n);
  o.u32(static_cast<uint32_t>(subnets_.size()));
  for (const auto& s : subnets_) {
    o.str(s.cidr);
    o.i32(s.location);
    o.i32(s.site);
  }
  for (const auto* list : {&waps_, &switches_, &ports_}) {
    o.u32(static_cast<uint32_t>(list->size()));
    for (const auto& [k, l] : *list) {
      o.str(k);
      o.i32(l);
    }
  }
  return std::move(o.buf);
}

std::string Snapshot::checksum() const {
  static const char* d = "0123456789abcdef";
  uint64_t v = fnv1a(payload());
  std::string s(16, '0');
  for (int i = 15; i >= 0; --i, v >>= 4) s[static_cast<std::size_t>(i)] = d[v & 15];
  return s;
}

void Snapshot::save(const std::string& path) const {
  const std::string body = payload();
  Out head;
  head.buf.append(kMagic, 8);
  head.u32(kFormatVersion);
  head.i64(static_cast<int64_t>(body.size()));
  head.i64(static_cast<int64_t>(fnv1a(body)));
  // Readers see the old file or the new one, never half of one, also after a crash.
  write_file_durably(path, {head.buf, body});
}

std::shared_ptr<const Snapshot> Snapshot::load(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw Error(ErrorKind::failure, "cannot read snapshot '" + path + "'", "publish one with 'e911ctl publish'");
  // One read of the whole file: a character iterator over a few hundred MB costs more than the rest of the load.
  f.seekg(0, std::ios::end);
  const auto file_size = static_cast<std::size_t>(f.tellg());
  f.seekg(0, std::ios::beg);
  std::string data(file_size, '\0');
  if (!f.read(data.data(), static_cast<std::streamsize>(file_size))) throw Error(ErrorKind::failure, "cannot read snapshot '" + path + "'");
  return parse(std::move(data), path);
}

std::shared_ptr<const Snapshot> Snapshot::parse(std::string data, const std::string& path) {
  if (data.size() < 28 || std::memcmp(data.data(), kMagic, 8) != 0)
    throw Error(ErrorKind::invalid, "'" + path + "' is not an e911ctl snapshot");
  In head{std::string_view(data).substr(8, 20)};
  const uint32_t version = head.u32();
  const uint64_t size = static_cast<uint64_t>(head.i64());
  const uint64_t sum = static_cast<uint64_t>(head.i64());
  if (version != kFormatVersion)
    throw Error(ErrorKind::invalid, "snapshot '" + path + "' has format version " + std::to_string(version) + ", this e911ctl reads " +
                                        std::to_string(kFormatVersion), "publish it again with this e911ctl");
  if (data.size() - 28 != size)
    throw Error(ErrorKind::invalid, "snapshot '" + path + "' is truncated: " + std::to_string(data.size() - 28) + " of " +
                                        std::to_string(size) + " payload bytes", "publish it again");
  data.erase(0, 28);
  if (fnv1a(data) != sum) throw Error(ErrorKind::invalid, "snapshot '" + path + "' is corrupt: its checksum does not match", "publish it again");
  try {
    return from_payload(std::move(data));
  } catch (const Json::exception& e) {
    throw Error(ErrorKind::invalid, "snapshot '" + path + "' is corrupt: " + e.what());
  }
}

std::shared_ptr<Snapshot> Snapshot::from_payload(std::string payload) {
  std::shared_ptr<Snapshot> s(new Snapshot);
  In in{payload};
  s->created_at_ = in.str();
  s->revision_ = in.i64();
  {
    Json arrays = Json::parse(in.str());
    s->objects_ = Json::object();
    for (auto& entry : arrays) {
      Json all = Json::object();
      for (auto& pair : entry.at(1)) push_unique(all, pair.at(0).get<std::string>(), std::move(pair.at(1)));
      push_unique(s->objects_, entry.at(0).get<std::string>(), std::move(all));
    }
  }
  const uint32_t nloc = in.u32();
  s->loc_blob_ = in.str();
  in.need(static_cast<std::size_t>(nloc) * 4);
  s->loc_offsets_.resize(nloc);
  // An empty vector's data() may be null, and memcpy from or to null is undefined even for 0 bytes.
  if (nloc != 0) std::memcpy(s->loc_offsets_.data(), payload.data() + in.pos, static_cast<std::size_t>(nloc) * 4);
  in.pos += static_cast<std::size_t>(nloc) * 4;
  for (uint32_t o : s->loc_offsets_)
    if (o > s->loc_blob_.size()) throw Error(ErrorKind::invalid, "snapshot is corrupt: a location record is out of range");
  const uint32_t nsites = in.u32();
  for (uint32_t i = 0; i < nsites; ++i) s->site_names_.push_back(in.str());
  const uint32_t nsub = in.u32();
  s->subnets_.reserve(nsub);
  auto check_loc = [&](int32_t l) {
    if (l < -1 || l >= static_cast<int32_t>(nloc)) throw Error(ErrorKind::invalid, "snapshot is corrupt: an element names no location");
    return l;
  };
  for (uint32_t i = 0; i < nsub; ++i) {
    SubnetRec r;
    r.cidr = in.str();
    r.location = check_loc(in.i32());
    r.site = in.i32();
    if (r.site < -1 || r.site >= static_cast<int32_t>(nsites)) throw Error(ErrorKind::invalid, "snapshot is corrupt: a subnet names no site");
    s->subnets_.push_back(std::move(r));
  }
  for (auto* list : {&s->waps_, &s->switches_, &s->ports_}) {
    const uint32_t n = in.u32();
    list->reserve(n);
    for (uint32_t i = 0; i < n; ++i) {
      std::string k = in.str();
      list->emplace_back(std::move(k), check_loc(in.i32()));
    }
  }
  if (in.pos != payload.size()) throw Error(ErrorKind::invalid, "snapshot is corrupt: bytes left over after the last record");
  s->index();
  return s;
}

}  // namespace e911
