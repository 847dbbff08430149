#include "e911/yaml_load.hpp"

#include <yaml-cpp/depthguard.h>
#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/parser.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <optional>
#include <set>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <unordered_set>

#include "e911/error.hpp"
#include "e911/pattern.hpp"
#include "e911/schema_check.hpp"
#include "e911/validate.hpp"
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

// Limits on one document as it is read: nesting, and size once aliases are expanded. A document
// describes one object, so real ones stay far below; a few lines of nested aliases could
// otherwise ask for billions of values.
constexpr int kMaxDepth = 64;
constexpr std::size_t kMaxNodes = 100000;
constexpr std::size_t kMaxBytes = std::size_t{16} << 20;

// A problem that makes the rest of a document meaningless; the conversion stops at the first.
struct Refused {
  Diagnostic diagnostic;
};

bool is_control(char32_t c) { return c < 0x20 || c == 0x7F || (c >= 0x80 && c <= 0x9F); }

struct Converter {
  std::string file;
  int line_offset = 0;  // lines before this document's chunk
  Document* doc = nullptr;
  std::vector<Diagnostic>* diags = nullptr;
  std::string_view text;                    // the chunk yaml-cpp read, to look at quotes
  std::set<std::string> refused;            // pointers already reported; the schema says no more
  std::unordered_set<std::size_t> quoted;   // quoted scalars already found closed, by offset
  std::size_t nodes = 0, bytes = 0;
  int depth = 0;
  std::string value_code = "E001";          // a bad value's code in a document without a kind

  SourceMark mark(const YAML::Mark& m) const {
    if (m.line < 0) return {file, 0, 0};
    return {file, m.line + 1 + line_offset, m.column + 1};
  }

  static std::string want_type(const Json* schema) {
    if (!schema || !schema->contains("type") || !(*schema)["type"].is_string()) return {};
    return (*schema)["type"].get<std::string>();
  }

  // yaml-cpp 0.7 ends a quoted scalar that is never closed at the end of the text, swallowing
  // the lines after it into the value. A quoted scalar starts at its node's mark, after any anchor
  // or tag: find its closing quote the way YAML does, or refuse it where it opened.
  void check_quotes(const YAML::Node& n) {
    std::size_t i = n.Mark().pos;
    if (n.Mark().pos < 0 || i >= text.size()) return;
    while (i < text.size() && (text[i] == '&' || text[i] == '!')) {
      while (i < text.size() && text[i] != ' ' && text[i] != '\t' && text[i] != '\n' && text[i] != '\r') ++i;
      while (i < text.size() && (text[i] == ' ' || text[i] == '\t' || text[i] == '\n' || text[i] == '\r')) ++i;
    }
    if (i >= text.size() || (text[i] != '"' && text[i] != '\'') || quoted.count(i)) return;
    const char q = text[i];
    for (std::size_t j = i + 1; j < text.size(); ++j) {
      if (q == '"' && text[j] == '\\') {
        ++j;
      } else if (text[j] == q) {
        if (q == '\'' && j + 1 < text.size() && text[j + 1] == '\'') {
          ++j;
          continue;
        }
        quoted.insert(i);
        return;
      }
    }
    throw Refused{{Severity::error, "E001",
                   std::string("invalid YAML: the ") + (q == '"' ? "double" : "single") + "-quoted scalar is never closed",
                   mark(n.Mark()), {}, std::string("end it with ") + q + " on the line where its value ends"}};
  }

  // The rule code a bad value at `ptr` breaks: the field's own, as the schema check reports it.
  std::string code_at(const std::string& ptr) const {
    if (ptr.empty()) return "E001";
    if (!doc || !doc->kind) return value_code;
    return field_rule_code(*doc->kind, ptr.substr(1, ptr.find('/', 1) - 1));
  }

  void refuse_value(const std::string& ptr, const YAML::Node& n, const std::string& why) {
    diags->push_back({Severity::error, code_at(ptr), ptr.empty() ? why : "'" + ptr.substr(1) + "': " + why, mark(n.Mark()), {}, {}});
    refused.insert(ptr);
  }

  // Plain scalars take the type the schema asks for when it is a string, so `house_number: 12`
  // and `emergency_dial_string: 911` mean what the operator wrote; otherwise YAML's core schema.
  Json scalar(const YAML::Node& n, const Json* schema, const std::string& ptr) {
    const std::string& s = n.Scalar();
    if (n.Tag() == "!" || want_type(schema) == "string") return s;
    static const Pattern int_re(R"([-+]?[0-9]+)");
    static const Pattern float_re(R"([-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?)");
    if (s == "~" || s == "null" || s == "Null" || s == "NULL") return nullptr;
    if (s == "true" || s == "True" || s == "TRUE") return true;
    if (s == "false" || s == "False" || s == "FALSE") return false;
    // Numbers are short; a long run of digits is a string for the schema to judge, and the
    // regular expressions below never see a megabyte.
    if (s.size() > 400) return s;
    if (int_re.full_match(s)) {
      try {
        return std::stoll(s);
      } catch (const std::out_of_range&) {
        refuse_value(ptr, n, "'" + excerpt(s) + "' is out of range for an integer");
        return nullptr;
      }
    }
    if (float_re.full_match(s)) {
      // strtod, not stod: a value too small for a double is an error too, and so is one too large.
      errno = 0;
      const double d = std::strtod(s.c_str(), nullptr);
      if (errno == ERANGE || !std::isfinite(d)) {
        refuse_value(ptr, n, "'" + excerpt(s) + "' is out of range for a number");
        return nullptr;
      }
      return d;
    }
    return s;
  }

  static const Json* child_schema(const Json* schema, const std::string& key) {
    if (!schema || !schema->contains("properties")) return nullptr;
    const Json& props = (*schema)["properties"];
    return props.contains(key) ? &props[key] : nullptr;
  }

  // Converts `n` and everything under it. Throws Refused for a document nested too deep, too
  // large once its aliases are expanded (yaml-cpp shares an aliased node, so a cycle or a
  // billion values can hide in a few lines), or with a quote never closed.
  Json convert(const YAML::Node& n, const Json* schema, const std::string& ptr) {
    doc->marks[ptr] = mark(n.Mark());
    if (++nodes > kMaxNodes || depth >= kMaxDepth)
      throw Refused{{Severity::error, "E001",
                     depth >= kMaxDepth ? "invalid YAML: values nested deeper than " + std::to_string(kMaxDepth) + " levels"
                                        : "invalid YAML: the document holds more than " + std::to_string(kMaxNodes) + " values",
                     mark(n.Mark()), {}, "an alias that names a node holding it, or aliases of aliases, grow without bound"}};
    switch (n.Type()) {
      case YAML::NodeType::Null:
      case YAML::NodeType::Undefined:
        return nullptr;
      case YAML::NodeType::Scalar:
        check_quotes(n);
        if ((bytes += n.Scalar().size()) > kMaxBytes)
          throw Refused{{Severity::error, "E001", "invalid YAML: the document holds more than " + std::to_string(kMaxBytes >> 20) + " MiB of text",
                         mark(n.Mark()), {}, {}}};
        return scalar(n, schema, ptr);
      case YAML::NodeType::Sequence: {
        Json arr = Json::array();
        const Json* items = schema && schema->contains("items") ? &(*schema)["items"] : nullptr;
        std::size_t i = 0;
        ++depth;
        for (const auto& item : n) arr.push_back(convert(item, items, ptr + "/" + std::to_string(i++)));
        --depth;
        return arr;
      }
      case YAML::NodeType::Map: {
        Json obj = Json::object();
        ++depth;
        for (const auto& kv : n) {
          if (!kv.first.IsScalar()) {
            diags->push_back({Severity::error, "E002", "a mapping key must be a plain name", mark(kv.first.Mark()), {}, {}});
            continue;
          }
          check_quotes(kv.first);
          const std::string key = kv.first.Scalar();
          const std::string child = ptr + "/" + key;
          if (obj.contains(key)) {
            diags->push_back({Severity::error, "E006", "field '" + excerpt(key) + "' is given twice",
                              mark(kv.first.Mark()), {}, "keep one of them; YAML mappings cannot repeat a key"});
            continue;
          }
          doc->key_marks[child] = mark(kv.first.Mark());
          obj[key] = convert(kv.second, child_schema(schema, key), child);
          // A key with no value has no mark of its own: point at the key.
          if (doc->marks[child].line == 0) doc->marks[child] = doc->key_marks[child];
        }
        --depth;
        return obj;
      }
    }
    return nullptr;
  }
};

// Measures a document from yaml-cpp's events before it is built: each anchor's size and height,
// so an alias whose expansion would pass the limits (or that names a node it is inside) is
// refused at the alias itself, before any of it is expanded.
class AliasBudget : public YAML::EventHandler {
 public:
  struct Exceeded {
    YAML::Mark mark;
    std::string why;
  };

  void OnDocumentStart(const YAML::Mark&) override {}
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark&, YAML::anchor_t a) override { leaf(a, 0); }
  void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t a, const std::string& value) override { leaf(a, value.size()); }
  void OnAlias(const YAML::Mark& m, YAML::anchor_t a) override {
    if (a >= sizes_.size() || !sizes_[a].done) throw Exceeded{m, "the alias names a node that holds it"};
    const Size& s = sizes_[a];
    nodes_ += s.nodes;
    bytes_ += s.bytes;
    if (nodes_ > kMaxNodes) throw Exceeded{m, "the alias expands the document to more than " + std::to_string(kMaxNodes) + " values"};
    if (bytes_ > kMaxBytes) throw Exceeded{m, "the alias expands the document to more than " + std::to_string(kMaxBytes >> 20) + " MiB of text"};
    if (static_cast<int>(open_.size()) + s.height > kMaxDepth)
      throw Exceeded{m, "the alias nests values deeper than " + std::to_string(kMaxDepth) + " levels"};
    grow(s.height);
  }
  void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t a, YAML::EmitterStyle::value) override { start(a); }
  void OnSequenceEnd() override { end(); }
  void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t a, YAML::EmitterStyle::value) override { start(a); }
  void OnMapEnd() override { end(); }

 private:
  struct Size {
    std::size_t nodes = 0, bytes = 0;
    int height = 0;
    bool done = false;
  };
  struct Open {
    YAML::anchor_t anchor;
    std::size_t nodes, bytes;
    int height = 0;
  };
  std::vector<Size> sizes_;
  std::vector<Open> open_;
  std::size_t nodes_ = 0, bytes_ = 0;

  Size& slot(YAML::anchor_t a) {
    if (a >= sizes_.size()) sizes_.resize(a + 1);
    return sizes_[a];
  }
  void grow(int height) {
    if (!open_.empty()) open_.back().height = std::max(open_.back().height, height);
  }
  void leaf(YAML::anchor_t a, std::size_t size) {
    ++nodes_;
    bytes_ += size;
    if (a) slot(a) = {1, size, 1, true};
    grow(1);
  }
  void start(YAML::anchor_t a) {
    if (a) slot(a) = {};
    open_.push_back({a, nodes_, bytes_, 0});
    ++nodes_;
  }
  void end() {
    const Open o = open_.back();
    open_.pop_back();
    if (o.anchor) slot(o.anchor) = {nodes_ - o.nodes, bytes_ - o.bytes, o.height + 1, true};
    grow(o.height + 1);
  }
};

// The alias in `chunk` whose expansion passes the limits, if any. Only a text with a '*' can
// hold an alias; a syntax error is left for the real parse to report.
std::optional<Diagnostic> check_aliases(const std::string& chunk, const std::function<SourceMark(const YAML::Mark&)>& where) {
  if (chunk.find('*') == std::string::npos) return std::nullopt;
  std::istringstream in(chunk);
  YAML::Parser parser(in);
  AliasBudget budget;
  try {
    parser.HandleNextDocument(budget);
  } catch (const AliasBudget::Exceeded& e) {
    return Diagnostic{Severity::error, "E001", "invalid YAML: " + e.why, where(e.mark), {},
                      "write the values out, or alias only small nodes that hold no aliases"};
  } catch (const YAML::Exception&) {
  }
  return std::nullopt;
}

// The first byte of `chunk` that YAML does not allow in a stream: one that is not UTF-8, or a
// control character other than tab and line breaks (YAML's c-printable). Returns its offset and
// why, or npos. Escapes such as "\x07" inside double quotes are not raw bytes and pass.
std::pair<std::size_t, std::string> first_unprintable(std::string_view chunk) {
  char buf[64];
  for (std::size_t i = 0; i < chunk.size();) {
    const unsigned char c = static_cast<unsigned char>(chunk[i]);
    if (c >= 0x20 && c < 0x7F) {
      ++i;
      continue;
    }
    char32_t cp = 0;
    const std::size_t n = utf8_char(chunk, i, cp);
    if (n == 0) {
      std::snprintf(buf, sizeof buf, "byte 0x%02X is not UTF-8", c);
      return {i, buf};
    }
    if (cp != '\t' && cp != '\n' && cp != '\r' && cp != 0x85 && is_control(cp)) {
      std::snprintf(buf, sizeof buf, "control character U+%04X is not allowed", static_cast<unsigned>(cp));
      return {i, buf};
    }
    i += n;
  }
  return {std::string_view::npos, {}};
}

// What yaml-cpp 0.7 would silently cut short: a directive line inside a document (it ends the
// document there and drops the rest) and text after a '...' end marker on its line. Returns the
// 0-based line and why, or -1.
std::pair<int, std::string> truncating_line(const std::string& chunk) {
  std::istringstream in(chunk);
  std::string line;
  bool content = false;
  for (int n = 0; std::getline(in, line); ++n) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    const std::string t = trim(line);
    if (line.rfind("...", 0) == 0 && line.size() > 3 && (line[3] == ' ' || line[3] == '\t') && t.size() > 3 &&
        trim(t.substr(3))[0] != '#')
      return {n, "text after the document end marker '...'"};
    if (line.rfind('%', 0) == 0 && content) return {n, "a directive inside a document; directives go before '---'"};
    if (!t.empty() && t[0] != '#' && line[0] != '%') content = true;
  }
  return {-1, {}};
}

std::string field_of(const std::string& pointer) {
  const auto p = pointer.find('/', 1);
  return pointer.substr(1, p == std::string::npos ? std::string::npos : p - 1);
}

// True when `text` holds a directive (%YAML, %TAG) and otherwise only comments and blank lines.
bool directives_only(const std::string& text) {
  std::istringstream in(text);
  std::string line;
  bool any = false;
  while (std::getline(in, line)) {
    const std::string t = trim(line);
    if (line.rfind('%', 0) == 0) any = true;
    else if (!t.empty() && t[0] != '#' && t != "\r") return false;
  }
  return any;
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
    // Directives belong to the document their '---' starts: keep them in one chunk.
    if (marker && line[0] == '-' && directives_only(cur)) {
      cur += line + "\n";
    } else if (marker) {
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

// What yaml-cpp would read wrongly or not survive, found in the raw text of one document: bytes
// YAML does not allow, lines it would silently cut the document at, and alias bombs.
std::optional<Diagnostic> prescan(const std::string& name, int offset, const std::string& chunk) {
  if (const auto [at, why] = first_unprintable(chunk); at != std::string_view::npos) {
    const std::size_t bol = chunk.rfind('\n', at == 0 ? 0 : at - 1);
    const std::size_t col = bol == std::string::npos || at == 0 ? at : at - bol - 1;
    const int line = static_cast<int>(std::count(chunk.begin(), chunk.begin() + static_cast<std::ptrdiff_t>(at), '\n'));
    return Diagnostic{Severity::error, "E001", "invalid YAML: " + why, {name, line + 1 + offset, static_cast<int>(col) + 1}, {},
                      why.find("UTF-8") != std::string::npos ? "save the file as UTF-8; this byte looks like Latin-1 or Windows-1252"
                                                             : "write it as an escape in double quotes, such as \"\\t\", if it is meant"};
  }
  if (const auto [line, why] = truncating_line(chunk); line >= 0)
    return Diagnostic{Severity::error, "E001", "invalid YAML: " + why, {name, line + 1 + offset, 1}, {}, {}};
  return check_aliases(chunk, [&](const YAML::Mark& m) { return SourceMark{name, m.line + 1 + offset, m.column + 1}; });
}

// A yaml-cpp failure as a diagnostic at its place.
Diagnostic syntax_error(const std::string& name, int offset, const YAML::Exception& e) {
  // yaml-cpp's own guard against deep recursion says only "bad file"; say what it means.
  const bool deep = dynamic_cast<const YAML::DeepRecursion*>(&e) != nullptr;
  return {Severity::error, "E001", deep ? "invalid YAML: values nested too deep" : "invalid YAML: " + e.msg,
          {name, e.mark.line + 1 + offset, e.mark.column + 1}, {}, {}};
}

// A key made of control characters cannot be typed, listed or told apart from its neighbours.
void check_key_fields(Converter& conv, const Document& doc, const Json& value, std::vector<Diagnostic>& out) {
  for (const auto& f : doc.kind->key_fields) {
    const auto it = value.find(f);
    if (it == value.end() || !it->is_string()) continue;
    const std::string& s = it->get_ref<const std::string&>();
    for (std::size_t i = 0; i < s.size();) {
      char32_t cp = 0;
      const std::size_t n = std::max<std::size_t>(utf8_char(s, i, cp), 1);
      if (is_control(cp)) {
        char buf[16];
        std::snprintf(buf, sizeof buf, "U+%04X", static_cast<unsigned>(cp));
        out.push_back({Severity::error, field_rule_code(*doc.kind, f),
                       "'" + f + "': '" + excerpt(s) + "' holds the control character " + buf + ", which a key may not",
                       doc.mark_of("/" + f), {}, "a key is a name people type: letters, digits and punctuation"});
        conv.refused.insert("/" + f);
        break;
      }
      i += n;
    }
  }
}

bool under_any(const std::set<std::string>& roots, const std::string& pointer) {
  for (const auto& r : roots)
    if (pointer == r || pointer.rfind(r + "/", 0) == 0) return true;
  return false;
}

void parse_one(const std::string& name, int offset, const std::string& chunk, LoadResult& result) {
  if (blank_yaml(chunk)) return;
  if (auto d = prescan(name, offset, chunk)) {
    result.diagnostics.push_back(std::move(*d));
    return;
  }
  YAML::Node root;
  try {
    root = YAML::Load(chunk);
  } catch (const YAML::Exception& e) {
    result.diagnostics.push_back(syntax_error(name, offset, e));
    return;
  }
  Document doc;
  Converter conv{name, offset, &doc, &result.diagnostics, chunk};
  doc.mark = conv.mark(root.Mark());
  if (doc.mark.line == 0) doc.mark = {name, offset + 1, 1};
  if (!root.IsMap()) {
    result.diagnostics.push_back({Severity::error, "E002", "a document must be a mapping with a 'kind'", doc.mark, {},
                                  "start the document with a line such as 'kind: Location'"});
    return;
  }
  const YAML::Node kind_node = root["kind"];
  try {
    if (kind_node && kind_node.IsScalar()) conv.check_quotes(kind_node);
  } catch (const Refused& r) {
    result.diagnostics.push_back(r.diagnostic);
    return;
  }
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
    result.diagnostics.push_back({Severity::error, "E003", "unknown kind '" + excerpt(kind_node.Scalar()) + "'",
                                  conv.mark(kind_node.Mark()), {}, guess.empty() ? "" : "did you mean '" + guess + "'?"});
    return;
  }
  Json value;
  const std::size_t before = result.diagnostics.size();
  try {
    value = conv.convert(root, &doc.kind->schema, "");
  } catch (const Refused& r) {
    result.diagnostics.resize(before);  // what was found before the refusal is noise beside it
    result.diagnostics.push_back(r.diagnostic);
    return;
  }
  check_key_fields(conv, doc, value, result.diagnostics);
  bool bad = !conv.refused.empty();
  value["kind"] = doc.kind->name;
  for (const auto& v : check_schema(doc.kind->schema, value)) {
    if (under_any(conv.refused, v.pointer)) continue;  // reported once, by the converter
    Diagnostic d{Severity::error, "E005", v.message, doc.mark_of(v.pointer), {}, {}};
    d.hide_source = v.secret;
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
  // Keys in their one stored spelling, so that two spellings of one BSSID are one object.
  for (const auto& k : doc.kind->key_fields)
    if (value.contains(k) && value[k].is_string()) value[k] = canonical_key_value(*doc.kind, k, value[k].get<std::string>());
  doc.key = doc.kind->key_of(value);
  doc.value = std::move(value);
  result.documents.push_back(std::move(doc));
}

}  // namespace

LoadResult parse_documents(const std::string& name, const std::string& text, SourceSet& sources) {
  // A UTF-8 byte-order mark is not part of the first line (editors on Windows write one).
  const bool bom = text.rfind("\xEF\xBB\xBF", 0) == 0;
  const std::string body = bom ? text.substr(3) : text;
  sources.add(name, body);
  LoadResult result;
  for (const auto& [offset, chunk] : split_documents(body)) parse_one(name, offset, chunk, result);
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

SettingsResult parse_settings(const std::string& name, const std::string& text, const Json& schema, SourceSet& sources) {
  const std::string body = text.rfind("\xEF\xBB\xBF", 0) == 0 ? text.substr(3) : text;
  sources.add(name, body);
  SettingsResult r;
  r.document.mark = {name, 1, 1};
  r.document.value = Json::object();
  bool seen = false;
  for (const auto& [offset, chunk] : split_documents(body)) {
    if (blank_yaml(chunk)) continue;
    if (seen) {
      r.diagnostics.push_back({Severity::error, "E002", "a settings file holds one document", {name, offset + 1, 1}, {},
                               "remove the '---' and write every setting in one mapping"});
      break;
    }
    seen = true;
    if (auto d = prescan(name, offset, chunk)) {
      r.diagnostics.push_back(std::move(*d));
      continue;
    }
    YAML::Node root;
    try {
      root = YAML::Load(chunk);
    } catch (const YAML::Exception& e) {
      r.diagnostics.push_back(syntax_error(name, offset, e));
      continue;
    }
    Converter conv{name, offset, &r.document, &r.diagnostics, chunk};
    conv.value_code = "E100";
    if (const SourceMark m = conv.mark(root.Mark()); m.line > 0) r.document.mark = m;
    if (!root.IsMap()) {
      r.diagnostics.push_back({Severity::error, "E002", "a settings file must be a mapping of names to values", r.document.mark, {},
                               "write one setting a line, such as 'threads: 2'"});
      continue;
    }
    Json value;
    const std::size_t before = r.diagnostics.size();
    try {
      value = conv.convert(root, &schema, "");
    } catch (const Refused& refused) {
      r.diagnostics.resize(before);
      r.diagnostics.push_back(refused.diagnostic);
      continue;
    }
    std::vector<std::string> names;
    if (schema.contains("properties"))
      for (const auto& [k, v] : schema["properties"].items()) names.push_back(k);
    for (const auto& v : check_schema(schema, value)) {
      if (under_any(conv.refused, v.pointer)) continue;  // reported once, by the converter
      Diagnostic d{Severity::error, "E100", v.message, r.document.mark_of(v.pointer), {}, {}, v.pointer};
      d.hide_source = v.secret;
      if (v.message.rfind("unknown field", 0) == 0 && v.pointer.find('/', 1) == std::string::npos) {
        d.code = "E004";
        if (const auto km = r.document.key_marks.find(v.pointer); km != r.document.key_marks.end()) d.where = km->second;
        const std::string guess = closest(field_of(v.pointer), names);
        d.hint = guess.empty() ? "the settings are: " + [&] {
          std::string s;
          for (const auto& n : names) s += (s.empty() ? "" : ", ") + n;
          return s;
        }() : "did you mean '" + guess + "'?";
      } else if (!v.pointer.empty()) {
        d.message = "'" + v.pointer.substr(1) + "': " + d.message;
      }
      r.diagnostics.push_back(std::move(d));
    }
    r.document.value = std::move(value);
  }
  return r;
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
      // A directory without YAML is a wrong path, not an empty configuration: apply would say
      // "no changes" and validate "ok" about files it never read.
      if (found.empty())
        throw Error(ErrorKind::usage, "no YAML files in directory '" + p + "'",
                    "name a directory that holds *.yaml or *.yml files, or the files themselves");
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
  if (auto d = prescan("<command line>", 0, text)) throw Error(ErrorKind::invalid, d->message + " in '" + excerpt(text) + "'");
  YAML::Node n;
  try {
    n = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    throw Error(ErrorKind::invalid, "invalid YAML '" + excerpt(text) + "': " + e.msg);
  }
  Document scratch;
  std::vector<Diagnostic> diags;
  Converter conv{"<command line>", 0, &scratch, &diags, text};
  Json v;
  try {
    v = conv.convert(n, schema, "");
  } catch (const Refused& r) {
    diags.insert(diags.begin(), r.diagnostic);
  }
  if (!diags.empty()) throw Error(ErrorKind::invalid, diags.front().message + " in '" + excerpt(text) + "'");
  return v;
}

}  // namespace e911
