#include "e911/store.hpp"

#include <SQLiteCpp/SQLiteCpp.h>
#include <sqlite3.h>
#include <pwd.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <algorithm>
#include <atomic>
#include <bit>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <set>

#include "e911/validate.hpp"
#include "e911/durable_file.hpp"
#include "e911/error.hpp"
#include "e911/phases.hpp"
#include "e911/rows.hpp"
#include "e911/text.hpp"

namespace e911 {

const char* to_string(ChangeType t) {
  switch (t) {
    case ChangeType::added: return "added";
    case ChangeType::changed: return "changed";
    case ChangeType::removed: return "removed";
  }
  return "?";
}

std::string default_db_path(const std::string& flag) {
  if (!flag.empty()) return flag;
  if (const char* env = std::getenv("E911_DB"); env && *env) return env;
  if (const char* xdg = std::getenv("XDG_DATA_HOME"); xdg && *xdg) return std::string(xdg) + "/e911ctl/e911.db";
  if (const char* home = std::getenv("HOME"); home && *home) return std::string(home) + "/.local/share/e911ctl/e911.db";
  return "e911.db";
}

namespace {

std::string column_list(const Kind& kind) {
  std::string s;
  for (const auto& f : kind.fields) s += (s.empty() ? "" : ", ") + f.name;
  return s;
}

void bind_field(SQLite::Statement& st, int index, const Field& f, const Json& obj) {
  const auto it = obj.find(f.name);
  if (it == obj.end() || it->is_null()) {
    st.bind(index);
    return;
  }
  switch (f.type) {
    case FieldType::string:
      // The object outlives the statement's step, so SQLite need not copy the text.
      if (it->is_string()) st.bindNoCopy(index, it->get_ref<const std::string&>());
      else st.bind(index, it->dump());
      return;
    case FieldType::integer: st.bind(index, static_cast<int64_t>(it->get<double>())); return;
    case FieldType::number: st.bind(index, it->get<double>()); return;
    case FieldType::boolean: st.bind(index, it->get<bool>() ? 1 : 0); return;
    case FieldType::string_list:
    case FieldType::object_list: st.bind(index, it->dump()); return;
  }
}

std::string current_user() {
  if (const char* u = std::getenv("USER"); u && *u) return u;
  if (const passwd* pw = getpwuid(getuid())) return pw->pw_name;
  return "uid:" + std::to_string(getuid());
}

template <typename Fn>
auto store_call(const std::string& what, Fn&& fn) -> decltype(fn()) {
  try {
    return fn();
  } catch (const SQLite::Exception& e) {
    throw Error(ErrorKind::store, what + ": " + e.what());
  }
}

constexpr int kBusyTimeoutMs = 5000;

}  // namespace

Json row_to_json(const Kind& kind, SQLite::Statement& st, int first) {
  Json obj = Json::object();
  int col = first;
  for (const auto& f : kind.fields) {
    const SQLite::Column c = st.getColumn(col++);
    if (c.isNull()) continue;
    switch (f.type) {
      case FieldType::string: obj[f.name] = c.getString(); break;
      case FieldType::integer: obj[f.name] = c.getInt64(); break;
      case FieldType::number: obj[f.name] = c.getDouble(); break;
      case FieldType::boolean: obj[f.name] = c.getInt() != 0; break;
      case FieldType::string_list:
      case FieldType::object_list: obj[f.name] = Json::parse(c.getString()); break;
    }
  }
  return obj;
}

// ---- Store ---------------------------------------------------------------------------------

namespace {

// How a process that may not write `path` or its folder reads it. SQLite reads a WAL store only
// with its -shm file; when there is none and none can be made, the file is read as immutable: a
// short read of a store nobody is writing at that moment. Never beside a rollback journal: that
// is a write killed half-way, which only a process that may write can roll back, and an
// immutable read would see its half-written pages.
std::string read_only_uri(const std::string& path) {
  std::string uri = "file:";
  for (const char c : path) {
    if (c == '?' || c == '#' || c == '%') {
      char buf[4];
      std::snprintf(buf, sizeof buf, "%%%02X", static_cast<unsigned char>(c));
      uri += buf;
    } else {
      uri += c;
    }
  }
  std::error_code ec;
  const bool immutable = !std::filesystem::exists(path + "-shm", ec) && std::filesystem::file_size(path + "-journal", ec) == static_cast<std::uintmax_t>(-1);
  return uri + (immutable ? "?mode=ro&immutable=1" : "?mode=ro");
}

// What is at `path`, read without changing a byte of it.
enum class FileIs { ours, legacy_ours, empty, foreign, not_sqlite };

FileIs identify(const std::string& path, bool can_write) {
  if (std::filesystem::file_size(path) == 0) return FileIs::empty;
  // Where the process may write, an ordinary read-only connection: it takes SQLite's locks, so
  // a bulk import that holds the store is waited for, never read half-written. A write killed
  // half-way in rollback-journal mode left a hot journal that a read-only connection may not
  // roll back: then a read-write one does, as SQLite must before anything of the file is read.
  auto connect = [&](bool recover) {
    if (recover) return SQLite::Database(path, SQLite::OPEN_READWRITE);
    return SQLite::Database(can_write ? path : read_only_uri(path), SQLite::OPEN_READONLY | (can_write ? 0 : SQLite::OPEN_URI));
  };
  for (bool recover : {false, true}) try {
    SQLite::Database db = connect(recover);
    db.setBusyTimeout(kBusyTimeoutMs);
    SQLite::Statement app(db, "PRAGMA application_id");
    app.executeStep();
    if (app.getColumn(0).getInt() == Store::kApplicationId) return FileIs::ours;
    if (app.getColumn(0).getInt() != 0) return FileIs::foreign;
    // A database with nothing in it, as a process killed while creating a store left it before
    // this version made stores under a draft name: there is nothing to lose, so it is empty.
    SQLite::Statement objects(db, "SELECT (SELECT count(*) FROM sqlite_master) + (SELECT user_version FROM pragma_user_version)");
    objects.executeStep();
    if (objects.getColumn(0).getInt64() == 0) return FileIs::empty;
    // Stores made before the mark: our migrations table, revisions and the global policy's table.
    SQLite::Statement t(db, "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name IN ('schema_migrations', 'revision', 'location_policy')");
    t.executeStep();
    return t.getColumn(0).getInt() == 3 ? FileIs::legacy_ours : FileIs::foreign;
  } catch (const SQLite::Exception& e) {
    if ((e.getErrorCode() & 0xff) == SQLITE_NOTADB) return FileIs::not_sqlite;
    if ((e.getErrorCode() & 0xff) == SQLITE_READONLY && can_write && !recover) continue;
    if ((e.getErrorCode() & 0xff) == SQLITE_READONLY)
      throw Error(ErrorKind::store, "'" + path + "' holds a write that was killed half-way, and this process may not write it to roll that back",
                  "run any command (such as 'e911ctl history') as a user who may write the store and its folder");
    throw Error(ErrorKind::store, "cannot open '" + path + "': " + e.what());
  }
  return FileIs::foreign;  // not reached: the second pass returns or throws
}

bool writable(const std::string& path) {
  const std::filesystem::path p(path);
  const std::string dir = p.has_parent_path() ? p.parent_path().string() : ".";
  // The -wal and -shm files live beside the store: its folder must be writable too.
  return access(path.c_str(), W_OK) == 0 && access(dir.c_str(), W_OK | X_OK) == 0;
}

// Drafts (Store::open) that processes killed while creating the store at `path` left behind.
void remove_dead_drafts(const std::string& path) {
  namespace fs = std::filesystem;
  const fs::path p(path);
  const fs::path dir = p.has_parent_path() ? p.parent_path() : fs::path(".");
  const std::string prefix = p.filename().string() + ".new.";
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind(prefix, 0) != 0) continue;
    const std::string rest = name.substr(prefix.size());
    const std::size_t digits = rest.find_first_not_of("0123456789");
    if (digits == 0) continue;
    const long pid = std::strtol(rest.c_str(), nullptr, 10);
    if (pid <= 0 || (::kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH)) fs::remove(entry.path(), ec);
  }
}

void remove_database_files(const std::string& path) {
  std::error_code ec;
  for (const char* suffix : {"", "-wal", "-shm", "-journal"}) std::filesystem::remove(path + suffix, ec);
}

// Durable commits: with WAL, FULL syncs the log at every commit, so a revision a command
// reported survives a power cut too (NORMAL would keep the store whole but might lose it). In
// rollback-journal mode only FULL syncs the journal before the file is overwritten.
constexpr const char* kSynchronous = "PRAGMA synchronous=FULL";

}  // namespace

std::unique_ptr<Store> Store::open(const std::string& path, bool create) {
  namespace fs = std::filesystem;
  const bool in_memory = path.rfind(":memory:", 0) == 0;
  std::error_code ec;
  if (!create || path.empty() || in_memory) return open_at(path, create);
  remove_dead_drafts(path);
  if (fs::exists(path, ec)) return open_at(path, create);
  const fs::path parent = fs::path(path).parent_path();
  if (!parent.empty()) create_folders(parent.string());
  // Unique in the process too: two Stores may be created at once (a test, a library user).
  static std::atomic<unsigned> drafts{0};
  const std::string draft = path + ".new." + std::to_string(::getpid()) + "." + std::to_string(drafts++);
  remove_database_files(draft);
  // The store holds users' digest secrets: its file is made here, mode 0600 whatever the umask,
  // before SQLite opens it (SQLite would make it 0644). Its -wal, -shm and -journal files take
  // the store's mode from SQLite, and the store keeps this inode when it settles at `path`.
  if (const int fd = create_private_file(draft); fd >= 0) {
    ::close(fd);
  } else {
    throw Error(ErrorKind::store, "cannot create '" + path + "': " + std::strerror(errno), "check that the folder exists and may be written");
  }
  auto s = open_at(draft, true);
  s->settle_to_ = path;
  return s;
}

void Store::settle() {
  if (settle_to_.empty()) return;
  const std::string draft = path_;
  store_call("cannot create '" + settle_to_ + "'", [&] {
    // One self-contained file: out of WAL mode (its log folded in and removed), then closed.
    db_->exec("PRAGMA journal_mode=DELETE");
    db_.reset();
    return 0;
  });
  sync_file(draft);
  if (::link(draft.c_str(), settle_to_.c_str()) != 0) {
    const int err = errno;
    if (err == EEXIST)
      throw Error(ErrorKind::store, "'" + settle_to_ + "' was created by another process while this command ran; nothing was written",
                  "run the command again: it then writes to that store");
    // A file system without hard links: a rename, after a last look.
    std::error_code ec;
    if (std::filesystem::exists(settle_to_, ec) || ::rename(draft.c_str(), settle_to_.c_str()) != 0)
      throw Error(ErrorKind::store, "cannot create '" + settle_to_ + "': " + std::strerror(err));
  }
  ::unlink(draft.c_str());
  sync_parent_dir(settle_to_);
  path_ = settle_to_;
  settle_to_.clear();
  store_call("cannot open '" + path_ + "'", [&] {
    connect(false);
    return 0;
  });
}

void Store::connect(bool read_only) {
  if (read_only)
    db_ = std::make_unique<SQLite::Database>(read_only_uri(path_), SQLite::OPEN_READONLY | SQLite::OPEN_URI | SQLite::OPEN_NOMUTEX);
  else  // one thread per connection: no mutex
    db_ = std::make_unique<SQLite::Database>(path_, SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE | SQLite::OPEN_NOMUTEX);
  db_->setBusyTimeout(kBusyTimeoutMs);
  db_->exec("PRAGMA foreign_keys=ON");
  db_->exec("PRAGMA cache_size=-65536");
  db_->exec("PRAGMA temp_store=MEMORY");
  if (read_only) return;
  // WAL, so that readers never wait for a writer. Only while a bulk import holds the store in
  // rollback-journal mode (Writer, WriteSize::bulk) can this fail: the store is then read as it
  // is, and the importer sets WAL again when it is done.
  db_->setBusyTimeout(0);
  try {
    db_->exec("PRAGMA journal_mode=WAL");
  } catch (const SQLite::Exception& e) {
    if ((e.getErrorCode() & 0xff) != SQLITE_BUSY && (e.getErrorCode() & 0xff) != SQLITE_LOCKED) throw;
  }
  db_->setBusyTimeout(kBusyTimeoutMs);
  db_->exec(kSynchronous);
}

std::unique_ptr<Store> Store::open_at(const std::string& path, bool create) {
  namespace fs = std::filesystem;
  if (path.empty()) throw Error(ErrorKind::usage, "the database path is empty", "give --db FILE or E911_DB=FILE, or neither for the default");
  const bool in_memory = path.rfind(":memory:", 0) == 0;
  const bool exists = !in_memory && fs::exists(path);
  if (!in_memory && !exists && !create)
    throw Error(ErrorKind::store, "no database at '" + path + "'",
                "run 'e911ctl init', or apply a configuration with 'e911ctl apply -f FILE'; set the path with --db or E911_DB");
  if (exists && fs::is_directory(path)) throw Error(ErrorKind::store, "'" + path + "' is a directory, not a database", "give the path of a file");
  const bool can_write = exists && writable(path);
  const FileIs what = exists ? identify(path, can_write) : FileIs::ours;
  if (what == FileIs::not_sqlite || what == FileIs::foreign || (what == FileIs::empty && !create))
    throw Error(ErrorKind::store, "'" + path + "' is not an e911ctl database",
                what == FileIs::empty ? "it is an empty file; e911ctl --db '" + path + "' init makes it one"
                                      : "e911ctl never changes another program's file; give the path of an e911ctl store, or a new one");
  if (!exists && !in_memory) {
    const fs::path parent = fs::path(path).parent_path();
    if (!parent.empty()) create_folders(parent.string());
  }
  // A read may be made where the process cannot write (a store in another user's folder): then
  // nothing is changed, not even the journal mode.
  const bool read_only = exists && !create && !can_write;
  std::unique_ptr<Store> s(new Store);
  s->path_ = path;
  store_call("cannot open '" + path + "'", [&] {
    s->connect(read_only);
    if (read_only) return 0;
    if (what != FileIs::ours || !exists) s->db_->exec("PRAGMA application_id=" + std::to_string(kApplicationId));
    s->db_->exec("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)");
    return 0;
  });
  // Versioned migrations: schemas/sql/NNN_name.sql, each applied once, in order, in a transaction.
  int latest = 0;
  bool migrated = false;
  for (const auto& file : embedded_files_under("schemas/sql/")) {
    const std::string base = file.substr(file.rfind('/') + 1);
    const int version = std::stoi(base.substr(0, base.find('_')));
    latest = std::max(latest, version);
    if (version <= s->schema_version()) continue;
    if (read_only)
      throw Error(ErrorKind::store, "'" + path + "' needs an upgrade to schema version " + std::to_string(version) + ", and this process may not write it",
                  "run any write command (such as 'e911ctl init') as a user who may write the store and its folder");
    store_call("cannot migrate '" + path + "' to version " + std::to_string(version), [&] {
      SQLite::Transaction tx(*s->db_);
      s->db_->exec(std::string(embedded_file(file)));
      SQLite::Statement ins(*s->db_, "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)");
      ins.bind(1, version);
      ins.bind(2, base);
      ins.bind(3, utc_now());
      ins.exec();
      s->db_->exec("PRAGMA user_version=" + std::to_string(version));
      tx.commit();
      return 0;
    });
    migrated = true;
  }
  if (!read_only)
    store_call("cannot mark '" + path + "'", [&] {
      SQLite::Statement v(*s->db_, "PRAGMA user_version");
      v.executeStep();
      if (v.getColumn(0).getInt() != latest) s->db_->exec("PRAGMA user_version=" + std::to_string(latest));
      return 0;
    });
  // The global location and voice policies always exist: a new store starts with them as
  // revision 1, and a store made before voice policies gets its global one when it is upgraded.
  if (!read_only) {
    const Kind& policy = kind_by_noun("policy");
    const Kind& voice = kind_by_noun("voicepolicy");
    const bool fresh = s->head() == 0 && !s->get(policy, "global");
    if (fresh || (migrated && !s->get(voice, "global"))) {
      Writer w(*s, fresh ? "e911ctl init" : "e911ctl upgrade: the global voice policy");
      if (fresh) w.put(policy, Json{{"identity", "global"}});
      w.put(voice, Json{{"identity", "global"}});
      w.commit();
    }
  }
  return s;
}

Store::~Store() {
  if (settle_to_.empty()) return;
  // Created by a command that never committed: nothing of it remains.
  const std::string draft = path_;
  db_.reset();
  remove_database_files(draft);
}

int Store::schema_version() const {
  return store_call("cannot read the schema version", [&] {
    SQLite::Statement st(*db_, "SELECT COALESCE(MAX(version), 0) FROM schema_migrations");
    st.executeStep();
    return st.getColumn(0).getInt();
  });
}

std::int64_t Store::head() const {
  return store_call("cannot read revisions", [&] {
    if (!db_->tableExists("revision")) return std::int64_t{0};
    SQLite::Statement st(*db_, "SELECT COALESCE(MAX(rev), 0) FROM revision");
    st.executeStep();
    return st.getColumn(0).getInt64();
  });
}

std::optional<Json> Store::get(const Kind& kind, const std::string& key) const {
  return store_call("cannot read " + kind.noun, [&]() -> std::optional<Json> {
    SQLite::Statement st(*db_, "SELECT " + column_list(kind) + " FROM " + kind.table + " WHERE key = ? AND rev_removed IS NULL");
    st.bind(1, key);
    if (!st.executeStep()) return std::nullopt;
    return row_to_json(kind, st, 0);
  });
}

std::string Store::alive_at(std::int64_t rev) {
  if (rev <= 0) return "rev_removed IS NULL";
  return "rev_added <= :rev AND (rev_removed IS NULL OR rev_removed > :rev)";
}

void Store::for_each(const Kind& kind, const std::function<void(Json&&)>& fn, std::int64_t rev) const {
  store_call("cannot read " + kind.noun, [&] {
    SQLite::Statement st(*db_, "SELECT " + column_list(kind) + " FROM " + kind.table + " WHERE " + alive_at(rev) + " ORDER BY key");
    if (rev > 0) st.bind(":rev", static_cast<int64_t>(rev));
    while (st.executeStep()) fn(row_to_json(kind, st, 0));
    return 0;
  });
}

std::vector<Json> Store::list(const Kind& kind) const {
  std::vector<Json> out;
  for_each(kind, [&](Json&& j) { out.push_back(std::move(j)); });
  return out;
}

std::vector<std::string> Store::keys(const Kind& kind) const {
  return store_call("cannot read " + kind.noun, [&] {
    std::vector<std::string> out;
    SQLite::Statement st(*db_, "SELECT key FROM " + kind.table + " WHERE rev_removed IS NULL ORDER BY key");
    while (st.executeStep()) out.push_back(st.getColumn(0).getString());
    return out;
  });
}

std::int64_t Store::count(const Kind& kind) const {
  return store_call("cannot read " + kind.noun, [&] {
    SQLite::Statement st(*db_, "SELECT count(*) FROM " + kind.table + " WHERE rev_removed IS NULL");
    st.executeStep();
    return st.getColumn(0).getInt64();
  });
}

std::vector<std::string> Store::referrers(const Kind& target, const std::string& key, std::size_t limit) const {
  return store_call("cannot read references", [&] {
    std::vector<std::string> out;
    for (const auto& k : kinds()) {
      for (const auto& f : k.fields) {
        if (f.ref_kind != target.name || out.size() >= limit) continue;
        const std::string sql =
            f.type == FieldType::string_list
                ? "SELECT t.key FROM " + k.table + " t, json_each(t." + f.name + ") j WHERE t.rev_removed IS NULL AND j.value = ?1 ORDER BY t.key LIMIT ?2"
                : "SELECT key FROM " + k.table + " WHERE " + f.name + " = ?1 AND rev_removed IS NULL ORDER BY key LIMIT ?2";
        SQLite::Statement st(*db_, sql);
        st.bind(1, key);
        st.bind(2, static_cast<int64_t>(limit - out.size()));
        while (st.executeStep()) out.push_back(k.noun + " '" + Kind::display_key(st.getColumn(0).getString()) + "'");
      }
    }
    return out;
  });
}

static RevisionInfo read_revision(SQLite::Statement& st) {
  RevisionInfo r;
  r.rev = st.getColumn(0).getInt64();
  r.time = st.getColumn(1).getString();
  r.user = st.getColumn(2).getString();
  r.command = st.getColumn(3).getString();
  r.summary = st.getColumn(4).getString();
  r.added = st.getColumn(5).getInt64();
  r.changed = st.getColumn(6).getInt64();
  r.removed = st.getColumn(7).getInt64();
  return r;
}

std::vector<RevisionInfo> Store::history(std::size_t limit) const {
  return store_call("cannot read revisions", [&] {
    std::vector<RevisionInfo> out;
    SQLite::Statement st(*db_, "SELECT rev, time, user, command, summary, added, changed, removed FROM revision ORDER BY rev DESC LIMIT ?");
    st.bind(1, limit ? static_cast<int64_t>(limit) : int64_t{-1});
    while (st.executeStep()) out.push_back(read_revision(st));
    return out;
  });
}

std::optional<RevisionInfo> Store::revision(std::int64_t rev) const {
  return store_call("cannot read revisions", [&]() -> std::optional<RevisionInfo> {
    SQLite::Statement st(*db_, "SELECT rev, time, user, command, summary, added, changed, removed FROM revision WHERE rev = ?");
    st.bind(1, static_cast<int64_t>(rev));
    if (!st.executeStep()) return std::nullopt;
    return read_revision(st);
  });
}

std::vector<Change> Store::diff(std::int64_t from, std::int64_t to) const {
  if (from > to) {
    auto back = diff(to, from);
    for (auto& c : back) {
      std::swap(c.before, c.after);
      if (c.type == ChangeType::added) c.type = ChangeType::removed;
      else if (c.type == ChangeType::removed) c.type = ChangeType::added;
    }
    return back;
  }
  return store_call("cannot read revisions", [&] {
    std::vector<Change> out;
    for (const auto& k : kinds()) {
      const std::string cols = column_list(k);
      std::map<std::string, Json> before, after;
      SQLite::Statement b(*db_, "SELECT key, " + cols + " FROM " + k.table +
                                    " WHERE rev_added <= ?1 AND rev_removed > ?1 AND rev_removed <= ?2");
      b.bind(1, static_cast<int64_t>(from));
      b.bind(2, static_cast<int64_t>(to));
      while (b.executeStep()) before[b.getColumn(0).getString()] = normalize(k, row_to_json(k, b, 1));
      SQLite::Statement a(*db_, "SELECT key, " + cols + " FROM " + k.table +
                                    " WHERE rev_added > ?1 AND rev_added <= ?2 AND (rev_removed IS NULL OR rev_removed > ?2)");
      a.bind(1, static_cast<int64_t>(from));
      a.bind(2, static_cast<int64_t>(to));
      while (a.executeStep()) after[a.getColumn(0).getString()] = normalize(k, row_to_json(k, a, 1));
      std::set<std::string> all_keys;
      for (const auto& [key, v] : before) all_keys.insert(key);
      for (const auto& [key, v] : after) all_keys.insert(key);
      for (const auto& key : all_keys) {
        const auto bi = before.find(key), ai = after.find(key);
        if (bi != before.end() && ai != after.end()) {
          if (bi->second != ai->second) out.push_back({&k, key, ChangeType::changed, bi->second, ai->second});
        } else if (ai != after.end()) {
          out.push_back({&k, key, ChangeType::added, nullptr, ai->second});
        } else {
          out.push_back({&k, key, ChangeType::removed, bi->second, nullptr});
        }
      }
    }
    return out;
  });
}

// ---- Writer --------------------------------------------------------------------------------

namespace {

// INSERT of `rows` rows of `k`, each (key, rev_added, fields...).
// With `fields` (bit i: field i), only those columns: the others stay NULL.
std::string insert_sql(const Kind& k, std::size_t rows, std::uint64_t fields = ~std::uint64_t{0}) {
  std::string cols;
  std::size_t n = 0;
  for (std::size_t i = 0; i < k.fields.size(); ++i) {
    if (i < 64 && !(fields >> i & 1)) continue;
    cols += ", " + k.fields[i].name;
    ++n;
  }
  std::string q = "INSERT INTO " + k.table + " (key, rev_added" + cols + ") VALUES ";
  for (std::size_t r = 0; r < rows; ++r) {
    q += r ? ", (?, ?" : "(?, ?";
    for (std::size_t i = 0; i < n; ++i) q += ", ?";
    q += ")";
  }
  return q;
}

// An identifier (an index's name, read from sqlite_master) as SQL text: double-quoted, its own
// quotes doubled. Identifiers cannot be bound; values always are.
std::string quoted_identifier(const std::string& name) {
  std::string out = "\"";
  for (const char c : name) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

// Rows per statement of Writer::insert_text_rows: each step of a statement opens a cursor, seeks
// the end of the table and closes it again, which several rows then share.
constexpr std::size_t kRowsPerInsert = 16;

}  // namespace

struct Writer::Statements {
  SQLite::Statement select_current, insert, close, drop;
  // insert_text_rows' statements, by the fields they set and their rows (1 or kRowsPerInsert).
  std::map<std::pair<std::uint64_t, std::size_t>, std::unique_ptr<SQLite::Statement>> insert_text;
  Statements(SQLite::Database& db, const Kind& k)
      : select_current(db, "SELECT row_id, rev_added, " + column_list(k) + " FROM " + k.table + " WHERE key = ? AND rev_removed IS NULL"),
        insert(db, insert_sql(k, 1)),
        close(db, "UPDATE " + k.table + " SET rev_removed = ? WHERE row_id = ?"),
        drop(db, "DELETE FROM " + k.table + " WHERE row_id = ?") {}
  // Ends the current row `row_id` at revision `rev`: a row this same revision added is simply
  // deleted, any older one is closed so that history keeps it.
  void end_row(std::int64_t row_id, std::int64_t added, std::int64_t rev) {
    auto& st = added == rev ? drop : close;
    st.reset();
    if (added == rev) {
      st.bind(1, row_id);
    } else {
      st.bind(1, rev);
      st.bind(2, row_id);
    }
    st.exec();
  }
};

Writer::Writer(Store& store, std::string command, WriteSize size) : store_(store), command_(std::move(command)) {
  auto& db = store_.db();
  if (size == WriteSize::bulk) {
    // Leaving WAL mode needs every other connection closed: try once, without waiting. A reader
    // that opens the store meanwhile reads the last revision until this one commits.
    try {
      db.setBusyTimeout(0);
      SQLite::Statement mode(db, "PRAGMA journal_mode=DELETE");
      rollback_journal_ = mode.executeStep() && mode.getColumn(0).getString() == "delete";
    } catch (const SQLite::Exception&) {
      // Another connection is open: WAL it is.
    }
    db.setBusyTimeout(kBusyTimeoutMs);
    phase_mark(rollback_journal_ ? "bulk write: rollback-journal mode" : "bulk write: WAL mode (another connection has the store open)");
  }
  try {
    store_call("cannot begin a write", [&] {
      db.exec("BEGIN IMMEDIATE");
      return 0;
    });
  } catch (...) {
    leave_rollback_journal();  // no transaction, so no destructor either
    throw;
  }
  rev_ = store_.head() + 1;
}

void Writer::leave_rollback_journal() noexcept {
  if (!rollback_journal_) return;
  rollback_journal_ = false;
  try {
    store_.db().exec("PRAGMA journal_mode=WAL");
  } catch (const SQLite::Exception&) {
    // A reader holds the file: what was written stands, and the next Store::open sets WAL again.
  }
}

void Writer::end_transaction(const char* sql) {
  store_.db().exec(sql);
  leave_rollback_journal();
}

Writer::~Writer() {
  if (done_) return;
  try {
    stmts_.clear();
    end_transaction("ROLLBACK");
  } catch (...) {
    // Nothing more can be done in a destructor; SQLite rolls back on close anyway.
  }
}

Writer::Statements& Writer::stmts(const Kind& kind) const {
  auto& slot = stmts_[&kind];
  if (!slot) {
    slot = std::make_unique<Statements>(store_.db(), kind);
    // Before this Writer's first row of the kind: every row it writes gets a greater rowid, so
    // check_references finds them by a range of rowids instead of scanning the table.
    row_floor_.emplace(&kind, static_cast<std::int64_t>(max_rowid(store_.db(), kind.table)));
  }
  return *slot;
}

std::optional<Json> Writer::get(const Kind& kind, const std::string& key) const { return store_.get(kind, key); }

void Writer::insert_row(const Kind& kind, const std::string& key, const Json& obj) {
  auto& ins = stmts(kind).insert;
  ins.reset();
  ins.clearBindings();
  ins.bindNoCopy(1, key);
  ins.bind(2, static_cast<int64_t>(rev_));
  int i = 3;
  for (const auto& f : kind.fields) bind_field(ins, i++, f, obj);
  ins.exec();
  ++inserted_[&kind];
  dirty_ = true;
}

void Writer::begin_bulk(const Kind& kind, std::size_t expected_rows, bool references_checked,
                        const std::vector<std::string>& fields_written) {
  store_call("cannot prepare the bulk load of " + kind.noun, [&] {
    Bulk& b = bulk_[&kind];
    b.references_checked = references_checked;
    if (!b.dropped_indexes.empty()) return 0;
    auto& db = store_.db();
    // Statements are finished in their own scope: an active one locks the table against DROP.
    const std::int64_t rows = [&] {
      SQLite::Statement n(db, "SELECT count(*) FROM " + kind.table);
      n.executeStep();
      return n.getColumn(0).getInt64();
    }();
    if (static_cast<std::size_t>(rows) > expected_rows || expected_rows < 10000) return 0;
    // The load keeps its pages in memory instead of spilling them to the journal half-way; the
    // sorter of CREATE INDEX may use a second core.
    db.exec("PRAGMA cache_size=-524288");
    db.exec("PRAGMA threads=2");
    stmts_.erase(&kind);  // prepared against the indexes about to go
    std::vector<std::pair<std::string, std::string>> indexes;
    {
      SQLite::Statement q(db, "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ? AND sql IS NOT NULL");
      q.bind(1, kind.table);
      while (q.executeStep()) indexes.emplace_back(q.getColumn(0).getString(), q.getColumn(1).getString());
    }
    for (const auto& [name, sql] : indexes) {
      std::vector<std::string> columns;
      {
        SQLite::Statement cols(db, "SELECT name FROM pragma_index_info(?)");
        cols.bind(1, name);
        while (cols.executeStep()) columns.push_back(cols.getColumn(0).getString());
      }
      const bool written = std::any_of(columns.begin(), columns.end(), [&](const std::string& col) {
        return col == "key" || col == "rev_added" || std::find(fields_written.begin(), fields_written.end(), col) != fields_written.end();
      });
      if (!written) continue;  // the load adds nothing to it (it may still index NULLs, in order)
      if (columns == std::vector<std::string>{"key"}) {
        // Kept while the keys come in order: appending to an index costs little. A file sorted
        // by key (an export, most LIS files) then needs no sort at commit.
        b.key_index = {name, sql};
        continue;
      }
      db.exec("DROP INDEX " + quoted_identifier(name));
      b.dropped_indexes.push_back(sql);
    }
    return 0;
  });
}

void Writer::bulk_keys(const Kind& kind, std::span<const std::string* const> keys) {
  const auto it = bulk_.find(&kind);
  if (it == bulk_.end() || it->second.key_index.first.empty() || keys.empty()) return;
  Bulk& b = it->second;
  bool ordered = b.last_key.empty() || *keys[0] > b.last_key;
  for (std::size_t i = 1; ordered && i < keys.size(); ++i) ordered = *keys[i] > *keys[i - 1];
  if (ordered) {
    b.last_key = *keys.back();
    return;
  }
  // The first key out of order: from here on the index costs a random insert per row, so it goes
  // now and is built at commit with the others.
  stmts_.erase(&kind);
  store_.db().exec("DROP INDEX " + quoted_identifier(b.key_index.first));
  b.dropped_indexes.push_back(b.key_index.second);
  b.key_index = {};
}

std::optional<ChangeType> Writer::put(const Kind& kind, const Json& input) {
  return store_call("cannot write " + kind.noun, [&]() -> std::optional<ChangeType> {
    const Json obj = normalize(kind, input);
    const std::string key = kind.key_of(obj);
    if (key.empty()) throw Error(ErrorKind::internal, kind.noun + " without an identity");
    auto& s = stmts(kind);
    s.select_current.reset();
    s.select_current.bind(1, key);
    std::optional<ChangeType> result = ChangeType::added;
    if (s.select_current.executeStep()) {
      const int64_t row_id = s.select_current.getColumn(0).getInt64();
      const int64_t added = s.select_current.getColumn(1).getInt64();
      const Json old = normalize(kind, row_to_json(kind, s.select_current, 2));
      s.select_current.reset();
      if (old == obj) return std::nullopt;  // nothing written: the kind need not be checked again
      s.end_row(row_id, added, static_cast<int64_t>(rev_));
      result = ChangeType::changed;
    }
    s.select_current.reset();
    reworked_.insert(&kind);
    insert_row(kind, key, obj);
    return result;
  });
}

void Writer::insert_new(const Kind& kind, const Json& obj) {
  store_call("cannot write " + kind.noun, [&] {
    insert_row(kind, kind.key_of(obj), obj);
    return 0;
  });
}

void Writer::bind_text_row(SQLite::Statement& ins, int first, const Kind& kind, const std::string& key,
                           const std::vector<const std::string*>& values, std::uint64_t fields) {
  ins.bindNoCopy(first, key);
  ins.bind(first + 1, static_cast<int64_t>(rev_));
  int index = first + 2;
  for (std::size_t i = 0; i < kind.fields.size(); ++i) {
    if (i < 64 && !(fields >> i & 1)) continue;
    const Field& f = kind.fields[i];
    const std::string* v = i < values.size() ? values[i] : nullptr;
    if (!v) {
      // A text default is bound without a copy: it lives in the catalog, as long as the program.
      if (f.default_value.is_null()) ins.bind(index);
      else if (f.default_value.is_string()) ins.bindNoCopy(index, f.default_value.get_ref<const std::string&>());
      else bind_field(ins, index, f, Json{{f.name, f.default_value}});
    } else if (f.type == FieldType::integer || f.type == FieldType::boolean) {
      ins.bind(index, static_cast<int64_t>(f.type == FieldType::boolean ? (*v == "true" ? 1 : 0) : std::stoll(*v)));
    } else if (f.type == FieldType::number) {
      ins.bind(index, std::stod(*v));
    } else {
      ins.bindNoCopy(index, *v);
    }
    ++index;
  }
}

void Writer::insert_text(const Kind& kind, const std::string& key, const std::vector<const std::string*>& values) {
  const std::string* k = &key;
  insert_text_rows(kind, std::span(&k, 1), std::span(&values, 1));
}

void Writer::insert_text_rows(const Kind& kind, std::span<const std::string* const> keys,
                              std::span<const std::vector<const std::string*>> values) {
  if (keys.size() != values.size()) throw Error(ErrorKind::internal, "insert_text_rows: keys and values differ in length");
  if (keys.empty()) return;
  // Only the columns some row sets (or that have a default) are named: a location row of an
  // import sets about half of its fields, and each NULL bound is a call into SQLite.
  std::uint64_t fields = 0;
  for (std::size_t i = 0; i < kind.fields.size(); ++i) {
    bool set = i >= 64 || !kind.fields[i].default_value.is_null();
    for (std::size_t r = 0; !set && r < values.size(); ++r) set = i < values[r].size() && values[r][i];
    if (set && i < 64) fields |= std::uint64_t{1} << i;
  }
  const int per_row = 2 + std::popcount(fields) + static_cast<int>(kind.fields.size() > 64 ? kind.fields.size() - 64 : 0);
  try {
    bulk_keys(kind, keys);
    auto& s = stmts(kind);
    auto statement = [&](std::size_t rows) -> SQLite::Statement& {
      auto& slot = s.insert_text[{fields, rows}];
      if (!slot) slot = std::make_unique<SQLite::Statement>(store_.db(), insert_sql(kind, rows, fields));
      return *slot;
    };
    std::size_t r = 0;
    if (keys.size() >= kRowsPerInsert) {
      auto& many = statement(kRowsPerInsert);
      for (; r + kRowsPerInsert <= keys.size(); r += kRowsPerInsert) {
        many.reset();
        for (std::size_t i = 0; i < kRowsPerInsert; ++i)
          bind_text_row(many, 1 + static_cast<int>(i) * per_row, kind, *keys[r + i], values[r + i], fields);
        many.exec();
      }
    }
    if (r < keys.size()) {
      auto& one = statement(1);
      for (; r < keys.size(); ++r) {
        one.reset();
        bind_text_row(one, 1, kind, *keys[r], values[r], fields);
        one.exec();
      }
    }
  } catch (const SQLite::Exception& e) {
    throw Error(ErrorKind::store, "cannot write " + kind.noun + ": " + e.what());
  }
  inserted_[&kind] += static_cast<std::int64_t>(keys.size());
  dirty_ = true;
}

bool Writer::remove(const Kind& kind, const std::string& key) {
  return store_call("cannot remove " + kind.noun, [&] {
    reworked_.insert(&kind);
    auto& s = stmts(kind);
    s.select_current.reset();
    s.select_current.bind(1, key);
    if (!s.select_current.executeStep()) {
      s.select_current.reset();
      return false;
    }
    const int64_t row_id = s.select_current.getColumn(0).getInt64();
    const int64_t added = s.select_current.getColumn(1).getInt64();
    s.select_current.reset();
    s.end_row(row_id, added, static_cast<int64_t>(rev_));
    dirty_ = true;
    return true;
  });
}

void Writer::restore(std::int64_t rev) {
  store_call("cannot restore revision " + std::to_string(rev), [&] {
    restored_ = true;
    auto& db = store_.db();
    for (const auto& k : kinds()) {
      const std::string cols = column_list(k);
      SQLite::Statement drop(db, "DELETE FROM " + k.table + " WHERE rev_added = ?1");
      drop.bind(1, static_cast<int64_t>(rev_));
      int n = drop.exec();
      SQLite::Statement close(db, "UPDATE " + k.table + " SET rev_removed = ?1 WHERE rev_removed IS NULL AND rev_added > ?2");
      close.bind(1, static_cast<int64_t>(rev_));
      close.bind(2, static_cast<int64_t>(rev));
      n += close.exec();
      SQLite::Statement back(db, "INSERT INTO " + k.table + " (key, rev_added, " + cols + ") SELECT key, ?1, " + cols + " FROM " +
                                     k.table + " WHERE rev_added <= ?2 AND rev_removed > ?2 AND rev_removed IS NOT NULL AND rev_added < ?1");
      back.bind(1, static_cast<int64_t>(rev_));
      back.bind(2, static_cast<int64_t>(rev));
      n += back.exec();
      if (n) dirty_ = true;
    }
    return 0;
  });
}

std::vector<Diagnostic> Writer::check_references() const {
  return store_call("cannot check references", [&] {
    std::vector<Diagnostic> out;
    auto& db = store_.db();
    for (const auto& k : kinds()) {
      for (const auto& f : k.fields) {
        if (f.ref_kind.empty()) continue;
        const Kind& target = *find_kind(f.ref_kind);
        const bool list = f.type == FieldType::string_list;
        // Objects written in this revision that name something that does not exist. Only kinds this
        // Writer wrote can have any (a restore writes every kind), and only from the rowid its
        // first write of the kind found.
        const auto bulk = bulk_.find(&k);
        const bool written = restored_ || reworked_.count(&k) || inserted_.count(&k);
        const bool checked = !written || (bulk != bulk_.end() && bulk->second.references_checked && !restored_);
        const auto floor = row_floor_.find(&k);
        const std::int64_t first_row = restored_ || floor == row_floor_.end() ? 0 : floor->second;
        const std::string dangling =
            list ? "SELECT a.key, j.value, j.key FROM " + k.table + " a, json_each(a." + f.name + ") j WHERE a.row_id > ?2 AND a.rev_added = ?1 AND a.rev_removed IS NULL"
                       " AND NOT EXISTS (SELECT 1 FROM " + target.table + " b WHERE b.key = j.value AND b.rev_removed IS NULL)"
                 : "SELECT a.key, a." + f.name + ", NULL FROM " + k.table + " a WHERE a.row_id > ?2 AND a.rev_added = ?1 AND a.rev_removed IS NULL AND a." + f.name +
                       " IS NOT NULL AND NOT EXISTS (SELECT 1 FROM " + target.table + " b WHERE b.key = a." + f.name + " AND b.rev_removed IS NULL)";
        SQLite::Statement st(db, dangling);
        st.bind(1, static_cast<int64_t>(rev_));
        st.bind(2, first_row);
        while (!checked && st.executeStep() && out.size() < 1000) {
          const std::string key = st.getColumn(0).getString(), name = st.getColumn(1).getString();
          Diagnostic d{Severity::error, reference_rule_code(k, f.name), "'" + f.name + "' names " + target.noun + " '" + name + "', which does not exist",
                       {}, k.noun + " '" + Kind::display_key(key) + "'", {}, "/" + f.name};
          if (!st.getColumn(2).isNull()) d.pointer += "/" + st.getColumn(2).getString();
          if (store_.count(target) <= 10000) {
            const std::string guess = closest(name, store_.keys(target));
            if (!guess.empty()) d.hint = "did you mean '" + guess + "'?";
          }
          if (d.hint.empty()) d.hint = "create the " + target.noun + " first, or fix the name";
          out.push_back(std::move(d));
        }
        // Objects removed in this revision that unchanged objects still name.
        const std::string removed_keys = "SELECT b.key FROM " + target.table + " b WHERE b.rev_removed = ?1 AND NOT EXISTS (SELECT 1 FROM " +
                                         target.table + " c WHERE c.key = b.key AND c.rev_removed IS NULL)";
        const std::string still =
            list ? "SELECT a.key, j.value FROM " + k.table + " a, json_each(a." + f.name + ") j WHERE a.rev_removed IS NULL AND a.rev_added <> ?1 AND j.value IN (" + removed_keys + ")"
                 : "SELECT a.key, a." + f.name + " FROM " + k.table + " a WHERE a.rev_removed IS NULL AND a.rev_added <> ?1 AND a." + f.name + " IN (" + removed_keys + ")";
        SQLite::Statement st2(db, still);
        st2.bind(1, static_cast<int64_t>(rev_));
        // Nothing of the target closed in this revision (one index probe): nothing can still name it.
        SQLite::Statement any_removed(db, "SELECT 1 FROM " + target.table + " WHERE rev_removed = ?1 LIMIT 1");
        any_removed.bind(1, static_cast<int64_t>(rev_));
        const bool removed_some = any_removed.executeStep();
        while (removed_some && st2.executeStep() && out.size() < 1000) {
          const std::string key = st2.getColumn(0).getString(), name = st2.getColumn(1).getString();
          out.push_back({Severity::error, reference_rule_code(k, f.name),
                         target.noun + " '" + Kind::display_key(name) + "' is still used by " + k.noun + " '" + Kind::display_key(key) + "'",
                         {}, target.noun + " '" + Kind::display_key(name) + "'",
                         "change or remove the " + k.noun + " first", {}});
        }
      }
    }
    return out;
  });
}

std::vector<Change> Writer::changes() const { return store_.diff(rev_ - 1, rev_); }

void Writer::rebuild_indexes() {
  std::vector<std::string> todo;
  for (auto& [kind, b] : bulk_) {
    todo.insert(todo.end(), b.dropped_indexes.begin(), b.dropped_indexes.end());
    b.dropped_indexes.clear();
  }
  if (todo.empty()) return;
  // SQLite's sorter builds each index. With temp_store=MEMORY it keeps every key in one list and
  // sorts it on one core, chasing pointers through a million records; with temporary files and a
  // 16 MB budget it sorts runs of keys on two threads and merges them (1M random keys: about
  // 0.7 s instead of 1.1 s). The smaller cache writes out loaded pages early, which the commit
  // would write anyway. Both settings are put back afterwards, also when a build fails.
  auto& db = store_.db();
  const std::int64_t cache = [&] {
    SQLite::Statement q(db, "PRAGMA cache_size");
    q.executeStep();
    return q.getColumn(0).getInt64();
  }();
  struct Restore {
    SQLite::Database& db;
    std::int64_t cache;
    ~Restore() {
      try {
        db.exec("PRAGMA temp_store=MEMORY");
        db.exec("PRAGMA cache_size=" + std::to_string(cache));
      } catch (...) {
        // The settings only tune speed.
      }
    }
  } restore{db, cache};
  db.exec("PRAGMA cache_size=-16384");
  db.exec("PRAGMA threads=2");
  db.exec("PRAGMA temp_store=FILE");
  for (const auto& sql : todo) {
    try {
      db.exec(sql);
    } catch (const SQLite::Exception& e) {
      const int rc = e.getErrorCode() & 0xff;
      if (rc != SQLITE_CANTOPEN && rc != SQLITE_IOERR && rc != SQLITE_FULL && rc != SQLITE_PERM) throw;
      // No room or no right for temporary files: sort in memory after all.
      db.exec("PRAGMA temp_store=MEMORY");
      db.exec(sql);
    }
    phase_mark("commit: " + sql.substr(0, sql.find(" WHERE")));
  }
}

std::int64_t Writer::commit() {
  if (!dirty_) {
    stmts_.clear();
    end_transaction("ROLLBACK");
    done_ = true;
    store_.settle();
    return 0;
  }
  // Indexes dropped for a bulk load are built again first: the checks below and every reader
  // after the commit need them, and a unique index refuses a duplicate the load let in.
  store_call("cannot rebuild the indexes", [&] {
    rebuild_indexes();
    return 0;
  });
  const auto problems = check_references();
  phase_mark("commit: references checked");
  if (has_errors(problems)) {
    std::string msg = "the change would leave broken references";
    for (const auto& p : problems) msg += "\n  " + p.subject + ": " + p.message;
    throw Error(ErrorKind::invalid, msg);
  }
  const std::int64_t rev = store_call("cannot commit", [&]() -> std::int64_t {
    auto& db = store_.db();
    std::string summary;
    int64_t added = 0, changed = 0, removed = 0;
    for (const auto& k : kinds()) {
      auto count = [&](const std::string& sql) {
        SQLite::Statement st(db, sql);
        st.bind(1, static_cast<int64_t>(rev_));
        st.executeStep();
        return st.getColumn(0).getInt64();
      };
      // A kind only inserted into (an import) was counted as it was written; others are counted
      // here, and a kind this writer never touched has nothing to count.
      const auto ins = inserted_.find(&k);
      const bool insert_only = !restored_ && !reworked_.count(&k);
      if (insert_only && ins == inserted_.end()) continue;
      const int64_t n_new = insert_only ? ins->second : count("SELECT count(*) FROM " + k.table + " WHERE rev_added = ?1");
      const int64_t n_old = insert_only ? 0 : count("SELECT count(*) FROM " + k.table + " WHERE rev_removed = ?1");
      if (!n_new && !n_old) continue;
      const int64_t both = n_new && n_old ? count("SELECT count(*) FROM (SELECT key FROM " + k.table + " WHERE rev_added = ?1 INTERSECT SELECT key FROM " +
                                                  k.table + " WHERE rev_removed = ?1)")
                                          : 0;
      const int64_t a = n_new - both, c = both, r = n_old - both;
      added += a;
      changed += c;
      removed += r;
      std::string part;
      if (a) part += " +" + std::to_string(a);
      if (c) part += " ~" + std::to_string(c);
      if (r) part += " -" + std::to_string(r);
      summary += (summary.empty() ? "" : ", ") + k.noun + part;
    }
    stmts_.clear();
    if (added + changed + removed == 0) {
      end_transaction("ROLLBACK");
      done_ = true;
      return 0;
    }
    SQLite::Statement ins(db, "INSERT INTO revision (rev, time, user, command, summary, added, changed, removed) VALUES (?, ?, ?, ?, ?, ?, ?, ?)");
    ins.bind(1, static_cast<int64_t>(rev_));
    ins.bind(2, utc_now());
    ins.bind(3, current_user());
    ins.bind(4, command_);
    ins.bind(5, summary);
    ins.bind(6, added);
    ins.bind(7, changed);
    ins.bind(8, removed);
    ins.exec();
    end_transaction("COMMIT");
    phase_mark("commit: written");
    done_ = true;
    return rev_;
  });
  // A store this command creates appears at its path now, whole.
  store_.settle();
  return rev;
}

}  // namespace e911
