// man and completion: generated from the one CLI11 command tree, so they cannot drift from the
// parser. The prose of each page is written by hand in man/<page>.txt and compiled in; examples
// live here, next to the generator, and a test runs every one of them.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>
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
                  {"Write the access points in Lync's CSV format", "e911ctl export lis --kind wap -o wap.csv"},
                  {"Write the subnets as bare addresses for a Lync server", "e911ctl export lis --kind subnet --lync -o subnet.csv"}}},
      {"import", {{"Check a Lync subnet CSV without writing anything", "e911ctl import lis --kind subnet samples/lis/subnet.csv --dry-run"},
                  {"Import it, reusing locations with the same address", "e911ctl import lis --kind subnet samples/lis/subnet.csv"}}},
      {"history", {{"The last five revisions", "e911ctl history -n 5"}}},
      {"diff", {{"What changed since revision 1", "e911ctl diff 1"}}},
      {"rollback", {{"Preview going back to revision 2", "e911ctl rollback 2 --dry-run"}}},
      {"validate", {{"Every rule, as JSON for a script", "e911ctl validate --format json"}, {"The rules themselves", "e911ctl validate --list-rules"}}},
      {"explain", {{"What Kari's Law requires of dial plans", "e911ctl explain E501"}}},
      {"publish", {{"Who would be routed differently", "e911ctl publish --dry-run"},
                   {"Publish and make every runtime of the store load it; exit status 4 names those that did not", "e911ctl publish -o e911.snapshot"},
                   {"Write the snapshot only, leaving the runtimes as they are", "e911ctl publish --no-reload -o e911.snapshot"}}},
      {"call", {{"Dry-run a 911 call from Alice on the first floor of B1",
                 "e911ctl call dry-run --from sip:alice@contoso.example --dial 911 --ip 10.10.1.20"},
                {"Audit every subnet, access point, switch and port", "e911ctl call audit"}}},
      {"serve", {{"Publish the snapshot, serve it on a free port of the loopback address for one second, then stop as on SIGTERM",
                  "e911ctl publish && timeout --preserve-status -s TERM 1 e911ctl serve --listen 127.0.0.1:0"}}},
      {"runtime", {{"Make a token for the admin API, readable by its owner only", "(umask 077; head -c 32 /dev/urandom | base64 > admin.token)"},
                   {"Let publish make the runtime on this machine load each snapshot",
                    "e911ctl runtime add local --url http://127.0.0.1:5080 --token-file /etc/e911ctl/admin.token"},
                   {"Ask it for its status, with the token made above; exit status 4 says none answers",
                    "e911ctl runtime status --runtime local --token-file admin.token || test $? -eq 4"},
                   {"The ten most recent calls with their decision traces, for a script",
                    "e911ctl runtime calls --limit 10 --format json --token-file admin.token > calls.json || test $? -eq 4"},
                   {"Publish to it no more", "e911ctl runtime remove local"}}},
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
      {"voicepolicy", {{"Show the company-wide voice policy", "e911ctl voicepolicy show global"},
                       {"Let Bob call abroad", "e911ctl voicepolicy grant InternationalCallers --user sip:bob@contoso.example"}}},
  };
  return ex;
}

// The manual section of a command's page: 8 for the daemon an administrator runs, 1 for the
// commands anyone types.
std::string section_of(const std::string& group) { return group == "serve" ? "8" : "1"; }

// "e911ctl-serve.8": the page of a command group, as a file name.
std::string page_file(const std::string& group) { return "e911ctl-" + group + "." + section_of(group); }

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

// ---- prose: man/<page>.txt -----------------------------------------------------------------
//
// A page's prose is a plain text file compiled into the binary (see man/README.md): "## TITLE"
// starts a section, "### Title" a subsection, blank lines separate paragraphs, a line indented by
// four spaces is literal (a command, a file), ": term" starts a tagged paragraph, "- " a bullet,
// "@include name" inserts man/include/name.txt. Inline, `text` is bold and _text_ italic.

bool word_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; }

// One line of prose as roff text: escaped, with `bold` and _italic_ spans.
std::string inline_roff(const std::string& line) {
  std::string out;
  for (std::size_t i = 0; i < line.size();) {
    if (line[i] == '`') {
      const auto end = line.find('`', i + 1);
      if (end != std::string::npos) {
        out += "\\fB" + roff(line.substr(i + 1, end - i - 1)) + "\\fR";
        i = end + 1;
        continue;
      }
    }
    // _italic_ opens only at the start of a word, so snake_case and $XDG_DATA_HOME stay as written.
    if (line[i] == '_' && (i == 0 || !word_char(line[i - 1])) && i + 1 < line.size() && line[i + 1] != ' ' && line[i + 1] != '_') {
      std::size_t end = line.find('_', i + 1);
      while (end != std::string::npos && end + 1 < line.size() && word_char(line[end + 1])) end = line.find('_', end + 1);
      if (end != std::string::npos) {
        out += "\\fI" + roff(line.substr(i + 1, end - i - 1)) + "\\fR";
        i = end + 1;
        continue;
      }
    }
    out += line[i] == '\\' ? std::string("\\e") : line[i] == '-' ? std::string("\\-") : std::string(1, line[i]);
    ++i;
  }
  if (!out.empty() && (out[0] == '.' || out[0] == '\'')) out = "\\&" + out;
  return out;
}

// The sections of a prose file, in file order: title and body lines.
using Sections = std::vector<std::pair<std::string, std::vector<std::string>>>;

Sections parse_sections(std::string_view text) {
  Sections sections;
  for (const auto& raw : split(std::string(text), '\n')) {
    std::string line = raw;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.rfind("## ", 0) == 0) sections.push_back({line.substr(3), {}});
    else if (!sections.empty()) sections.back().second.push_back(line);
  }
  return sections;
}

// The prose of a page such as "e911ctl-import.1", or nothing when man/ has no file for it.
std::optional<Sections> prose(const std::string& page) {
  const std::string path = "man/" + page + ".txt";
  if (embedded_files_under(path).empty()) return std::nullopt;
  return parse_sections(embedded_file(path));
}

const std::vector<std::string>* section(const Sections& s, const std::string& title) {
  for (const auto& [t, body] : s)
    if (t == title) return &body;
  return nullptr;
}

// Body lines of a section as roff: paragraphs, literal blocks, tagged paragraphs, bullets.
void write_body(std::ostream& out, const std::vector<std::string>& lines) {
  enum class Block { none, text, literal } block = Block::none;
  bool first = true;  // the first paragraph of a section needs no .PP
  std::size_t literal_gap = 0;
  auto start = [&](const char* macro) {
    if (!first || std::string_view(macro) != ".PP") out << macro << "\n";
    first = false;
  };
  auto close_literal = [&] {
    if (block == Block::literal) {
      out << ".fi\n.RE\n";
      block = Block::none;
    }
    literal_gap = 0;
  };
  for (std::size_t n = 0; n < lines.size(); ++n) {
    const std::string& line = lines[n];
    if (line.rfind("@include ", 0) == 0) {
      close_literal();
      const auto included = split(embedded_file("man/include/" + line.substr(9) + ".txt"), '\n');
      write_body(out, std::vector<std::string>(included.begin(), included.end()));
      block = Block::none;
      first = false;
      continue;
    }
    if (line.find_first_not_of(' ') == std::string::npos) {
      if (block == Block::literal) ++literal_gap;
      else block = Block::none;
      continue;
    }
    if (line.rfind("    ", 0) == 0 && block != Block::text) {
      if (block == Block::literal) {
        for (; literal_gap > 0; --literal_gap) out << ".sp\n";
      } else {
        start(".PP");
        out << ".RS 4\n.nf\n";
        block = Block::literal;
      }
      out << roff(line.substr(4)) << "\n";
      continue;
    }
    close_literal();
    if (line.rfind("### ", 0) == 0) {
      out << ".SS " << roff(line.substr(4)) << "\n";
      block = Block::none;
      first = true;
      continue;
    }
    if (line.rfind(": ", 0) == 0) {
      start(".TP");
      out << inline_roff(line.substr(2)) << "\n";
      block = Block::text;
      continue;
    }
    if (line.rfind("- ", 0) == 0) {
      start(".IP \\(bu 2");
      out << inline_roff(line.substr(2)) << "\n";
      block = Block::text;
      continue;
    }
    if (block == Block::none) start(".PP");
    const auto text = line.find_first_not_of(' ');
    out << inline_roff(line.substr(text)) << "\n";
    block = Block::text;
  }
  close_literal();
}

void write_section(std::ostream& out, const std::string& title, const std::vector<std::string>& body) {
  out << ".SH " << title << "\n";
  write_body(out, body);
}

// ---- generated parts: SYNOPSIS, OPTIONS, COMMANDS ---------------------------------------

// CLI11 writes its checks into the type name: an enumeration ("TEXT:{a,b}", one unbreakable word
// in a page) becomes VALUE, and a range ("N:INT in [1 - 128]") its name alone.
std::string type_label(const CLI::Option* o) {
  const std::string t = o->get_type_name();
  if (t.find(":{") != std::string::npos) return "VALUE";
  return t.substr(0, t.find(':'));
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

// A help text as a sentence of a page: capitalised, "[default: x]" spelt out, a final period.
std::string sentence(std::string s) {
  const auto d = s.rfind(" [default: ");
  if (d != std::string::npos && s.back() == ']') s = s.substr(0, d) + ". Default: " + s.substr(d + 11, s.size() - d - 12);
  // Capitalised only when it starts with a plain word: "global, site:<name>" and "one-way (...)"
  // start with values, written as they are typed.
  const auto word = s.find_first_not_of("abcdefghijklmnopqrstuvwxyz");
  if (word != 0 && word != std::string::npos && s[word] == ' ') s[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(s[0])));
  if (!s.empty() && s.back() != '.' && s.back() != '?' && s.back() != '!') s += '.';
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
    out << "\n" << roff(sentence(o->get_description().empty() ? "no description" : o->get_description()));
    if (!enum_text(o).empty()) out << " One of: " << roff(enum_text(o)) << ".";
    if (!o->get_default_str().empty()) out << " Default: " << roff(o->get_default_str()) << ".";
    if (!o->get_envname().empty()) out << " Environment: \\fB" << o->get_envname() << "\\fR.";
    if (o->get_required()) out << " Required.";
    out << "\n";
  }
}

// "--from TEXT --dial TEXT [options] [id]": required options, then the others, then positionals.
std::string usage_line(const CLI::App& app) {
  std::string required, positionals;
  bool optional = false;
  for (const CLI::Option* o : app.get_options()) {
    if (o->get_name() == "--help") continue;
    if (o->get_positional()) positionals += " " + (o->get_required() ? o->get_name(true) : "[" + o->get_name(true) + "]");
    else if (o->get_required()) required += " " + option_synopsis(o);
    else optional = true;
  }
  const std::string line = required + (optional ? " [options]" : "") + positionals;
  return line.empty() ? line : line.substr(1);
}

bool has_own_options(const CLI::App& app) {
  for (const CLI::Option* o : app.get_options())
    if (o->get_name() != "--help") return true;
  return false;
}

// Every command under `app` that runs by itself: the leaves, and a group such as `export` that
// works on its own as well as through `export lis`.
std::vector<std::pair<std::string, const CLI::App*>> leaves(const CLI::App& app, const std::string& path) {
  std::vector<std::pair<std::string, const CLI::App*>> out;
  if (app.get_subcommands({}).empty() || has_own_options(app)) out.push_back({path, &app});
  for (const CLI::App* sub : app.get_subcommands({}))
    if (sub->get_name().rfind("__", 0) != 0)
      for (auto& leaf : leaves(*sub, path + " " + sub->get_name())) out.push_back(std::move(leaf));
  return out;
}

void write_synopsis(std::ostream& out, const CLI::App& group, const std::string& path) {
  out << ".SH SYNOPSIS\n";
  bool first = true;
  for (const auto& [p, app] : leaves(group, path)) {
    if (!first) out << ".br\n";
    first = false;
    out << ".B " << roff(p) << "\n";
    if (const std::string u = usage_line(*app); !u.empty()) out << roff(u) << "\n";
  }
}

void write_commands(std::ostream& out, const CLI::App& app, const std::string& prefix) {
  for (const CLI::App* sub : app.get_subcommands({})) {
    if (sub->get_name().rfind("__", 0) == 0) continue;
    const std::string path = prefix + " " + sub->get_name();
    // The usage of each command is in SYNOPSIS; here, what it does and its options.
    out << ".SS " << roff(path) << "\n" << roff(sentence(sub->get_description())) << "\n";
    if (!sub->get_options().empty() && sub->get_subcommands({}).empty()) {
      out << ".RS\n";
      write_options(out, *sub);
      out << ".RE\n";
    }
    write_commands(out, *sub, path);
  }
}

// A one-line help as the NAME line wants it: "a voice route (New-CsVoiceRoute)".
std::string name_line(std::string s) {
  if (s.rfind("e911ctl: ", 0) == 0) s.erase(0, 9);
  if (!s.empty() && s.back() == '.') s.pop_back();
  if (s.size() > 1 && std::isupper(static_cast<unsigned char>(s[0])) && !std::isupper(static_cast<unsigned char>(s[1])))
    s[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(s[0])));
  return s;
}

// The page of e911ctl itself (group null) or of one command group: NAME, SYNOPSIS and OPTIONS
// come from the parser, the prose from man/<page>.txt, EXAMPLES from the table above.
std::string page(const CLI::App& root, const CLI::App* group, const std::vector<std::string>& groups) {
  std::ostringstream out;
  const std::string name = group ? "e911ctl-" + group->get_name() : "e911ctl";
  std::string upper = name;
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  const std::string sec = group ? section_of(group->get_name()) : "1";
  const std::optional<Sections> text = prose(name + "." + sec);
  // Left-adjusted and unhyphenated: long option lists cannot be justified cleanly.
  out << ".TH " << upper << " " << sec << " \"\" \"e911ctl " << E911_VERSION << "\" \"e911ctl manual\"\n.ad l\n.nh\n";
  out << ".SH NAME\n" << roff(name) << " \\- " << roff(name_line(group ? group->get_description() : root.get_description())) << "\n";
  if (group) {
    write_synopsis(out, *group, "e911ctl " + group->get_name());
  } else {
    out << ".SH SYNOPSIS\n.B e911ctl\n[\\fIglobal options\\fR] \\fIcommand\\fR [\\fIoptions\\fR] [\\fIarguments\\fR]\n";
  }
  // Without prose the page says only the one-line help; tests/cli/test_man.sh refuses that.
  const auto* description = text ? section(*text, "DESCRIPTION") : nullptr;
  if (description) write_section(out, "DESCRIPTION", *description);
  else out << ".SH DESCRIPTION\n" << roff(sentence(group ? group->get_description() : root.get_description())) << "\n";
  if (!group) {
    out << ".SH COMMANDS\n";
    for (const CLI::App* sub : root.get_subcommands({}))
      if (sub->get_name().rfind("__", 0) != 0) out << ".TP\n.BR e911ctl\\-" << roff(sub->get_name()) << " (" << section_of(sub->get_name()) << ")\n" << roff(sentence(sub->get_description())) << "\n";
    out << ".SH GLOBAL OPTIONS\nThese come before the command.\n";
    write_options(out, root);
  } else {
    if (group->get_subcommands({}).empty()) {
      out << ".SH OPTIONS\n";
      write_options(out, *group);
    } else {
      out << ".SH COMMANDS\n";
      if (has_own_options(*group)) {
        out << ".SS e911ctl " << roff(group->get_name()) << "\n" << roff(sentence(group->get_description())) << "\n.RS\n";
        write_options(out, *group);
        out << ".RE\n";
      }
      write_commands(out, *group, "e911ctl " + group->get_name());
    }
    out << ".PP\nGlobal options (\\fB\\-\\-db\\fR, \\fB\\-\\-quiet\\fR, \\fB\\-\\-max\\-errors\\fR, \\fB\\-\\-no\\-color\\fR) "
           "come before the command and are described in \\fBe911ctl\\fR(1).\n";
  }
  if (text)
    for (const auto& [title, body] : *text)
      if (title != "DESCRIPTION" && title != "SEE ALSO") write_section(out, title, body);
  out << ".SH EXAMPLES\n";
  const auto it = examples().find(group ? group->get_name() : "e911ctl");
  if (it != examples().end())
    for (const auto& [what, cmd] : it->second) out << ".PP\n" << roff(what) << ":\n.PP\n.RS 4\n.nf\n" << roff(cmd) << "\n.fi\n.RE\n";
  if (const auto* see = text ? section(*text, "SEE ALSO") : nullptr) {
    write_section(out, "SEE ALSO", *see);
  } else {
    out << ".SH SEE ALSO\n";
    std::string see_also = group ? ".BR e911ctl (1),\n" : "";
    for (const auto& g : groups)
      if (!group || g != group->get_name()) see_also += ".BR e911ctl\\-" + roff(g) + " (" + section_of(g) + "),\n";
    out << see_also << ".BR e911ctl.yaml (5)\n";
  }
  return out.str();
}

// The fields of one kind, from its JSON Schema.
void write_fields(std::ostream& out, const Kind& k) {
  for (const auto& f : k.fields) {
    const Json& s = *f.schema;
    std::string type = s.value("type", "string");
    if (type == "array") type = "list of " + (s.contains("items") ? s["items"].value("type", "string") : std::string("string"));
    out << ".TP\n.B " << roff(f.name) << "\n(" << type;
    if (f.key) out << ", identity";
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
    out << ")\n" << roff(sentence(f.description)) << "\n";
  }
}

// e911ctl.yaml(5): per kind, the prose of its "KIND: Name" section up to its first "###"
// subsection, the fields from the schema, then the rest of the prose (the example).
std::string yaml_page() {
  std::ostringstream out;
  const Sections text = prose("e911ctl.yaml.5").value_or(Sections{});
  out << ".TH E911CTL.YAML 5 \"\" \"e911ctl " << E911_VERSION << "\" \"e911ctl manual\"\n.ad l\n.nh\n";
  out << ".SH NAME\ne911ctl.yaml \\- the YAML documents e911ctl apply, validate and export use\n";
  if (const auto* d = section(text, "DESCRIPTION")) write_section(out, "DESCRIPTION", *d);
  else out << ".SH DESCRIPTION\nYAML documents, one object each.\n";
  for (const auto& k : kinds()) {
    const auto* body = section(text, "KIND: " + k.name);
    std::vector<std::string> intro, rest;
    if (body) {
      auto sub = std::find_if(body->begin(), body->end(), [](const std::string& l) { return l.rfind("### ", 0) == 0; });
      intro.assign(body->begin(), sub);
      rest.assign(sub, body->end());
    }
    out << ".SH KIND: " << k.name << "\n";
    if (intro.empty()) out << roff(k.description) << "\n";
    else write_body(out, intro);
    out << ".PP\nManaged with \\fBe911ctl " << k.noun << "\\fR (\\fBe911ctl\\-" << k.noun << "\\fR(1)); identity: ";
    for (std::size_t i = 0; i < k.key_fields.size(); ++i) out << (i ? ", " : "") << "\\fB" << roff(k.key_fields[i]) << "\\fR";
    out << ".\n.SS Fields\n";
    write_fields(out, k);
    write_body(out, rest);
  }
  for (const auto& [title, body] : text)
    if (title != "DESCRIPTION" && title.rfind("KIND: ", 0) != 0) write_section(out, title, body);
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
        if (sub->get_name().rfind("__", 0) != 0) write(page_file(sub->get_name()), page(app, sub, groups));
      write("e911ctl.yaml.5", yaml_page());
      Json pages = Json::array({"e911ctl.1"});
      for (const auto& g : groups) pages.push_back(page_file(g));
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
