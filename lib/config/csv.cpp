#include "e911/csv.hpp"

#include "e911/error.hpp"

namespace e911 {

bool CsvReader::next(std::vector<std::string>& fields) {
  if (!std::getline(in_, buf_)) return false;
  ++line_;
  record_line_ = line_;
  // Fields are assigned into the strings `fields` already holds, so a reader that passes the same
  // vector each time allocates nothing once the buffers have grown: imports read millions of rows.
  std::size_t n = 0;
  std::size_t i = 0;
  for (;;) {
    if (n == fields.size()) fields.emplace_back();
    std::string& field = fields[n++];
    field.clear();
    if (i < buf_.size() && buf_[i] == '"') {
      // A quoted field: doubled quotes stand for one, and it may hold line breaks.
      ++i;
      for (;;) {
        if (i >= buf_.size()) {
          if (!std::getline(in_, buf_))
            throw Error(ErrorKind::invalid, "row " + std::to_string(record_line_) + ": a quoted field is not closed");
          ++line_;
          field += '\n';
          i = 0;
          continue;
        }
        const std::size_t q = buf_.find('"', i);
        if (q == std::string::npos) {
          field.append(buf_, i, std::string::npos);
          i = buf_.size();
          continue;
        }
        field.append(buf_, i, q - i);
        if (q + 1 < buf_.size() && buf_[q + 1] == '"') {
          field += '"';
          i = q + 2;
          continue;
        }
        i = q + 1;
        break;
      }
    }
    // Unquoted text, or what follows a closing quote, up to the next comma; a CR that ends the
    // line is the CRLF line ending.
    std::size_t end = buf_.find(',', i);
    const bool last = end == std::string::npos;
    if (last) end = buf_.size();
    std::size_t stop = end;
    if (last && stop > i && buf_[stop - 1] == '\r') --stop;
    field.append(buf_, i, stop - i);
    if (last) break;
    i = end + 1;
  }
  fields.resize(n);
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
