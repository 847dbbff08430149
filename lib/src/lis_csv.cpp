#include "e911/lis_csv.hpp"

#include <SQLiteCpp/SQLiteCpp.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <thread>
#include <tuple>
#include <unordered_map>
#include <unordered_set>

#include "e911/csv.hpp"
#include "e911/error.hpp"
#include "e911/key_index.hpp"
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

namespace {

// One CSV column: the field it fills and that field's compiled schema.
struct ColumnRule {
  std::string name;
  bool in_location = false;
  std::size_t field_index = 0;
  const Field* field = nullptr;
  CompiledSchema checker;
};

std::size_t field_index(const Kind& kind, const std::string& name) {
  for (std::size_t i = 0; i < kind.fields.size(); ++i)
    if (kind.fields[i].name == name) return i;
  throw Error(ErrorKind::internal, kind.noun + " has no field '" + name + "'");
}

// Lines in a file (a bound on its rows), read in large blocks.
std::size_t count_lines(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::vector<char> buf(1 << 20);
  std::size_t n = 0;
  while (f) {
    f.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    const auto got = static_cast<std::size_t>(f.gcount());
    n += static_cast<std::size_t>(std::count(buf.data(), buf.data() + got, '\n'));
  }
  return n;
}

}  // namespace

LisImportResult import_lis_csv(Store& store, const Kind& element, const std::string& path, const std::string& command, bool dry_run,
                               const std::function<void(std::uint64_t, std::uint64_t)>& progress) {
  const Layout& lay = layout(element.noun);
  const Kind& location = kind_by_noun("location");
  const std::vector<std::string>& columns = lis_csv_columns(element.noun);
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(ErrorKind::failure, "cannot read '" + path + "'");

  // Each column is checked against its field's schema, compiled once: rows are handled as text
  // and bound straight to SQL, with no JSON per row, because imports run to millions of rows.
  std::vector<ColumnRule> rules;
  for (const auto& [col, field] : lay.head) {
    const std::size_t i = field_index(element, field);
    rules.push_back({col, false, i, &element.fields[i], CompiledSchema(*element.fields[i].schema)});
  }
  for (const auto& [col, field] : kAddress) {
    const std::size_t i = field_index(location, field);
    rules.push_back({col, true, i, &location.fields[i], CompiledSchema(*location.fields[i].schema)});
  }
  const std::size_t element_location = field_index(element, "location");
  const std::size_t location_id = field_index(location, "id");
  std::vector<std::size_t> key_columns;
  for (const auto& k : element.key_fields)
    for (std::size_t c = 0; c < lay.head.size(); ++c)
      if (lay.head[c].second == k) key_columns.push_back(c);

  LisImportResult r;
  Writer w(store, command);

  // Existing addresses and element keys, so each row costs no lookup query.
  // KeyIndex rather than node maps: a million rows would make millions of small allocations, and
  // freeing them would cost as much again.
  KeyIndex addresses;                // address key -> id
  std::vector<int32_t> address_loc;  // by address id: its location, an id in location_ids
  KeyIndex location_ids;
  store.for_each(location, [&](Json&& loc) {
    const auto [a, fresh] = addresses.insert(address_key(loc));
    const int32_t l = location_ids.insert(loc["id"].get<std::string>()).first;
    if (fresh) address_loc.push_back(l);  // the first location with an address keeps it
  });
  KeyIndex existing;
  if (store.count(element) > 0)
    for (auto& k : store.keys(element)) existing.insert(k);
  // A large file into a small table is a bulk load: the Writer then builds the indexes once at
  // commit. Every reference written here is checked here (a location is found or created for
  // each row), so commit need not check them again. Existing elements are read by key below, so
  // their table keeps its indexes when it has any rows.
  const std::size_t file_lines = count_lines(path);
  if (!dry_run) {
    w.begin_bulk(location, file_lines, true);
    w.begin_bulk(element, existing.size() == 0 ? file_lines : 0, true);
  }
  const std::size_t lines = file_lines;
  addresses.reserve(addresses.size() + lines);
  location_ids.reserve(location_ids.size() + lines);
  address_loc.reserve(address_loc.size() + lines);
  KeyIndex seen_in_file;
  seen_in_file.reserve(lines);
  KeyIndex checked_addresses;  // valid addresses of rows a dry run or a bad file does not write
  std::string found_id;

  // What the reading side decides to write, done by the writing side: with a file to load, the
  // two run on their own threads (CSV parsing and checks on one, SQLite on the other), so a
  // million rows cost about the longer of the two instead of their sum.
  struct WriteOp {
    enum Type { location, element_new, element_update } type;
    std::string key, location_id;
    std::vector<std::string> vals;
  };
  std::vector<const std::string*> loc_values(location.fields.size()), el_values(element.fields.size());  // the writing side's
  std::size_t changed = 0, unchanged = 0;  // written by the writing side only
  auto write = [&](const WriteOp& op) {
    if (op.type == WriteOp::location) {
      std::fill(loc_values.begin(), loc_values.end(), nullptr);
      for (std::size_t c = lay.head.size(); c < rules.size(); ++c)
        if (!op.vals[c].empty()) loc_values[rules[c].field_index] = &op.vals[c];
      loc_values[location_id] = &op.key;
      w.insert_text(location, op.key, loc_values);
    } else if (op.type == WriteOp::element_new) {
      std::fill(el_values.begin(), el_values.end(), nullptr);
      for (std::size_t c = 0; c < lay.head.size(); ++c)
        if (!op.vals[c].empty()) el_values[rules[c].field_index] = &op.vals[c];
      el_values[element_location] = &op.location_id;
      w.insert_text(element, op.key, el_values);
    } else {
      // A known element keeps what the CSV cannot carry (a subnet's site): the row's columns
      // are laid over the stored object, then compared and replaced through the ordinary path.
      Json el = w.get(element, op.key).value_or(Json::object());
      for (std::size_t c = 0; c < lay.head.size(); ++c) {
        if (op.vals[c].empty()) continue;
        if (rules[c].field->type == FieldType::integer) el[rules[c].field->name] = std::stoll(op.vals[c]);
        else el[rules[c].field->name] = op.vals[c];
      }
      el["location"] = op.location_id;
      if (w.put(element, el)) ++changed;
      else ++unchanged;
    }
  };
  const bool threaded = !dry_run;
  std::mutex mu;
  std::condition_variable cv;
  std::deque<std::vector<WriteOp>> queue;
  std::vector<WriteOp> batch;
  bool reading_done = false;
  std::atomic<bool> writer_failed{false};
  constexpr std::size_t kBatch = 2048, kQueued = 16;
  auto flush = [&] {
    if (batch.empty()) return;
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return queue.size() < kQueued || writer_failed; });
    queue.push_back(std::move(batch));
    batch.clear();
    batch.reserve(kBatch);
    cv.notify_all();
  };
  auto emit = [&](WriteOp&& op) {
    if (!threaded) return write(op);
    if (writer_failed) throw Error(ErrorKind::store, "the writing side stopped");
    batch.push_back(std::move(op));
    if (batch.size() == kBatch) flush();
  };

  CsvReader csv(in);
  std::vector<std::string> row;
  std::vector<std::string> vals(columns.size());
  std::string akey, ekey, new_id;
  std::size_t row_no = 0;
  auto bad = [&](std::size_t col, const std::string& msg, const std::string& hint = {}) {
    if (r.diagnostics.size() < 200)
      r.diagnostics.push_back({Severity::error, "E020", msg, {path, static_cast<int>(csv.line()), static_cast<int>(col)}, {}, hint});
  };
  auto read_rows = [&] {
  try {
    const std::uint64_t total = progress ? static_cast<std::uint64_t>(std::filesystem::file_size(path)) : 0;
    while (csv.next(row)) {
      ++row_no;
      if (progress && row_no % 16384 == 0) progress(static_cast<std::uint64_t>(in.tellg()), total);
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
      bool row_ok = true;
      for (std::size_t c = 0; c < rules.size(); ++c) vals[c] = trim(row[c]);
      // An address already known (in the store or earlier in the file) was checked when it was
      // first seen: most rows of a campus share a few addresses, so only their element columns
      // need checking.
      akey.clear();
      for (std::size_t i = 0; i < kAddress.size(); ++i) (akey += vals[lay.head.size() + i]) += '\x1f';
      const int32_t address_id = addresses.find(akey);
      const bool known_address = address_id >= 0 || checked_addresses.find(akey) >= 0;
      for (std::size_t c = 0; c < rules.size(); ++c) {
        const ColumnRule& rule = rules[c];
        if (rule.in_location && known_address) continue;
        if (vals[c].empty()) {
          if (rule.field->required && !rule.in_location) {
            bad(c + 1, rule.name + ": must not be empty");
            row_ok = false;
          }
          continue;
        }
        std::string why;
        if (rule.field->type == FieldType::integer) {
          try {
            std::size_t used = 0;
            const long long n = std::stoll(vals[c], &used);
            if (used != vals[c].size()) throw std::invalid_argument(vals[c]);
            const auto v = rule.checker.check(Json(n));
            if (!v.empty()) why = v.front().message;
          } catch (const std::exception&) {
            why = "'" + vals[c] + "' is not a whole number";
          }
        } else {
          why = rule.checker.check_text(vals[c]);
        }
        if (!why.empty()) {
          bad(c + 1, rule.name + ": " + why);
          row_ok = false;
        }
      }
      if (!row_ok) continue;
      // Rows that go on add their address to `addresses` below; once the file is known to be bad
      // nothing goes on, so the addresses checked since are remembered here.
      if (!known_address && !r.diagnostics.empty()) checked_addresses.insert(akey);
      ekey.clear();
      for (std::size_t i = 0; i < key_columns.size(); ++i) (ekey += i ? "|" : "") += vals[key_columns[i]];
      if (!seen_in_file.insert(ekey).second) {
        bad(1, element.noun + " '" + Kind::display_key(ekey) + "' appears twice in the file");
        continue;
      }
      if (!r.diagnostics.empty()) continue;  // keep reading to report every bad row, write nothing
      if (address_id < 0) {
        new_id = location_id_for(akey);
        auto [lid, fresh] = location_ids.insert(new_id);
        for (int n = 2; !fresh; ++n) std::tie(lid, fresh) = location_ids.insert(new_id = location_id_for(akey) + "-" + std::to_string(n));
        if (!dry_run) emit({WriteOp::location, new_id, {}, vals});  // a dry run counts, it need not write
        address_loc.push_back(lid);
        addresses.insert(akey);
        found_id = new_id;
        ++r.locations_created;
      } else {
        found_id = location_ids.at(address_loc[static_cast<std::size_t>(address_id)]);
        ++r.locations_reused;
      }
      if (existing.find(ekey) >= 0) {
        emit({WriteOp::element_update, ekey, found_id, vals});  // counted as changed or unchanged when written
      } else {
        if (!dry_run) emit({WriteOp::element_new, ekey, found_id, vals});
        ++r.elements_added;
      }
    }
  } catch (const Error& e) {
    if (!writer_failed) bad(1, e.what());
  }
  };
  if (!threaded) {
    read_rows();
  } else {
    std::exception_ptr reader_error;
    std::thread reader([&] {
      try {
        read_rows();
        flush();
      } catch (...) {
        reader_error = std::current_exception();
      }
      std::lock_guard<std::mutex> lock(mu);
      reading_done = true;
      cv.notify_all();
    });
    try {
      for (;;) {
        std::vector<WriteOp> ops;
        {
          std::unique_lock<std::mutex> lock(mu);
          cv.wait(lock, [&] { return !queue.empty() || reading_done; });
          if (queue.empty()) break;
          ops = std::move(queue.front());
          queue.pop_front();
          cv.notify_all();
        }
        // Rows after the first bad one are not queued, and nothing is committed with a bad row.
        for (const auto& op : ops) write(op);
      }
    } catch (...) {
      {
        std::lock_guard<std::mutex> lock(mu);
        writer_failed = true;
        cv.notify_all();
      }
      reader.join();
      throw;
    }
    reader.join();
    if (reader_error) std::rethrow_exception(reader_error);
  }
  r.elements_changed = changed;
  r.elements_unchanged = unchanged;
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
