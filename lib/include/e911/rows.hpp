#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

struct sqlite3;
struct sqlite3_stmt;

namespace SQLite {
class Database;
}  // namespace SQLite

namespace e911 {

/// A read-only query through SQLite's C API, for scans of a million rows: a SQLite::Column per
/// value costs a shared_ptr copy (two atomic operations) and a type check. Values read by text()
/// live until the next call to next().
class Rows {
 public:
  Rows(SQLite::Database& db, const std::string& sql);  ///< throws Error(store)
  ~Rows();
  Rows(const Rows&) = delete;
  Rows& operator=(const Rows&) = delete;

  /// Binds `value` to the named parameter `name` (":keys"): values reach SQL only this way,
  /// never in its text. A statement without that parameter is left as it is (Store::alive_at
  /// has :rev only for a past revision). Throws Error(store) when SQLite refuses the value.
  Rows& bind(const char* name, std::int64_t value);
  Rows& bind(const char* name, const std::string& value);  ///< copied by SQLite

  /// The next row: true when there is one. Throws Error(store) on a read error.
  bool next();
  bool null(int col) const;
  /// The value as text; empty for NULL.
  std::string_view text(int col) const;
  std::int64_t int64(int col) const;
  double real(int col) const;

 private:
  sqlite3* db_;
  sqlite3_stmt* st_ = nullptr;
};

/// An upper bound of a table's rows, read from the edge of its b-tree (no scan): for reserving.
std::size_t max_rowid(SQLite::Database& db, const std::string& table);

}  // namespace e911
