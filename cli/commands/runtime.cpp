// runtime status|reload|calls|registrations: a running `e911ctl serve` asked through its admin
// HTTP API (lib/net/admin_client), each answer made a result model, then rendered. The runtimes
// publish reaches are objects of the store under the same noun (runtime add|list|show|set|remove,
// cli/commands/objects.cpp); --runtime takes the name of one as well as a URL.
#include <CLI/CLI.hpp>
#include <cstdlib>
#include <filesystem>
#include <iostream>

#include "context.hpp"
#include "e911/admin_client.hpp"
#include "e911/catalog.hpp"
#include "e911/error.hpp"
#include "e911/runtime_admin.hpp"
#include "e911/text.hpp"
#include "render/render.hpp"
#include "runtime_target.hpp"

namespace e911::cli {

namespace {

constexpr const char* kDefaultRuntime = "http://127.0.0.1:5080";
constexpr const char* kDefaultTokenFile = "/etc/e911ctl/admin.token";

// An empty variable is a mistake in a script (an unset variable), never a request for the default.
void refuse_empty_env(const CLI::Option* given, const char* name, const char* option) {
  const char* env = std::getenv(name);
  if (given->count() == 0 && env && !*env)
    throw Error(ErrorKind::usage, std::string(name) + " is set but empty",
                std::string("give ") + option + ", or leave " + name + " unset for the default");
}

// The stored runtime `name`, or nullopt when there is no store or no such runtime; `names` gets
// the stored names, for a hint.
std::optional<Json> stored_runtime(const Context& ctx, const std::string& name, std::vector<std::string>& names) {
  if (!std::filesystem::exists(ctx.db_path())) return std::nullopt;
  auto store = ctx.open_store(false);
  const Kind& kind = kind_by_noun("runtime");
  names = store->keys(kind);
  return store->get(kind, name);
}

}  // namespace

AdminClient client_for(const Context& ctx, const RuntimeTarget& t) {
  refuse_empty_env(t.runtime_option, "E911_RUNTIME", "--runtime");
  refuse_empty_env(t.token_option, "E911_RUNTIME_TOKEN_FILE", "--token-file");
  if (t.runtime.empty()) throw Error(ErrorKind::usage, "--runtime is empty", "give the admin API's URL, such as --runtime http://127.0.0.1:5080");
  if (t.token_option->count() > 0 && t.token_file.empty())
    throw Error(ErrorKind::usage, "--token-file is empty", "give the file that holds the runtime's admin token");
  std::string url = t.runtime, token_file = t.token_file, ca_file = t.ca_file;
  if (url.find("://") == std::string::npos) {
    std::vector<std::string> names;
    const auto stored = stored_runtime(ctx, url, names);
    if (!stored) {
      const std::string guess = closest(url, names);
      throw Error(ErrorKind::usage, "the runtime address '" + excerpt(url) + "' is not an http:// URL, nor the name of a runtime of the store",
                  guess.empty() ? "give the admin API's URL, such as --runtime http://127.0.0.1:5080, or a name from 'e911ctl runtime list'"
                                : "did you mean '" + guess + "'?");
    }
    url = stored->value("url", "");
    if (token_file.empty()) token_file = stored->value("token_file", "");
    if (ca_file.empty()) ca_file = stored->value("ca_file", "");
  }
  if (ca_file.empty()) ca_file = default_runtime_ca_file();
  if (token_file.empty()) {
    const char* env = std::getenv("E911_RUNTIME_TOKEN_FILE");
    token_file = env && *env ? env : kDefaultTokenFile;
  }
  AdminClient client{url, runtime::read_token_file(token_file), token_file};
  client.ca_file = ca_file;
  return client;
}

std::string default_runtime_ca_file() {
  const char* env = std::getenv("E911_RUNTIME_CA_FILE");
  return env ? env : "";
}

void add_target_options(CLI::App& cmd, RuntimeTarget& t) {
  t.runtime = kDefaultRuntime;
  t.runtime_option = cmd.add_option("--runtime", t.runtime, "URL of the runtime's admin API, or the name of a runtime of the store")
                         ->envname("E911_RUNTIME")
                         ->type_name("URL|NAME")
                         ->default_str(kDefaultRuntime);
  add_token_file_option(cmd, t);
}

void add_token_file_option(CLI::App& cmd, RuntimeTarget& t) {
  t.token_option = cmd.add_option("--token-file", t.token_file,
                                  std::string("file holding the admin API's bearer token (default: the named runtime's token_file, else "
                                              "$E911_RUNTIME_TOKEN_FILE, else ") +
                                      kDefaultTokenFile + ")")
                       ->type_name("FILE");
  cmd.add_option("--ca-file", t.ca_file,
                 "PEM CA bundle that signed an https:// runtime's certificate (default: the named runtime's ca_file, else "
                 "$E911_RUNTIME_CA_FILE, else the system's)")
      ->type_name("FILE");
}

namespace {

// A model: "runtime" (the URL asked) first, then the answer's fields, or "items" for a list.
Json model_of(const AdminClient& c, Json answer) {
  Json model = {{"runtime", c.url}};
  if (answer.is_object()) {
    for (auto& [k, v] : answer.items()) model[k] = std::move(v);
  } else {
    model["items"] = answer.is_array() ? std::move(answer) : Json::array();
  }
  return model;
}

// A field of an object the runtime sent, null when absent or when `obj` is not an object: its
// JSON is shown, never trusted to have a shape.
const Json& field(const Json& obj, const char* name) {
  static const Json null;
  if (!obj.is_object()) return null;
  const auto it = obj.find(name);
  return it == obj.end() ? null : *it;
}

std::string text_of(const Json& v) { return v.is_null() ? "" : cell_text(v); }

std::string duration_text(const Json& seconds) {
  if (!seconds.is_number()) return text_of(seconds);
  auto s = seconds.get<std::int64_t>();
  std::string out;
  for (const auto& [unit, size] : {std::pair{"d", 86400}, {"h", 3600}, {"m", 60}})
    if (s >= size || !out.empty()) {
      out += std::to_string(s / size) + unit + " ";
      s %= size;
    }
  return out + std::to_string(s) + "s";
}

void print_status(std::ostream& out, const Json& m, bool color) {
  Json fields = Json::object();
  fields["runtime"] = m["runtime"];
  if (m.contains("version")) fields["version"] = m["version"];
  const Json& snap = field(m, "snapshot");
  if (snap.is_object()) {
    std::string s = "revision " + text_of(field(snap, "revision"));
    if (snap.contains("created_at")) s += ", published " + text_of(snap["created_at"]);
    if (snap.contains("checksum")) s += ", checksum " + text_of(snap["checksum"]);
    fields["snapshot"] = s;
  } else {
    fields["snapshot"] = "none";
  }
  if (m.contains("uptime_seconds")) fields["uptime"] = duration_text(m["uptime_seconds"]);
  if (m.contains("calls_in_progress")) fields["calls in progress"] = m["calls_in_progress"];
  if (m.contains("registrations")) fields["registrations"] = m["registrations"];
  if (m.contains("listening")) fields["listening"] = m["listening"];
  print_fields(out, fields, color);
}

}  // namespace

void register_runtime_commands(CLI::App& app, Context& ctx) {
  // The noun exists already, with the commands every kind of the store has.
  CLI::App* group = app.get_subcommand("runtime");
  group->description("the runtimes publish makes load each snapshot, and what a running 'e911ctl serve' says through its admin API");
  {
    CLI::App* cmd = group->add_subcommand("status", "the runtime's version, snapshot in service, uptime, calls and registrations");
    auto t = std::make_shared<RuntimeTarget>();
    add_target_options(*cmd, *t);
    add_format_option(*cmd, ctx);
    cmd->callback([&ctx, t] {
      const AdminClient c = client_for(ctx, *t);
      const Json model = model_of(c, c.call("GET", "/v1/status"));
      ctx.emit("runtime.status", model, [&](std::ostream& out) { print_status(out, model, ctx.color); });
    });
  }
  {
    CLI::App* cmd = group->add_subcommand("reload", "load the snapshot file again, as SIGHUP does; a bad file is refused and the last good one stays");
    auto t = std::make_shared<RuntimeTarget>();
    add_target_options(*cmd, *t);
    add_format_option(*cmd, ctx);
    cmd->callback([&ctx, t] {
      const AdminClient c = client_for(ctx, *t);
      const Json answer = c.call("POST", "/v1/reload");
      const Json model = {{"runtime", c.url},
                          {"reloaded", field(answer, "reloaded").is_boolean() && field(answer, "reloaded").get<bool>()},
                          {"message", field(answer, "message").is_string() ? field(answer, "message") : Json("")}};
      ctx.emit("runtime.reload", model, [&](std::ostream& out) { out << model["message"].get<std::string>() << "\n"; });
      // A refused snapshot is an invalid configuration, as it is for 'serve --snapshot'.
      if (!model["reloaded"].get<bool>()) {
        if (ctx.format == "text") std::cerr << "error: the runtime refused the snapshot; the one in service stays\n";
        throw Exit{3};
      }
    });
  }
  {
    CLI::App* cmd = group->add_subcommand("calls", "the most recent calls, newest first, with their decision and attempts; --active: the calls in progress");
    auto t = std::make_shared<RuntimeTarget>();
    auto limit = std::make_shared<std::size_t>(50);
    auto active = std::make_shared<bool>(false);
    add_target_options(*cmd, *t);
    cmd->add_option("-n,--limit", *limit, "show at most this many calls (1 to 10000)")->check(CLI::Range(1, 10000))->default_str("50");
    cmd->add_flag("--active", *active, "the calls in progress now, oldest first, with where each stands (trying, ringing, answered, connected)");
    add_format_option(*cmd, ctx);
    cmd->callback([&ctx, t, limit, active] {
      const AdminClient c = client_for(ctx, *t);
      if (*active) {
        const Json model = model_of(c, c.call("GET", "/v1/calls/active?limit=" + std::to_string(*limit)));
        ctx.emit("runtime.calls.active", model, [&](std::ostream& out) {
          std::vector<std::vector<std::string>> rows;
          for (const auto& call : model["items"]) {
            std::vector<std::string> row;
            for (const char* f : {"id", "kind", "state", "age_seconds", "from", "request_uri", "answered_by"}) row.push_back(text_of(field(call, f)));
            if (!row[3].empty()) row[3] = duration_text(field(call, "age_seconds"));
            rows.push_back(std::move(row));
          }
          out << text_of(field(model, "total")) << " calls in progress, " << text_of(field(model, "emergency")) << " of them emergency calls";
          if (field(model, "total").is_number() && field(model, "total").get<double>() > static_cast<double>(rows.size()))
            out << " (the oldest " << rows.size() << " shown)";
          out << "\n";
          if (!rows.empty()) print_table(out, {"id", "kind", "state", "age", "from", "to", "answered-by"}, rows, ctx.color);
        });
        return;
      }
      const Json model = model_of(c, c.call("GET", "/v1/calls?limit=" + std::to_string(*limit)));
      ctx.emit("runtime.calls", model, [&](std::ostream& out) {
        std::vector<std::vector<std::string>> rows;
        for (const auto& call : model["items"]) {
          std::vector<std::string> row;
          for (const char* f : {"time", "kind", "from", "to", "outcome", "call_id"}) row.push_back(text_of(field(call, f)));
          // Where the call went: the number dialled, else the user called, else what was asked.
          for (const char* to : {"dialled", "callee", "request_uri"})
            if (row[3].empty()) row[3] = text_of(field(call, to));
          rows.push_back(std::move(row));
        }
        if (rows.empty()) out << "no calls yet\n";
        else print_table(out, {"time", "kind", "from", "to", "outcome", "call-id"}, rows, ctx.color);
      });
    });
  }
  {
    CLI::App* cmd = group->add_subcommand("registrations", "the users registered with the runtime and their contacts");
    auto t = std::make_shared<RuntimeTarget>();
    add_target_options(*cmd, *t);
    add_format_option(*cmd, ctx);
    cmd->callback([&ctx, t] {
      const AdminClient c = client_for(ctx, *t);
      const Json model = model_of(c, c.call("GET", "/v1/registrations"));
      ctx.emit("runtime.registrations", model, [&](std::ostream& out) {
        std::vector<std::vector<std::string>> rows;
        for (const auto& b : model["items"]) {
          std::vector<std::string> row;
          for (const char* f : {"aor", "contact", "transport", "source", "expires_in"}) row.push_back(text_of(field(b, f)));
          rows.push_back(std::move(row));
        }
        if (rows.empty()) out << "no registrations\n";
        else print_table(out, {"user", "contact", "transport", "source", "expires-in"}, rows, ctx.color);
      });
    });
  }
}

}  // namespace e911::cli
