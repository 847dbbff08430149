#pragma once
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "e911/json.hpp"

namespace e911 {

/// How a field is stored: scalars in a typed column, arrays and objects as JSON text.
enum class FieldType { string, integer, number, boolean, string_list, object_list };

/// One property of a document kind, read from its JSON Schema.
struct Field {
  std::string name;         ///< snake_case, also the SQL column and YAML key
  FieldType type = FieldType::string;
  std::string description;
  Json default_value;       ///< null when the field has no default
  std::string ref_kind;     ///< kind this field names (x-ref), or empty
  bool key = false;         ///< part of the object's identity
  bool required = false;
  std::vector<std::string> enum_values;  ///< allowed values of an enumerated field, as text
  const Json* schema = nullptr;          ///< the property's schema
  bool secret = false;  ///< x-secret: a credential; exported and applied, never shown (Kind::redacted)
};

/// A document kind (Location, Trunk, ...): its schema, CLI noun, table and fields.
struct Kind {
  std::string name;   ///< document kind, e.g. "LocationPolicy"
  std::string noun;   ///< CLI noun, e.g. "policy"
  std::string table;  ///< SQL table
  std::string description;
  std::vector<std::string> key_fields;
  std::vector<std::string> columns;  ///< fields shown by `list`
  std::vector<Field> fields;         ///< schema order, without `kind`
  Json schema;

  /// The field named `name`, or nullptr.
  const Field* field(std::string_view name) const;
  /// The identity of `obj`: its key fields joined with '|'; empty when one is missing.
  std::string key_of(const Json& obj) const;
  /// The identity as people write it: key fields joined with a space.
  static std::string display_key(std::string_view key);
  /// `obj` as show, list, set, diff and rollback print it: each secret field that is set reads
  /// "(hidden)". Only export (a backup that restores) writes their values.
  Json redacted(Json obj) const;
};

/// Every kind, in the order objects are applied and exported (referenced kinds first).
const std::vector<Kind>& kinds();

/// The kind whose name or noun is `name` (case-insensitive), or nullptr.
const Kind* find_kind(std::string_view name);

/// The kind with this exact noun; throws Error(internal) if there is none.
const Kind& kind_by_noun(std::string_view noun);

/// The embedded text of a project file such as "schemas/sql/001_init.sql"; throws if absent.
std::string_view embedded_file(const std::string& path);

/// Every embedded file path starting with `prefix`, sorted.
std::vector<std::string> embedded_files_under(const std::string& prefix);

/// The one stored spelling of the value of key field `field` of `kind`, whatever spelling came in:
/// BSSIDs and chassis IDs as upper-case hex pairs joined by '-' (00:1a:2b:3c:4d:5e and
/// 001A.2B3C.4D5E are 00-1A-2B-3C-4D-5E); a subnet's address in its canonical text (IPv6 as RFC
/// 5952 writes it: 2001:DB8:0::/64 is 2001:db8::/64). Anything else, and a value that is not of its
/// form, comes back as given, for the schema check to report.
std::string canonical_key_value(const Kind& kind, const std::string& field, const std::string& value);

/// Fills the defaults of `kind` into `obj`, drops null fields and writes key fields in their
/// canonical spelling; the form objects are stored and compared in.
Json normalize(const Kind& kind, Json obj);

}  // namespace e911
