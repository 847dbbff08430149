#include "e911/apply.hpp"

#include <yaml-cpp/yaml.h>

#include <optional>
#include <set>
#include <thread>
#include <tuple>

#include "e911/error.hpp"
#include "e911/pattern.hpp"
#include "e911/phases.hpp"
#include "e911/text.hpp"
#include "e911/validate.hpp"

namespace e911 {

void locate_diagnostics(std::vector<Diagnostic>& diags, const std::vector<Document>& docs) {
  std::map<std::string, const Document*> by_subject;
  for (const auto& d : docs) by_subject[d.kind->noun + " '" + Kind::display_key(d.key) + "'"] = &d;
  for (auto& d : diags) {
    const auto it = by_subject.find(d.subject);
    if (it != by_subject.end() && d.where.file.empty()) d.where = it->second->mark_of(d.pointer);
  }
}

// The store's diagnostics as it is now, on `store`, and as it is with the open transaction of
// `w`: a second connection to the same file does not see that transaction, so the two run side
// by side on two threads. On a million locations each takes seconds.
std::pair<std::vector<Diagnostic>, std::vector<Diagnostic>> validate_before_and_after(Store& store) {
  std::vector<Diagnostic> before, after;
  std::unique_ptr<Store> as_was = Store::open(store.path(), false);
  std::exception_ptr as_was_error;
  std::thread worker([&] {
    try {
      before = validate_store(*as_was);
    } catch (...) {
      as_was_error = std::current_exception();
    }
  });
  try {
    after = validate_store(store);
  } catch (...) {
    worker.join();
    throw;
  }
  worker.join();
  if (as_was_error) std::rethrow_exception(as_was_error);
  return {std::move(before), std::move(after)};
}

ApplyResult apply_documents(Store& store, const std::vector<Document>& docs, const ApplyOptions& opts) {
  ApplyResult result;
  // Rule errors the store already has are not this change's fault; only new ones refuse it. A
  // store in memory (a dry run with no database yet) has no second connection to read it as it
  // was, so it is validated first; it is small.
  const bool in_memory = store.path().empty() || store.path().rfind(":memory:", 0) == 0;
  std::optional<std::vector<Diagnostic>> before;
  if (opts.validate && in_memory) before = validate_store(store);
  Writer w(store, opts.command);
  std::set<std::pair<const Kind*, std::string>> named;
  // Objects go in catalog order so a plan reads top-down: usages before the policies naming them.
  for (const auto& kind : kinds()) {
    for (const auto& d : docs) {
      if (d.kind != &kind) continue;
      w.put(kind, d.value);
      named.emplace(&kind, d.key);
    }
  }
  if (opts.prune) {
    for (const auto& kind : kinds()) {
      const bool in_files = std::any_of(docs.begin(), docs.end(), [&](const Document& d) { return d.kind == &kind; });
      if (!in_files) continue;
      for (const auto& key : store.keys(kind)) {
        if (named.count({&kind, key})) continue;
        if ((kind.noun == "policy" || kind.noun == "voicepolicy") && key == "global")
          w.put(kind, Json{{"identity", "global"}});  // reset, never removed
        else w.remove(kind, key);
      }
    }
  }
  phase_mark("apply: objects written");
  result.diagnostics = w.check_references();
  phase_mark("apply: references checked");
  // A change that changes nothing brings no new problem, and needs no validation.
  if (!has_errors(result.diagnostics) && opts.validate && w.dirty()) {
    std::vector<Diagnostic> after;
    if (before) after = validate_store(store);
    else std::tie(before, after) = validate_before_and_after(store);
    for (auto& d : introduced_diagnostics(*before, std::move(after)))
      (d.severity == Severity::error ? result.diagnostics : result.warnings).push_back(std::move(d));
  }
  locate_diagnostics(result.diagnostics, docs);
  locate_diagnostics(result.warnings, docs);
  phase_mark("apply: validated");
  result.plan = w.changes();
  phase_mark("apply: plan made");
  if (has_errors(result.diagnostics) || opts.dry_run) return result;
  result.rev = w.commit();
  return result;
}

namespace {

bool needs_quotes(const std::string& s) {
  static const Pattern numberish(R"(^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$|^0x[0-9a-fA-F]+$|^0o[0-7]+$)");
  static const std::set<std::string> words = {"true", "false", "True", "False", "TRUE", "FALSE", "null", "Null", "NULL",
                                              "~",    "yes",   "no",   "Yes",   "No",    "on",    "off",  "y",    "n"};
  return s.empty() || words.count(s) || numberish.full_match(s);
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
