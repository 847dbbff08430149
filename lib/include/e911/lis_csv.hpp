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
  std::vector<Diagnostic> diagnostics;  ///< bad rows and rule errors (the first 1,000); when any, nothing was written
  std::size_t untold = 0;               ///< bad rows beyond those in `diagnostics`
  std::vector<Diagnostic> warnings;     ///< rule warnings the import brings (the same rules as apply); they do not stop it
  std::string encoding;                 ///< how the file was read: UTF-8, UTF-8 with BOM, UTF-16 LE or UTF-16 BE
};

/// How to read a file beyond its own content.
struct LisImportOptions {
  /// Prefix length for bare subnet addresses (Lync's LIS form, no mask) that no network-site
  /// subnet gives one for; 0 when none was given.
  int prefix_length = 0;
  /// "utf-8" (the default; a UTF-16 or UTF-8 byte-order mark is honoured) or "windows-1252", the
  /// code page of old Lync exports, converted on request and never guessed.
  std::string encoding = "utf-8";
};

/// The CIDR form of a subnet as written by an operator or a Lync export: a CIDR is returned as it
/// is; a bare address takes its prefix length from the network-site subnet (a subnet with a site)
/// with the same network address, else from `prefix_length` (when not 0). Throws Error(invalid)
/// naming both ways when neither gives one, or when the text is no address.
std::string complete_subnet(const Store& store, const std::string& text, int prefix_length);

/// Imports a Lync LIS CSV file of `element` kind (wap, subnet, port, switch) as one revision.
/// Each row's address reuses the location with exactly the same 12 Lync fields, else creates
/// one. Files as Windows PowerShell's Export-Csv writes them are read as they are: a UTF-8 or
/// UTF-16 byte-order mark, a `#TYPE` first line, quoted fields, CRLF. A header row binds columns by
/// name (any order, any case), as Import-Csv does; a file without one has Lync's fixed order.
/// Bare subnet addresses take their mask as complete_subnet() says. The rows are checked against
/// the same rules as apply: every bad row, and every rule error the import would bring, is
/// reported with its file, row and column, and then nothing is written.
/// `progress`, when given, is called now and then with the bytes read so far and the file size.
LisImportResult import_lis_csv(Store& store, const Kind& element, const std::string& path,
                               const std::string& command, bool dry_run,
                               const std::function<void(std::uint64_t done, std::uint64_t total)>& progress = {},
                               const LisImportOptions& options = {});

/// Writes every current element of `element` kind in the same format, header first. Subnets are
/// written in CIDR form, which imports back unchanged; with `lync_form`, as bare addresses the way
/// Lync's Get-CsLisSubnet writes them.
void export_lis_csv(const Store& store, const Kind& element, std::ostream& out, bool lync_form = false);

}  // namespace e911
