#pragma once
#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include "e911/diagnostic.hpp"
#include "e911/store.hpp"
#include "e911/yaml_load.hpp"

namespace e911 {

struct ApplyOptions {
  bool dry_run = false;  ///< compute the plan, write nothing
  bool prune = false;    ///< remove objects of the kinds in the files that the files do not name
  std::string command;   ///< recorded with the revision
  bool validate = true;  ///< refuse errors of the validation rules that the change would introduce
};

struct ApplyResult {
  std::int64_t rev = 0;                 ///< 0 when nothing changed, on a dry run, or on errors
  std::vector<Change> plan;             ///< what changes (or would change)
  std::vector<Diagnostic> diagnostics;  ///< broken references and new rule errors, located in the files; nothing written when any
  std::vector<Diagnostic> warnings;     ///< rule warnings the change introduces; they do not stop it
};

/// Gives diagnostics about objects defined in `docs` the file position of the field they name.
void locate_diagnostics(std::vector<Diagnostic>& diags, const std::vector<Document>& docs);

/// The store's diagnostics as it was before the open transaction of a Writer on `store` (read on a
/// second connection, which does not see that transaction) and as it is with it, side by side on
/// two threads. The store must be a file in WAL mode.
std::pair<std::vector<Diagnostic>, std::vector<Diagnostic>> validate_before_and_after(Store& store);

/// Applies `docs` to the store as one revision: creates or replaces each object, and with prune
/// removes the rest of their kinds (the global policy is reset, never removed).
ApplyResult apply_documents(Store& store, const std::vector<Document>& docs, const ApplyOptions& opts);

/// One object as a YAML document (`kind` first, then fields in schema order).
std::string object_yaml(const Kind& kind, const Json& obj);

/// Writes every current object of `kinds` (all when empty) as multi-document YAML that apply
/// takes back with no change.
void export_yaml(const Store& store, std::ostream& out, const std::vector<const Kind*>& kinds = {});

/// Json as a YAML block (for `--format yaml`).
std::string json_to_yaml(const Json& value);

}  // namespace e911
