#pragma once
#include <map>
#include <string>
#include <vector>

#include "e911/catalog.hpp"
#include "e911/diagnostic.hpp"
#include "e911/json.hpp"

namespace e911 {

/// One YAML document that described an object, with where each of its values came from.
struct Document {
  const Kind* kind = nullptr;
  Json value;        ///< the object as written, without `kind`
  std::string key;   ///< its identity (Kind::key_of)
  SourceMark mark;   ///< where the document starts
  std::map<std::string, SourceMark> marks;      ///< JSON pointer -> where that value is written
  std::map<std::string, SourceMark> key_marks;  ///< JSON pointer -> where its key is written

  /// The mark of `pointer`, else of its nearest parent that has one, else of the document.
  SourceMark mark_of(const std::string& pointer) const;
};

/// Documents read from some files and every problem found in them.
struct LoadResult {
  std::vector<Document> documents;
  std::vector<Diagnostic> diagnostics;
};

/// Parses every YAML document of `text` (named `name` in diagnostics), checks each against its
/// kind's JSON Schema, and reports every problem: syntax, unknown kind or field, schema
/// violations, and an object defined twice. Never throws for bad input.
LoadResult parse_documents(const std::string& name, const std::string& text, SourceSet& sources);

/// Reads each path: a YAML file, a directory (its *.yaml and *.yml files, recursively, sorted) or
/// "-" for standard input, and parses them as one set. Throws Error(failure) for a path that
/// cannot be read, Error(usage) for a directory that holds no *.yaml or *.yml file.
LoadResult load_documents(const std::vector<std::string>& paths, SourceSet& sources);

/// One settings document (such as serve.yaml, which has no `kind`) and the problems found in it.
struct SettingsResult {
  /// `kind` null; `value` the mapping as written (empty when the text is not one). With errors,
  /// only the values no diagnostic's `pointer` names (or is under) are of their schema's type.
  Document document;
  std::vector<Diagnostic> diagnostics;
};

/// Parses `text` (named `name` in diagnostics) as one YAML mapping checked against `schema`,
/// which must outlive every check (schemas are compiled once, by address). Reports every
/// problem: syntax and what yaml-cpp would read wrongly (E001), not a mapping or a second
/// document (E002), an unknown key (E004, with the closest known one), a key given twice (E006),
/// a value that breaks the schema (E100). A file of comments only is an empty mapping. Never
/// throws for bad input.
SettingsResult parse_settings(const std::string& name, const std::string& text, const Json& schema, SourceSet& sources);

/// Parses one YAML value (such as a flow list given on the command line), typed as `schema` asks.
/// Throws Error(invalid) when it is not valid YAML.
Json parse_yaml_value(const std::string& text, const Json* schema);

}  // namespace e911
