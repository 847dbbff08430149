#include "e911/apply.hpp"

#include <yaml-cpp/yaml.h>

#include <regex>
#include <set>

#include "e911/error.hpp"
#include "e911/text.hpp"

namespace e911 {

ApplyResult apply_documents(Store& store, const std::vector<Document>& docs, const ApplyOptions& opts) {
  ApplyResult result;
  Writer w(store, opts.command);
  std::map<std::string, const Document*> by_subject;
  std::set<std::pair<const Kind*, std::string>> named;
  // Objects go in catalog order so a plan reads top-down: usages before the policies naming them.
  for (const auto& kind : kinds()) {
    for (const auto& d : docs) {
      if (d.kind != &kind) continue;
      w.put(kind, d.value);
      named.emplace(&kind, d.key);
      by_subject[kind.noun + " '" + Kind::display_key(d.key) + "'"] = &d;
    }
  }
  if (opts.prune) {
    for (const auto& kind : kinds()) {
      const bool in_files = std::any_of(docs.begin(), docs.end(), [&](const Document& d) { return d.kind == &kind; });
      if (!in_files) continue;
      for (const auto& key : store.keys(kind)) {
        if (named.count({&kind, key})) continue;
        if (kind.noun == "policy" && key == "global") w.put(kind, Json{{"identity", "global"}});  // reset, never removed
        else w.remove(kind, key);
      }
    }
  }
  result.diagnostics = w.check_references();
  for (auto& d : result.diagnostics) {
    const auto it = by_subject.find(d.subject);
    if (it != by_subject.end()) d.where = it->second->mark_of(d.pointer);
  }
  result.plan = w.changes();
  if (has_errors(result.diagnostics) || opts.dry_run) return result;
  result.rev = w.commit();
  return result;
}

namespace {

bool needs_quotes(const std::string& s) {
  static const std::regex numberish(R"(^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$|^0x[0-9a-fA-F]+$|^0o[0-7]+$)");
  static const std::set<std::string> words = {"true", "false", "True", "False", "TRUE", "FALSE", "null", "Null", "NULL",
                                              "~",    "yes",   "no",   "Yes",   "No",    "on",    "off",  "y",    "n"};
  return s.empty() || words.count(s) || std::regex_match(s, numberish);
}

void emit(YAML::Emitter& out, const Json& v) {
  if (v.is_object()) {
    out << YAML::BeginMap;
    for (const auto& [k, val] : v.items()) {
      out << YAML::Key << k << YAML::Value;
      emit(out, val);
    }
    out << YAML::EndMap;
  } else if (v.is_array()) {
    out << YAML::BeginSeq;
    for (const auto& item : v) emit(out, item);
    out << YAML::EndSeq;
  } else if (v.is_string()) {
    const std::string& s = v.get_ref<const std::string&>();
    if (needs_quotes(s)) out << YAML::DoubleQuoted;
    out << s;
  } else if (v.is_boolean()) {
    out << (v.get<bool>() ? "true" : "false");
  } else if (v.is_null()) {
    out << YAML::Null;
  } else if (v.is_number_float()) {
    out << v.dump();
  } else {
    out << v.dump();
  }
}

}  // namespace

std::string json_to_yaml(const Json& value) {
  YAML::Emitter out;
  out.SetIndent(2);
  emit(out, value);
  return std::string(out.c_str()) + "\n";
}

std::string object_yaml(const Kind& kind, const Json& obj) {
  Json doc = Json::object();
  doc["kind"] = kind.name;
  for (const auto& f : kind.fields)
    if (obj.contains(f.name)) doc[f.name] = obj[f.name];
  return json_to_yaml(doc);
}

void export_yaml(const Store& store, std::ostream& out, const std::vector<const Kind*>& only) {
  out << "# e911ctl export of '" << store.path() << "' at revision " << store.head() << "\n";
  for (const auto& kind : kinds()) {
    if (!only.empty() && std::find(only.begin(), only.end(), &kind) == only.end()) continue;
    store.for_each(kind, [&](Json&& obj) { out << "---\n" << object_yaml(kind, obj); });
  }
}

}  // namespace e911
