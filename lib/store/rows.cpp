#include "e911/rows.hpp"

#include <SQLiteCpp/Database.h>
#include <sqlite3.h>

#include "e911/error.hpp"

namespace e911 {

Rows::Rows(SQLite::Database& db, const std::string& sql) : db_(db.getHandle()) {
  if (sqlite3_prepare_v2(db_, sql.c_str(), static_cast<int>(sql.size()), &st_, nullptr) != SQLITE_OK) {
    const std::string why = sqlite3_errmsg(db_);
    sqlite3_finalize(st_);
    throw Error(ErrorKind::store, "cannot read the store: " + why);
  }
}

Rows::~Rows() { sqlite3_finalize(st_); }

Rows& Rows::bind(const char* name, std::int64_t value) {
  const int i = sqlite3_bind_parameter_index(st_, name);
  if (i > 0 && sqlite3_bind_int64(st_, i, value) != SQLITE_OK)
    throw Error(ErrorKind::store, std::string("cannot read the store: ") + sqlite3_errmsg(db_));
  return *this;
}

Rows& Rows::bind(const char* name, const std::string& value) {
  const int i = sqlite3_bind_parameter_index(st_, name);
  if (i > 0 && sqlite3_bind_text(st_, i, value.data(), static_cast<int>(value.size()), SQLITE_TRANSIENT) != SQLITE_OK)
    throw Error(ErrorKind::store, std::string("cannot read the store: ") + sqlite3_errmsg(db_));
  return *this;
}

bool Rows::next() {
  const int rc = sqlite3_step(st_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  throw Error(ErrorKind::store, std::string("cannot read the store: ") + sqlite3_errmsg(db_));
}

bool Rows::null(int col) const { return sqlite3_column_type(st_, col) == SQLITE_NULL; }

std::string_view Rows::text(int col) const {
  const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(st_, col));
  return p ? std::string_view(p, static_cast<std::size_t>(sqlite3_column_bytes(st_, col))) : std::string_view();
}

std::int64_t Rows::int64(int col) const { return sqlite3_column_int64(st_, col); }

double Rows::real(int col) const { return sqlite3_column_double(st_, col); }

std::size_t max_rowid(SQLite::Database& db, const std::string& table) {
  Rows q(db, "SELECT ifnull(max(rowid), 0) FROM " + table);
  return q.next() ? static_cast<std::size_t>(q.int64(0)) : 0;
}

}  // namespace e911
