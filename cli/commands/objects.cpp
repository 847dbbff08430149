// The noun-verb tree for every object kind: list, show, set, remove, all driven by the kind's
// JSON Schema so that options, checks and documentation come from one definition.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <fstream>
#include <iostream>

#include "context.hpp"
#include "e911/diagnostic.hpp"
#include "e911/validate.hpp"
#include "e911/lis_csv.hpp"
#include "e911/apply.hpp"
#include "e911/catalog.hpp"
#include "e911/error.hpp"
#include "e911/schema_check.hpp"
#include "e911/sip_digest.hpp"
#include "e911/sip_uri.hpp"
#include "e911/text.hpp"
#include "e911/yaml_load.hpp"
#include "render/render.hpp"

namespace e911::cli {

namespace {

std::string dashed(std::string s) {
  std::replace(s.begin(), s.end(), '_', '-');
  return s;
}

std::string subject(const Kind& kind, const std::string& key) { return kind.noun + " '" + Kind::display_key(key) + "'"; }

// The key given as positionals, joined as stored.
// Text from the command line is UTF-8, and a key holds no control character: what is stored is
// shown on terminals, sent in SIP and written as JSON. Throws Error(invalid) naming the option.
void check_text(const std::string& option, const std::string& value, bool key) {
  if (const std::size_t at = invalid_utf8_at(value); at != std::string::npos)
    throw Error(ErrorKind::invalid, option + ": '" + excerpt(value) + "' is not UTF-8 text (byte " + std::to_string(at + 1) + ")",
                "write the value in UTF-8; a terminal or script in another encoding needs converting (iconv -t UTF-8)");
  std::size_t at = 0;
  if (const char32_t c = control_char(value, at, !key); c && key) {
    char u[8];
    std::snprintf(u, sizeof u, "%04X", static_cast<unsigned>(c));
    throw Error(ErrorKind::invalid, option + ": '" + excerpt(value) + "' holds the control character U+" + u + ", which a key may not");
  }
}

// The key the positionals name, each part in its stored spelling (00:1a:... is 00-1A-...), which
// it is also shown in from then on.
std::string join_key(const Kind& kind, std::vector<std::string>& parts) {
  std::string k;
  for (std::size_t i = 0; i < parts.size(); ++i) {
    check_text(dashed(kind.key_fields[i]), parts[i], true);
    parts[i] = canonical_key_value(kind, kind.key_fields[i], parts[i]);
    k += (i ? "|" : "") + parts[i];
  }
  return k;
}

[[noreturn]] void not_found(const Store& store, const Kind& kind, const std::string& key) {
  std::string hint;
  if (store.count(kind) <= 100000) {
    const std::string guess = closest(key, store.keys(kind));
    if (!guess.empty()) hint = "did you mean '" + Kind::display_key(guess) + "'?";
  }
  if (hint.empty()) hint = "run 'e911ctl " + kind.noun + " list'";
  throw Error(ErrorKind::failure, "no " + subject(kind, key), hint);
}

Json parse_scalar(const Field& f, const std::string& text) {
  switch (f.type) {
    case FieldType::integer: {
      try {
        std::size_t used = 0;
        const long long v = std::stoll(text, &used);
        if (used == text.size()) return v;
      } catch (const std::exception&) {
      }
      throw Error(ErrorKind::usage, "--" + dashed(f.name) + ": '" + text + "' is not a whole number");
    }
    case FieldType::number: {
      try {
        std::size_t used = 0;
        const double v = std::stod(text, &used);
        if (used == text.size()) return v;
      } catch (const std::exception&) {
      }
      throw Error(ErrorKind::usage, "--" + dashed(f.name) + ": '" + text + "' is not a number");
    }
    case FieldType::boolean: {
      const std::string t = to_lower(text);
      if (t == "true" || t == "yes" || t == "on" || t == "1") return true;
      if (t == "false" || t == "no" || t == "off" || t == "0") return false;
      throw Error(ErrorKind::usage, "--" + dashed(f.name) + ": '" + text + "' is not true or false");
    }
    default:
      return text;
  }
}

// Checks an object against its kind's schema; every problem is printed, then exit 3.
void check_or_exit(const Context& ctx, const Kind& kind, const std::string& key, const Json& obj) {
  Json doc = obj;
  doc["kind"] = kind.name;
  std::vector<Diagnostic> diags;
  for (const auto& v : check_schema(kind.schema, doc)) {
    Diagnostic d{Severity::error, "E005", v.message, {}, subject(kind, key), {}, v.pointer};
    if (!v.pointer.empty()) {
      const std::string field = v.pointer.substr(1, v.pointer.find('/', 1) - 1);
      d.message = "--" + dashed(field) + ": " + v.message;
      d.code = field_rule_code(kind, field);
    }
    diags.push_back(std::move(d));
  }
  if (!diags.empty()) {
    ctx.report("diagnostics", diags, nullptr);
    throw Exit{3};
  }
}

// Commits a writer, or reports what the change would break and exits 3: its broken references,
// then the errors of every rule that the store did not have before (the same check as apply, so
// removing the last emergency route is refused here as it is there). Warnings are printed.
std::int64_t commit_or_exit(const Context& ctx, Writer& w, Store& store) {
  const auto problems = w.check_references();
  if (has_errors(problems)) {
    ctx.report("diagnostics", problems, nullptr);
    throw Exit{3};
  }
  if (w.dirty()) {
    auto [before, after] = validate_before_and_after(store);
    std::vector<Diagnostic> brought = introduced_diagnostics(before, std::move(after));
    if (has_errors(brought)) {
      ctx.report("diagnostics", brought, nullptr);
      if (ctx.format == "text") std::cerr << "the change would bring these problems; nothing was written\n";
      throw Exit{3};
    }
    if (ctx.format == "text") ctx.print_diagnostics(brought, nullptr);
  }
  return w.commit();
}

void emit_write(const Context& ctx, const Kind& kind, const std::string& key, const char* what, std::int64_t rev, const Json& obj) {
  Json model = {{"result", what}, {"kind", kind.name}, {"key", Kind::display_key(key)}, {"revision", rev}};
  if (!obj.is_null()) model["object"] = kind.redacted(obj);
  ctx.emit(kind.noun + ".set", model, [&](std::ostream& out) {
    out << subject(kind, key) << " " << what;
    if (rev) out << " (revision " << rev << ")";
    out << "\n";
  });
}

// Location and voice policies: global, site:<name> or a tag; global is reset, never removed.
bool is_policy(const Kind& kind) { return kind.noun == "policy" || kind.noun == "voicepolicy"; }
std::string policy_word(const Kind& kind) { return kind.noun == "voicepolicy" ? "voice policy" : "policy"; }

// A user's password, from `path` or stdin ("-"): the first line, without its line end. Never
// an option's value, which `ps` and shell histories would show.
std::string read_password(const std::string& path) {
  std::string text;
  if (path == "-") {
    std::getline(std::cin, text);
  } else {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw Error(ErrorKind::failure, "cannot read password file '" + path + "'", "give a file holding the password on its first line, or - for stdin");
    std::getline(in, text);
  }
  if (!text.empty() && text.back() == '\r') text.pop_back();
  if (text.empty()) throw Error(ErrorKind::invalid, "--password-file: '" + path + "' holds no password on its first line");
  return text;
}

// Sets the digest secrets of user `obj` (runtime_auth.hpp): HA1 = H(user:realm:password) under
// SHA-256 and MD5, the realm being the domain of its SIP URI. The password itself is not kept.
void set_password(Json& obj, const std::string& password) {
  const std::string uri_text = obj.value("sip_uri", "");
  const auto uri = sip::parse_uri(uri_text);
  if (!uri || !uri->has_user || uri->user.empty() || uri->host.empty())
    throw Error(ErrorKind::invalid, "--password-file: '" + excerpt(uri_text) + "' is not a SIP URI with a user and a domain");
  std::string realm = uri->host;
  for (auto& c : realm) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  obj["ha1_sha256"] = sip::digest_ha1(sip::DigestAlgorithm::sha256, uri->user, realm, password);
  obj["ha1_md5"] = sip::digest_ha1(sip::DigestAlgorithm::md5, uri->user, realm, password);
}

void add_key_positionals(CLI::App& cmd, const Kind& kind, std::vector<std::string>& parts) {
  parts.resize(kind.key_fields.size());
  for (std::size_t i = 0; i < kind.key_fields.size(); ++i) {
    const Field* f = kind.field(kind.key_fields[i]);
    cmd.add_option(dashed(kind.key_fields[i]), parts[i], f ? f->description : "")->required();
  }
}

// set (Lync's Set-* semantics, creating the object when it does not exist) or, with `add`, add:
// creates the object and refuses one that exists; its required fields are required options.
void register_write(CLI::App& noun, Context& ctx, const Kind& kind, bool add) {
  {
    CLI::App* cmd = add ? noun.add_subcommand("add", "add a " + kind.noun + " (refused when it exists; change one with set)")
                        : noun.add_subcommand("set", "create or update a " + kind.noun + " (only the fields given change)");
    auto parts = std::make_shared<std::vector<std::string>>();
    add_key_positionals(*cmd, kind, *parts);
    auto scalars = std::make_shared<std::map<std::string, std::string>>();
    auto lists = std::make_shared<std::map<std::string, std::vector<std::string>>>();
    auto unset = std::make_shared<std::vector<std::string>>();
    std::vector<std::string> settable;
    for (const auto& f : kind.fields) {
      if (f.key) continue;
      settable.push_back(f.name);
      if (f.secret) continue;  // never on a command line: --password-file below
      std::string help = f.description;
      if (!f.enum_values.empty()) {
        help += " (";
        for (std::size_t i = 0; i < f.enum_values.size(); ++i) help += (i ? "|" : "") + f.enum_values[i];
        help += ")";
      }
      if (!f.default_value.is_null()) help += " [default: " + cell_text(f.default_value) + "]";
      CLI::Option* opt = nullptr;
      if (f.type == FieldType::string_list) {
        opt = cmd->add_option("--" + dashed(f.name), (*lists)[f.name], help + "; replaces the list; repeat or separate with commas")
                  ->delimiter(',');
      } else if (f.type == FieldType::object_list) {
        opt = cmd->add_option("--" + dashed(f.name), (*scalars)[f.name], help + "; a YAML flow list, replaces the list");
      } else {
        opt = cmd->add_option("--" + dashed(f.name), (*scalars)[f.name], help);
        if (f.type == FieldType::boolean) opt->type_name("BOOL");
        else if (f.type == FieldType::integer) opt->type_name("INT");
        else if (!f.enum_values.empty()) opt->type_name(dashed(f.name) == "transport" ? "TRANSPORT" : "VALUE");
      }
      if (add && f.required) opt->required();
      opt->group("Fields");
    }
    if (!add)
      cmd->add_option("--unset", *unset, "clear these fields (back to their default)")
          ->check(CLI::IsMember(settable))
          ->delimiter(',');
    auto password_file = std::make_shared<std::string>();
    if (kind.noun == "user")
      cmd->add_option("--password-file", *password_file,
                      "file whose first line is the user's SIP password, or - for stdin; only its digest hashes (ha1_sha256, ha1_md5) are kept")
          ->type_name("FILE")
          ->group("Fields");
    auto prefix_length = std::make_shared<int>(0);
    if (kind.noun == "subnet")
      cmd->add_option("--prefix-length", *prefix_length,
                      "mask length of a subnet given as a bare address (Lync's LIS form) when no network-site subnet has its address")
          ->type_name("N")
          ->check(CLI::Range(1, 128));
    add_format_option(*cmd, ctx);
    cmd->callback([&ctx, &kind, cmd, parts, scalars, lists, unset, prefix_length, password_file, add] {
      auto store = ctx.open_store(true);
      // Lync's LIS writes a subnet without its mask: the network-site subnet of that address, or
      // --prefix-length, gives it.
      if (kind.noun == "subnet") (*parts)[0] = complete_subnet(*store, (*parts)[0], *prefix_length);
      const std::string key = join_key(kind, *parts);
      Writer w(*store, ctx.command_line);
      const auto existing = w.get(kind, key);
      if (add && existing)
        throw Error(ErrorKind::failure, subject(kind, key) + " exists", "change it with 'e911ctl " + kind.noun + " set', or remove it first");
      Json obj = existing.value_or(Json::object());
      for (std::size_t i = 0; i < kind.key_fields.size(); ++i) obj[kind.key_fields[i]] = (*parts)[i];
      for (const auto& f : kind.fields) {
        if (f.key || f.secret) continue;
        const CLI::Option* opt = cmd->get_option("--" + dashed(f.name));
        if (!opt || opt->count() == 0) continue;
        if (f.type == FieldType::string_list)
          for (const auto& v : (*lists)[f.name]) check_text("--" + dashed(f.name), v, false);
        else
          check_text("--" + dashed(f.name), (*scalars)[f.name], false);
        if (f.type == FieldType::string_list) obj[f.name] = (*lists)[f.name];
        else if (f.type == FieldType::object_list) obj[f.name] = parse_yaml_value((*scalars)[f.name], f.schema);
        else obj[f.name] = parse_scalar(f, (*scalars)[f.name]);
      }
      for (const auto& name : *unset) obj.erase(name);
      obj = normalize(kind, obj);
      if (!password_file->empty()) set_password(obj, read_password(*password_file));
      check_or_exit(ctx, kind, key, obj);
      const auto what = w.put(kind, obj);
      const std::int64_t rev = commit_or_exit(ctx, w, *store);
      emit_write(ctx, kind, key, !what ? "unchanged" : *what == ChangeType::added ? "created" : "updated", rev, obj);
    });
  }
}

void register_kind(CLI::App& app, Context& ctx, const Kind& kind) {
  CLI::App* noun = app.add_subcommand(kind.noun, kind.description);
  noun->require_subcommand(1);

  // list
  {
    CLI::App* cmd = noun->add_subcommand("list", "list every " + kind.noun);
    add_format_option(*cmd, ctx);
    cmd->callback([&ctx, &kind] {
      auto store = ctx.open_store(false);
      if (ctx.format != "text") {
        Json items = Json::array();
        for (auto& obj : store->list(kind)) items.push_back(kind.redacted(std::move(obj)));
        ctx.emit(kind.noun + ".list", Json{{"items", items}}, [](std::ostream&) {});
        return;
      }
      std::vector<std::vector<std::string>> rows;
      store->for_each(kind, [&](Json&& obj) {
        std::vector<std::string> row;
        for (const auto& c : kind.columns) row.push_back(obj.contains(c) ? cell_text(obj[c]) : "");
        rows.push_back(std::move(row));
      });
      std::vector<std::string> headers;
      for (const auto& c : kind.columns) headers.push_back(to_lower(dashed(c)));
      print_table(std::cout, headers, rows, ctx.color);
    });
  }

  // show
  {
    CLI::App* cmd = noun->add_subcommand("show", "show one " + kind.noun);
    auto parts = std::make_shared<std::vector<std::string>>();
    add_key_positionals(*cmd, kind, *parts);
    add_format_option(*cmd, ctx);
    cmd->callback([&ctx, &kind, parts] {
      auto store = ctx.open_store(false);
      const std::string key = join_key(kind, *parts);
      auto obj = store->get(kind, key);
      if (!obj) not_found(*store, kind, key);
      obj = kind.redacted(std::move(*obj));
      const auto users = store->referrers(kind, key, 20);
      Json model = {{"kind", kind.name}, {"object", *obj}};
      if (!users.empty()) model["used_by"] = users;
      ctx.emit(kind.noun + ".show", model, [&](std::ostream& out) {
        print_fields(out, *obj, ctx.color);
        if (!users.empty()) {
          out << "used by:";
          for (const auto& u : users) out << "\n  " << u;
          out << (users.size() >= 20 ? "\n  ..." : "") << "\n";
        }
      });
    });
  }

  // add: create only, every required field given (kinds that are added whole, such as runtimes).
  if (kind.noun == "runtime") register_write(*noun, ctx, kind, true);
  // set: Lync's Set-* semantics, creating the object when it does not exist.
  register_write(*noun, ctx, kind, false);

  // remove
  {
    CLI::App* cmd = noun->add_subcommand("remove", "remove a " + kind.noun + " (refused while anything uses it)");
    auto parts = std::make_shared<std::vector<std::string>>();
    add_key_positionals(*cmd, kind, *parts);
    add_format_option(*cmd, ctx);
    cmd->callback([&ctx, &kind, parts] {
      const std::string key = join_key(kind, *parts);
      if (is_policy(kind) && key == "global")
        throw Error(ErrorKind::invalid, "the global " + policy_word(kind) + " cannot be removed",
                    "reset it to its defaults with 'e911ctl " + kind.noun + " reset global'");
      auto store = ctx.open_store(false);
      Writer w(*store, ctx.command_line);
      if (!w.remove(kind, key)) not_found(*store, kind, key);
      const std::int64_t rev = commit_or_exit(ctx, w, *store);
      emit_write(ctx, kind, key, "removed", rev, nullptr);
    });
  }

  if (kind.noun == "location") register_address_validation(*noun, ctx);

  if (is_policy(kind)) {
    CLI::App* reset = noun->add_subcommand("reset", "set every field of a " + policy_word(kind) + " back to its default");
    auto id = std::make_shared<std::string>();
    reset->add_option("identity", *id, "policy to reset")->required();
    add_format_option(*reset, ctx);
    reset->callback([&ctx, &kind, id] {
      auto store = ctx.open_store(true);
      Writer w(*store, ctx.command_line);
      if (!w.get(kind, *id)) not_found(*store, kind, *id);
      const auto what = w.put(kind, Json{{"identity", *id}});
      const std::int64_t rev = commit_or_exit(ctx, w, *store);
      emit_write(ctx, kind, *id, what ? "reset" : "unchanged", rev, *store->get(kind, *id));
    });

    const bool voice = kind.noun == "voicepolicy";
    CLI::App* grant = noun->add_subcommand("grant", std::string("grant a tag ") + policy_word(kind) + " to users (" +
                                                        (voice ? "Grant-CsVoicePolicy" : "Grant-CsLocationPolicy") + ")");
    auto policy = std::make_shared<std::string>();
    auto users = std::make_shared<std::vector<std::string>>();
    auto revoke = std::make_shared<bool>(false);
    grant->add_option("policy", *policy, "the tag policy to grant");
    grant->add_option("--user", *users, "SIP URI of a user; repeat for several")->required()->delimiter(',');
    grant->add_flag("--revoke", *revoke, "take the granted policy away instead");
    add_format_option(*grant, ctx);
    grant->callback([&ctx, &kind, policy, users, revoke, voice] {
      if (*revoke == !policy->empty())
        throw Error(ErrorKind::usage, *revoke ? "--revoke takes no policy" : "name the policy to grant, or use --revoke");
      if (!*revoke && (*policy == "global" || policy->rfind("site:", 0) == 0))
        throw Error(ErrorKind::usage, "only tag policies can be granted, not '" + *policy + "'",
                    "site policies apply by subnet and global applies to everyone else");
      const Kind& user_kind = kind_by_noun("user");
      auto store = ctx.open_store(false);
      Writer w(*store, ctx.command_line);
      if (!*revoke && !w.get(kind, *policy)) not_found(*store, kind, *policy);
      for (const auto& u : *users) {
        auto obj = w.get(user_kind, u);
        if (!obj) not_found(*store, user_kind, u);
        const char* field = voice ? "voice_policy" : "location_policy";
        if (*revoke) obj->erase(field);
        else (*obj)[field] = *policy;
        w.put(user_kind, *obj);
      }
      const std::int64_t rev = commit_or_exit(ctx, w, *store);
      ctx.emit(kind.noun + ".grant", Json{{"policy", *revoke ? Json(nullptr) : Json(*policy)}, {"users", *users}, {"revision", rev}},
               [&](std::ostream& out) {
                 const std::string word = policy_word(kind);
                 out << (*revoke ? "revoked the granted " + word + " of " : "granted " + word + " '" + *policy + "' to ") << users->size()
                     << " user(s)";
                 if (rev) out << " (revision " << rev << ")";
                 out << "\n";
               });
    });
  }
}

}  // namespace

void register_object_commands(CLI::App& app, Context& ctx) {
  for (const auto& kind : kinds()) register_kind(app, ctx, kind);
}

}  // namespace e911::cli
