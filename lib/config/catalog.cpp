#include "e911/catalog.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <cctype>

#include "e911/error.hpp"
#include "e911/text.hpp"

namespace e911 {

const std::map<std::string, std::string_view>& embedded_files();  // generated

std::string_view embedded_file(const std::string& path) {
  const auto& files = embedded_files();
  const auto it = files.find(path);
  if (it == files.end()) throw Error(ErrorKind::internal, "no embedded file '" + path + "'");
  return it->second;
}

std::vector<std::string> embedded_files_under(const std::string& prefix) {
  std::vector<std::string> out;
  for (const auto& [path, text] : embedded_files())
    if (path.rfind(prefix, 0) == 0) out.push_back(path);
  return out;
}

// Apply and export order: an object comes after the objects it names.
static const char* const kKindOrder[] = {"usage",  "trunk", "route",  "location", "policy",   "voicepolicy", "region",
                                         "site",   "subnet", "wap",   "switch",   "port",     "dialplan",    "user",
                                         "runtime"};

static FieldType field_type(const Json& prop) {
  const std::string t = prop.value("type", "string");
  if (t == "integer") return FieldType::integer;
  if (t == "number") return FieldType::number;
  if (t == "boolean") return FieldType::boolean;
  if (t == "array") {
    const Json& items = prop.contains("items") ? prop["items"] : Json::object();
    return items.value("type", "string") == "object" ? FieldType::object_list : FieldType::string_list;
  }
  return FieldType::string;
}

static Kind load_kind(const std::string& noun) {
  Kind k;
  k.schema = Json::parse(embedded_file("schemas/objects/" + noun + ".schema.json"));
  const Json& x = k.schema.at("x-e911");
  k.name = k.schema.at("title").get<std::string>();
  k.noun = x.at("noun").get<std::string>();
  k.table = x.at("table").get<std::string>();
  k.description = k.schema.value("description", "");
  k.key_fields = x.at("key").get<std::vector<std::string>>();
  k.columns = x.at("columns").get<std::vector<std::string>>();
  const auto required = k.schema.value("required", std::vector<std::string>{});
  for (const auto& [name, prop] : k.schema.at("properties").items()) {
    if (name == "kind") continue;
    Field f;
    f.name = name;
    f.type = field_type(prop);
    f.description = prop.value("description", "");
    if (prop.contains("default")) f.default_value = prop["default"];
    f.ref_kind = prop.value("x-ref", "");
    f.secret = prop.value("x-secret", false);
    f.key = std::find(k.key_fields.begin(), k.key_fields.end(), name) != k.key_fields.end();
    f.required = std::find(required.begin(), required.end(), name) != required.end();
    if (prop.contains("enum"))
      for (const auto& v : prop["enum"]) f.enum_values.push_back(v.is_string() ? v.get<std::string>() : v.dump());
    k.fields.push_back(std::move(f));
  }
  return k;
}

const std::vector<Kind>& kinds() {
  static const std::vector<Kind> all = [] {
    std::vector<Kind> v;
    for (const char* noun : kKindOrder) v.push_back(load_kind(noun));
    // Field::schema points into Kind::schema, so set it once the vector no longer moves.
    for (auto& k : v)
      for (auto& f : k.fields) f.schema = &k.schema["properties"][f.name];
    return v;
  }();
  return all;
}

const Kind* find_kind(std::string_view name) {
  const std::string n = to_lower(name);
  for (const auto& k : kinds())
    if (to_lower(k.name) == n || k.noun == n) return &k;
  return nullptr;
}

const Kind& kind_by_noun(std::string_view noun) {
  for (const auto& k : kinds())
    if (k.noun == noun) return k;
  throw Error(ErrorKind::internal, "no kind with noun '" + std::string(noun) + "'");
}

Json Kind::redacted(Json obj) const {
  if (!obj.is_object()) return obj;
  for (const auto& f : fields)
    if (f.secret && obj.contains(f.name) && !obj[f.name].is_null()) obj[f.name] = "(hidden)";
  return obj;
}

const Field* Kind::field(std::string_view n) const {
  for (const auto& f : fields)
    if (f.name == n) return &f;
  return nullptr;
}

std::string Kind::key_of(const Json& obj) const {
  std::string key;
  for (std::size_t i = 0; i < key_fields.size(); ++i) {
    const auto it = obj.find(key_fields[i]);
    if (it == obj.end() || !it->is_string() || it->get_ref<const std::string&>().empty()) return {};
    if (i) key += '|';
    key += it->get<std::string>();
  }
  return key;
}

std::string Kind::display_key(std::string_view key) {
  std::string s(key);
  std::replace(s.begin(), s.end(), '|', ' ');
  return s;
}

std::string canonical_key_value(const Kind& kind, const std::string& field, const std::string& value) {
  if (field == "bssid" || field == "chassis_id") {
    std::string hex;
    for (const char c : value) {
      if (c == ':' || c == '-' || c == '.') continue;
      hex += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    }
    if (hex.size() != 12 || hex.find_first_not_of("0123456789ABCDEF*") != std::string::npos) return value;
    std::string out;
    for (std::size_t i = 0; i < 12; i += 2) (out += i ? "-" : "") += hex.substr(i, 2);
    return out;
  }
  if (kind.noun == "subnet" && field == "subnet") {
    const auto slash = value.find('/');
    if (slash == std::string::npos || slash + 1 == value.size() || value.size() - slash > 4) return value;
    const std::string addr = value.substr(0, slash), bits = value.substr(slash + 1);
    if (bits.find_first_not_of("0123456789") != std::string::npos) return value;
    const bool v6 = addr.find(':') != std::string::npos;
    unsigned char buf[16];
    char text[INET6_ADDRSTRLEN];
    if (inet_pton(v6 ? AF_INET6 : AF_INET, addr.c_str(), buf) != 1 || !inet_ntop(v6 ? AF_INET6 : AF_INET, buf, text, sizeof text)) return value;
    return std::string(text) + "/" + std::to_string(std::stoi(bits));
  }
  return value;
}

Json normalize(const Kind& kind, Json obj) {
  Json out = Json::object();
  for (const auto& f : kind.fields) {
    const auto it = obj.find(f.name);
    if (it != obj.end() && !it->is_null()) {
      // An empty list says the same as no list.
      if (it->is_array() && it->empty()) continue;
      if (f.key && it->is_string()) *it = canonical_key_value(kind, f.name, it->get_ref<const std::string&>());
      out[f.name] = std::move(*it);
    } else if (!f.default_value.is_null()) {
      out[f.name] = f.default_value;
    }
  }
  return out;
}

}  // namespace e911
