#include "e911/lis_csv.hpp"

#include <SQLiteCpp/SQLiteCpp.h>

#include <fstream>
#include <unordered_map>
#include <unordered_set>

#include "e911/csv.hpp"
#include "e911/error.hpp"
#include "e911/schema_check.hpp"
#include "e911/text.hpp"

namespace e911 {

namespace {

// Lync's address tail, shared by every element kind, and the location fields it fills.
const std::vector<std::pair<std::string, std::string>> kAddress = {
    {"Location", "location"},         {"CompanyName", "company_name"},   {"HouseNumber", "house_number"},
    {"HouseNumberSuffix", "house_number_suffix"}, {"PreDirectional", "pre_directional"}, {"StreetName", "street_name"},
    {"StreetSuffix", "street_suffix"}, {"PostDirectional", "post_directional"}, {"City", "city"},
    {"State", "state"},               {"PostalCode", "postal_code"},     {"Country", "country"}};

struct Layout {
  std::vector<std::pair<std::string, std::string>> head;  // CSV column -> element field
};

const Layout& layout(const std::string& noun) {
  static const std::map<std::string, Layout> layouts = {
      {"wap", {{{"BSSID", "bssid"}, {"Description", "description"}}}},
      {"subnet", {{{"Subnet", "subnet"}, {"Description", "description"}}}},
      {"port", {{{"ChassisID", "chassis_id"}, {"PortIDSubType", "port_id_subtype"}, {"PortID", "port_id"}, {"Description", "description"}}}},
      {"switch", {{{"ChassisID", "chassis_id"}, {"Description", "description"}}}},
  };
  const auto it = layouts.find(noun);
  if (it == layouts.end())
    throw Error(ErrorKind::usage, "'" + noun + "' has no LIS CSV format", "use one of: wap, subnet, port, switch");
  return it->second;
}

// The exact-match identity of an address: the 12 Lync fields, unit-separated.
std::string address_key(const Json& loc) {
  std::string k;
  for (const auto& [col, field] : kAddress) {
    const auto it = loc.find(field);
    if (it != loc.end() && it->is_string()) k += it->get_ref<const std::string&>();
    k += '\x1f';
  }
  return k;
}

std::string hex64(std::uint64_t v) {
  static const char* d = "0123456789abcdef";
  std::string s(16, '0');
  for (int i = 15; i >= 0; --i, v >>= 4) s[static_cast<std::size_t>(i)] = d[v & 15];
  return s;
}

// New locations get a stable id from their address, so importing the same file into two
// stores gives the same ids.
std::string location_id_for(const std::string& addr_key) {
  std::uint64_t h = 1469598103934665603ull;
  for (unsigned char c : addr_key) h = (h ^ c) * 1099511628211ull;
  return "loc-" + hex64(h).substr(0, 12);
}

}  // namespace

const std::vector<std::string>& lis_csv_columns(const std::string& noun) {
  static std::map<std::string, std::vector<std::string>> cache;
  auto& cols = cache[noun];
  if (cols.empty()) {
    for (const auto& [c, f] : layout(noun).head) cols.push_back(c);
    for (const auto& [c, f] : kAddress) cols.push_back(c);
  }
  return cols;
}

LisImportResult import_lis_csv(Store& store, const Kind& element, const std::string& path, const std::string& command, bool dry_run) {
  const Layout& lay = layout(element.noun);
  const Kind& location = kind_by_noun("location");
  const std::vector<std::string>& columns = lis_csv_columns(element.noun);
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(ErrorKind::failure, "cannot read '" + path + "'");

  LisImportResult r;
  Writer w(store, command);

  // Existing addresses and element keys, so each row costs no lookup query.
  std::unordered_map<std::string, std::string> address_to_id;
  std::unordered_set<std::string> location_ids;
  store.for_each(location, [&](Json&& loc) {
    const std::string id = loc["id"].get<std::string>();
    address_to_id.emplace(address_key(loc), id);
    location_ids.insert(id);
  });
  std::unordered_set<std::string> existing;
  if (store.count(element) > 0)
    for (auto& k : store.keys(element)) existing.insert(std::move(k));
  std::unordered_set<std::string> seen_in_file;

  CsvReader csv(in);
  std::vector<std::string> row;
  std::size_t row_no = 0;
  auto bad = [&](std::size_t col, const std::string& msg, const std::string& hint = {}) {
    if (r.diagnostics.size() < 200)
      r.diagnostics.push_back({Severity::error, "E020", msg, {path, static_cast<int>(csv.line()), static_cast<int>(col)}, {}, hint});
  };
  // The 1-based CSV column of a field, for diagnostics.
  auto column_of = [&](const std::string& field, bool in_location) -> std::size_t {
    if (in_location) {
      for (std::size_t i = 0; i < kAddress.size(); ++i)
        if (kAddress[i].second == field) return lay.head.size() + i + 1;
    } else {
      for (std::size_t i = 0; i < lay.head.size(); ++i)
        if (lay.head[i].second == field) return i + 1;
    }
    return 1;
  };
  try {
    while (csv.next(row)) {
      ++row_no;
      if (row.size() == 1 && trim(row[0]).empty()) continue;  // blank line
      if (row_no == 1 && !row.empty() && to_lower(trim(row[0])) == to_lower(columns[0])) continue;  // header
      ++r.rows;
      if (row.size() != columns.size()) {
        bad(1, "row has " + std::to_string(row.size()) + " columns, expected " + std::to_string(columns.size()),
            "columns are: " + [&] {
              std::string s;
              for (const auto& c : columns) s += (s.empty() ? "" : ",") + c;
              return s;
            }());
        continue;
      }
      Json el = Json::object();
      for (std::size_t i = 0; i < lay.head.size(); ++i) {
        const std::string v = trim(row[i]);
        if (v.empty()) continue;
        if (lay.head[i].second == "port_id_subtype") {
          try {
            std::size_t used = 0;
            el["port_id_subtype"] = std::stoi(v, &used);
            if (used != v.size()) throw std::invalid_argument(v);
          } catch (const std::exception&) {
            bad(i + 1, "PortIDSubType '" + v + "' is not a number", "use 1, 5 or 7");
          }
        } else {
          el[lay.head[i].second] = v;
        }
      }
      Json loc = Json::object();
      for (std::size_t i = 0; i < kAddress.size(); ++i) {
        const std::string v = trim(row[lay.head.size() + i]);
        if (!v.empty()) loc[kAddress[i].second] = v;
      }
      // Check the location as it would be created, and the element with a placeholder reference.
      // Check the location as it would be created, and the element with a placeholder reference;
      // in place, since copying two objects per row is a measurable part of a million-row import.
      bool row_ok = true;
      loc["kind"] = location.name;
      loc["id"] = "x";
      for (const auto& v : check_schema(location.schema, loc)) {
        const std::size_t col = column_of(v.pointer.empty() ? "" : v.pointer.substr(1), true);
        const std::size_t tail = col > lay.head.size() ? col - lay.head.size() - 1 : kAddress.size();
        bad(col, (tail < kAddress.size() ? kAddress[tail].first + ": " : std::string()) + v.message);
        row_ok = false;
      }
      loc.erase("kind");
      el["kind"] = element.name;
      el["location"] = "x";
      for (const auto& v : check_schema(element.schema, el)) {
        const std::string field = v.pointer.empty() ? "" : v.pointer.substr(1);
        const std::size_t col = column_of(field, false);
        bad(col, (v.pointer.empty() ? std::string() : lay.head[col - 1].first + ": ") + v.message);
        row_ok = false;
      }
      el.erase("kind");
      if (!row_ok) continue;
      const std::string ekey = element.key_of(el);
      if (!seen_in_file.insert(ekey).second) {
        bad(1, element.noun + " '" + Kind::display_key(ekey) + "' appears twice in the file");
        continue;
      }
      if (!r.diagnostics.empty()) continue;  // keep reading to report every bad row, write nothing
      loc.erase("id");
      const std::string akey = address_key(loc);
      auto found = address_to_id.find(akey);
      if (found == address_to_id.end()) {
        std::string id = location_id_for(akey);
        for (int n = 2; location_ids.count(id); ++n) id = location_id_for(akey) + "-" + std::to_string(n);
        loc["id"] = id;
        for (const auto& f : location.fields)
          if (!f.default_value.is_null() && !loc.contains(f.name)) loc[f.name] = f.default_value;
        w.insert_new(location, loc);
        location_ids.insert(id);
        found = address_to_id.emplace(akey, id).first;
        ++r.locations_created;
      } else {
        ++r.locations_reused;
      }
      el["location"] = found->second;
      if (existing.count(ekey)) {
        const auto what = w.put(element, el);
        if (what) ++r.elements_changed;
        else ++r.elements_unchanged;
      } else {
        for (const auto& f : element.fields)
          if (!f.default_value.is_null() && !el.contains(f.name)) el[f.name] = f.default_value;
        w.insert_new(element, el);
        ++r.elements_added;
      }
    }
  } catch (const Error& e) {
    bad(1, e.what());
  }
  if (!r.diagnostics.empty() || dry_run) return r;  // the Writer rolls back
  r.rev = w.commit();
  return r;
}

void export_lis_csv(const Store& store, const Kind& element, std::ostream& out) {
  const Layout& lay = layout(element.noun);
  const Kind& location = kind_by_noun("location");
  write_csv_record(out, lis_csv_columns(element.noun));
  std::string sql = "SELECT ";
  for (const auto& [col, field] : lay.head) sql += "e." + field + ", ";
  for (std::size_t i = 0; i < kAddress.size(); ++i) sql += (i ? ", l." : "l.") + kAddress[i].second;
  sql += " FROM " + element.table + " e LEFT JOIN " + location.table +
         " l ON l.key = e.location AND l.rev_removed IS NULL WHERE e.rev_removed IS NULL ORDER BY e.key";
  try {
    SQLite::Statement st(const_cast<Store&>(store).db(), sql);
    std::vector<std::string> rec(lay.head.size() + kAddress.size());
    while (st.executeStep()) {
      for (int i = 0; i < static_cast<int>(rec.size()); ++i) rec[static_cast<std::size_t>(i)] = st.getColumn(i).getString();
      write_csv_record(out, rec);
    }
  } catch (const SQLite::Exception& e) {
    throw Error(ErrorKind::store, std::string("cannot export: ") + e.what());
  }
}

}  // namespace e911
