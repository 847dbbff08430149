#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <span>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "e911/catalog.hpp"
#include "e911/diagnostic.hpp"
#include "e911/json.hpp"

namespace SQLite {
class Database;
class Statement;
}  // namespace SQLite

namespace e911 {

/// One revision: a write command that changed something.
struct RevisionInfo {
  std::int64_t rev = 0;
  std::string time;     ///< RFC 3339 UTC
  std::string user;
  std::string command;  ///< the command line that made it
  std::string summary;  ///< per kind: +added ~changed -removed
  std::int64_t added = 0, changed = 0, removed = 0;
};

enum class ChangeType { added, changed, removed };
const char* to_string(ChangeType t);

/// How one object differs between two states. `before` is null when added, `after` when removed.
struct Change {
  const Kind* kind = nullptr;
  std::string key;
  ChangeType type = ChangeType::added;
  Json before, after;
};

/// The database path from the flag, else E911_DB, else $XDG_DATA_HOME/e911ctl/e911.db, else
/// ~/.local/share/e911ctl/e911.db.
std::string default_db_path(const std::string& flag);

/// The provisioning store: one SQLite file (WAL, foreign keys on), versioned migrations, and every
/// object kept with the revisions it lived in.
class Store {
 public:
  /// Opens the database at `path` and brings its schema up to date. When it does not exist it is
  /// created (with its directory) if `create`, else Error(store) is thrown with a hint. A file
  /// that is not an e911ctl store (another program's SQLite file, an empty file for a read, not
  /// SQLite at all) is refused with Error(store) and left untouched. Without `create`, a store the
  /// process may not write is opened read-only: every read works, a write fails clearly.
  ///
  /// A store that `create` brings into being is built under a draft name beside `path`
  /// (`path.new.PID.N`: schema and revision 1) and appears at `path` only at settle(), that is at
  /// the first Writer::commit(): a process killed before then leaves no store, and one killed
  /// after leaves a whole one, never a file that later commands refuse. A store never settled
  /// is removed when it is destroyed (a first write that failed creates nothing); the drafts of
  /// processes that were killed are removed by the next open with `create`.
  static std::unique_ptr<Store> open(const std::string& path, bool create);
  /// Puts a store that open() created at its path (a hard link, so a store another process made
  /// there meanwhile is never replaced: that is Error(store), and the Store may not be used after
  /// it), on disk, folder included. Does nothing for a store that existed. Writer::commit() calls it.
  void settle();
  /// The SQLite application_id that marks an e911ctl store: the ASCII bytes of E911.
  static constexpr std::int32_t kApplicationId = 0x45393131;
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  const std::string& path() const { return path_; }
  /// The highest applied migration.
  int schema_version() const;
  /// The latest revision, 0 when there is none.
  std::int64_t head() const;

  /// The current object of `kind` with identity `key`, normalised; nullopt when absent.
  std::optional<Json> get(const Kind& kind, const std::string& key) const;
  /// Calls `fn` with every object of `kind` as of revision `rev` (0: current), ordered by key.
  void for_each(const Kind& kind, const std::function<void(Json&&)>& fn, std::int64_t rev = 0) const;
  /// The SQL condition selecting the rows alive at revision `rev` (0: current) of a table. For a
  /// past revision it holds the parameter :rev, which the caller binds to `rev`: the revision
  /// never enters the SQL text.
  static std::string alive_at(std::int64_t rev);
  /// Every current object of `kind`, ordered by key.
  std::vector<Json> list(const Kind& kind) const;
  /// The identities of every current object of `kind`, ordered.
  std::vector<std::string> keys(const Kind& kind) const;
  std::int64_t count(const Kind& kind) const;
  /// Current objects that name `key` of `target` in a reference field, as "noun 'key'", at most `limit`.
  std::vector<std::string> referrers(const Kind& target, const std::string& key, std::size_t limit = 20) const;

  /// Revisions, newest first, at most `limit` (0: all).
  std::vector<RevisionInfo> history(std::size_t limit = 0) const;
  std::optional<RevisionInfo> revision(std::int64_t rev) const;
  /// What changed from the state after revision `from` to the state after `to` (either order).
  std::vector<Change> diff(std::int64_t from, std::int64_t to) const;

  SQLite::Database& db() { return *db_; }
  const SQLite::Database& db() const { return *db_; }

 private:
  Store() = default;
  static std::unique_ptr<Store> open_at(const std::string& path, bool create);
  // Opens db_ on path_ and sets the connection's pragmas (WAL unless read-only).
  void connect(bool read_only);
  std::string path_;
  std::string settle_to_;  // where a store being created will appear (empty: it exists)
  std::unique_ptr<SQLite::Database> db_;
};

/// How much a Writer is about to write.
enum class WriteSize {
  normal,
  /// Hundreds of thousands of rows (an import). When no other connection has the store open, the
  /// transaction runs in rollback-journal mode instead of WAL: the rows then reach the database
  /// file once, where WAL would write them twice (to the log, then to the file at checkpoint),
  /// and only pages that existed before are journaled. The store is back in WAL mode after the
  /// commit or rollback. With another connection open the Writer simply stays in WAL mode.
  bulk,
};

/// One write transaction that becomes one revision. Until commit() nothing is visible to others;
/// a Writer destroyed without commit() leaves the database as it was.
class Writer {
 public:
  /// Begins an immediate transaction for the revision after head; `command` is recorded with it.
  Writer(Store& store, std::string command, WriteSize size = WriteSize::normal);
  ~Writer();
  Writer(const Writer&) = delete;
  Writer& operator=(const Writer&) = delete;

  std::int64_t rev() const { return rev_; }
  /// The object as this transaction sees it.
  std::optional<Json> get(const Kind& kind, const std::string& key) const;
  /// Creates or replaces the object `obj` (normalised first). Returns what happened, nullopt when
  /// the stored object is already the same.
  std::optional<ChangeType> put(const Kind& kind, const Json& obj);
  /// Inserts `obj` (normalised) that the caller knows is absent: the bulk path of imports.
  void insert_new(const Kind& kind, const Json& obj);
  /// The bulk path without JSON: inserts a row whose field i (in Kind::fields order) is the text
  /// `values[i]` (already checked by the caller), or its default, or NULL when values[i] is null.
  void insert_text(const Kind& kind, const std::string& key, const std::vector<const std::string*>& values);
  /// insert_text for many rows: row r has key `*keys[r]` and values `values[r]`. Rows go
  /// several to a statement, which costs SQLite less per row than one statement each.
  void insert_text_rows(const Kind& kind, std::span<const std::string* const> keys,
                        std::span<const std::vector<const std::string*>> values);
  /// Removes the object; false when it did not exist.
  bool remove(const Kind& kind, const std::string& key);
  /// Declares a bulk load of about `expected_rows` new rows of `kind`, which set only the fields
  /// named in `fields_written` (and the key). When that is at least the rows the table holds, its
  /// indexes over written fields are dropped now and built again at commit: one sort instead of
  /// a random b-tree insert per row. The index over the key alone stays while the rows come in
  /// ascending key order, and is dropped at the first row that does not. The other indexes (over
  /// fields the load leaves NULL, or over rev_removed) receive nothing from the load and stay. Until commit, lookups of `kind` by key
  /// scan the table, so only a caller that does none (or few) should ask. `references_checked`
  /// says the caller has checked every reference of every `kind` row it writes in this revision;
  /// commit then does not check them again.
  void begin_bulk(const Kind& kind, std::size_t expected_rows, bool references_checked,
                  const std::vector<std::string>& fields_written);
  /// Makes the state after revision `rev` current again (objects added since are removed, objects
  /// removed or changed since come back).
  void restore(std::int64_t rev);

  /// True when anything was written.
  bool dirty() const { return dirty_; }
  /// Every reference (x-ref) that names a missing object, and every removed object still named
  /// by another: errors with the subject set. Empty when the store would be consistent.
  std::vector<Diagnostic> check_references() const;
  /// The changes this transaction makes so far.
  std::vector<Change> changes() const;
  /// Commits as one revision with a summary; returns its number, or 0 when nothing changed (then
  /// nothing is recorded). Throws Error(invalid) listing broken references instead of committing.
  std::int64_t commit();

 private:
  struct Statements;
  Statements& stmts(const Kind& kind) const;
  void insert_row(const Kind& kind, const std::string& key, const Json& obj);
  void bind_text_row(SQLite::Statement& st, int first, const Kind& kind, const std::string& key,
                     const std::vector<const std::string*>& values, std::uint64_t fields);

  Store& store_;
  std::string command_;
  std::int64_t rev_ = 0;
  bool done_ = false;
  bool dirty_ = false;
  mutable std::map<const Kind*, std::unique_ptr<Statements>> stmts_;
  mutable std::map<const Kind*, std::int64_t> row_floor_;  // max rowid before this Writer's first row of a kind
  struct Bulk {
    std::vector<std::string> dropped_indexes;  // their CREATE statements
    bool references_checked = false;
    std::pair<std::string, std::string> key_index;  // name and CREATE statement, while kept
    std::string last_key;                           // the greatest key inserted so far
  };
  void bulk_keys(const Kind& kind, std::span<const std::string* const> keys);
  std::map<const Kind*, Bulk> bulk_;
  // Rows written per kind, when they were written by insert_text and insert_new alone (the
  // commit summary then needs no table scan); a kind written any other way is in `reworked_`.
  std::map<const Kind*, std::int64_t> inserted_;
  std::set<const Kind*> reworked_;
  bool restored_ = false;
  bool rollback_journal_ = false;  // this transaction runs in rollback-journal mode (WriteSize::bulk)
  void end_transaction(const char* sql);
  void leave_rollback_journal() noexcept;
  void rebuild_indexes();
};

/// Reads the current row of a statement positioned on a row of `kind`'s table (columns from 4 on).
Json row_to_json(const Kind& kind, SQLite::Statement& st, int first_column);

}  // namespace e911
