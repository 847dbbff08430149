// e911ctl: provisioning and routing of enterprise emergency calls. This file builds the command
// tree and maps failures to the stable exit codes documented in e911ctl(1); it is the only
// catch-all.
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdlib>
#include <iostream>
#include <optional>
#include <string_view>

#include "context.hpp"
#include "e911/apply.hpp"
#include "e911/diagnostic.hpp"
#include "e911/diagnostic_error.hpp"
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

// The deepest subcommand the parser reached.
CLI::App* deepest(CLI::App* app) {
  for (CLI::App* sub : app->get_subcommands())
    if (sub->parsed()) return deepest(sub);
  return app;
}

// "e911ctl route set": the command line that names `app`.
std::string command_path(const CLI::App* app) {
  std::vector<std::string> names;
  for (; app && app->get_parent(); app = app->get_parent()) names.push_back(app->get_name());
  std::string s = "e911ctl";
  for (auto it = names.rbegin(); it != names.rend(); ++it) s += " " + *it;
  return s;
}

// The commands a user can type under `app`, in the order help lists them.
std::vector<std::string> command_names(const CLI::App* app) {
  std::vector<std::string> names;
  for (const CLI::App* sub : app->get_subcommands({}))
    if (!sub->get_group().empty()) names.push_back(sub->get_name());
  return names;
}

std::string joined(const std::vector<std::string>& words) {
  std::string s;
  for (const auto& w : words) s += (s.empty() ? "" : ", ") + w;
  return s;
}

// `text` with every byte that is not UTF-8 replaced by U+FFFD: a message may quote what the user
// typed, and JSON and YAML documents must stay valid whatever that was.
std::string valid_utf8(const std::string& text) {
  std::string out;
  for (std::size_t i = 0; i < text.size();) {
    char32_t cp = 0;
    const std::size_t n = e911::utf8_char(text, i, cp);
    if (n == 0) {
      out += "\xEF\xBF\xBD";
      ++i;
    } else {
      out.append(text, i, n);
      i += n;
    }
  }
  return out;
}

// --format as the command line says it, for errors found before the parser could set it.
std::string format_in(int argc, char** argv) {
  std::string format;
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    if (a == "--") break;
    if (a == "--format" && i + 1 < argc) format = argv[++i];
    else if (a.rfind("--format=", 0) == 0) format = a.substr(9);
  }
  if (format.empty())
    if (const char* env = std::getenv("E911_FORMAT")) format = env;
  return format == "json" || format == "yaml" ? format : "text";
}

// What is wrong with a command line the parser refused, found by walking it as the parser does:
// the first word that is not a command or an option where one is expected, and the command line
// with every such word replaced by its closest match, when each has one.
struct Misspelling {
  std::string message, hint;
};

// The command under `app` that `word` names, or null.
CLI::App* command_named(CLI::App* app, const std::string& word) {
  for (CLI::App* s : app->get_subcommands({}))
    if (s->check_name(word)) return s;
  return nullptr;
}

// The index of the last value of option `o` given at args[i]: a flag takes none, most options
// one, a list option every word up to the next option or command.
std::size_t skip_values(CLI::App* cur, const CLI::Option& o, const std::vector<std::string>& args, std::size_t i) {
  if (o.get_type_size_max() <= 0 || o.get_expected_max() <= 0) return i;
  if (o.get_expected_max() == 1 && o.get_type_size_max() == 1) return i + 1;
  std::size_t j = i + 1;
  while (j + 1 < args.size() && !args[j + 1].empty() && args[j + 1][0] != '-' && !command_named(cur, args[j + 1])) ++j;
  return j;
}

std::optional<Misspelling> find_misspelling(CLI::App& root, int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  std::optional<std::string> message;
  std::string first_guess, first_hint;
  bool all_fixed = true;
  CLI::App* cur = &root;
  // An option of `app` or of a command above it (they fall through), by its full name.
  const auto find_option = [](CLI::App* app, const std::string& name) -> CLI::Option* {
    for (; app; app = app->get_parent())
      if (CLI::Option* o = app->get_option_no_throw(name)) return o;
    return nullptr;
  };
  const auto has_positionals = [](CLI::App* app) {
    return !app->get_options([](const CLI::Option* o) { return o->get_positional(); }).empty();
  };
  for (std::size_t i = 0; i < args.size(); ++i) {
    std::string& a = args[i];
    if (a == "--") break;
    if (a.size() > 2 && a.rfind("--", 0) == 0) {
      const auto eq = a.find('=');
      const std::string name = a.substr(0, eq);
      CLI::Option* o = find_option(cur, name);
      if (!o) {
        std::vector<std::string> known;
        for (CLI::App* app = cur; app; app = app->get_parent())
          for (const CLI::Option* opt : app->get_options())
            for (const auto& l : opt->get_lnames()) known.push_back("--" + l);
        const std::string guess = e911::closest(name, known);
        if (!message) {
          message = "unknown option '" + e911::excerpt(name) + "' for '" + command_path(cur) + "'";
          first_guess = guess;
          first_hint = "see '" + command_path(cur) + " --help'";
        }
        if (guess.empty()) {
          all_fixed = false;
          continue;
        }
        a = guess + (eq == std::string::npos ? "" : a.substr(eq));
        o = find_option(cur, guess);
      }
      if (o && eq == std::string::npos) i = skip_values(cur, *o, args, i);
      continue;
    }
    if (a.size() > 1 && a[0] == '-') {
      const std::string name = a.substr(0, 2);
      CLI::Option* o = find_option(cur, name);
      if (!o) {
        if (!message) {
          message = "unknown option '" + e911::excerpt(name) + "' for '" + command_path(cur) + "'";
          first_hint = "see '" + command_path(cur) + " --help'";
        }
        all_fixed = false;
      } else if (a.size() == 2) {
        i = skip_values(cur, *o, args, i);
      }
      continue;
    }
    if (CLI::App* sub = command_named(cur, a)) {
      cur = sub;
      continue;
    }
    if (has_positionals(cur)) continue;  // a value, such as a name to show
    const auto names = command_names(cur);
    if (names.empty()) {
      if (!message) {
        message = "unexpected argument '" + e911::excerpt(a) + "' for '" + command_path(cur) + "'";
        first_hint = "see '" + command_path(cur) + " --help'";
      }
      all_fixed = false;
      continue;
    }
    const std::string guess = e911::closest(a, names);
    if (!message) {
      message = "unknown command '" + e911::excerpt(a) + "' for '" + command_path(cur) + "'";
      first_guess = guess;
      first_hint = command_path(cur) + " has the commands " + joined(names) + "; see '" + command_path(cur) + " --help'";
    }
    if (guess.empty()) {
      all_fixed = false;
      break;  // what follows an unknown command cannot be checked: its options are unknown
    }
    a = guess;
    cur = command_named(cur, guess);
  }
  if (!message) return std::nullopt;
  std::string fixed = "e911ctl";
  for (const auto& a : args) fixed += " " + shell_quote(a);
  if (first_guess.empty()) return Misspelling{*message, first_hint};
  // A command line that quotes a word cannot be quoted again: it follows "run:" instead.
  const std::string run = fixed.find('\'') == std::string::npos ? " run '" + fixed + "'" : " run: " + fixed;
  return Misspelling{*message, "did you mean '" + first_guess + "'?" + (all_fixed ? run : "")};
}

int fail(const e911::cli::Context& ctx, int code, const std::string& raw_message, const std::string& raw_hint,
         const std::vector<e911::Diagnostic>* diagnostics = nullptr) {
  const std::string message = valid_utf8(raw_message), hint = valid_utf8(raw_hint);
  if (ctx.format != "text") {
    e911::Json err = {{"schema", "e911ctl.error/v1"}, {"error", {{"exit_code", code}, {"message", message}}}};
    if (!hint.empty()) err["error"]["hint"] = hint;
    if (diagnostics) {
      err["error"]["diagnostics"] = e911::Json::array();
      for (const auto& d : *diagnostics) err["error"]["diagnostics"].push_back(e911::diagnostic_json(d));
    }
    // The same document in either format, on stdout, as scripts read every result.
    if (ctx.format == "yaml") std::cout << e911::json_to_yaml(err);
    else std::cout << err.dump(2) << "\n";
  }
  std::cerr << (ctx.color_err ? "\033[1;31merror\033[0m: " : "error: ") << e911::escape_controls(message) << "\n";
  if (!hint.empty()) std::cerr << "  hint: " << e911::escape_controls(hint) << "\n";
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
  e911::cli::register_call_test_command(app, ctx);
  e911::cli::register_serve_commands(app, ctx);
  e911::cli::register_runtime_commands(app, ctx);
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
    // The parser may stop before it reads --format: take it from the command line.
    if (ctx.format == "text") ctx.format = format_in(argc, argv);
    // A misspelt command or option: name it and suggest the command line that runs.
    if (auto m = find_misspelling(app, argc, argv)) return fail(ctx, 2, m->message, m->hint);
    CLI::App* at = deepest(&app);
    const auto names = command_names(at);
    if (at->get_require_subcommand_min() > 0 && !names.empty() && at->get_subcommands().empty())
      return fail(ctx, 2, command_path(at) + " needs a command: " + joined(names), "see '" + command_path(at) + " --help'");
    return fail(ctx, 2, e.what(), "see '" + command_path(at) + " --help'");
  } catch (const e911::cli::Exit& e) {
    return e.code;
  } catch (const e911::DiagnosticError& e) {
    // Input refused whole (a settings file): its problems as every command prints them, then why.
    if (ctx.format == "text") ctx.print_diagnostics(e.diagnostics, e.sources.get());
    return fail(ctx, static_cast<int>(e.kind), e.what(), e.hint, &e.diagnostics);
  } catch (const e911::Error& e) {
    return fail(ctx, static_cast<int>(e.kind), e.what(), e.hint);
  } catch (const std::exception& e) {
    return fail(ctx, 70, std::string("internal error: ") + e.what(), "this is a bug in e911ctl; please report it");
  }
  return 0;
}
