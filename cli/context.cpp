#include "context.hpp"

#include <CLI/CLI.hpp>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <iostream>

#include "e911/apply.hpp"
#include "e911/error.hpp"

namespace e911::cli {

std::string Context::db_path() const {
  // An empty path is a mistake in a script (an unset variable), never a request for the default.
  const char* env = std::getenv("E911_DB");
  if ((db_given && db_flag.empty()) || (!db_given && env && !*env))
    throw Error(ErrorKind::usage, db_given ? "--db is empty" : "E911_DB is set but empty",
                "give the path of a database, or leave both --db and E911_DB unset for the default");
  return default_db_path(db_flag);
}

std::unique_ptr<Store> Context::open_store(bool create) const { return Store::open(db_path(), create); }

std::unique_ptr<Store> Context::open_store_or_empty() const {
  if (std::filesystem::exists(db_path())) return Store::open(db_path(), false);
  return Store::open(":memory:", true);
}

void Context::emit(const std::string& schema, const Json& model, const std::function<void(std::ostream&)>& text) const {
  if (format == "text") {
    text(std::cout);
    return;
  }
  Json doc = Json::object();
  doc["schema"] = "e911ctl." + schema + "/v1";
  if (model.is_object()) {
    for (const auto& [k, v] : model.items()) doc[k] = v;
  } else {
    doc["items"] = model;
  }
  // A model may carry a caller's bytes that are not UTF-8 (a dry run's INVITE with the caller's
  // PIDF-LO passed on as it is): JSON cannot, so they are replaced (U+FFFD), as the runtime's log does.
  if (format == "json") std::cout << doc.dump(2, ' ', false, Json::error_handler_t::replace) << "\n";
  else std::cout << json_to_yaml(doc);
}

void Context::report(const std::string& schema, const std::vector<Diagnostic>& diags, const SourceSet* sources, std::size_t untold) const {
  if (format != "text") {
    Json list = Json::array();
    for (const auto& d : diags) list.push_back(diagnostic_json(d));
    int errors = 0;
    for (const auto& d : diags) errors += d.severity == Severity::error;
    emit(schema, Json{{"ok", errors == 0}, {"errors", errors + static_cast<int>(untold)}, {"diagnostics", list}}, [](std::ostream&) {});
    return;
  }
  print_diagnostics(diags, sources, untold);
}

void Context::print_diagnostics(const std::vector<Diagnostic>& diags, const SourceSet* sources, std::size_t untold) const {
  // A file with one systematic mistake has it on every row: the first few say what to fix, a
  // thousand lines hide it. Errors come first, so the cut never hides an error behind warnings.
  const std::size_t limit = max_errors > 0 ? static_cast<std::size_t>(max_errors) : diags.size();
  std::size_t shown = 0;
  for (const Severity pass : {Severity::error, Severity::warning, Severity::note})
    for (const auto& d : diags)
      if (d.severity == pass && shown < limit) {
        std::cerr << format_diagnostic(d, sources, color_err);
        ++shown;
      }
  if (shown < diags.size() + untold)
    std::cerr << "... and " << diags.size() + untold - shown << " more (--max-errors N, or --format json for all)\n";
}

void Context::note(const std::string& line) const {
  if (!quiet && format == "text") std::cerr << line << "\n";
}

Progress::Progress(const Context& ctx, std::uint64_t total)
    : on_(!ctx.quiet && ctx.format == "text" && isatty(STDERR_FILENO) && total > 1000), total_(total) {}

void Progress::at(std::uint64_t done) {
  if (!on_ || (done - last_ < total_ / 100 && done < total_)) return;
  last_ = done;
  const int pct = static_cast<int>(100 * std::min(done, total_) / total_);
  std::cerr << "\r[" << std::string(static_cast<std::size_t>(pct / 4), '#') << std::string(static_cast<std::size_t>(25 - pct / 4), ' ') << "] "
            << pct << "% " << std::flush;
  if (done >= total_) std::cerr << "\r" << std::string(40, ' ') << "\r" << std::flush;
}

void add_warnings(Json& model, const std::vector<Diagnostic>& warnings) {
  Json list = Json::array();
  for (const auto& d : warnings) list.push_back(diagnostic_json(d));
  model["warnings"] = warnings.size();
  model["diagnostics"] = std::move(list);
}

void add_format_option(CLI::App& app, Context& ctx) {
  app.add_option("--format", ctx.format, "output format")
      ->check(CLI::IsMember({"text", "json", "yaml"}))
      ->default_str("text")
      ->envname("E911_FORMAT");
}

}  // namespace e911::cli
