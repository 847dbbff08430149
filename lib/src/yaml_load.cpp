#include "e911/validate.hpp"
#include "e911/yaml_load.hpp"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <regex>
#include <sstream>

#include "e911/error.hpp"
#include "e911/schema_check.hpp"
#include "e911/text.hpp"

namespace e911 {

SourceMark Document::mark_of(const std::string& pointer) const {
  std::string p = pointer;
  for (;;) {
    const auto it = marks.find(p);
    if (it != marks.end() && it->second.line > 0) return it->second;
    if (p.empty()) return mark;
    p = p.substr(0, p.rfind('/'));
  }
}

namespace {

struct Converter {
  std::string file;
  int line_offset = 0;  // lines before this document's chunk
  Document* doc = nullptr;
  std::vector<Diagnostic>* diags = nullptr;

  SourceMark mark(const YAML::Mark& m) const {
    if (m.line < 0) return {file, 0, 0};
    return {file, m.line + 1 + line_offset, m.column + 1};
  }

  static std::string want_type(const Json* schema) {
    if (!schema || !schema->contains("type") || !(*schema)["type"].is_string()) return {};
    return (*schema)["type"].get<std::string>();
  }

  // Plain scalars take the type the schema asks for when it is a string, so `house_number: 12`
  // and `emergency_dial_string: 911` mean what the operator wrote; otherwise YAML's core schema.
  Json scalar(const YAML::Node& n, const Json* schema) const {
    const std::string& s = n.Scalar();
    if (n.Tag() == "!" || want_type(schema) == "string") return s;
    static const std::regex int_re(R"(^[-+]?[0-9]+$)");
    static const std::regex float_re(R"(^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$)");
    if (s == "~" || s == "null" || s == "Null" || s == "NULL") return nullptr;
    if (s == "true" || s == "True" || s == "TRUE") return true;
    if (s == "false" || s == "False" || s == "FALSE") return false;
    if (std::regex_match(s, int_re)) {
      try {
        return std::stoll(s);
      } catch (const std::out_of_range&) {
        return s;
      }
    }
    if (std::regex_match(s, float_re)) return std::stod(s);
    return s;
  }

  static const Json* child_schema(const Json* schema, const std::string& key) {
    if (!schema || !schema->contains("properties")) return nullptr;
    const Json& props = (*schema)["properties"];
    return props.contains(key) ? &props[key] : nullptr;
  }

  Json convert(const YAML::Node& n, const Json* schema, const std::string& ptr) {
    doc->marks[ptr] = mark(n.Mark());
    switch (n.Type()) {
      case YAML::NodeType::Null:
      case YAML::NodeType::Undefined:
        return nullptr;
      case YAML::NodeType::Scalar:
        return scalar(n, schema);
      case YAML::NodeType::Sequence: {
        Json arr = Json::array();
        const Json* items = schema && schema->contains("items") ? &(*schema)["items"] : nullptr;
        std::size_t i = 0;
        for (const auto& item : n) arr.push_back(convert(item, items, ptr + "/" + std::to_string(i++)));
        return arr;
      }
      case YAML::NodeType::Map: {
        Json obj = Json::object();
        for (const auto& kv : n) {
          if (!kv.first.IsScalar()) {
            diags->push_back({Severity::error, "E002", "a mapping key must be a plain name", mark(kv.first.Mark()), {}, {}});
            continue;
          }
          const std::string key = kv.first.Scalar();
          const std::string child = ptr + "/" + key;
          if (obj.contains(key)) {
            diags->push_back({Severity::error, "E006", "field '" + key + "' is given twice",
                              mark(kv.first.Mark()), {}, "keep one of them; YAML mappings cannot repeat a key"});
            continue;
          }
          doc->key_marks[child] = mark(kv.first.Mark());
          obj[key] = convert(kv.second, child_schema(schema, key), child);
          // A key with no value has no mark of its own: point at the key.
          if (doc->marks[child].line == 0) doc->marks[child] = doc->key_marks[child];
        }
        return obj;
      }
    }
    return nullptr;
  }
};

std::string field_of(const std::string& pointer) {
  const auto p = pointer.find('/', 1);
  return pointer.substr(1, p == std::string::npos ? std::string::npos : p - 1);
}

// Splits a YAML stream into documents at `---` / `...` lines so that one document's syntax error
// does not hide the problems of the others. Returns (first line index, text) pairs.
std::vector<std::pair<int, std::string>> split_documents(const std::string& text) {
  std::vector<std::pair<int, std::string>> out;
  std::istringstream in(text);
  std::string line, cur;
  int line_no = 0, start = 0;
  while (std::getline(in, line)) {
    const bool marker = (line.rfind("---", 0) == 0 && (line.size() == 3 || line[3] == ' ' || line[3] == '\t' || line[3] == '\r')) ||
                        (line.rfind("...", 0) == 0 && trim(line.substr(3)).find_first_not_of("\r") == std::string::npos);
    if (marker) {
      out.emplace_back(start, cur);
      cur.clear();
      // Content after "--- " on the same line belongs to the new document.
      const std::string rest = line.size() > 4 && line[0] == '-' ? line.substr(4) : "";
      cur = std::string(rest.empty() ? "" : "    " + rest + "\n");
      start = line_no;
      if (rest.empty()) {
        start = line_no + 1;
      }
    } else {
      cur += line + "\n";
    }
    ++line_no;
  }
  out.emplace_back(start, cur);
  return out;
}

bool blank_yaml(const std::string& text) {
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    const std::string t = trim(line);
    if (!t.empty() && t[0] != '#' && t != "\r") return false;
  }
  return true;
}

std::vector<std::string> kind_names() {
  std::vector<std::string> v;
  for (const auto& k : kinds()) v.push_back(k.name);
  return v;
}

void parse_one(const std::string& name, int offset, const std::string& chunk, LoadResult& result) {
  if (blank_yaml(chunk)) return;
  YAML::Node root;
  try {
    root = YAML::Load(chunk);
  } catch (const YAML::ParserException& e) {
    result.diagnostics.push_back({Severity::error, "E001", "invalid YAML: " + e.msg,
                                  {name, e.mark.line + 1 + offset, e.mark.column + 1}, {}, {}});
    return;
  }
  Document doc;
  Converter conv{name, offset, &doc, &result.diagnostics};
  doc.mark = conv.mark(root.Mark());
  if (doc.mark.line == 0) doc.mark = {name, offset + 1, 1};
  if (!root.IsMap()) {
    result.diagnostics.push_back({Severity::error, "E002", "a document must be a mapping with a 'kind'", doc.mark, {},
                                  "start the document with a line such as 'kind: Location'"});
    return;
  }
  const YAML::Node kind_node = root["kind"];
  if (!kind_node || !kind_node.IsScalar()) {
    result.diagnostics.push_back({Severity::error, "E003", "document has no 'kind'", doc.mark, {},
                                  "add 'kind:' with one of: " + [] {
                                    std::string s;
                                    for (const auto& n : kind_names()) s += (s.empty() ? "" : ", ") + n;
                                    return s;
                                  }()});
    return;
  }
  doc.kind = find_kind(kind_node.Scalar());
  if (!doc.kind) {
    const std::string guess = closest(kind_node.Scalar(), kind_names());
    result.diagnostics.push_back({Severity::error, "E003", "unknown kind '" + kind_node.Scalar() + "'",
                                  conv.mark(kind_node.Mark()), {}, guess.empty() ? "" : "did you mean '" + guess + "'?"});
    return;
  }
  Json value = conv.convert(root, &doc.kind->schema, "");
  value["kind"] = doc.kind->name;
  bool bad = false;
  for (const auto& v : check_schema(doc.kind->schema, value)) {
    Diagnostic d{Severity::error, "E005", v.message, doc.mark_of(v.pointer), {}, {}};
    if (v.message.rfind("unknown field", 0) == 0) {
      d.code = "E004";
      const auto km = doc.key_marks.find(v.pointer);
      if (km != doc.key_marks.end()) d.where = km->second;
      std::vector<std::string> names;
      for (const auto& f : doc.kind->fields) names.push_back(f.name);
      const std::string guess = closest(field_of(v.pointer), names);
      d.hint = guess.empty() ? "see 'e911ctl schema print " + doc.kind->noun + "'" : "did you mean '" + guess + "'?";
      d.message += " in " + doc.kind->name;
    } else if (!v.pointer.empty()) {
      d.message = "'" + v.pointer.substr(1) + "': " + d.message;
      d.code = field_rule_code(*doc.kind, v.pointer.substr(1, v.pointer.find('/', 1) - 1));
    }
    result.diagnostics.push_back(std::move(d));
    bad = true;
  }
  if (bad) return;
  value.erase("kind");
  doc.key = doc.kind->key_of(value);
  doc.value = std::move(value);
  result.documents.push_back(std::move(doc));
}

}  // namespace

LoadResult parse_documents(const std::string& name, const std::string& text, SourceSet& sources) {
  sources.add(name, text);
  LoadResult result;
  for (const auto& [offset, chunk] : split_documents(text)) parse_one(name, offset, chunk, result);
  // The same object twice in one set is a mistake: which one should win?
  std::map<std::pair<const Kind*, std::string>, SourceMark> seen;
  std::vector<Document> unique;
  for (auto& d : result.documents) {
    const auto [it, fresh] = seen.emplace(std::make_pair(d.kind, d.key), d.mark);
    if (!fresh) {
      result.diagnostics.push_back({Severity::error, "E007",
                                    d.kind->noun + " '" + Kind::display_key(d.key) + "' is defined twice",
                                    d.mark, {},
                                    "first defined at " + it->second.file + ":" + std::to_string(it->second.line)});
      continue;
    }
    unique.push_back(std::move(d));
  }
  result.documents = std::move(unique);
  return result;
}

LoadResult load_documents(const std::vector<std::string>& paths, SourceSet& sources) {
  namespace fs = std::filesystem;
  std::vector<std::string> files;
  for (const auto& p : paths) {
    if (p == "-") {
      files.push_back(p);
    } else if (fs::is_directory(p)) {
      std::vector<std::string> found;
      for (const auto& e : fs::recursive_directory_iterator(p)) {
        const auto ext = e.path().extension();
        if (e.is_regular_file() && (ext == ".yaml" || ext == ".yml")) found.push_back(e.path().string());
      }
      std::sort(found.begin(), found.end());
      files.insert(files.end(), found.begin(), found.end());
    } else if (fs::exists(p)) {
      files.push_back(p);
    } else {
      throw Error(ErrorKind::failure, "cannot read '" + p + "': no such file or directory");
    }
  }
  // Parse everything as one text per file, then merge, so duplicates across files are found.
  std::string combined_name;
  LoadResult all;
  std::map<std::pair<const Kind*, std::string>, SourceMark> seen;
  for (const auto& f : files) {
    std::string text;
    if (f == "-") {
      std::ostringstream ss;
      ss << std::cin.rdbuf();
      text = ss.str();
    } else {
      std::ifstream in(f, std::ios::binary);
      if (!in) throw Error(ErrorKind::failure, "cannot read '" + f + "'");
      std::ostringstream ss;
      ss << in.rdbuf();
      text = ss.str();
    }
    LoadResult one = parse_documents(f == "-" ? "<stdin>" : f, text, sources);
    all.diagnostics.insert(all.diagnostics.end(), one.diagnostics.begin(), one.diagnostics.end());
    for (auto& d : one.documents) {
      const auto [it, fresh] = seen.emplace(std::make_pair(d.kind, d.key), d.mark);
      if (!fresh) {
        all.diagnostics.push_back({Severity::error, "E007", d.kind->noun + " '" + Kind::display_key(d.key) + "' is defined twice",
                                   d.mark, {}, "first defined at " + it->second.file + ":" + std::to_string(it->second.line)});
        continue;
      }
      all.documents.push_back(std::move(d));
    }
  }
  return all;
}

Json parse_yaml_value(const std::string& text, const Json* schema) {
  YAML::Node n;
  try {
    n = YAML::Load(text);
  } catch (const YAML::ParserException& e) {
    throw Error(ErrorKind::invalid, "invalid YAML '" + text + "': " + e.msg);
  }
  Document scratch;
  std::vector<Diagnostic> diags;
  Converter conv{"<command line>", 0, &scratch, &diags};
  Json v = conv.convert(n, schema, "");
  if (!diags.empty()) throw Error(ErrorKind::invalid, diags.front().message + " in '" + text + "'");
  return v;
}

}  // namespace e911
