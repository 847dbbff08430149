// validate and explain: every rule an E9-1-1 deployment needs, with precise diagnostics.
#include <CLI/CLI.hpp>
#include <iostream>

#include "context.hpp"
#include "e911/apply.hpp"
#include "e911/error.hpp"
#include "e911/text.hpp"
#include "e911/validate.hpp"
#include "e911/yaml_load.hpp"
#include "render/render.hpp"

namespace e911::cli {

namespace {

Json rule_json(const Rule& r) {
  return {{"code", r.code},       {"severity", r.code[0] == 'W' ? "warning" : "error"}, {"family", r.family}, {"title", r.title},
          {"detail", r.detail},   {"example", r.example},                                 {"fix", r.fix}};
}

void print_rule(std::ostream& out, const Rule& r) {
  out << r.code << " (" << (r.code[0] == 'W' ? "warning" : "error") << ", " << r.family << "): " << r.title << "\n\n"
      << r.detail << "\n\nExample that trips it:\n";
  for (const auto& line : split(r.example, '\n')) out << "    " << line << "\n";
  out << "\nFix: " << r.fix << "\n";
}

}  // namespace

void register_validate_commands(CLI::App& app, Context& ctx) {
  {
    CLI::App* cmd = app.add_subcommand("validate", "check the store, or files as they would be after apply, against every rule");
    auto files = std::make_shared<std::vector<std::string>>();
    auto strict = std::make_shared<bool>(false);
    auto list = std::make_shared<bool>(false);
    cmd->add_option("-f,--file", *files, "YAML files or directories to check as they would be after apply")->type_name("FILE|DIR|-");
    cmd->add_flag("--strict", *strict, "warnings fail too");
    cmd->add_flag("--list-rules", *list, "describe every rule and exit");
    add_format_option(*cmd, ctx);
    cmd->callback([&ctx, files, strict, list] {
      if (*list) {
        Json items = Json::array();
        for (const auto& r : rules()) items.push_back(rule_json(r));
        ctx.emit("validate.rules", Json{{"items", items}}, [&](std::ostream& out) {
          std::vector<std::vector<std::string>> rows;
          for (const auto& r : rules()) rows.push_back({r.code, r.family, r.title});
          print_table(out, {"code", "family", "rule"}, rows, ctx.color);
        });
        return;
      }
      SourceSet sources;
      std::vector<Diagnostic> diags;
      if (!files->empty()) {
        LoadResult loaded = load_documents(*files, sources);
        diags = loaded.diagnostics;
        if (!has_errors(diags)) {
          // The files as they would be after apply: written in a transaction that is never committed.
          auto store = ctx.open_store_or_empty();
          Writer w(*store, ctx.command_line);
          for (const auto& d : loaded.documents) w.put(*d.kind, d.value);
          for (auto& d : validate_store(*store)) diags.push_back(std::move(d));
          locate_diagnostics(diags, loaded.documents);
        }
      } else {
        auto store = ctx.open_store(false);
        diags = validate_store(*store);
      }
      int errors = 0, warnings = 0;
      for (const auto& d : diags) (d.severity == Severity::error ? errors : warnings)++;
      const bool failed = errors > 0 || (*strict && warnings > 0);
      if (ctx.format != "text") {
        Json list_json = Json::array();
        for (const auto& d : diags) list_json.push_back(diagnostic_json(d));
        ctx.emit("validate", Json{{"ok", !failed}, {"errors", errors}, {"warnings", warnings}, {"diagnostics", list_json}}, [](std::ostream&) {});
      } else {
        ctx.print_diagnostics(diags, &sources);
        std::cout << errors << " error(s), " << warnings << " warning(s)" << (failed ? "" : "; ok") << "\n";
      }
      if (failed) throw Exit{3};
    });
  }
  {
    CLI::App* cmd = app.add_subcommand("explain", "describe a validation rule or diagnostic code");
    auto code = std::make_shared<std::string>();
    cmd->add_option("code", *code, "a code such as E301")->required();
    add_format_option(*cmd, ctx);
    cmd->callback([&ctx, code] {
      const Rule* r = find_rule(*code);
      if (!r) {
        std::vector<std::string> codes;
        for (const auto& one : rules()) codes.push_back(one.code);
        const std::string guess = closest(*code, codes);
        throw Error(ErrorKind::failure, "no rule '" + *code + "'",
                    guess.empty() ? "see 'e911ctl validate --list-rules'" : "did you mean '" + guess + "'?");
      }
      ctx.emit("explain", rule_json(*r), [&](std::ostream& out) { print_rule(out, *r); });
    });
  }
}

}  // namespace e911::cli
