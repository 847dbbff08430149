// libFuzzer target: the YAML loader with its schema checks, as object documents (e911ctl apply)
// and as the runtime's settings file (serve.yaml). Bad input must come back as diagnostics that
// print and serialise as JSON; a crash, an exception or a hang is a bug.
#include <cstddef>
#include <cstdint>
#include <string>

#include "e911/catalog.hpp"
#include "e911/diagnostic.hpp"
#include "e911/yaml_load.hpp"

using namespace e911;

namespace {

void show(const std::vector<Diagnostic>& diagnostics, const SourceSet& sources) {
  for (const Diagnostic& d : diagnostics) {
    (void)format_diagnostic(d, &sources);
    (void)diagnostic_json(d).dump();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  {
    SourceSet sources;
    const LoadResult r = parse_documents("fuzz.yaml", text, sources);
    show(r.diagnostics, sources);
    for (const Document& d : r.documents) (void)d.value.dump();
  }
  {
    // Static: schemas are compiled once and kept by address.
    static const Json serve_schema = Json::parse(embedded_file("schemas/serve.schema.json"));
    SourceSet sources;
    const SettingsResult r = parse_settings("serve.yaml", text, serve_schema, sources);
    show(r.diagnostics, sources);
    (void)r.document.value.dump();
  }
  return 0;
}
