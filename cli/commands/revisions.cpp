// history, diff and rollback: every write is a revision that can be read, compared and restored.
#include <CLI/CLI.hpp>
#include <iostream>

#include "context.hpp"
#include "e911/error.hpp"
#include "e911/routing.hpp"
#include "render/render.hpp"

namespace e911::cli {

namespace {

void require_revision(const Store& store, std::int64_t rev) {
  if (rev == 0 || store.revision(rev)) return;
  throw Error(ErrorKind::failure, "no revision " + std::to_string(rev), "the latest is " + std::to_string(store.head()) + "; see 'e911ctl history'");
}

Json revision_json(const RevisionInfo& r) {
  return {{"revision", r.rev}, {"time", r.time},   {"user", r.user},       {"command", r.command},
          {"summary", r.summary}, {"added", r.added}, {"changed", r.changed}, {"removed", r.removed}};
}

}  // namespace

void register_revision_commands(CLI::App& app, Context& ctx) {
  {
    CLI::App* cmd = app.add_subcommand("history", "list revisions, newest first");
    auto limit = std::make_shared<std::size_t>(0);
    cmd->add_option("-n,--limit", *limit, "show at most this many");
    add_format_option(*cmd, ctx);
    cmd->callback([&ctx, limit] {
      auto store = ctx.open_store(false);
      const auto revs = store->history(*limit);
      Json items = Json::array();
      for (const auto& r : revs) items.push_back(revision_json(r));
      ctx.emit("history", Json{{"items", items}}, [&](std::ostream& out) {
        std::vector<std::vector<std::string>> rows;
        for (const auto& r : revs) rows.push_back({std::to_string(r.rev), r.time, r.user, r.summary, r.command});
        print_table(out, {"rev", "time", "user", "changes", "command"}, rows, ctx.color);
      });
    });
  }
  {
    CLI::App* cmd = app.add_subcommand("diff", "what changed between two revisions (the second defaults to the latest)");
    auto from = std::make_shared<std::int64_t>(0);
    auto to = std::make_shared<std::int64_t>(-1);
    auto routes = std::make_shared<bool>(false);
    cmd->add_option("rev", *from, "the earlier revision (0: the empty store)")->required();
    cmd->add_option("rev2", *to, "the later revision");
    cmd->add_flag("--routes", *routes, "compare the decisions of every simulated emergency caller instead of the objects");
    add_format_option(*cmd, ctx);
    cmd->callback([&ctx, from, to, routes] {
      auto store = ctx.open_store(false);
      const std::int64_t b = *to < 0 ? store->head() : *to;
      require_revision(*store, *from);
      require_revision(*store, b);
      if (*routes) {
        if (*from < 1) throw Error(ErrorKind::usage, "--routes compares two revisions, 1 or later");
        const auto changes = routing::route_changes(*Snapshot::build(*store, *from), *Snapshot::build(*store, b));
        ctx.emit("diff.routes", Json{{"from", *from}, {"to", b}, {"changes", route_changes_json(changes)}},
                 [&](std::ostream& out) { print_route_changes(out, changes); });
        return;
      }
      const auto changes = store->diff(*from, b);
      Json items = Json::array();
      for (const auto& c : changes) items.push_back(change_json(c));
      ctx.emit("diff", Json{{"from", *from}, {"to", b}, {"changes", items}}, [&](std::ostream& out) {
        print_changes(out, changes, ctx.color);
        if (changes.empty()) out << "no differences between revision " << *from << " and " << b << "\n";
      });
    });
  }
  {
    CLI::App* cmd = app.add_subcommand("rollback", "restore the state after a revision, as a new revision");
    auto rev = std::make_shared<std::int64_t>(0);
    auto dry = std::make_shared<bool>(false);
    cmd->add_option("rev", *rev, "the revision to go back to")->required();
    cmd->add_flag("--dry-run", *dry, "print what would change; write nothing");
    add_format_option(*cmd, ctx);
    cmd->callback([&ctx, rev, dry] {
      auto store = ctx.open_store(false);
      if (*rev < 1) throw Error(ErrorKind::usage, "revision must be 1 or more");
      require_revision(*store, *rev);
      Writer w(*store, ctx.command_line);
      w.restore(*rev);
      const auto changes = w.changes();
      std::int64_t new_rev = 0;
      if (!*dry) new_rev = w.commit();
      Json items = Json::array();
      for (const auto& c : changes) items.push_back(change_json(c));
      ctx.emit("rollback", Json{{"to", *rev}, {"revision", new_rev}, {"dry_run", *dry}, {"changes", items}}, [&](std::ostream& out) {
        print_changes(out, changes, ctx.color);
        if (changes.empty()) out << "the store already matches revision " << *rev << "\n";
        else if (*dry) out << "dry run: nothing written\n";
        else out << "restored revision " << *rev << " as revision " << new_rev << "\n";
      });
    });
  }
}

}  // namespace e911::cli
