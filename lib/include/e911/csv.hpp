#pragma once
#include <istream>
#include <ostream>
#include <string>
#include <vector>

namespace e911 {

/// Reads RFC 4180 CSV one record at a time: quoted fields, doubled quotes, CRLF or LF.
class CsvReader {
 public:
  explicit CsvReader(std::istream& in) : in_(in) {}
  /// Reads the next record into `fields`; false at the end. `line()` is where it began.
  /// Throws Error(invalid) for an unterminated quote.
  bool next(std::vector<std::string>& fields);
  /// 1-based line where the last record began.
  std::size_t line() const { return record_line_; }

 private:
  std::istream& in_;
  std::size_t line_ = 0;
  std::size_t record_line_ = 0;
  std::string buf_;
};

/// Writes one CSV record, quoting fields that need it.
void write_csv_record(std::ostream& out, const std::vector<std::string>& fields);

}  // namespace e911
