// Checks a JSON document on stdin against the output schema its "schema" field names
// (schemas/output/), with the project's own JSON Schema checker. Exit 0 when valid.
#include <iostream>
#include <iterator>

#include "e911/catalog.hpp"
#include "e911/schema_check.hpp"

int main() {
  using e911::Json;
  const std::string text((std::istreambuf_iterator<char>(std::cin)), std::istreambuf_iterator<char>());
  const Json doc = Json::parse(text, nullptr, false);
  if (doc.is_discarded() || !doc.is_object() || !doc.contains("schema")) {
    std::cerr << "not a JSON document with a \"schema\"\n";
    return 1;
  }
  std::string name = doc["schema"].get<std::string>();  // e911ctl.location.list/v1
  name = name.substr(8, name.rfind("/v1") - 8);
  for (const char* generic : {".list", ".show", ".set"}) {
    const std::string g = generic;
    if (name.size() > g.size() && name.compare(name.size() - g.size(), g.size(), g) == 0 && name.find('.') == name.size() - g.size())
      name = g.substr(1);
  }
  const auto files = e911::embedded_files_under("schemas/output/" + name + ".schema.json");
  if (files.empty()) {
    std::cerr << "no output schema for '" << doc["schema"].get<std::string>() << "'\n";
    return 1;
  }
  const Json schema = Json::parse(e911::embedded_file(files.front()));
  const auto problems = e911::check_schema(schema, doc);
  for (const auto& p : problems) std::cerr << (p.pointer.empty() ? "/" : p.pointer) << ": " << p.message << "\n";
  return problems.empty() ? 0 : 1;
}
