// man and completion: generated from the one CLI11 command tree, so they cannot drift from the
// parser. Examples live here, next to the generator, and a test runs every one of them.
#include <CLI/CLI.hpp>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>

#include "context.hpp"
#include "e911/apply.hpp"
#include "e911/catalog.hpp"
#include "e911/error.hpp"
#include "e911/text.hpp"

namespace e911::cli {

namespace {

// Examples per command group, run against the sample enterprise by tests/cli/test_man.sh.
const std::map<std::string, std::vector<std::pair<std::string, std::string>>>& examples() {
  static const std::map<std::string, std::vector<std::pair<std::string, std::string>>> ex = {
      {"e911ctl", {{"Create the store and load the sample enterprise", "e911ctl init && e911ctl apply -f samples/enterprise"},
                   {"Check everything an emergency call needs", "e911ctl validate"}}},
      {"init", {{"Create the database named by E911_DB", "e911ctl init"}}},
      {"apply", {{"Show what a directory of YAML would change", "e911ctl apply -f samples/enterprise --dry-run"},
                 {"Apply it as one revision", "e911ctl apply -f samples/enterprise"}}},
      {"export", {{"Back up the whole store as YAML", "e911ctl export -o backup.yaml"},
                  {"Write the access points in Lync's CSV format", "e911ctl export lis --kind wap -o wap.csv"}}},
      {"import", {{"Import Lync subnet CSV, reusing locations with the same address", "e911ctl import lis --kind subnet samples/lis/subnet.csv"}}},
      {"history", {{"The last five revisions", "e911ctl history -n 5"}}},
      {"diff", {{"What changed since revision 1", "e911ctl diff 1"}}},
      {"rollback", {{"Preview going back to revision 2", "e911ctl rollback 2 --dry-run"}}},
      {"validate", {{"Every rule, as JSON for a script", "e911ctl validate --format json"}, {"The rules themselves", "e911ctl validate --list-rules"}}},
      {"explain", {{"What Kari's Law requires of dial plans", "e911ctl explain E501"}}},
      {"publish", {{"Who would be routed differently", "e911ctl publish --dry-run"}, {"Publish for the runtime", "e911ctl publish -o e911.snapshot"}}},
      {"call", {{"Dry-run a 911 call from Alice on the first floor of B1",
                 "e911ctl call dry-run --from sip:alice@contoso.example --dial 911 --ip 10.10.1.20"},
                {"Audit every subnet, access point, switch and port", "e911ctl call audit"}}},
      {"man", {{"Write every page into a directory", "e911ctl man --out man-pages"}}},
      {"completion", {{"Enable completion in the current bash", "source <(e911ctl completion bash)"}}},
      {"schema", {{"The JSON Schema of a location document, for an editor", "e911ctl schema print location > location.schema.json"}}},
      {"policy", {{"Turn E9-1-1 on in the global policy", "e911ctl policy set global --enhanced-emergency-services true"},
                  {"Grant the Executives policy", "e911ctl policy grant Executives --user sip:alice@contoso.example"}}},
      {"region", {{"List network regions", "e911ctl region list"}}},
      {"site", {{"Give a site its own policy", "e911ctl site set Redmond --location-policy site:Redmond"}}},
      {"subnet", {{"Map a subnet to a site and a location", "e911ctl subnet set 10.10.99.0/24 --site Redmond --location red-b1-f1-ne"}}},
      {"location", {{"Show a location as JSON", "e911ctl location show red-b1-f1-ne --format json"},
                    {"Add a floor to a location", "e911ctl location set red-b1-f1-ne --floor 1"}}},
      {"wap", {{"Map an access point, wildcard in the last character", "e911ctl wap set 00-1A-2B-3C-9D-0* --location red-b1-f1-ne"}}},
      {"switch", {{"List switches", "e911ctl switch list"}}},
      {"port", {{"Map a switch port", "e911ctl port set 00-25-90-AA-00-01 Gi1/0/40 --location red-b1-f1-ne"}}},
      {"usage", {{"List PSTN usages", "e911ctl usage list"}}},
      {"route", {{"Show the emergency route", "e911ctl route show emergency-provider"}}},
      {"trunk", {{"Shorten the failover timer of the backup trunk", "e911ctl trunk set provider-backup --failover-seconds 5"}}},
      {"dialplan", {{"Show the global dial plan", "e911ctl dialplan show global"}}},
      {"user", {{"Set a user's callback number", "e911ctl user set sip:alice@contoso.example --line-uri tel:+14255550101"}}},
  };
  return ex;
}

// Prose that a command group's page carries beyond its options.
const std::map<std::string, std::string>& extra_sections() {
  static const std::map<std::string, std::string> extra = {
      {"location",
       ".SH PROVIDER PROTOCOL\n"
       "\\fBlocation validate\\-addresses\\fR sends each address to the provider's MSAG validation endpoint as an HTTPS POST "
       "with \\fBContent\\-Type: application/json\\fR:\n.PP\n.RS\n.nf\n"
       "{\"schema\": \"e911ctl.msag\\-request/v1\", \"id\": \"red\\-b1\\-f1\",\n"
       " \"address\": {\"location\": \"B1 Floor 1\", \"house_number\": \"1\", \"street_name\": \"Main\",\n"
       "             \"street_suffix\": \"St\", \"city\": \"Redmond\", \"state\": \"WA\",\n"
       "             \"postal_code\": \"98052\", \"country\": \"US\"}}\n.fi\n.RE\n.PP\n"
       "The address carries the 12 Lync fields that are set (location, company_name, house_number, house_number_suffix, "
       "pre_directional, street_name, street_suffix, post_directional, city, state, postal_code, country). The provider answers "
       "HTTP 200 with:\n.PP\n.RS\n.nf\n"
       "{\"status\": \"valid\" | \"invalid\", \"corrected\": {same fields}, \"message\": \"...\"}\n.fi\n.RE\n.PP\n"
       "\\fBcorrected\\fR and \\fBmessage\\fR are optional. The verdict (validation_status), the time (validated_at) and any "
       "correction that fits the field limits are recorded for every answered address in one revision. No answer, HTTP 429 and "
       "5xx are retried (\\fB\\-\\-retries\\fR, back\\-off doubling from 200 ms); an address that still has no verdict is reported as "
       "failed and the command exits 1. When no request gets any answer the provider is unreachable: exit 4, nothing is written. "
       "TLS is always verified (\\fB\\-\\-ca\\fR), and \\fB\\-\\-cert\\fR/\\fB\\-\\-key\\fR give a client certificate. Settings come from the "
       "options or from E911_PROVIDER_URL, E911_PROVIDER_CA, E911_PROVIDER_CERT, E911_PROVIDER_KEY, E911_PROVIDER_TIMEOUT_MS, "
       "E911_PROVIDER_RETRIES and E911_PROVIDER_CONCURRENCY.\n"},
  };
  return extra;
}

std::string roff(std::string s) {
  std::string out;
  for (char c : s) {
    if (c == '\\') out += "\\e";
    else if (c == '-') out += "\\-";
    else out += c;
  }
  // A line starting with . or ' is a request to roff.
  if (!out.empty() && (out[0] == '.' || out[0] == '\'')) out = "\\&" + out;
  return out;
}

// CLI11 writes an enumeration into the type name ("TEXT:{a,b}"): one unbreakable word in a page.
std::string type_label(const CLI::Option* o) {
  const std::string t = o->get_type_name();
  const auto colon = t.find(":{");
  return colon == std::string::npos ? t : "VALUE";
}

std::string enum_text(const CLI::Option* o) {
  const std::string t = o->get_type_name();
  const auto b = t.find('{'), e = t.rfind('}');
  if (b == std::string::npos || e == std::string::npos) return {};
  std::string v = t.substr(b + 1, e - b - 1), out;
  for (char c : v) out += c == ',' ? std::string(", ") : std::string(1, c);
  return out;
}

std::string option_synopsis(const CLI::Option* o) {
  if (o->get_positional()) return o->get_name(true);
  std::string s = o->get_name();
  if (o->get_type_size() != 0) s += " " + type_label(o);
  return s;
}

void write_options(std::ostream& out, const CLI::App& app) {
  for (const CLI::Option* o : app.get_options()) {
    if (o->get_name() == "--help") continue;
    std::string names;
    for (const auto& n : o->get_snames()) names += (names.empty() ? "-" : ", -") + n;
    for (const auto& n : o->get_lnames()) names += (names.empty() ? "--" : ", --") + n;
    if (o->get_positional()) names = o->get_name(true);
    out << ".TP\n.B " << roff(names);
    if (!o->get_positional() && o->get_type_size() != 0) out << " \\fI" << roff(type_label(o)) << "\\fR";
    out << "\n" << roff(o->get_description().empty() ? "(no description)" : o->get_description());
    if (!enum_text(o).empty()) out << " One of: " << roff(enum_text(o)) << ".";
    if (!o->get_default_str().empty()) out << " Default: " << roff(o->get_default_str()) << ".";
    if (!o->get_envname().empty()) out << " Environment: \\fB" << o->get_envname() << "\\fR.";
    if (o->get_required()) out << " Required.";
    out << "\n";
  }
}

void write_commands(std::ostream& out, const CLI::App& app, const std::string& prefix) {
  for (const CLI::App* sub : app.get_subcommands({})) {
    if (sub->get_name().rfind("__", 0) == 0) continue;
    const std::string path = prefix + " " + sub->get_name();
    std::string synopsis;
    for (const CLI::Option* o : sub->get_options())
      if (o->get_name() != "--help") synopsis += " " + (o->get_required() ? option_synopsis(o) : "[" + option_synopsis(o) + "]");
    out << ".SS " << roff(path) << "\n";
    if (sub->get_subcommands({}).empty()) out << ".B " << roff(path) << "\n" << roff(synopsis) << "\n.PP\n";
    out << roff(sub->get_description()) << "\n";
    if (!sub->get_options().empty() && sub->get_subcommands({}).empty()) {
      out << ".RS\n";
      write_options(out, *sub);
      out << ".RE\n";
    }
    write_commands(out, *sub, path);
  }
}

const char* kExitStatus =
    ".SH EXIT STATUS\n.TP\n.B 0\nsuccess\n.TP\n.B 1\nthe operation failed (a name that does not exist, a file that cannot be read)\n"
    ".TP\n.B 2\nthe command line is wrong\n.TP\n.B 3\nthe configuration or input is invalid; nothing was written\n"
    ".TP\n.B 4\na runtime or provider could not be reached\n.TP\n.B 5\nthe database could not be read or written\n"
    ".TP\n.B 6\na dry run or audit found an emergency call that would fail\n.TP\n.B 70\ninternal error (a bug)\n";

const char* kEnvironment =
    ".SH ENVIRONMENT\n.TP\n.B E911_DB\nthe database file, when \\fB\\-\\-db\\fR is not given\n.TP\n.B E911_FORMAT\ndefault output format\n"
    ".TP\n.B E911_PHASES\nset to 1, long commands (\\fBimport\\fR, \\fBvalidate\\fR...) print where their time goes, on stderr\n"
    ".TP\n.B E911_SNAPSHOT\nwhere \\fBpublish\\fR writes the snapshot by default\n.TP\n.B NO_COLOR\nnever colour output\n"
    ".TP\n.B XDG_DATA_HOME\nthe default database is \\fI$XDG_DATA_HOME/e911ctl/e911.db\\fR\n";

const char* kFiles =
    ".SH FILES\n.TP\n.I ~/.local/share/e911ctl/e911.db\nthe default database (SQLite, WAL)\n.TP\n.I <database>.snapshot\n"
    "the published snapshot\n.TP\n.I /usr/share/e911ctl/schemas/\nJSON Schemas of the YAML documents and SQL migrations\n";

std::string page(const CLI::App& root, const CLI::App* group, const std::vector<std::string>& groups) {
  std::ostringstream out;
  const std::string name = group ? "e911ctl-" + group->get_name() : "e911ctl";
  std::string upper = name;
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  // Left-adjusted and unhyphenated: long option lists cannot be justified cleanly.
  out << ".TH " << upper << " 1 \"\" \"e911ctl " << E911_VERSION << "\" \"e911ctl manual\"\n.ad l\n.nh\n";
  out << ".SH NAME\n" << roff(name) << " \\- " << roff(group ? group->get_description() : root.get_description()) << "\n";
  out << ".SH SYNOPSIS\n.B e911ctl\n[\\fIglobal options\\fR] ";
  out << (group ? roff(group->get_name()) + " ..." : std::string("\\fIcommand\\fR ...")) << "\n";
  out << ".SH DESCRIPTION\n";
  if (!group) {
    out << "e911ctl provisions enterprise E9\\-1\\-1 the way Lync Server 2013 routes emergency calls over a SIP trunk: "
           "location policies, the location database (civic addresses and the subnets, access points, switches and ports "
           "that map to them), PSTN usages, voice routes, trunks, dial plans and users. Every write is one revision of a "
           "SQLite store; YAML files and Lync CSV files load in bulk; \\fBvalidate\\fR checks what an emergency call needs; "
           "\\fBcall dry\\-run\\fR shows exactly what a call would do.\n.PP\nCommands:\n";
    for (const CLI::App* sub : root.get_subcommands({}))
      if (sub->get_name().rfind("__", 0) != 0) out << ".TP\n.BR e911ctl\\-" << roff(sub->get_name()) << " (1)\n" << roff(sub->get_description()) << "\n";
    out << ".SH OPTIONS\n";
    write_options(out, root);
  } else {
    out << roff(group->get_description()) << "\n";
    if (group->get_subcommands({}).empty()) {
      out << ".SH OPTIONS\n";
      write_options(out, *group);
    } else {
      out << ".SH COMMANDS\n";
      write_commands(out, *group, "e911ctl " + group->get_name());
    }
    out << ".PP\nGlobal options (\\fB\\-\\-db\\fR, \\fB\\-\\-quiet\\fR, \\fB\\-\\-no\\-color\\fR) are described in \\fBe911ctl\\fR(1).\n";
  }
  if (group) {
    const auto extra = extra_sections().find(group->get_name());
    if (extra != extra_sections().end()) out << extra->second;
  }
  out << ".SH EXAMPLES\n";
  const auto it = examples().find(group ? group->get_name() : "e911ctl");
  if (it != examples().end())
    for (const auto& [what, cmd] : it->second) out << ".PP\n" << roff(what) << ":\n.PP\n.RS\n.nf\n" << roff(cmd) << "\n.fi\n.RE\n";
  out << kExitStatus << kEnvironment << kFiles;
  out << ".SH SEE ALSO\n";
  std::string see = group ? ".BR e911ctl (1),\n" : "";
  for (const auto& g : groups)
    if (!group || g != group->get_name()) see += ".BR e911ctl\\-" + roff(g) + " (1),\n";
  see += ".BR e911ctl.yaml (5)\n";
  out << see;
  return out.str();
}

std::string yaml_page() {
  std::ostringstream out;
  out << ".TH E911CTL.YAML 5 \"\" \"e911ctl " << E911_VERSION << "\" \"e911ctl manual\"\n.ad l\n.nh\n";
  out << ".SH NAME\ne911ctl.yaml \\- the YAML documents e911ctl apply, validate and export use\n";
  out << ".SH DESCRIPTION\nA file holds one or more YAML documents separated by \\fB\\-\\-\\-\\fR. Each document is one object: "
         "\\fBkind\\fR names its type and the other keys are its fields. Every document is checked against the JSON Schema "
         "of its kind (\\fBe911ctl schema print\\fR \\fIKIND\\fR, or \\fI/usr/share/e911ctl/schemas/objects/\\fR). Strings that look "
         "like numbers (\\fB911\\fR) stay strings where the field is a string.\n";
  for (const auto& k : kinds()) {
    out << ".SH KIND: " << k.name << "\n" << roff(k.description) << " Managed with \\fBe911ctl " << k.noun << "\\fR; identity: ";
    for (std::size_t i = 0; i < k.key_fields.size(); ++i) out << (i ? ", " : "") << "\\fB" << roff(k.key_fields[i]) << "\\fR";
    out << ".\n";
    for (const auto& f : k.fields) {
      const Json& s = *f.schema;
      std::string type = s.value("type", "string");
      if (type == "array") type = "list of " + (s.contains("items") ? s["items"].value("type", "string") : std::string("string"));
      out << ".TP\n.B " << roff(f.name) << "\n(" << type;
      if (f.required) out << ", required";
      if (s.contains("maxLength")) out << ", at most " << s["maxLength"].dump() << " characters";
      if (s.contains("minimum") && s.contains("maximum")) out << ", " << s["minimum"].dump() << " to " << s["maximum"].dump();
      if (!f.enum_values.empty()) {
        out << ", one of";
        for (const auto& e : f.enum_values) out << " " << roff(e);
      }
      if (s.contains("pattern")) out << ", matching \\fI" << roff(s["pattern"].get<std::string>()) << "\\fR";
      if (!f.default_value.is_null()) out << ", default " << roff(f.default_value.is_string() ? f.default_value.get<std::string>() : f.default_value.dump());
      if (!f.ref_kind.empty()) out << ", names a " << f.ref_kind;
      out << ")\n" << roff(f.description) << "\n";
    }
  }
  out << ".SH EXAMPLE\n.nf\nkind: Location\nid: red\\-b1\\-f1\nlocation: B1 Floor 1\nhouse_number: 1\nstreet_name: Microsoft\n"
         "street_suffix: Way\ncity: Redmond\nstate: WA\npostal_code: 98052\ncountry: US\n\\-\\-\\-\nkind: Subnet\nsubnet: 10.10.1.0/24\nlocation: red\\-b1\\-f1\n.fi\n";
  out << ".SH SEE ALSO\n.BR e911ctl (1),\n.BR e911ctl\\-apply (1),\n.BR e911ctl\\-validate (1)\n";
  return out.str();
}

// ---- completion ----------------------------------------------------------------------------

// Every command path with its subcommands and options, as data the scripts carry.
struct Node {
  std::string path;  // "policy show"
  std::vector<std::string> subs, options, values;  // values: per option "opt=a b c"
  std::vector<std::string> files;                   // options taking a file
  std::string names;                                // noun whose names complete the positional
};

void collect(const CLI::App& app, const std::string& path, std::vector<Node>& out) {
  Node n;
  n.path = path;
  for (const CLI::App* sub : app.get_subcommands({}))
    if (sub->get_name().rfind("__", 0) != 0) n.subs.push_back(sub->get_name());
  for (const CLI::Option* o : app.get_options()) {
    if (o->get_positional()) continue;
    for (const auto& l : o->get_lnames()) {
      n.options.push_back("--" + l);
      const std::string t = o->get_type_name();
      const auto b = t.find('{'), e = t.find('}');
      if (b != std::string::npos && e != std::string::npos) {
        std::string vals = t.substr(b + 1, e - b - 1);
        std::replace(vals.begin(), vals.end(), ',', ' ');
        n.values.push_back("--" + l + "=" + vals);
      }
      if (l == "file" || l == "output" || l == "out" || l == "pidf" || l == "snapshot") {
        n.files.push_back("--" + l);
        for (const auto& sn : o->get_snames()) n.files.push_back("-" + sn);
      }
    }
    for (const auto& s : o->get_snames()) n.options.push_back("-" + s);
  }
  const auto words = split(path, ' ');
  if (words.size() == 2 && find_kind(words[0]) && (words[1] == "show" || words[1] == "set" || words[1] == "remove" || words[1] == "reset"))
    n.names = words[0];
  if (words.size() == 2 && words[0] == "import") n.files.push_back("");
  out.push_back(std::move(n));
  for (const CLI::App* sub : app.get_subcommands({}))
    if (sub->get_name().rfind("__", 0) != 0) collect(*sub, path.empty() ? sub->get_name() : path + " " + sub->get_name(), out);
}

std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "" : " ") + x;
  return s;
}

std::string bash_script(const CLI::App& root) {
  std::vector<Node> nodes;
  collect(root, "", nodes);
  std::ostringstream out;
  out << "# bash completion for e911ctl, generated by 'e911ctl completion bash'\n"
         "_e911ctl() {\n"
         "  local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]} path='' i w\n"
         "  local -A subs opts vals files names\n";
  for (const auto& n : nodes) {
    // Keys start with '_': bash refuses an empty subscript, and the root's path is empty.
    out << "  subs[\"_" << n.path << "\"]='" << join(n.subs) << "'; opts[\"_" << n.path << "\"]='" << join(n.options) << "'\n";
    for (const auto& v : n.values) out << "  vals[\"_" << n.path << " " << v.substr(0, v.find('=')) << "\"]='" << v.substr(v.find('=') + 1) << "'\n";
    for (const auto& f : n.files) out << "  files[\"_" << n.path << " " << f << "\"]=1\n";
    if (!n.names.empty()) out << "  names[\"_" << n.path << "\"]='" << n.names << "'\n";
  }
  out << "  # The command path: the words that name subcommands, in order.\n"
         "  path=_\n"
         "  for ((i = 1; i < COMP_CWORD; i++)); do\n"
         "    w=${COMP_WORDS[i]}\n"
         "    local k=$path\n"
         "    [[ $k == _ ]] && k=_$w || k=\"$k $w\"\n"
         "    [[ -n ${subs[$k]+x} ]] && path=$k\n"
         "  done\n"
         "  if [[ -n ${vals[\"$path $prev\"]+x} ]]; then COMPREPLY=($(compgen -W \"${vals[\"$path $prev\"]}\" -- \"$cur\")); return; fi\n"
         "  if [[ -n ${files[\"$path $prev\"]+x} ]]; then COMPREPLY=($(compgen -f -- \"$cur\")); return; fi\n"
         "  if [[ $cur == -* ]]; then COMPREPLY=($(compgen -W \"${opts[$path]} ${opts[_]}\" -- \"$cur\")); return; fi\n"
         "  if [[ -n ${subs[$path]} ]]; then COMPREPLY=($(compgen -W \"${subs[$path]}\" -- \"$cur\")); return; fi\n"
         "  if [[ -n ${names[$path]+x} ]]; then\n"
         "    local IFS=$'\\n'\n"
         "    COMPREPLY=($(compgen -W \"$(\"${COMP_WORDS[0]}\" __complete \"${names[$path]}\" 2>/dev/null)\" -- \"$cur\"))\n"
         "    return\n"
         "  fi\n"
         "  if [[ -n ${files[\"$path \"]+x} ]]; then COMPREPLY=($(compgen -f -- \"$cur\")); fi\n"
         "}\n"
         "complete -F _e911ctl e911ctl\n";
  return out.str();
}

std::string fish_script(const CLI::App& root) {
  std::vector<Node> nodes;
  collect(root, "", nodes);
  std::ostringstream out;
  out << "# fish completion for e911ctl, generated by 'e911ctl completion fish'\ncomplete -c e911ctl -f\n";
  for (const auto& n : nodes) {
    const auto words = split(n.path, ' ');
    std::string cond = n.path.empty() ? "__fish_use_subcommand" : "__fish_seen_subcommand_from " + words.back();
    if (words.size() == 2) cond = "__fish_seen_subcommand_from " + words[0] + "; and __fish_seen_subcommand_from " + words[1];
    if (n.path.empty()) cond = "not __fish_seen_subcommand_from " + join(n.subs);
    for (const auto& s : n.subs) out << "complete -c e911ctl -n '" << cond << (n.path.empty() ? "" : "; and not __fish_seen_subcommand_from " + join(n.subs)) << "' -a " << s << "\n";
    for (const auto& o : n.options)
      if (o.rfind("--", 0) == 0) out << "complete -c e911ctl -n '" << cond << "' -l " << o.substr(2) << "\n";
    if (!n.names.empty()) out << "complete -c e911ctl -n '" << cond << "' -a '(e911ctl __complete " << n.names << " 2>/dev/null)'\n";
  }
  return out.str();
}

std::string zsh_script(const CLI::App& root) {
  // zsh runs the bash function through bashcompinit: one generator, the same candidates.
  return "#compdef e911ctl\n# zsh completion for e911ctl, generated by 'e911ctl completion zsh'\n"
         "autoload -U +X bashcompinit && bashcompinit\n" +
         bash_script(root);
}

}  // namespace

void register_docs_commands(CLI::App& app, Context& ctx) {
  {
    CLI::App* cmd = app.add_subcommand("man", "write the manual pages: e911ctl(1), one per command group, e911ctl.yaml(5)");
    auto dir = std::make_shared<std::string>("man");
    cmd->add_option("--out", *dir, "directory to write the pages into")->default_str("man");
    add_format_option(*cmd, ctx);
    cmd->callback([&ctx, &app, dir] {
      namespace fs = std::filesystem;
      fs::create_directories(*dir);
      std::vector<std::string> groups;
      for (const CLI::App* sub : app.get_subcommands({}))
        if (sub->get_name().rfind("__", 0) != 0) groups.push_back(sub->get_name());
      auto write = [&](const std::string& name, const std::string& text) {
        std::ofstream f(fs::path(*dir) / name);
        if (!(f << text)) throw Error(ErrorKind::failure, "cannot write '" + (fs::path(*dir) / name).string() + "'");
      };
      write("e911ctl.1", page(app, nullptr, groups));
      for (const CLI::App* sub : app.get_subcommands({}))
        if (sub->get_name().rfind("__", 0) != 0) write("e911ctl-" + sub->get_name() + ".1", page(app, sub, groups));
      write("e911ctl.yaml.5", yaml_page());
      Json pages = Json::array({"e911ctl.1"});
      for (const auto& g : groups) pages.push_back("e911ctl-" + g + ".1");
      pages.push_back("e911ctl.yaml.5");
      if (ctx.format != "text") ctx.emit("man", Json{{"directory", *dir}, {"pages", pages}}, [](std::ostream&) {});
      else ctx.note("wrote " + std::to_string(pages.size()) + " pages to '" + *dir + "'");
    });
  }
  {
    CLI::App* cmd = app.add_subcommand("completion", "print a shell completion script");
    auto shell = std::make_shared<std::string>();
    cmd->add_option("shell", *shell, "bash, zsh or fish")->required()->check(CLI::IsMember({"bash", "zsh", "fish"}));
    add_format_option(*cmd, ctx);
    cmd->callback([&ctx, &app, shell] {
      const std::string script = *shell == "bash" ? bash_script(app) : *shell == "zsh" ? zsh_script(app) : fish_script(app);
      if (ctx.format != "text") ctx.emit("completion", Json{{"shell", *shell}, {"script", script}}, [](std::ostream&) {});
      else std::cout << script;
    });
  }
  {
    CLI::App* schema = app.add_subcommand("schema", "JSON Schemas of the YAML documents and of the JSON outputs");
    schema->require_subcommand(1);
    CLI::App* print = schema->add_subcommand("print", "print the JSON Schema of a document kind (for editors such as yaml-language-server)");
    auto kind = std::make_shared<std::string>();
    std::vector<std::string> names = {"document"};
    for (const auto& k : kinds()) names.push_back(k.noun);
    print->add_option("kind", *kind, "a kind (location, trunk, ... or its name, such as Location), 'document' for any, or an output schema such as output/validate")
        ->required();
    add_format_option(*print, ctx);
    print->callback([&ctx, kind, names] {
      const Kind* k = find_kind(*kind);
      std::string path;
      if (k) path = "schemas/objects/" + k->noun + ".schema.json";
      else if (*kind == "document") path = "schemas/document.schema.json";
      else if (kind->rfind("output/", 0) == 0) path = "schemas/" + *kind + ".schema.json";
      const auto files = embedded_files_under(path.empty() ? "-" : path);
      if (path.empty() || files.empty()) {
        const std::string guess = closest(*kind, names);
        throw Error(ErrorKind::failure, "no schema '" + *kind + "'", guess.empty() ? "kinds are: " + join(names) : "did you mean '" + guess + "'?");
      }
      // The schema is the document: text and json print it as it is, yaml converts it.
      if (ctx.format == "yaml") std::cout << json_to_yaml(Json::parse(embedded_file(path)));
      else std::cout << embedded_file(path);
    });
  }
  {
    // Names for completion: fast, silent, and never fails the shell.
    CLI::App* cmd = app.add_subcommand("__complete", "");
    cmd->group("");
    auto noun = std::make_shared<std::string>();
    cmd->add_option("noun", *noun)->required();
    cmd->callback([&ctx, noun] {
      const Kind* k = find_kind(*noun);
      if (!k) return;
      try {
        auto store = ctx.open_store(false);
        for (const auto& key : store->keys(*k)) std::cout << Kind::display_key(key) << "\n";
      } catch (const Error&) {
      }
    });
  }
}

}  // namespace e911::cli
