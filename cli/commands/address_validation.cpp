// location validate-addresses: MSAG validation with the E9-1-1 provider.
#include <CLI/CLI.hpp>
#include <iostream>
#include <set>

#include "context.hpp"
#include "e911/address_validation.hpp"
#include "e911/error.hpp"
#include "render/render.hpp"

namespace e911::cli {

namespace {

struct Options {
  std::vector<std::string> ids;
  bool all = false;
  ProviderSettings settings;
};

// "street_name=Main street_suffix=St", a cleared field as "field=''".
std::string fields_text(const Json& fields) {
  std::string s;
  for (const auto& [k, v] : fields.items()) {
    const std::string text = v.get<std::string>();
    s += (s.empty() ? "" : " ") + k + "=" + (text.empty() ? "''" : text);
  }
  return s;
}

std::string note_text(const AddressResult& r) {
  std::string note;
  if (r.corrected.is_object()) note = (r.applied ? "corrected: " : "suggested: ") + fields_text(r.corrected);
  if (!r.message.empty()) note += (note.empty() ? "" : "; ") + r.message;
  return note;
}

}  // namespace

void register_address_validation(CLI::App& location_noun, Context& ctx) {
  CLI::App* cmd = location_noun.add_subcommand(
      "validate-addresses", "check addresses against the provider's MSAG and record the verdicts in one revision");
  cmd->footer(
      "Each address is POSTed as JSON to the provider over verified HTTPS; the verdict (valid or invalid), the time and any "
      "correction the provider returns are recorded in one revision. Exit 1 when some addresses got no verdict (the others "
      "are recorded), 4 when the provider cannot be reached (nothing is written).");
  auto o = std::make_shared<Options>();
  ProviderSettings& s = o->settings;
  cmd->add_option("id", o->ids, "locations to validate");
  cmd->add_flag("--all", o->all, "validate every location");
  cmd->add_option("--url", s.url, "provider endpoint (https://...)")->envname("E911_PROVIDER_URL");
  cmd->add_option("--cert", s.client_cert, "PEM client certificate for mutual TLS")->envname("E911_PROVIDER_CERT");
  cmd->add_option("--key", s.client_key, "PEM key of the client certificate")->envname("E911_PROVIDER_KEY");
  cmd->add_option("--ca", s.ca_bundle, "PEM CA bundle that verifies the provider (default: the system's)")->envname("E911_PROVIDER_CA");
  cmd->add_option("--timeout-ms", s.timeout_ms, "per-request timeout, connection included (1-600000)")
      ->default_str("5000")
      ->envname("E911_PROVIDER_TIMEOUT_MS");
  cmd->add_option("--retries", s.retries, "retries on no answer, 429 or 5xx, back-off doubling from 200 ms (0-10)")
      ->default_str("2")
      ->envname("E911_PROVIDER_RETRIES");
  cmd->add_option("--concurrency", s.concurrency, "requests in flight (1-256)")->default_str("16")->envname("E911_PROVIDER_CONCURRENCY");
  add_format_option(*cmd, ctx);
  cmd->callback([&ctx, o] {
    if (o->all == !o->ids.empty()) throw Error(ErrorKind::usage, "name locations or give --all, not both", "e911ctl location validate-addresses --all");
    // Options and their environment variables are read by CLI11; resolve() fills the defaults
    // and refuses a plain-http endpoint or unreadable certificates before anything is read.
    o->settings.resolve();
    auto store = ctx.open_store(false);
    const Kind& location = kind_by_noun("location");
    std::vector<Json> locations;
    if (o->all) {
      locations = store->list(location);
    } else {
      std::set<std::string> seen;
      for (const auto& id : o->ids) {
        if (!seen.insert(id).second) continue;
        auto obj = store->get(location, id);
        if (!obj) throw Error(ErrorKind::failure, "no location '" + id + "'", "run 'e911ctl location list'");
        locations.push_back(std::move(*obj));
      }
    }
    if (locations.empty()) ctx.note("no locations to validate");

    Progress progress(ctx, locations.size());
    auto results = validate_addresses(o->settings, locations, [&](std::size_t done, std::size_t) { progress.at(done); });
    progress.at(locations.size());
    const std::int64_t rev = record_address_results(*store, results, ctx.command_line);

    int valid = 0, invalid = 0, failed = 0, corrected = 0;
    Json items = Json::array();
    for (const auto& r : results) {
      (r.status == "valid" ? valid : r.status == "invalid" ? invalid : failed)++;
      corrected += r.applied;
      Json j = {{"id", r.id}, {"status", r.status}, {"attempts", r.attempts}};
      if (r.corrected.is_object()) {
        j["corrected"] = r.corrected;
        j["applied"] = r.applied;
      }
      if (!r.message.empty()) j["message"] = r.message;
      if (!r.answered_at.empty() && r.status != "failed") j["validated_at"] = r.answered_at;
      items.push_back(std::move(j));
    }
    ctx.emit("location.validate-addresses",
             Json{{"valid", valid}, {"invalid", invalid}, {"failed", failed}, {"corrected", corrected}, {"revision", rev}, {"results", items}},
             [&](std::ostream& out) {
               if (results.empty()) return;
               std::vector<std::vector<std::string>> rows;
               rows.reserve(results.size());
               for (const auto& r : results) rows.push_back({r.id, r.status, note_text(r)});
               print_table(out, {"location", "result", "note"}, rows, ctx.color);
               out << valid << " valid, " << invalid << " invalid";
               if (corrected) out << " (" << corrected << " corrected)";
               out << ", " << failed << " failed";
               if (rev) out << "; recorded as revision " << rev;
               else out << "; nothing recorded";
               out << "\n";
             });
    if (failed) {
      ctx.note(std::to_string(failed) + (failed == 1 ? " address has no verdict and kept its status" : " addresses have no verdict and kept their status") +
               "; run the command again for them");
      throw Exit{1};
    }
  });
}

}  // namespace e911::cli
