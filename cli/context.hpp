#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "e911/diagnostic.hpp"
#include "e911/json.hpp"
#include "e911/routing.hpp"
#include "e911/store.hpp"

namespace CLI {
class App;
}

namespace e911::cli {

/// Thrown by a command to end with an exit code after it has printed what it had to say.
struct Exit {
  int code;
};

/// What every command shares: global options, the store, and output in the chosen format.
struct Context {
  std::string db_flag;
  bool db_given = false;        ///< --db was on the command line (perhaps empty)
  std::string format = "text";  ///< text, json or yaml
  bool quiet = false;
  int max_errors = 20;          ///< diagnostics printed in text; 0 prints them all
  bool color = false;           ///< stdout is a terminal and NO_COLOR is unset
  bool color_err = false;       ///< the same for stderr
  std::string command_line;     ///< recorded with every revision

  /// The resolved database path (--db, E911_DB, default).
  std::string db_path() const;
  /// Opens the store; creates it on first write when `create`.
  std::unique_ptr<Store> open_store(bool create) const;
  /// For a dry run: the store, or an empty one in memory when the file does not exist yet, so a
  /// plan can be shown without creating anything.
  std::unique_ptr<Store> open_store_or_empty() const;

  /// Prints a result: `model` (with "schema": "e911ctl.<schema>/v1" first) as JSON or YAML, or
  /// calls `text` for people.
  void emit(const std::string& schema, const Json& model, const std::function<void(std::ostream&)>& text) const;

  /// Prints diagnostics to stderr for people, or as a JSON/YAML document on stdout.
  /// `untold` counts problems found beyond those in `diags` (a library keeps the first thousand).
  void report(const std::string& schema, const std::vector<Diagnostic>& diags, const SourceSet* sources, std::size_t untold = 0) const;

  /// Prints diagnostics to stderr for people: the first `max_errors` (errors before warnings), then
  /// "... and N more" with the ways to see the rest.
  void print_diagnostics(const std::vector<Diagnostic>& diags, const SourceSet* sources, std::size_t untold = 0) const;

  /// A progress or status line on stderr, unless --quiet or not text.
  void note(const std::string& line) const;
};

/// A progress bar on stderr for long work, only on a terminal and in text mode, never with --quiet.
class Progress {
 public:
  Progress(const Context& ctx, std::uint64_t total);
  /// Redraws when a percent more is done; at `total` it clears the line.
  void at(std::uint64_t done);

 private:
  bool on_;
  std::uint64_t total_, last_ = 0;
};

/// An object change as data, and as "+ / ~ / -" lines with the fields that changed.
Json change_json(const Change& c);
void print_changes(std::ostream& out, const std::vector<Change>& changes, bool color);
/// Callers whose decision changes, as data and as text.
Json route_changes_json(const std::vector<routing::RouteChange>& changes);
void print_route_changes(std::ostream& out, const std::vector<routing::RouteChange>& changes);

/// Adds the warnings a write brought as "warnings" (a count) and "diagnostics" to a result model.
void add_warnings(Json& model, const std::vector<Diagnostic>& warnings);

/// Adds `--format` to a command (every output command takes it).
void add_format_option(CLI::App& app, Context& ctx);

void register_object_commands(CLI::App& app, Context& ctx);
void register_config_commands(CLI::App& app, Context& ctx);
void register_revision_commands(CLI::App& app, Context& ctx);
/// man, completion and the hidden __complete (cli/commands/docs.cpp).
void register_docs_commands(CLI::App& app, Context& ctx);
/// publish, call dry-run, call audit (cli/commands/call.cpp).
void register_call_commands(CLI::App& app, Context& ctx);
/// call test: a real call through a running runtime (cli/commands/call_test.cpp); after register_call_commands.
void register_call_test_command(CLI::App& app, Context& ctx);
void register_serve_commands(CLI::App& app, Context& ctx);
/// runtime status|reload|calls|registrations: the admin API of a running serve (cli/commands/runtime.cpp).
void register_runtime_commands(CLI::App& app, Context& ctx);
/// The snapshot path publish writes by default: $E911_SNAPSHOT, else the database path + ".snapshot".
std::string default_snapshot_path(const Context& ctx);
/// `location validate-addresses`: provider MSAG validation (cli/commands/address_validation.cpp).
void register_address_validation(CLI::App& location_noun, Context& ctx);
void register_validate_commands(CLI::App& app, Context& ctx);
void register_lis_commands(CLI::App& app, CLI::App& import_cmd, CLI::App& export_cmd, Context& ctx);

}  // namespace e911::cli
