#include "e911/csv.hpp"

#include "e911/error.hpp"

namespace e911 {

bool CsvReader::next(std::vector<std::string>& fields) {
  fields.clear();
  if (!std::getline(in_, buf_)) return false;
  ++line_;
  record_line_ = line_;
  std::string field;
  bool quoted = false, was_quoted = false;
  std::size_t i = 0;
  for (;;) {
    if (i >= buf_.size()) {
      if (quoted) {
        // A quoted field may hold a line break: continue with the next physical line.
        if (!std::getline(in_, buf_))
          throw Error(ErrorKind::invalid, "row " + std::to_string(record_line_) + ": a quoted field is not closed");
        ++line_;
        field += '\n';
        i = 0;
        continue;
      }
      break;
    }
    const char c = buf_[i];
    if (quoted) {
      if (c == '"') {
        if (i + 1 < buf_.size() && buf_[i + 1] == '"') {
          field += '"';
          ++i;
        } else {
          quoted = false;
        }
      } else {
        field += c;
      }
    } else if (c == '"' && field.empty() && !was_quoted) {
      quoted = was_quoted = true;
    } else if (c == ',') {
      fields.push_back(std::move(field));
      field.clear();
      was_quoted = false;
    } else if (c == '\r' && i + 1 == buf_.size()) {
      // CRLF line ending
    } else {
      field += c;
    }
    ++i;
  }
  fields.push_back(std::move(field));
  return true;
}

void write_csv_record(std::ostream& out, const std::vector<std::string>& fields) {
  for (std::size_t i = 0; i < fields.size(); ++i) {
    if (i) out << ',';
    const std::string& f = fields[i];
    if (f.find_first_of(",\"\r\n") == std::string::npos && (f.empty() || (f.front() != ' ' && f.back() != ' '))) {
      out << f;
      continue;
    }
    out << '"';
    for (char c : f) {
      if (c == '"') out << '"';
      out << c;
    }
    out << '"';
  }
  out << "\r\n";
}

}  // namespace e911
