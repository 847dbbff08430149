#pragma once
#include <ostream>
#include <string>
#include <vector>

#include "e911/json.hpp"

namespace e911::cli {

/// A value as one table cell: scalars as text, lists joined with ", ", objects as compact JSON.
std::string cell_text(const e911::Json& v);

/// Writes an aligned table: header (bold on a terminal), then the rows.
void print_table(std::ostream& out, const std::vector<std::string>& headers,
                 const std::vector<std::vector<std::string>>& rows, bool color);

/// Writes `obj` as aligned "field: value" lines.
void print_fields(std::ostream& out, const e911::Json& obj, bool color);

}  // namespace e911::cli
