#pragma once
#include <cstdint>
#include <functional>
#include <ostream>
#include <string>
#include <vector>

#include "e911/catalog.hpp"
#include "e911/diagnostic.hpp"
#include "e911/store.hpp"

namespace e911 {

/// The Lync CSV column names for the element kind `noun` (wap, subnet, port, switch).
const std::vector<std::string>& lis_csv_columns(const std::string& noun);

/// What an import did.
struct LisImportResult {
  std::int64_t rev = 0;  ///< 0 when nothing changed or on a dry run
  std::size_t rows = 0;
  std::size_t locations_created = 0, locations_reused = 0;
  std::size_t elements_added = 0, elements_changed = 0, elements_unchanged = 0;
  std::vector<Diagnostic> diagnostics;  ///< every bad row; when any, nothing was written
};

/// Imports a Lync LIS CSV file of `element` kind (wap, subnet, port, switch) as one revision.
/// Each row's address reuses the location with exactly the same 12 Lync fields, else creates
/// one. A first row of column names is skipped. Every bad row is reported with its file, row and
/// column, and then nothing is written.
/// `progress`, when given, is called now and then with the bytes read so far and the file size.
LisImportResult import_lis_csv(Store& store, const Kind& element, const std::string& path,
                               const std::string& command, bool dry_run,
                               const std::function<void(std::uint64_t done, std::uint64_t total)>& progress = {});

/// Writes every current element of `element` kind in the same format, header first.
void export_lis_csv(const Store& store, const Kind& element, std::ostream& out);

}  // namespace e911
