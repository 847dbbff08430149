// init, apply and export: the declarative face of the store.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <fstream>
#include <iostream>
#include <sstream>

#include "context.hpp"
#include "e911/apply.hpp"
#include "e911/durable_file.hpp"
#include "e911/error.hpp"
#include "e911/yaml_load.hpp"
#include "render/render.hpp"

namespace e911::cli {

Json change_json(const Change& c) {
  Json j = {{"kind", c.kind->name}, {"key", Kind::display_key(c.key)}, {"change", to_string(c.type)}};
  if (c.type == ChangeType::changed) {
    Json fields = Json::object();
    for (const auto& f : c.kind->fields) {
      const Json b = c.before.contains(f.name) ? c.before[f.name] : Json(nullptr);
      const Json a = c.after.contains(f.name) ? c.after[f.name] : Json(nullptr);
      if (a != b) fields[f.name] = f.secret ? Json{{"before", b.is_null() ? b : Json("(hidden)")}, {"after", a.is_null() ? a : Json("(hidden)")}}
                                            : Json{{"before", b}, {"after", a}};
    }
    j["fields"] = fields;
  } else if (c.type == ChangeType::added) {
    j["after"] = c.kind->redacted(c.after);
  } else {
    j["before"] = c.kind->redacted(c.before);
  }
  return j;
}

void print_changes(std::ostream& out, const std::vector<Change>& changes, bool color) {
  const char* green = color ? "\033[32m" : "";
  const char* yellow = color ? "\033[33m" : "";
  const char* red = color ? "\033[31m" : "";
  const char* reset = color ? "\033[0m" : "";
  for (const auto& c : changes) {
    const std::string who = c.kind->noun + " '" + Kind::display_key(c.key) + "'";
    if (c.type == ChangeType::added) {
      out << green << "+ " << who << reset << "\n";
    } else if (c.type == ChangeType::removed) {
      out << red << "- " << who << reset << "\n";
    } else {
      out << yellow << "~ " << who << reset << "\n";
      for (const auto& f : c.kind->fields) {
        const Json b = c.before.contains(f.name) ? c.before[f.name] : Json(nullptr);
        const Json a = c.after.contains(f.name) ? c.after[f.name] : Json(nullptr);
        if (a == b) continue;
        const auto text = [&](const Json& v) { return v.is_null() ? std::string("(none)") : f.secret ? std::string("(hidden)") : cell_text(v); };
        out << "    " << f.name << ": " << text(b) << " -> " << text(a)
            << "\n";
      }
    }
  }
}

Json route_changes_json(const std::vector<routing::RouteChange>& changes) {
  Json items = Json::array();
  for (const auto& c : changes) items.push_back({{"caller", c.element}, {"policy", c.policy}, {"before", c.before}, {"after", c.after}});
  return items;
}

void print_route_changes(std::ostream& out, const std::vector<routing::RouteChange>& changes) {
  for (const auto& c : changes) out << "~ " << c.element << " under policy '" << c.policy << "'\n    before: " << c.before << "\n    after:  " << c.after << "\n";
  out << changes.size() << " caller decision(s) change\n";
}

static Json plan_json(const std::vector<Change>& plan) {
  Json items = Json::array();
  int added = 0, changed = 0, removed = 0;
  for (const auto& c : plan) {
    items.push_back(change_json(c));
    added += c.type == ChangeType::added;
    changed += c.type == ChangeType::changed;
    removed += c.type == ChangeType::removed;
  }
  return {{"added", added}, {"changed", changed}, {"removed", removed}, {"changes", items}};
}

void register_config_commands(CLI::App& app, Context& ctx) {
  {
    CLI::App* cmd = app.add_subcommand("init", "create the database (and the global policy) if it does not exist");
    add_format_option(*cmd, ctx);
    cmd->callback([&ctx] {
      auto store = ctx.open_store(true);
      store->settle();
      ctx.emit("init", Json{{"database", store->path()}, {"schema_version", store->schema_version()}, {"revision", store->head()}},
               [&](std::ostream& out) {
                 out << "database '" << store->path() << "' is ready (schema version " << store->schema_version() << ", revision "
                     << store->head() << ")\n";
               });
    });
  }
  {
    CLI::App* cmd = app.add_subcommand("apply", "create or update objects from YAML files as one revision");
    auto files = std::make_shared<std::vector<std::string>>();
    auto opts = std::make_shared<ApplyOptions>();
    cmd->add_option("-f,--file", *files, "a YAML file, a directory of them, or - for standard input; repeat for several")
        ->required()
        ->type_name("FILE|DIR|-");
    cmd->add_flag("--dry-run", opts->dry_run, "print the plan and write nothing");
    cmd->add_flag("--prune", opts->prune, "remove objects of the kinds in the files that the files do not name (global is reset)");
    add_format_option(*cmd, ctx);
    cmd->callback([&ctx, files, opts] {
      SourceSet sources;
      LoadResult loaded = load_documents(*files, sources);
      if (has_errors(loaded.diagnostics)) {
        ctx.report("apply", loaded.diagnostics, &sources);
        if (ctx.format == "text")
          std::cerr << loaded.diagnostics.size() << " problem(s) found; nothing was applied\n";
        throw Exit{3};
      }
      auto store = opts->dry_run ? ctx.open_store_or_empty() : ctx.open_store(true);
      opts->command = ctx.command_line;
      const ApplyResult r = apply_documents(*store, loaded.documents, *opts);
      if (has_errors(r.diagnostics)) {
        ctx.report("apply", r.diagnostics, &sources);
        if (ctx.format == "text") std::cerr << r.diagnostics.size() << " problem(s) found; nothing was applied\n";
        throw Exit{3};
      }
      Json model = plan_json(r.plan);
      model["dry_run"] = opts->dry_run;
      model["revision"] = r.rev;
      add_warnings(model, r.warnings);
      if (ctx.format == "text") ctx.print_diagnostics(r.warnings, &sources);
      ctx.emit("apply", model, [&](std::ostream& out) {
        print_changes(out, r.plan, ctx.color);
        if (r.plan.empty()) out << "no changes\n";
        else if (opts->dry_run) out << "dry run: " << r.plan.size() << " change(s) planned, nothing written\n";
        else out << "applied " << r.plan.size() << " change(s) as revision " << r.rev << "\n";
      });
    });
  }
  CLI::App* export_cmd = app.add_subcommand("export", "write the store as YAML that apply takes back unchanged");
  {
    auto out_file = std::make_shared<std::string>();
    auto only = std::make_shared<std::vector<std::string>>();
    export_cmd->add_option("-o,--output", *out_file, "file to write (default: standard output)");
    export_cmd->add_option("--kind", *only, "export only these kinds (nouns such as location, trunk)")->delimiter(',');
    // YAML documents are the export's own format; json and yaml wrap the objects as data.
    export_cmd->add_option("--format", ctx.format, "text: YAML documents for apply; json or yaml: one document with every object")
        ->check(CLI::IsMember({"text", "json", "yaml"}))
        ->default_str("text");
    export_cmd->callback([&ctx, export_cmd, out_file, only] {
      for (const CLI::App* sub : export_cmd->get_subcommands())
        if (sub->parsed()) return;  // `export lis` did the work
      std::vector<const Kind*> kinds_wanted;
      for (const auto& n : *only) {
        const Kind* k = find_kind(n);
        if (!k) throw Error(ErrorKind::usage, "unknown kind '" + n + "'");
        kinds_wanted.push_back(k);
      }
      auto store = ctx.open_store(false);
      if (ctx.format != "text") {
        Json items = Json::array();
        for (const auto& k : kinds()) {
          if (!kinds_wanted.empty() && std::find(kinds_wanted.begin(), kinds_wanted.end(), &k) == kinds_wanted.end()) continue;
          store->for_each(k, [&](Json&& obj) {
            Json doc = {{"kind", k.name}};
            for (auto& [key, v] : obj.items()) doc[key] = std::move(v);
            items.push_back(std::move(doc));
          });
        }
        ctx.emit("export", Json{{"revision", store->head()}, {"items", items}}, [](std::ostream&) {});
        return;
      }
      if (out_file->empty()) {
        export_yaml(*store, std::cout, kinds_wanted);
        return;
      }
      // An export carries users' digest secrets: written whole, mode 0600 (durable_file.hpp).
      std::ostringstream text;
      export_yaml(*store, text, kinds_wanted);
      write_file_durably(*out_file, {text.view()});
      ctx.note("exported revision " + std::to_string(store->head()) + " to '" + *out_file + "'");
    });
  }
  CLI::App* import_cmd = app.add_subcommand("import", "import elements and their addresses from Lync LIS CSV exports");
  import_cmd->require_subcommand(1);
  register_lis_commands(app, *import_cmd, *export_cmd, ctx);
}

}  // namespace e911::cli
