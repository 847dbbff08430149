// publish, call dry-run and call audit: the routing engine, offline.
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <iostream>

#include "context.hpp"
#include "e911/admin_client.hpp"
#include "e911/call_input.hpp"
#include "e911/diagnostic.hpp"
#include "e911/error.hpp"
#include "e911/routing.hpp"
#include "e911/runtime_admin.hpp"
#include "e911/sip_build.hpp"
#include "e911/sip_message.hpp"
#include "e911/snapshot.hpp"
#include "e911/text.hpp"
#include "e911/validate.hpp"
#include "render/render.hpp"
#include "runtime_target.hpp"

namespace e911::cli {

std::string default_snapshot_path(const Context& ctx) {
  if (const char* env = std::getenv("E911_SNAPSHOT"); env && *env) return env;
  return ctx.db_path() + ".snapshot";
}

namespace {

std::shared_ptr<const Snapshot> snapshot_for(const Context& ctx, const std::string& path) {
  if (!path.empty()) return Snapshot::load(path);
  auto store = ctx.open_store(false);
  return Snapshot::build(*store);
}

// Makes every runtime of `runtimes` (stored Runtime objects) load the snapshot just written to
// `path`, one after the other, and adds to `model` what each did ("runtimes"). Returns how many
// did not take it. A runtime's failure (no answer, a bad token file, a refused file) is its
// entry's message; it never stops the others from being asked.
std::size_t reload_runtimes(const Context& ctx, const std::vector<Json>& runtimes, const Snapshot& snap, const std::string& path, Json& model) {
  if (runtimes.empty()) return 0;
  std::error_code ec;
  const std::string absolute = std::filesystem::absolute(path, ec).lexically_normal().string();
  std::size_t missed = 0;
  Json items = Json::array();
  for (const auto& rt : runtimes) {
    const std::string name = rt.value("name", ""), url = rt.value("url", ""), token_file = rt.value("token_file", "");
    ctx.note("runtime '" + name + "': loading revision " + std::to_string(snap.revision()));
    RuntimeReload r;
    try {
      AdminClient client{url, runtime::read_token_file(token_file), token_file};
      client.ca_file = rt.value("ca_file", default_runtime_ca_file());
      r = reload_runtime(client, snap.revision(), snap.checksum(), ec ? path : absolute);
    } catch (const Error& e) {  // the token file: nothing was sent
      r.message = e.what();
    }
    missed += !r.took;
    Json item = {{"name", name}, {"url", url}, {"took", r.took}, {"reached", r.reached}, {"revision", r.revision}, {"message", r.message}};
    if (!r.checksum.empty()) item["checksum"] = r.checksum;
    items.push_back(std::move(item));
  }
  model["runtimes"] = std::move(items);
  return missed;
}

}  // namespace

void register_call_commands(CLI::App& app, Context& ctx) {
  {
    CLI::App* cmd = app.add_subcommand("publish", "compile the store into a checked, versioned snapshot the runtime and dry runs use");
    auto output = std::make_shared<std::string>();
    auto dry = std::make_shared<bool>(false);
    auto no_reload = std::make_shared<bool>(false);
    cmd->add_option("-o,--output", *output, "snapshot file (default: $E911_SNAPSHOT, else the database path + .snapshot)");
    cmd->add_flag("--dry-run", *dry, "show which callers' decisions change against the published snapshot; write nothing");
    cmd->add_flag("--no-reload", *no_reload, "write the snapshot only; do not make the runtimes of the store load it");
    add_format_option(*cmd, ctx);
    cmd->callback([&ctx, output, dry, no_reload] {
      const std::string path = output->empty() ? default_snapshot_path(ctx) : *output;
      auto store = ctx.open_store(false);
      // publish runs the validation rules and refuses errors, like apply.
      std::vector<Diagnostic> errors;
      for (auto& d : validate_store(*store))
        if (d.severity == Severity::error) errors.push_back(std::move(d));
      if (!errors.empty()) {
        ctx.report("publish", errors, nullptr);
        if (ctx.format == "text") std::cerr << errors.size() << " error(s); nothing was published (see 'e911ctl validate')\n";
        throw Exit{3};
      }
      const auto snap = Snapshot::build(*store);
      if (*dry) {
        std::shared_ptr<const Snapshot> old;
        if (std::filesystem::exists(path)) old = Snapshot::load(path);
        if (!old) {
          std::unique_ptr<Store> empty = Store::open(":memory:", true);
          old = Snapshot::build(*empty);
        }
        const auto changes = routing::route_changes(*old, *snap);
        ctx.emit("publish", Json{{"dry_run", true}, {"from_revision", old->revision()}, {"to_revision", snap->revision()}, {"changes", route_changes_json(changes)}},
                 [&](std::ostream& out) {
                   out << "published revision " << old->revision() << " -> store revision " << snap->revision() << "\n";
                   print_route_changes(out, changes);
                   out << "dry run: nothing written\n";
                 });
        return;
      }
      snap->save(path);
      Json model = {{"snapshot", path}, {"revision", snap->revision()}, {"checksum", snap->checksum()},
                    {"locations", snap->location_count()}, {"elements", snap->element_count()}};
      const std::vector<Json> runtimes = *no_reload ? std::vector<Json>{} : store->list(kind_by_noun("runtime"));
      const std::size_t missed = reload_runtimes(ctx, runtimes, *snap, path, model);
      ctx.emit("publish", model, [&](std::ostream& out) {
        out << "published revision " << snap->revision() << " to '" << path << "' (" << snap->location_count() << " locations, "
            << snap->element_count() << " elements, checksum " << snap->checksum() << ")\n";
        if (!model.contains("runtimes")) return;
        for (const auto& r : model["runtimes"]) {
          out << "runtime '" << r["name"].get<std::string>() << "' (" << r["url"].get<std::string>() << "): ";
          if (r["took"].get<bool>()) out << "revision " << snap->revision() << " in service\n";
          else out << "did not take revision " << snap->revision() << ": " << r["message"].get<std::string>() << "\n";
        }
      });
      if (missed) {
        if (ctx.format == "text")
          std::cerr << "error: " << missed << " of " << runtimes.size() << " runtime(s) did not take revision " << snap->revision()
                    << "; the snapshot is written to '" << path << "'\n";
        throw Exit{4};
      }
    });
  }

  CLI::App* call = app.add_subcommand("call", "dry-run emergency and ordinary calls offline");
  call->require_subcommand(1);
  {
    CLI::App* cmd = call->add_subcommand("dry-run", "decide one call and show the trace, the INVITE and the notifications");
    auto f = std::make_shared<routing::CallFacts>();
    auto snapshot = std::make_shared<std::string>();
    auto pidf_file = std::make_shared<std::string>();
    auto invite_ctx = std::make_shared<sip::InviteContext>();
    auto sdp_file = std::make_shared<std::string>();
    cmd->add_option("--from", f->caller, "caller SIP URI (an unknown caller is decided as one)")->required();
    cmd->add_option("--dial", f->dialled, "digits, '*', '#' and '+' dialled, or a Request-URI (tel:, sip:, urn:service:sos)")->required();
    cmd->add_option("--ip", f->source_ip, "source address of the caller, IPv4 or IPv6 (::ffff:a.b.c.d is its IPv4 address)");
    cmd->add_option("--bssid", f->bssid, "access point BSSID the client reports");
    cmd->add_option("--chassis", f->chassis_id, "LLDP chassis ID");
    cmd->add_option("--port", f->port_id, "LLDP port ID (with --chassis)");
    cmd->add_option("--pidf", *pidf_file,
                    "a PIDF-LO file the client sends with the call, at most " + std::to_string(routing::kMaxPidfBytes / 1024) +
                        " KiB. One that is not UTF-8 XML with its root <presence> in urn:ietf:params:xml:ns:pidf and no DOCTYPE is decided as a "
                        "live call's: set aside for the LIS's location")
        ->check(CLI::ExistingFile);
    cmd->add_flag("--priority-emergency", f->priority_emergency, "the INVITE carries Priority: emergency");
    cmd->add_option("--trunk-down", f->trunks_down, "treat this trunk as failing (repeatable)");
    cmd->add_option("--snapshot", *snapshot, "decide on a published snapshot instead of the store");
    cmd->add_option("--sent-by", invite_ctx->sent_by,
                    "the runtime's SIP address (HOST:PORT) for the INVITE's Via and Contact, as 'e911ctl serve' writes them. Default: e911ctl.invalid");
    cmd->add_option("--sdp", *sdp_file, "the phone's SDP offer, carried in the INVITE as the runtime carries it. Default: a sample offer")
        ->check(CLI::ExistingFile);
    add_format_option(*cmd, ctx);
    cmd->callback([&ctx, f, snapshot, pidf_file, invite_ctx, sdp_file] {
      if (!sdp_file->empty()) {
        std::ifstream in(*sdp_file, std::ios::binary);
        std::string sdp((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        if (!in.good() && !in.eof()) throw Error(ErrorKind::failure, "cannot read '" + excerpt(*sdp_file) + "'");
        if (sdp.size() > routing::kMaxPidfBytes)
          throw Error(ErrorKind::invalid, "SDP '" + excerpt(*sdp_file) + "' is more than " + std::to_string(routing::kMaxPidfBytes) + " bytes",
                      "give the session description alone");
        invite_ctx->sdp = std::move(sdp);
      }
      if (!pidf_file->empty()) {
        // Read one byte past the limit, no more: a huge file is refused without holding it.
        std::ifstream in(*pidf_file, std::ios::binary);
        if (!in) throw Error(ErrorKind::failure, "cannot read '" + excerpt(*pidf_file) + "'");
        f->pidf.resize(routing::kMaxPidfBytes + 1);
        in.read(f->pidf.data(), static_cast<std::streamsize>(f->pidf.size()));
        f->pidf.resize(static_cast<std::size_t>(in.gcount()));
        if (f->pidf.size() > routing::kMaxPidfBytes)
          throw Error(ErrorKind::invalid, "PIDF-LO '" + excerpt(*pidf_file) + "' is more than the " + std::to_string(routing::kMaxPidfBytes) + " bytes a SIP message body may hold",
                      "a client's PIDF-LO is a few kilobytes; give the location document alone");
        // An empty file is a PIDF-LO that is not XML, not a call without one.
        if (f->pidf.empty()) routing::check_pidf(f->pidf, *pidf_file);
      }
      routing::check_call_facts(*f);
      if (f->time.empty()) f->time = utc_now();
      // Without a published snapshot, compile only what this caller can touch: a million-row
      // store answers in milliseconds, with the same decision as the full snapshot.
      std::shared_ptr<const Snapshot> snap;
      if (!snapshot->empty()) {
        snap = Snapshot::load(*snapshot);
      } else {
        auto store = ctx.open_store(false);
        snap = Snapshot::build_for_call(*store, f->source_ip, f->bssid, f->chassis_id, f->port_id);
      }
      const routing::Decision d = routing::decide(*snap, *f);
      // The runtime sends no message over its max_message: the INVITE as a runtime with the default
      // limit sends it, a caller's PIDF-LO too large for it replaced as there.
      invite_ctx->max_message = sip::Limits{}.max_message;
      const sip::TrunkInvite built = d.attempts.empty() ? sip::TrunkInvite{} : sip::build_trunk_invite(*snap, d, *f, *invite_ctx);
      const std::string& invite = built.text;
      Json messages = Json::array();
      std::vector<std::string> message_text;
      for (const auto& n : d.notify) {
        message_text.push_back(sip::build_notification(d, *f, n, "dry-run-notify@e911ctl.invalid"));
        messages.push_back({{"to", n}, {"message", message_text.back()}});
      }
      Json model = d.to_json();
      model["snapshot_revision"] = snap->revision();
      model["invite"] = invite.empty() ? Json(nullptr) : Json(invite);
      if (!built.degraded.empty()) model["invite_degraded"] = built.degraded;
      model["notifications"] = messages;
      ctx.emit("call.dry-run", model, [&](std::ostream& out) {
        std::vector<std::vector<std::string>> rows;
        for (const auto& t : d.trace) rows.push_back({t.step, t.outcome, t.why});
        out << "== " << d.call_type() << " call: decision (snapshot revision " << snap->revision() << ")\n";
        print_table(out, {"step", "outcome", "why"}, rows, ctx.color);
        if (!d.emergency && !d.test_call) {
          out << "\n== ordinary call routed by voice policy '" << (d.voice_policy.empty() ? "(none)" : std::string(d.voice_policy)) << "'";
          if (!d.usage.empty()) out << ", usage '" << d.usage << "', route '" << d.attempts.front().route << "'";
          out << "\n";
        }
        if (d.location) {
          out << "\n== location sent to the PSAP (" << d.method << (d.approximate ? ", approximate" : "") << ")\n";
          print_fields(out, d.location->to_json(), ctx.color);
        }
        if (d.ecrc_screening) out << "\nECRC screening: " << d.ecrc_reason << "\n";
        if (!d.attempts.empty()) {
          out << "\n== failover order\n";
          int i = 1;
          for (const auto& a : d.attempts)
            out << "  " << i++ << ". trunk '" << a.trunk << "' via route '" << a.route << "' as " << a.request_uri << (a.trunk_down ? " (known down)" : "") << "\n";
          out << "\n== INVITE to trunk '" << d.attempts.front().trunk << "'\n";
          if (!built.degraded.empty()) out << "(" << built.degraded << ")\n";
          out << invite;
        }
        for (std::size_t i = 0; i < message_text.size(); ++i) out << "\n== MESSAGE to " << d.notify[i] << "\n" << message_text[i];
        if (d.emergency && !d.routable) out << "\nUNROUTABLE: " << d.failure << "\n";
        else if (!d.emergency && !d.test_call && !d.routable) out << "\nNO ROUTE: " << d.failure << "\n";
      });
      // 6 is kept for unroutable emergency calls; an ordinary call with no route is a plain failure.
      if (d.emergency && !d.routable) throw Exit{6};
      if (!d.emergency && !d.test_call && !d.routable) throw Exit{1};
    });
  }
  {
    CLI::App* cmd = call->add_subcommand("audit", "simulate an emergency call from every subnet, access point, switch, port and site");
    auto snapshot = std::make_shared<std::string>();
    auto limit = std::make_shared<std::size_t>(20);
    cmd->add_option("--snapshot", *snapshot, "audit a published snapshot instead of the store");
    cmd->add_option("--limit", *limit, "callers listed per finding in text output (all in JSON)");
    add_format_option(*cmd, ctx);
    cmd->callback([&ctx, snapshot, limit] {
      const auto snap = snapshot_for(ctx, *snapshot);
      const auto calls = routing::simulated_calls(*snap);
      struct Finding {
        const char* key;
        const char* title;
        std::vector<Json> items;
      };
      Finding findings[] = {{"unroutable", "unroutable", {}},
                            {"no_location", "no location (default location or ECRC)", {}},
                            {"not_dispatchable", "not dispatchable (unvalidated, or no floor/room/unit)", {}},
                            {"no_notification", "no notification target", {}}};
      Progress progress(ctx, calls.size());
      std::size_t i = 0;
      for (const auto& c : calls) {
        progress.at(++i);
        const routing::Decision d = routing::decide(*snap, c.facts, false);
        const Json who = {{"caller", c.element}, {"policy", d.policy}};
        auto with = [&](Json extra) {
          Json j = who;
          for (auto& [k, v] : extra.items()) j[k] = v;
          return j;
        };
        if (!d.routable) findings[0].items.push_back(with({{"reason", d.failure}}));
        if (!d.location) findings[1].items.push_back(with({{"reason", d.ecrc_reason}}));
        else if (d.location_source == LocationSource::default_location)
          findings[1].items.push_back(with({{"reason", "default location '" + d.location->id + "'"}}));
        if (d.location) {
          const Civic& l = *d.location;
          const bool sub = !l.location.empty() || !l.floor.empty() || !l.room.empty() || !l.unit.empty();
          if (l.validation_status != "valid" || !sub)
            findings[2].items.push_back(with(
                {{"location", l.id}, {"reason", l.validation_status != "valid" ? "address " + l.validation_status : "no floor, room or unit"}}));
        }
        if (!d.notifies() && d.conference_uri.empty()) findings[3].items.push_back(who);
      }
      progress.at(calls.size());
      Json model = {{"revision", snap->revision()}, {"calls", calls.size()}};
      for (auto& f : findings) model[f.key] = {{"count", f.items.size()}, {"items", f.items}};
      ctx.emit("call.audit", model, [&](std::ostream& out) {
        out << "audited " << calls.size() << " simulated emergency call(s) at revision " << snap->revision() << "\n";
        for (auto& f : findings) {
          out << "\n" << f.title << ": " << f.items.size() << "\n";
          for (std::size_t k = 0; k < f.items.size() && k < *limit; ++k)
            out << "  " << f.items[k]["caller"].get<std::string>() << " (policy '" << f.items[k]["policy"].get<std::string>() << "')"
                << (f.items[k].contains("reason") ? ": " + f.items[k]["reason"].get<std::string>() : "") << "\n";
          if (f.items.size() > *limit) out << "  ... and " << f.items.size() - *limit << " more (--limit, or --format json)\n";
        }
      });
      if (!findings[0].items.empty()) throw Exit{6};
    });
  }
}

}  // namespace e911::cli
