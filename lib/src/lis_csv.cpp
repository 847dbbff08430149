#include "e911/lis_csv.hpp"

#include <SQLiteCpp/SQLiteCpp.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <span>
#include <thread>
#include <tuple>
#include <unordered_map>
#include <unordered_set>

#include "e911/csv.hpp"
#include "e911/error.hpp"
#include "e911/key_index.hpp"
#include "e911/phases.hpp"
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
// `fnv` is KeyIndex::fnv1a of the address key, which the importer also places the address by.
std::string location_id_for(std::uint64_t fnv) { return "loc-" + hex64(fnv).substr(0, 12); }

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

// From this many rows on, an import is a bulk load (see WriteSize::bulk, Writer::begin_bulk).
constexpr std::size_t kBulkRows = 10000;

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
  phase_mark("import: start");
  const std::size_t file_lines = count_lines(path);
  Writer w(store, command, !dry_run && file_lines >= kBulkRows ? WriteSize::bulk : WriteSize::normal);

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
  phase_mark("import: store's addresses and keys read");
  KeyIndex existing;
  if (store.count(element) > 0)
    for (auto& k : store.keys(element)) existing.insert(k);
  // A large file into a small table is a bulk load: the Writer then builds the indexes once at
  // commit. Every reference written here is checked here (a location is found or created for
  // each row), so commit need not check them again. Existing elements are read by key below, so
  // their table keeps its indexes when it has any rows.
  if (!dry_run) {
    std::vector<std::string> loc_fields{"id"}, el_fields{"location"};
    for (const auto& rule : rules) (rule.in_location ? loc_fields : el_fields).push_back(rule.field->name);
    w.begin_bulk(location, file_lines, true, loc_fields);
    w.begin_bulk(element, existing.size() == 0 ? file_lines : 0, true, el_fields);
  }
  const std::size_t lines = file_lines;
  addresses.reserve(addresses.size() + lines);
  location_ids.reserve(location_ids.size() + lines);
  address_loc.reserve(address_loc.size() + lines);
  KeyIndex seen_in_file;
  seen_in_file.reserve(lines);
  KeyIndex checked_addresses;  // valid addresses of rows a dry run or a bad file does not write

  // What the reading side decides to write, done by the writing side: with a file to load, the
  // two run on their own threads (CSV parsing and checks on one, SQLite on the other), so a
  // million rows cost about the longer of the two instead of their sum.
  // One per row that goes on: its checked values (trimmed CSV fields), the element's key, and the
  // id of its location, which the row creates when `new_location`.
  struct WriteOp {
    bool new_location = false, new_element = false;
    std::string key, location_id;
    std::vector<std::string> vals;
  };
  // The writing side's: new rows are gathered per table and handed to SQLite several at a time.
  struct Pending {
    std::vector<const std::string*> keys;
    std::vector<std::vector<const std::string*>> rows;
    std::size_t n = 0;
    std::vector<const std::string*>& next(std::size_t fields) {
      if (n == rows.size()) {
        rows.emplace_back(fields);
        keys.push_back(nullptr);
      }
      std::fill(rows[n].begin(), rows[n].end(), nullptr);
      return rows[n];
    }
  } new_locations, new_elements;
  auto write_pending = [&](Pending& p, const Kind& kind) {
    w.insert_text_rows(kind, std::span(p.keys.data(), p.n), std::span(p.rows.data(), p.n));
    p.n = 0;
  };
  std::size_t changed = 0, unchanged = 0;  // written by the writing side only
  // Writes ops[0, n); they stay alive (and unchanged) until this returns.
  auto write = [&](const WriteOp* ops, std::size_t n) {
    for (std::size_t i = 0; i < n; ++i) {
      const WriteOp& op = ops[i];
      if (op.new_location) {
        auto& values = new_locations.next(location.fields.size());
        for (std::size_t c = lay.head.size(); c < rules.size(); ++c)
          if (!op.vals[c].empty()) values[rules[c].field_index] = &op.vals[c];
        values[location_id] = &op.location_id;
        new_locations.keys[new_locations.n++] = &op.location_id;
      }
      if (op.new_element) {
        auto& values = new_elements.next(element.fields.size());
        for (std::size_t c = 0; c < lay.head.size(); ++c)
          if (!op.vals[c].empty()) values[rules[c].field_index] = &op.vals[c];
        values[element_location] = &op.location_id;
        new_elements.keys[new_elements.n++] = &op.key;
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
    }
    write_pending(new_locations, location);
    write_pending(new_elements, element);
  };
  const bool threaded = !dry_run;
  double writing = 0, waiting = 0;  // seconds, for E911_PHASES
  // Batches go round between the two sides: the writing side hands each one back once written,
  // and the reading side fills it again in place, so the strings keep their buffers and a million
  // rows cost no allocation (and no free on the writing side, which is the slower one).
  struct Batch {
    std::vector<WriteOp> ops;
    std::size_t used = 0;
  };
  std::mutex mu;
  std::condition_variable cv;
  std::deque<Batch> queue, spent;
  Batch batch;
  WriteOp single;  // the one op of an unthreaded run
  bool reading_done = false;
  std::atomic<bool> writer_failed{false};
  constexpr std::size_t kBatch = 2048, kQueued = 16;
  auto flush = [&] {
    if (batch.used == 0) return;
    const auto t0 = std::chrono::steady_clock::now();
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return queue.size() < kQueued || writer_failed; });
    waiting += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    queue.push_back(std::move(batch));
    batch = Batch{};
    if (!spent.empty()) {
      batch = std::move(spent.front());
      spent.pop_front();
      batch.used = 0;
    }
    cv.notify_all();
  };
  // The op to fill next; emit() hands it to the writing side.
  auto next_op = [&]() -> WriteOp& {
    if (!threaded) return single;
    if (writer_failed) throw Error(ErrorKind::store, "the writing side stopped");
    if (batch.used == batch.ops.size()) batch.ops.emplace_back();
    return batch.ops[batch.used];
  };
  auto emit = [&] {
    if (!threaded) return write(&single, 1);
    if (++batch.used == kBatch) flush();
  };

  CsvReader csv(in);
  std::vector<std::string> row;
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
      for (auto& field : row) trim_in_place(field);
      const std::vector<std::string>& vals = row;
      // The row's keys are hashed first and their table slots fetched into the cache while its
      // columns are checked: with a million rows the tables are far larger than the cache, and
      // each probe would otherwise wait for memory.
      akey.clear();
      for (std::size_t i = 0; i < kAddress.size(); ++i) (akey += vals[lay.head.size() + i]) += '\x1f';
      const std::uint64_t address_fnv = KeyIndex::fnv1a(akey), address_hash = KeyIndex::mix(address_fnv);
      addresses.prefetch(address_hash);
      ekey.clear();
      for (std::size_t i = 0; i < key_columns.size(); ++i) (ekey += i ? "|" : "") += vals[key_columns[i]];
      const std::uint64_t ekey_hash = KeyIndex::hash(ekey);
      seen_in_file.prefetch(ekey_hash);
      existing.prefetch(ekey_hash);
      new_id = location_id_for(address_fnv);  // the id a new address gets (unless taken)
      const std::uint64_t id_hash = KeyIndex::hash(new_id);
      location_ids.prefetch(id_hash);
      auto check_column = [&](std::size_t c) {
        const ColumnRule& rule = rules[c];
        if (vals[c].empty()) {
          if (rule.field->required && !rule.in_location) {
            bad(c + 1, rule.name + ": must not be empty");
            row_ok = false;
          }
          return;
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
      };
      for (std::size_t c = 0; c < rules.size(); ++c)
        if (!rules[c].in_location) check_column(c);
      // An address already known (in the store or earlier in the file) was checked when it was
      // first seen: most rows of a campus share a few addresses, so only their element columns
      // need checking.
      const int32_t address_id = addresses.find(akey, address_hash);
      const bool known_address = address_id >= 0 || checked_addresses.find(akey, address_hash) >= 0;
      if (!known_address)
        for (std::size_t c = 0; c < rules.size(); ++c)
          if (rules[c].in_location) check_column(c);
      if (!row_ok) continue;
      // Rows that go on add their address to `addresses` below; once the file is known to be bad
      // nothing goes on, so the addresses checked since are remembered here.
      if (!known_address && !r.diagnostics.empty()) checked_addresses.insert(akey, address_hash);
      if (!seen_in_file.insert(ekey, ekey_hash).second) {
        bad(1, element.noun + " '" + Kind::display_key(ekey) + "' appears twice in the file");
        continue;
      }
      if (!r.diagnostics.empty()) continue;  // keep reading to report every bad row, write nothing
      const bool element_is_new = existing.find(ekey, ekey_hash) < 0;
      if (element_is_new) ++r.elements_added;
      if (address_id < 0) ++r.locations_created;
      else ++r.locations_reused;
      if (address_id < 0) {
        auto [lid, fresh] = location_ids.insert(new_id, id_hash);
        for (int n = 2; !fresh; ++n) std::tie(lid, fresh) = location_ids.insert(new_id = location_id_for(address_fnv) + "-" + std::to_string(n));
        address_loc.push_back(lid);
        addresses.insert(akey, address_hash);
      }
      // A dry run counts; it writes only to compare known elements, and rolls that back.
      if (dry_run && element_is_new) continue;
      WriteOp& op = next_op();
      op.new_location = address_id < 0 && !dry_run;
      op.new_element = element_is_new;
      op.key = ekey;
      if (address_id < 0) op.location_id = new_id;
      else op.location_id = location_ids.at(address_loc[static_cast<std::size_t>(address_id)]);
      op.vals.swap(row);  // the row's strings move on; the reader fills the op's old ones next
      emit();
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
        phase_mark("import: rows read and checked");
      } catch (...) {
        reader_error = std::current_exception();
      }
      std::lock_guard<std::mutex> lock(mu);
      reading_done = true;
      cv.notify_all();
    });
    try {
      for (;;) {
        Batch ops;
        {
          std::unique_lock<std::mutex> lock(mu);
          cv.wait(lock, [&] { return !queue.empty() || reading_done; });
          if (queue.empty()) break;
          ops = std::move(queue.front());
          queue.pop_front();
          cv.notify_all();
        }
        // Rows after the first bad one are not queued, and nothing is committed with a bad row.
        const auto t0 = std::chrono::steady_clock::now();
        write(ops.ops.data(), ops.used);
        writing += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        std::lock_guard<std::mutex> lock(mu);
        if (spent.size() < kQueued) spent.push_back(std::move(ops));
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
    if (phases_enabled()) {
      char what[120];
      std::snprintf(what, sizeof what, "import: rows written (writing side busy %.2f s; reading side waited %.2f s for it)", writing, waiting);
      phase_mark(what);
    }
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
