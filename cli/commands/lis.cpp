// import lis / export lis: Lync's LIS CSV formats.
#include <CLI/CLI.hpp>
#include <filesystem>
#include <fstream>
#include <iostream>

#include "context.hpp"
#include "e911/error.hpp"
#include "e911/lis_csv.hpp"

namespace e911::cli {

void register_lis_commands(CLI::App&, CLI::App& import_cmd, CLI::App& export_cmd, Context& ctx) {
  const std::vector<std::string> element_kinds = {"wap", "subnet", "port", "switch"};
  {
    CLI::App* cmd = import_cmd.add_subcommand("lis", "import a Lync LIS CSV file (one revision; nothing written if any row is bad)");
    auto kind = std::make_shared<std::string>();
    auto file = std::make_shared<std::string>();
    auto dry = std::make_shared<bool>(false);
    auto opts = std::make_shared<LisImportOptions>();
    cmd->add_option("--kind", *kind, "element kind of the file")->required()->check(CLI::IsMember(element_kinds));
    cmd->add_option("file", *file, "the CSV file")->required()->check(CLI::ExistingFile);
    cmd->add_flag("--dry-run", *dry, "check every row and count what would change; write nothing");
    cmd->add_option("--prefix-length", opts->prefix_length,
                    "mask length for bare subnet addresses that no network-site subnet gives one for")
        ->type_name("N")
        ->check(CLI::Range(1, 128));
    cmd->add_option("--encoding", opts->encoding,
                    "the file's encoding when it has no byte-order mark: utf-8, or windows-1252 for old Lync exports (never guessed)")
        ->check(CLI::IsMember({"utf-8", "windows-1252"}))
        ->default_str("utf-8");
    add_format_option(*cmd, ctx);
    cmd->callback([&ctx, kind, file, dry, opts] {
      auto store = *dry ? ctx.open_store_or_empty() : ctx.open_store(true);
      const Kind& k = kind_by_noun(*kind);
      Progress progress(ctx, std::filesystem::file_size(*file));
      const LisImportResult r = import_lis_csv(
          *store, k, *file, ctx.command_line, *dry, [&](std::uint64_t done, std::uint64_t) { progress.at(done); }, *opts);
      progress.at(std::filesystem::file_size(*file));
      if (!r.diagnostics.empty()) {
        std::vector<Diagnostic> all = r.diagnostics;
        all.insert(all.end(), r.warnings.begin(), r.warnings.end());
        ctx.report("import.lis", all, nullptr, r.untold);
        if (ctx.format == "text") std::cerr << r.diagnostics.size() + r.untold << " problem(s) in '" << *file << "'; nothing was imported\n";
        throw Exit{3};
      }
      if (ctx.format == "text") ctx.print_diagnostics(r.warnings, nullptr);
      Json model = {{"kind", k.name},
                    {"rows", r.rows},
                    {"locations_created", r.locations_created},
                    {"locations_reused", r.locations_reused},
                    {"elements_added", r.elements_added},
                    {"elements_changed", r.elements_changed},
                    {"elements_unchanged", r.elements_unchanged},
                    {"dry_run", *dry},
                    {"revision", r.rev},
                    {"encoding", r.encoding}};
      add_warnings(model, r.warnings);
      ctx.emit("import.lis", model, [&](std::ostream& out) {
        out << r.rows << " row(s): " << r.elements_added << " " << k.noun << "(s) added, " << r.elements_changed << " changed, "
            << r.elements_unchanged << " unchanged; " << r.locations_created << " location(s) created, " << r.locations_reused
            << " reused\n";
        if (*dry) out << "dry run: nothing written\n";
        else if (r.rev) out << "imported as revision " << r.rev << "\n";
        else out << "no changes\n";
      });
    });
  }
  {
    CLI::App* cmd = export_cmd.add_subcommand("lis", "write elements in Lync's LIS CSV format");
    auto kind = std::make_shared<std::string>();
    auto out_file = std::make_shared<std::string>();
    auto lync = std::make_shared<bool>(false);
    cmd->add_option("--kind", *kind, "element kind to export")->required()->check(CLI::IsMember(element_kinds));
    cmd->add_option("-o,--output", *out_file, "file to write (default: standard output)");
    cmd->add_flag("--lync", *lync, "write subnets as bare addresses, as Lync's Get-CsLisSubnet does (the mask is lost)");
    cmd->callback([&ctx, kind, out_file, lync] {
      auto store = ctx.open_store(false);
      const Kind& k = kind_by_noun(*kind);
      if (out_file->empty()) {
        export_lis_csv(*store, k, std::cout, *lync);
        return;
      }
      std::ofstream f(*out_file, std::ios::binary);
      if (!f) throw Error(ErrorKind::failure, "cannot write '" + *out_file + "'");
      export_lis_csv(*store, k, f, *lync);
    });
  }
}

}  // namespace e911::cli
