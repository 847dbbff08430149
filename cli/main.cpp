// e911ctl: provisioning and routing of enterprise emergency calls. This file builds the command
// tree and maps failures to the stable exit codes documented in e911ctl(1); it is the only
// catch-all.
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdlib>
#include <iostream>
#include <string_view>

#include "context.hpp"
#include "e911/error.hpp"
#include "e911/text.hpp"

namespace {

std::string shell_quote(const std::string& s) {
  if (!s.empty() && s.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789@%+=:,./_-") == std::string::npos)
    return s;
  std::string r = "'";
  for (char c : s) r += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return r + "'";
}

// The deepest subcommand the parser reached, to suggest a name among its children.
CLI::App* deepest(CLI::App* app) {
  for (CLI::App* sub : app->get_subcommands())
    if (sub->parsed()) return deepest(sub);
  return app;
}

int fail(const e911::cli::Context& ctx, int code, const std::string& message, const std::string& hint) {
  if (ctx.format != "text") {
    e911::Json err = {{"schema", "e911ctl.error/v1"}, {"error", {{"exit_code", code}, {"message", message}}}};
    if (!hint.empty()) err["error"]["hint"] = hint;
    std::cout << err.dump(2) << "\n";
  }
  std::cerr << (ctx.color_err ? "\033[1;31merror\033[0m: " : "error: ") << message << "\n";
  if (!hint.empty()) std::cerr << "  hint: " << hint << "\n";
  return code;
}

}  // namespace

int main(int argc, char** argv) {
  // Scripts ask for the version to check what is installed: answer before building the whole
  // command tree (and parsing every schema) for it.
  if (argc == 2 && std::string_view(argv[1]) == "--version") {
    std::cout << "e911ctl " << E911_VERSION << "\n";
    return 0;
  }
  e911::cli::Context ctx;
  const bool no_color = std::getenv("NO_COLOR") && *std::getenv("NO_COLOR");
  ctx.color = !no_color && isatty(STDOUT_FILENO);
  ctx.color_err = !no_color && isatty(STDERR_FILENO);
  ctx.command_line = "e911ctl";
  for (int i = 1; i < argc; ++i) ctx.command_line += " " + shell_quote(argv[i]);

  CLI::App app{"e911ctl: provision and dry-run enterprise E9-1-1 emergency calling", "e911ctl"};
  app.fallthrough();
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("e911ctl ") + E911_VERSION);
  app.add_option("--db", ctx.db_flag, "SQLite database file")->envname("E911_DB")->each([&](const std::string&) { ctx.db_given = true; });
  app.add_flag("-q,--quiet", ctx.quiet, "print only results and errors");
  app.add_option("--max-errors", ctx.max_errors, "print at most N diagnostics in text output (0: all)")
      ->type_name("N")
      ->check(CLI::NonNegativeNumber)
      ->default_str("20");
  app.add_flag_callback("--no-color", [&] { ctx.color = ctx.color_err = false; }, "never colour output (also NO_COLOR)");

  e911::cli::register_config_commands(app, ctx);
  e911::cli::register_object_commands(app, ctx);
  e911::cli::register_revision_commands(app, ctx);
  e911::cli::register_validate_commands(app, ctx);
  e911::cli::register_call_commands(app, ctx);
  e911::cli::register_docs_commands(app, ctx);

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    // An unknown command: suggest the closest one of the level the user reached.
    CLI::App* at = deepest(&app);
    std::vector<std::string> names;
    for (const CLI::App* sub : at->get_subcommands({})) names.push_back(sub->get_name());
    std::string guess;
    for (const auto& word : at->remaining())
      if (!word.empty() && word[0] != '-') {
        guess = e911::closest(word, names);
        if (!guess.empty()) return fail(ctx, 2, "unknown command '" + word + "'", "did you mean '" + guess + "'?");
        break;
      }
    return fail(ctx, 2, e.what(), "run '" + at->get_display_name(true) + " --help'");
  } catch (const e911::cli::Exit& e) {
    return e.code;
  } catch (const e911::Error& e) {
    return fail(ctx, static_cast<int>(e.kind), e.what(), e.hint);
  } catch (const std::exception& e) {
    return fail(ctx, 70, std::string("internal error: ") + e.what(), "this is a bug in e911ctl; please report it");
  }
  return 0;
}
