// location validate-addresses: MSAG validation with the E9-1-1 provider.
#include <CLI/CLI.hpp>
#include <iostream>

#include "context.hpp"
#include "e911/address_validation.hpp"
#include "e911/error.hpp"
#include "render/render.hpp"

namespace e911::cli {

void register_address_validation(CLI::App& location_noun, Context& ctx) {
  CLI::App* cmd = location_noun.add_subcommand(
      "validate-addresses", "check addresses against the provider's MSAG and record the verdicts in one revision");
  auto ids = std::make_shared<std::vector<std::string>>();
  auto all = std::make_shared<bool>(false);
  auto s = std::make_shared<ProviderSettings>();
  cmd->add_option("id", *ids, "locations to validate");
  cmd->add_flag("--all", *all, "validate every location");
  cmd->add_option("--url", s->url, "provider endpoint (https://...)")->envname("E911_PROVIDER_URL");
  cmd->add_option("--cert", s->client_cert, "PEM client certificate for mutual TLS")->envname("E911_PROVIDER_CERT");
  cmd->add_option("--key", s->client_key, "PEM key of the client certificate")->envname("E911_PROVIDER_KEY");
  cmd->add_option("--ca", s->ca_bundle, "PEM CA bundle that verifies the provider")->envname("E911_PROVIDER_CA");
  cmd->add_option("--timeout-ms", s->timeout_ms, "per-request timeout")->default_str("5000")->envname("E911_PROVIDER_TIMEOUT_MS");
  cmd->add_option("--retries", s->retries, "retries on no answer, 429 or 5xx, with doubling back-off")->default_str("2")->envname("E911_PROVIDER_RETRIES");
  cmd->add_option("--concurrency", s->concurrency, "requests in flight")->default_str("16")->envname("E911_PROVIDER_CONCURRENCY");
  add_format_option(*cmd, ctx);
  cmd->callback([&ctx, ids, all, s] {
    if (*all == !ids->empty()) throw Error(ErrorKind::usage, "name locations or give --all, not both");
    s->from_environment();
    auto store = ctx.open_store(false);
    const Kind& location = kind_by_noun("location");
    std::vector<Json> locations;
    if (*all) {
      locations = store->list(location);
    } else {
      for (const auto& id : *ids) {
        auto obj = store->get(location, id);
        if (!obj) throw Error(ErrorKind::failure, "no location '" + id + "'", "run 'e911ctl location list'");
        locations.push_back(std::move(*obj));
      }
    }
    const auto results = validate_addresses(*s, locations);
    const std::int64_t rev = record_address_results(*store, results, ctx.command_line);
    int valid = 0, invalid = 0, failed = 0, corrected = 0;
    Json items = Json::array();
    for (const auto& r : results) {
      (r.status == "valid" ? valid : r.status == "invalid" ? invalid : failed)++;
      corrected += r.corrected.is_object();
      Json j = {{"id", r.id}, {"status", r.status}, {"attempts", r.attempts}};
      if (r.corrected.is_object()) j["corrected"] = r.corrected;
      if (!r.message.empty()) j["message"] = r.message;
      items.push_back(j);
    }
    ctx.emit("location.validate-addresses",
             Json{{"valid", valid}, {"invalid", invalid}, {"failed", failed}, {"corrected", corrected}, {"revision", rev}, {"results", items}},
             [&](std::ostream& out) {
               std::vector<std::vector<std::string>> rows;
               for (const auto& r : results)
                 rows.push_back({r.id, r.status, r.corrected.is_object() ? "corrected: " + cell_text(r.corrected) : r.message});
               print_table(out, {"location", "result", "note"}, rows, ctx.color);
               out << valid << " valid, " << invalid << " invalid, " << failed << " failed";
               if (rev) out << "; recorded as revision " << rev;
               out << "\n";
             });
    if (failed) throw Exit{1};
  });
}

}  // namespace e911::cli
