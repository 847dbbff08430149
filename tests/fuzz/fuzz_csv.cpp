// libFuzzer target: the CSV reader and the Lync LIS CSV importer on a dry run against one empty
// store, the input read as a file of the element kind its first line names (as an operator would
// import it; subnet when it names none), and, when it holds bytes above 0x7F, once more as
// windows-1252 with a default prefix length. A refused file gives diagnostics or e911::Error; a crash, another exception,
// a diagnostic that cannot be written as JSON, or a hang is a bug.
#include <unistd.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>

#include "e911/catalog.hpp"
#include "e911/csv.hpp"
#include "e911/diagnostic.hpp"
#include "e911/error.hpp"
#include "e911/lis_csv.hpp"
#include "e911/store.hpp"

using namespace e911;

namespace {

struct Workspace {
  std::filesystem::path dir;
  std::unique_ptr<Store> store;
  std::string file;
  Workspace() {
    dir = std::filesystem::temp_directory_path() / ("e911-fuzz-csv-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    store = Store::open((dir / "e911.db").string(), true);
    file = (dir / "in.csv").string();
  }
  ~Workspace() {
    store.reset();
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }
};

void import(Workspace& w, const char* noun, const LisImportOptions& options) {
  try {
    const LisImportResult r = import_lis_csv(*w.store, kind_by_noun(noun), w.file, "fuzz", true, {}, options);
    for (const Diagnostic& d : r.diagnostics) (void)diagnostic_json(d).dump();
    for (const Diagnostic& d : r.warnings) (void)diagnostic_json(d).dump();
    if (r.rev != 0) std::abort();  // a dry run writes nothing
  } catch (const Error& e) {
    if (e.kind == ErrorKind::internal) std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static Workspace w;
  const std::string text(reinterpret_cast<const char*>(data), size);

  std::istringstream in(text);
  CsvReader reader(in);
  std::vector<std::string> fields;
  try {
    while (reader.next(fields)) {
      std::ostringstream out;
      write_csv_record(out, fields);
    }
  } catch (const Error&) {
    // an unterminated quote
  }

  std::ofstream(w.file, std::ios::binary | std::ios::trunc) << text;
  const std::string first = text.substr(0, text.find('\n'));
  const auto names = [&](const char* column) { return first.find(column) != std::string::npos; };
  const char* noun = names("BSSID") ? "wap" : names("PortID") ? "port" : names("ChassisID") ? "switch" : "subnet";
  import(w, noun, {});
  if (std::any_of(text.begin(), text.end(), [](char c) { return static_cast<unsigned char>(c) > 0x7F; })) {
    LisImportOptions legacy;
    legacy.encoding = "windows-1252";
    legacy.prefix_length = 24;
    import(w, noun, legacy);
  }
  return 0;
}
