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
#include <sstream>
#include <span>
#include <thread>
#include <tuple>
#include <unordered_map>
#include <unordered_set>

#include "e911/apply.hpp"
#include "e911/csv.hpp"
#include "e911/error.hpp"
#include "e911/key_index.hpp"
#include "e911/phases.hpp"
#include "e911/schema_check.hpp"
#include "e911/text.hpp"
#include "e911/validate.hpp"

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

// The file's text as UTF-8, whatever Windows PowerShell wrote: Export-Csv writes a UTF-8
// byte-order mark by default and UTF-16 LE with one for `-Encoding Unicode`.
struct CsvSource {
  std::ifstream file;
  std::istringstream converted;  // a UTF-16 file, as UTF-8
  std::istream* in = nullptr;
  std::uint64_t size = 0;        // bytes of text `in` gives
  std::size_t lines = 0;
  std::string encoding;
};

std::string utf16_to_utf8(const std::string& bytes, bool little, const std::string& path) {
  if (bytes.size() % 2) throw Error(ErrorKind::invalid, "'" + path + "' is not UTF-16: it ends half-way through a character");
  std::string out;
  out.reserve(bytes.size() / 2);
  auto unit = [&](std::size_t i) {
    const auto a = static_cast<unsigned char>(bytes[i]), b = static_cast<unsigned char>(bytes[i + 1]);
    return little ? static_cast<char32_t>(a | b << 8) : static_cast<char32_t>(b | a << 8);
  };
  for (std::size_t i = 0; i < bytes.size(); i += 2) {
    char32_t c = unit(i);
    if (c >= 0xD800 && c <= 0xDBFF && i + 3 < bytes.size() && unit(i + 2) >= 0xDC00 && unit(i + 2) <= 0xDFFF) {
      c = 0x10000 + ((c - 0xD800) << 10) + (unit(i + 2) - 0xDC00);
      i += 2;
    } else if (c >= 0xD800 && c <= 0xDFFF) {
      throw Error(ErrorKind::invalid, "'" + path + "' is not valid UTF-16: a lone surrogate at byte " + std::to_string(i + 2));
    }
    if (c < 0x80) {
      out += static_cast<char>(c);
    } else if (c < 0x800) {
      out += static_cast<char>(0xC0 | c >> 6);
      out += static_cast<char>(0x80 | (c & 0x3F));
    } else if (c < 0x10000) {
      out += static_cast<char>(0xE0 | c >> 12);
      out += static_cast<char>(0x80 | (c >> 6 & 0x3F));
      out += static_cast<char>(0x80 | (c & 0x3F));
    } else {
      out += static_cast<char>(0xF0 | c >> 18);
      out += static_cast<char>(0x80 | (c >> 12 & 0x3F));
      out += static_cast<char>(0x80 | (c >> 6 & 0x3F));
      out += static_cast<char>(0x80 | (c & 0x3F));
    }
  }
  return out;
}

// Windows-1252 to UTF-8: ASCII as it is, 0xA0-0xFF as U+00A0-U+00FF, 0x80-0x9F by the code page
// (five of those bytes are unassigned and refused).
std::string cp1252_to_utf8(const std::string& bytes, const std::string& path) {
  static constexpr char16_t kHigh[32] = {0x20AC, 0,      0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021, 0x02C6, 0x2030, 0x0160,
                                         0x2039, 0x0152, 0,      0x017D, 0,      0,      0x2018, 0x2019, 0x201C, 0x201D, 0x2022,
                                         0x2013, 0x2014, 0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0,      0x017E, 0x0178};
  std::string out;
  out.reserve(bytes.size() + bytes.size() / 8);
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    const auto b = static_cast<unsigned char>(bytes[i]);
    char32_t c = b;
    if (b >= 0x80 && b < 0xA0) {
      c = kHigh[b - 0x80];
      if (c == 0)
        throw Error(ErrorKind::invalid, "'" + path + "' is not Windows-1252: byte 0x" + hex64(b).substr(14) + " at offset " + std::to_string(i) + " has no character");
    }
    if (c < 0x80) {
      out += static_cast<char>(c);
    } else if (c < 0x800) {
      out += static_cast<char>(0xC0 | c >> 6);
      out += static_cast<char>(0x80 | (c & 0x3F));
    } else {
      out += static_cast<char>(0xE0 | c >> 12);
      out += static_cast<char>(0x80 | (c >> 6 & 0x3F));
      out += static_cast<char>(0x80 | (c & 0x3F));
    }
  }
  return out;
}

void open_source(const std::string& path, const std::string& encoding, CsvSource& src) {
  src.file.open(path, std::ios::binary);
  if (!src.file) throw Error(ErrorKind::failure, "cannot read '" + path + "'");
  unsigned char bom[3] = {0, 0, 0};
  src.file.read(reinterpret_cast<char*>(bom), 3);
  const auto got = src.file.gcount();
  src.file.clear();
  if (got >= 2 && ((bom[0] == 0xFF && bom[1] == 0xFE) || (bom[0] == 0xFE && bom[1] == 0xFF))) {
    const bool little = bom[0] == 0xFF;
    src.file.seekg(2);
    const std::string bytes((std::istreambuf_iterator<char>(src.file)), std::istreambuf_iterator<char>());
    std::string text = utf16_to_utf8(bytes, little, path);
    src.lines = static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n'));
    src.size = text.size();
    src.converted.str(std::move(text));
    src.in = &src.converted;
    src.encoding = little ? "UTF-16 LE" : "UTF-16 BE";
    return;
  }
  const bool utf8_bom = got == 3 && bom[0] == 0xEF && bom[1] == 0xBB && bom[2] == 0xBF;
  if (encoding == "windows-1252" && !utf8_bom) {
    src.file.seekg(0);
    const std::string bytes((std::istreambuf_iterator<char>(src.file)), std::istreambuf_iterator<char>());
    std::string text = cp1252_to_utf8(bytes, path);
    src.lines = static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n'));
    src.size = text.size();
    src.converted.str(std::move(text));
    src.in = &src.converted;
    src.encoding = "Windows-1252";
    return;
  }
  src.file.seekg(utf8_bom ? 3 : 0);
  src.size = static_cast<std::uint64_t>(std::filesystem::file_size(path));
  src.lines = count_lines(path);
  src.in = &src.file;
  src.encoding = utf8_bom ? "UTF-8 with BOM" : "UTF-8";
}

// Network-site subnets (subnets with a site) by network address: where a bare LIS subnet gets
// its mask. The value is the subnet's key, or several keys when the address has more than one.
using SiteSubnets = std::unordered_map<std::string, std::vector<std::string>>;

std::string address_bytes(const Network& n) {
  return std::string(reinterpret_cast<const char*>(n.addr.data()), n.v6 ? 16 : 4);
}

SiteSubnets site_subnets(const Store& store) {
  SiteSubnets out;
  SQLite::Statement st(const_cast<Store&>(store).db(), "SELECT key FROM subnet WHERE rev_removed IS NULL AND site IS NOT NULL");
  while (st.executeStep()) {
    const std::string key = st.getColumn(0).getString();
    Network n;
    if (parse_network(key, n) && !n.host_bits) out[address_bytes(n)].push_back(key);
  }
  return out;
}

// The CIDR of a bare address, or "" with the rule broken (`code`), `why` and `hint` set.
std::string complete_bare(const SiteSubnets& sites, const Network& addr, const std::string& text, int prefix_length, std::string& code,
                          std::string& why, std::string& hint) {
  code = "E110";
  const auto it = sites.find(address_bytes(addr));
  if (it != sites.end() && it->second.size() == 1) return it->second.front();
  if (it != sites.end()) {
    why = "'" + text + "' has no mask, and the network-site subnets ";
    for (std::size_t i = 0; i < it->second.size(); ++i) why += (i ? " and '" : "'") + it->second[i] + "'";
    why += " share its address";
    hint = "write the subnet with its mask, such as '" + it->second.front() + "'";
    return {};
  }
  const int total = addr.v6 ? 128 : 32;
  if (prefix_length > 0 && prefix_length <= total) {
    const std::string cidr = text + "/" + std::to_string(prefix_length);
    Network n;
    parse_network(cidr, n);
    if (n.host_bits) {
      code = "E108";
      why = host_bits_message(cidr, n.text());
      hint = "a LIS subnet is its network address: write '" + n.text().substr(0, n.text().find('/')) + "'";
      return {};
    }
    return cidr;
  }
  why = "'" + text + "' has no mask, and no network-site subnet has this address";
  if (prefix_length > total) why += " (--prefix-length " + std::to_string(prefix_length) + " is longer than an address)";
  hint = "define the network-site subnet first (e911ctl subnet set " + text + "/24 --site NAME), or give its length with --prefix-length";
  return {};
}

}  // namespace

std::string complete_subnet(const Store& store, const std::string& text, int prefix_length) {
  if (text.find('/') != std::string::npos) return text;
  Network addr;
  if (!parse_address(text, addr))
    throw Error(ErrorKind::invalid, "'" + text + "' is not an IPv4 or IPv6 address or network",
                "write a network such as 10.10.1.0/24, or a bare address such as 10.10.1.0");
  std::string code, why, hint;
  const std::string cidr = complete_bare(site_subnets(store), addr, text, prefix_length, code, why, hint);
  if (cidr.empty()) throw Error(ErrorKind::invalid, why, hint);
  return cidr;
}

LisImportResult import_lis_csv(Store& store, const Kind& element, const std::string& path, const std::string& command, bool dry_run,
                               const std::function<void(std::uint64_t, std::uint64_t)>& progress, const LisImportOptions& options) {
  const Layout& lay = layout(element.noun);
  const Kind& location = kind_by_noun("location");
  const std::vector<std::string>& columns = lis_csv_columns(element.noun);
  CsvSource src;
  open_source(path, options.encoding, src);

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
  r.encoding = src.encoding;
  phase_mark("import: start");
  const std::size_t file_lines = src.lines;
  const bool bulk = !dry_run && file_lines >= kBulkRows;
  Writer w(store, command, bulk ? WriteSize::bulk : WriteSize::normal);
  // A bulk load is checked by the rules of each row as it is read, and by the rules across rows
  // that an import can break (the same element written twice, subnets inside other sites'; a CSV
  // carries no ELINs) before and after: a million-row store validated whole, twice, would cost more than the import. A
  // smaller import is validated before and after, whole, exactly as apply is.
  std::vector<Diagnostic> conflicts_before;
  if (bulk) conflicts_before = validate_store(store, kCheckElements);

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

  CsvReader csv(*src.in);
  std::vector<std::string> row, ordered;
  std::string akey, ekey, new_id;
  std::size_t row_no = 0;
  // Enough bad rows to act on; the rest are counted. `bad_rows` says whether anything is bad.
  std::size_t bad_rows = 0;
  auto bad = [&](const std::string& code, std::size_t col, const std::string& msg, const std::string& hint = {}) {
    ++bad_rows;
    if (r.diagnostics.size() < 1000)
      r.diagnostics.push_back({Severity::error, code, msg, {path, static_cast<int>(csv.line()), static_cast<int>(col)}, {}, hint});
    else
      ++r.untold;
  };
  // The file's own columns: with a header, file column source_of[c] holds layout column c (-1:
  // absent); without one, Lync's fixed order.
  bool header_done = false, reordered = false;
  std::size_t width = columns.size();
  std::vector<int> source_of(columns.size());
  for (std::size_t c = 0; c < columns.size(); ++c) source_of[c] = static_cast<int>(c);
  std::vector<std::size_t> file_col_of(columns.size());  // layout column -> 1-based file column, for messages
  for (std::size_t c = 0; c < columns.size(); ++c) file_col_of[c] = c + 1;
  auto column_index = [&](std::string_view name) -> int {
    const std::string n = to_lower(trim(name));
    for (std::size_t c = 0; c < columns.size(); ++c)
      if (to_lower(columns[c]) == n) return static_cast<int>(c);
    return -1;
  };
  // A first row that names columns is a header (PowerShell's Export-Csv always writes one).
  // Returns false when the file cannot be read by it.
  auto read_header = [&]() {
    width = row.size();
    std::fill(source_of.begin(), source_of.end(), -1);
    for (std::size_t i = 0; i < row.size(); ++i) {
      const int c = column_index(row[i]);
      if (c < 0) {
        r.warnings.push_back({Severity::warning, "W022", "column '" + excerpt(trim(row[i])) + "' is not a " + element.noun + " column and is ignored",
                              {path, static_cast<int>(csv.line()), static_cast<int>(i + 1)}, {}, "the columns are: " + [&] {
                                std::string all;
                                for (const auto& name : columns) all += (all.empty() ? "" : ",") + name;
                                return all;
                              }()});
        continue;
      }
      if (source_of[static_cast<std::size_t>(c)] >= 0) {
        bad("E020", i + 1, "column '" + columns[static_cast<std::size_t>(c)] + "' is given twice");
        continue;
      }
      source_of[static_cast<std::size_t>(c)] = static_cast<int>(i);
      file_col_of[static_cast<std::size_t>(c)] = i + 1;
    }
    // The element's key and the address fields Lync requires must be there; a missing optional
    // column (PostDirectional, say) is read as empty, as Import-Csv binds nothing to it.
    std::vector<std::string> required;
    for (const std::size_t c : key_columns) required.push_back(columns[c]);
    for (const char* f : required_address_fields())
      for (std::size_t c = lay.head.size(); c < columns.size(); ++c)
        if (kAddress[c - lay.head.size()].second == f) required.push_back(columns[c]);
    for (const auto& name : required) {
      if (source_of[static_cast<std::size_t>(column_index(name))] >= 0) continue;
      std::string hint = "export the file again with every column, or add '" + name + "'";
      for (const char* other : {"wap", "subnet", "port", "switch"}) {
        const auto& cols = lis_csv_columns(other);
        if (other != element.noun && std::any_of(row.begin(), row.end(), [&](const std::string& cell) { return to_lower(trim(cell)) == to_lower(cols[0]); }))
          hint = "this looks like a " + std::string(other) + " file: use --kind " + other;
      }
      bad("E021", 1, "the header has no column '" + name + "'", hint);
    }
    for (std::size_t c = 0; c < columns.size(); ++c) reordered |= source_of[c] != static_cast<int>(c);
    reordered |= width != columns.size();
    return bad_rows == 0;
  };
  // Network-site subnets give bare LIS subnets their mask.
  const bool subnets = element.noun == "subnet", wifi = element.noun == "wap";
  const SiteSubnets sites = subnets ? site_subnets(store) : SiteSubnets{};
  // Rule warnings of the new locations, counted here and reported once each (a million new
  // addresses are a million W603s; one line says it).
  std::size_t new_unvalidated = 0, new_wifi_only = 0;
  Network net;
  std::string code, why, hint;
  auto read_rows = [&] {
  try {
    const std::uint64_t total = progress ? src.size : 0;
    while (csv.next(row)) {
      ++row_no;
      if (progress && row_no % 16384 == 0) progress(static_cast<std::uint64_t>(src.in->tellg()), total);
      if (row.size() == 1 && trim(row[0]).empty()) continue;  // blank line
      if (!header_done) {
        // PowerShell's Export-Csv starts with "#TYPE Microsoft.Rtc...." unless -NoTypeInformation.
        if (trim(row[0]).rfind("#TYPE", 0) == 0) continue;
        header_done = true;
        const auto named = std::count_if(row.begin(), row.end(), [&](const std::string& c) { return column_index(c) >= 0; });
        if (column_index(row[0]) >= 0 || named >= 2) {
          if (!read_header()) break;  // no row can be read by this header
          continue;
        }
      }
      ++r.rows;
      if (row.size() != width) {
        bad("E020", 1, "row has " + std::to_string(row.size()) + " columns, expected " + std::to_string(width),
            "columns are: " + [&] {
              std::string s;
              for (const auto& c : columns) s += (s.empty() ? "" : ",") + c;
              return s;
            }());
        continue;
      }
      if (reordered) {
        // Into Lync's order, moving the strings: the rest of the reader sees one layout.
        ordered.resize(columns.size());
        for (std::size_t c = 0; c < columns.size(); ++c) {
          if (source_of[c] >= 0) ordered[c].swap(row[static_cast<std::size_t>(source_of[c])]);
          else ordered[c].clear();
        }
        row.swap(ordered);
      }
      bool row_ok = true;
      for (auto& field : row) trim_in_place(field);
      // Text is UTF-8 or refused: it ends in a PIDF-LO that says so, and in JSON. A key holds no
      // control character at all (a description may hold a tab).
      for (std::size_t c = 0; c < row.size(); ++c) {
        const std::string& v = row[c];
        if (std::all_of(v.begin(), v.end(), [](char ch) { return static_cast<unsigned char>(ch) >= 0x20 && static_cast<unsigned char>(ch) < 0x7F; }))
          continue;
        if (const std::size_t at = invalid_utf8_at(v); at != std::string::npos) {
          bad("E023", file_col_of[c], columns[c] + ": byte 0x" + hex64(static_cast<unsigned char>(v[at])).substr(14) + " at byte " +
                                          std::to_string(at + 1) + " of '" + excerpt(v) + "' is not UTF-8",
              "save the file as UTF-8, or give --encoding windows-1252 if it came from an old Lync export");
          row_ok = false;
          continue;
        }
        std::size_t at = 0;
        const bool key = std::find(key_columns.begin(), key_columns.end(), c) != key_columns.end();
        if (const char32_t cc = control_char(v, at, !key); cc && key) {
          char u[8];
          std::snprintf(u, sizeof u, "%04X", static_cast<unsigned>(cc));
          bad(field_rule_code(element, lay.head[c].second), file_col_of[c],
              columns[c] + ": '" + excerpt(v) + "' holds the control character U+" + u + ", which a key may not");
          row_ok = false;
        }
      }
      if (!row_ok) continue;
      // A Lync LIS subnet is a bare address: its mask comes from the network-site subnet of the
      // same address, or from --prefix-length.
      if (subnets && !row[0].empty() && row[0].find('/') == std::string::npos) {
        if (!parse_address(row[0], net)) {
          bad("E108", file_col_of[0], "Subnet: '" + row[0] + "' is not an IPv4 or IPv6 address or network",
              "write a bare network address such as 10.10.1.0, or a network such as 10.10.1.0/24");
          continue;
        }
        std::string cidr = complete_bare(sites, net, row[0], options.prefix_length, code, why, hint);
        if (cidr.empty()) {
          bad(code, file_col_of[0], "Subnet: " + why, hint);
          continue;
        }
        row[0] = std::move(cidr);
      }
      // Keys in their one stored spelling (00:1a:... is 00-1A-..., 2001:DB8::/64 is 2001:db8::/64).
      // Most files already have it: those rows cost a glance.
      for (const std::size_t c : key_columns) {
        const std::string& field = lay.head[c].second;
        const bool mac = field == "bssid" || field == "chassis_id";
        if ((mac && !(row[c].size() == 17 && row[c][2] == '-' && std::none_of(row[c].begin(), row[c].end(), [](char ch) { return std::islower(static_cast<unsigned char>(ch)); }))) ||
            (subnets && row[c].find(':') != std::string::npos))
          row[c] = canonical_key_value(element, field, row[c]);
      }
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
            bad("E005", file_col_of[c], rule.name + ": must not be empty");
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
          if (why.empty() && rule.in_location && rule.field->name == "country") why = country_problem(vals[c]);
          if (why.empty() && subnets && c == 0 && parse_network(vals[c], net) && net.host_bits) {
            bad("E108", file_col_of[c], rule.name + ": " + host_bits_message(vals[c], net.text()), "write '" + net.text() + "'");
            row_ok = false;
            return;
          }
        }
        if (!why.empty()) {
          bad(field_rule_code(rule.in_location ? location : element, rule.field->name), file_col_of[c], rule.name + ": " + why);
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
      if (!known_address) {
        for (std::size_t c = 0; c < rules.size(); ++c)
          if (rules[c].in_location) check_column(c);
        // The new location's own rules, as validate checks them: it is used by this row's element.
        if (row_ok) {
          auto get = [&](std::string_view field) -> std::string_view {
            for (std::size_t i = 0; i < kAddress.size(); ++i)
              if (kAddress[i].second == field) return vals[lay.head.size() + i];
            return {};
          };
          const LocationVerdict verdict = location_verdict(get, !wifi, wifi);
          new_unvalidated += verdict.unvalidated;
          new_wifi_only += verdict.approximate;
          if (verdict.errors()) for (const auto& d : location_rules(get, !wifi, wifi)) {
            if (d.severity == Severity::warning) continue;
            std::size_t col = 1;
            for (std::size_t i = 0; i < kAddress.size(); ++i)
              if ("/" + kAddress[i].second == d.pointer) col = file_col_of[lay.head.size() + i];
            bad(d.code, col, d.message, d.hint);
            row_ok = false;
          }
        }
      }
      if (!row_ok) continue;
      // Rows that go on add their address to `addresses` below; once the file is known to be bad
      // nothing goes on, so the addresses checked since are remembered here.
      if (!known_address && bad_rows) checked_addresses.insert(akey, address_hash);
      if (!seen_in_file.insert(ekey, ekey_hash).second) {
        bad("E020", 1, element.noun + " '" + Kind::display_key(ekey) + "' appears twice in the file");
        continue;
      }
      if (bad_rows) continue;  // keep reading to report every bad row, write nothing
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
    if (!writer_failed) bad("E020", 1, e.what());
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
  if (bad_rows) return r;  // the Writer rolls back
  bool whole = false;
  if (!dry_run && w.dirty()) {
    std::vector<Diagnostic> brought;
    if (bulk) {
      brought = introduced_diagnostics(conflicts_before, validate_store(store, kCheckElements));
    } else {
      auto [before, after] = validate_before_and_after(store);
      brought = introduced_diagnostics(before, std::move(after));
      whole = true;
    }
    phase_mark("import: validated");
    for (auto& d : brought) {
      (d.severity == Severity::error ? r.diagnostics : r.warnings).push_back(std::move(d));
    }
  }
  // Validated whole, each new location has its own warnings already.
  if (!whole && new_unvalidated)
    r.warnings.push_back({Severity::warning, "W603", std::to_string(new_unvalidated) + " new location(s) are unvalidated with the provider",
                          {path, 0, 0}, {}, "validate them with the provider: e911ctl location validate-addresses --all (the provider's URL in --url or E911_PROVIDER_URL)"});
  if (!whole && new_wifi_only)
    r.warnings.push_back({Severity::warning, "W602",
                          std::to_string(new_wifi_only) + " new location(s) are known only from Wi-Fi access points and are approximate",
                          {path, 0, 0}, {}, "map the switch ports or subnets of the area to them as well"});
  if (has_errors(r.diagnostics) || dry_run) return r;  // the Writer rolls back
  r.rev = w.commit();
  return r;
}

void export_lis_csv(const Store& store, const Kind& element, std::ostream& out, bool lync_form) {
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
      // Lync's LIS keeps a subnet as its bare network address.
      if (lync_form && element.noun == "subnet") rec[0] = rec[0].substr(0, rec[0].find('/'));
      write_csv_record(out, rec);
    }
  } catch (const SQLite::Exception& e) {
    throw Error(ErrorKind::store, std::string("cannot export: ") + e.what());
  }
}

}  // namespace e911
