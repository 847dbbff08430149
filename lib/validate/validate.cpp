#include "e911/validate.hpp"

#include <SQLiteCpp/SQLiteCpp.h>
#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <map>
#include <set>
#include <unordered_map>
#include <unordered_set>

#include "e911/key_index.hpp"
#include "e911/pattern.hpp"
#include "e911/routing.hpp"
#include "e911/phases.hpp"
#include "e911/rows.hpp"
#include "e911/schema_check.hpp"
#include "e911/snapshot.hpp"
#include "e911/text.hpp"

namespace e911 {

const std::vector<Rule>& rules() {
  static const std::vector<Rule> all = {
      {"E001", "input", "input is not valid YAML",
       "a file that is not YAML cannot be read at all: nothing in it is applied",
       "kind: Location\nid: 'b1", "close the quote, fix the indentation or the character the message points at"},
      {"E002", "input", "document is not a mapping of plain names",
       "every document is one object: a mapping whose keys are field names", "- kind: Location\n  id: b1",
       "write one object per document, separated by ---"},
      {"E003", "input", "document has no kind, or an unknown one", "the kind says which object the document describes",
       "kind: Locaton\nid: b1", "use one of the kinds e911ctl.yaml(5) describes: man e911ctl.yaml"},
      {"E004", "input", "unknown field", "a misspelt field would otherwise be dropped without a word",
       "kind: Location\nid: b1\ncontry: US", "use a field of the kind: e911ctl schema print KIND"},
      {"E005", "input", "object lacks a required field", "an object without its identity or a required value cannot be stored",
       "kind: Subnet\nlocation: b1", "add the field the message names"},
      {"E006", "input", "field given twice in one object", "YAML would keep only one of the values, silently",
       "kind: Location\nid: b1\ncity: Redmond\ncity: Seattle", "keep one"},
      {"E007", "input", "object defined twice in the input", "which of the two definitions should win is undefined",
       "two documents with kind: Location and id: b1", "merge them into one document"},
      {"E020", "input", "CSV row is not a row of the file's columns",
       "a row with too few or too many columns, an unclosed quote or an element given twice cannot be imported",
       "Subnet,Description,Location,...\n10.10.1.0,desk", "give every row all the columns of the header (or of Lync's order)"},
      {"E021", "input", "CSV header lacks a required column",
       "a file with a header is read by column name, as Import-Csv does; without the element's key or the required address columns no row can be imported",
       "Description,Location,City\n(no Subnet column in a --kind subnet file)", "export the file again with every column, or add the missing one"},
      {"W022", "input", "CSV header names a column e911ctl does not import",
       "its values are ignored; a misspelt column name would lose data", "Subnet,Descripton,Location,...",
       "rename the column to one of Lync's, or drop it"},
      {"E023", "input", "CSV text is not UTF-8",
       "a byte that is not UTF-8 would reach the PIDF-LO, which declares UTF-8, and every JSON output; it is refused, never guessed at",
       "a Latin-1 'Montr\\xe9al' in a City column", "save the file as UTF-8, or import it with --encoding windows-1252 if it came from an old Lync export"},
      {"E100", "field limits", "a field breaks its schema", "every value must fit the type, length, pattern and enumeration of its field",
       "kind: Trunk\nname: t\nhost: 127.0.0.1\ntransport: sctp", "use a value the schema allows: e911ctl schema print KIND"},
      {"E101", "field limits", "emergency dial string or mask is not 1-10 digits",
       "Lync dial strings and masks are digits only, without +, at most 10 each, masks 100 characters in all",
       "kind: LocationPolicy\nidentity: global\nemergency_dial_string: '+911'", "write the digits only: 911"},
      {"E102", "field limits", "not a sip: URI of 1-256 characters",
       "notification and conference URIs and user URIs are SIP URIs; anything else cannot be called or messaged",
       "kind: LocationPolicy\nidentity: global\nnotification_uris: [mailto:desk@contoso.example]", "use sip:desk@contoso.example"},
      {"E103", "field limits", "location refresh interval outside 1-12 hours", "Lync accepts 1 to 12 hours",
       "kind: LocationPolicy\nidentity: global\nlocation_refresh_interval: 24", "use a value from 1 to 12"},
      {"E104", "field limits", "civic address field too long", "Lync's LIS limits each civic field (Location 20, StreetName 60, City 64, State 2...)",
       "kind: Location\nid: b1\nstate: Washington", "abbreviate: state WA"},
      {"E105", "field limits", "country is not an ISO 3166-1 alpha-2 code",
       "PSAPs and providers key addresses on the ISO code; 'UK' or 'USA' route nowhere", "kind: Location\nid: b1\ncountry: UK",
       "use the assigned code: GB"},
      {"E106", "field limits", "BSSID or chassis MAC badly formed",
       "a BSSID is six hex pairs; '*' may only replace the last one or two characters", "kind: WirelessAccessPoint\nbssid: 00-1A-2B-3C-4D\nlocation: b1",
       "write all six pairs: 00-1A-2B-3C-4D-5E"},
      {"E107", "field limits", "port ID subtype is not 1, 5 or 7", "LLDP port ID subtypes used by Lync are 1, 5 and 7 (the default)",
       "kind: Port\nchassis_id: 00-25-90-AA-00-01\nport_id: Gi1/0/1\nport_id_subtype: 3\nlocation: b1", "use 1, 5 or 7"},
      {"E108", "field limits", "subnet is not given as its network address",
       "Lync identifies a subnet by its network address (10.10.10.128/25, not .150); a host address never matches",
       "kind: Subnet\nsubnet: 10.10.10.150/25", "write the network address: 10.10.10.128/25"},
      {"E109", "field limits", "ELIN badly formed", "an ELIN is a 10 to 15 digit number the carrier's ALI database knows",
       "kind: Location\nid: b1\nelins: ['555-0100']", "write the digits: '4255550100'"},
      {"E110", "field limits", "LIS subnet has no mask and none is known",
       "Lync's LIS subnets are bare network addresses; a server that sees only a caller's source address needs the prefix length, "
       "which comes from the network-site subnet with the same address or from the operator",
       "Subnet,...\n10.10.9.0,... (and no subnet 10.10.9.0/N with a site)",
       "define the network-site subnet first (e911ctl subnet set 10.10.9.0/24 --site NAME), or give --prefix-length 24"},
      {"E111", "field limits", "notification webhook is not an https:// URL",
       "a webhook carries the caller's name, number and location: plain http is allowed only to a loopback address (127.0.0.0/8, [::1]), "
       "and a URL holds no user or password, which would sit in the store and every snapshot",
       "kind: LocationPolicy\nidentity: global\nnotification_webhooks: ['http://alerts.contoso.example/e911']",
       "use https://alerts.contoso.example/e911"},
      {"E112", "field limits", "notification e-mail target is not an e-mail address",
       "a target that is not a mailbox@domain address can never be delivered", "kind: LocationPolicy\nidentity: global\nnotification_emails: ['mailto:security@contoso.example']",
       "write the address alone: security@contoso.example"},
      {"E113", "field limits", "runtime's admin URL or token file badly formed",
       "publish reaches a runtime at an http:// or https:// URL of its admin API, with the token read from a file named by an absolute path "
       "(a relative one would depend on the directory publish runs in)",
       "kind: Runtime\nname: node1\nurl: 127.0.0.1:5080\ntoken_file: admin.token",
       "url: http://127.0.0.1:5080 and token_file: /etc/e911ctl/admin.token"},
      {"E201", "references", "policy names a PSTN usage that does not exist, or one being removed",
       "emergency calls route by the policy's usage; a missing usage means no route", "kind: LocationPolicy\nidentity: global\npstn_usage: Emergncy",
       "create the usage or fix the name"},
      {"E202", "references", "route names a usage or trunk that does not exist, or one being removed", "a route with a missing trunk cannot carry the call",
       "kind: VoiceRoute\nname: r\nnumber_pattern: '^911$'\ntrunks: [nowhere]", "create the trunk or fix the name"},
      {"E203", "references", "site or user names a policy, region or location that does not exist, or one being removed", "the caller would fall back to another policy",
       "kind: NetworkSite\nname: Redmond\nlocation_policy: site:Redmnd", "create the policy or fix the name"},
      {"E204", "references", "element maps to a location that does not exist, or one being removed", "a caller found by this element would have no location",
       "kind: Subnet\nsubnet: 10.0.0.0/24\nlocation: nowhere", "create the location or fix the name"},
      {"W205", "references", "location is not used by anything", "an ERL no element, site or policy names is never sent to a PSAP",
       "kind: Location\nid: old-b7", "map an element to it, or remove it"},
      {"E301", "routing", "emergency number reaches no route with a trunk",
       "with enhanced emergency services on, every dial string and mask must match an enabled route that serves the policy's usage and has a trunk",
       "kind: LocationPolicy\nidentity: global\nenhanced_emergency_services: true\npstn_usage: Emergency\nemergency_dial_string: '911'",
       "add a route with number_pattern '^\\+?911$', the policy's usage and a trunk"},
      {"W302", "routing", "route pattern matches only one of 911 and +911",
       "depending on normalisation and on whether a trunk strips the plus, the number can arrive either way",
       "kind: VoiceRoute\nname: r\nnumber_pattern: '^911$'", "match both: '^\\+?911$'"},
      {"E303", "routing", "first trunk of the emergency route does not accept PIDF-LO, and not every location has an ELIN",
       "in SIP trunk mode the provider routes on the PIDF-LO location; a trunk without it runs in ELIN mode, where the caller's number is replaced by an ELIN of the location that the carrier's ALI maps to the address, so a location without an ELIN reaches the PSAP with no location at all",
       "kind: Trunk\nname: provider\nhost: 127.0.0.1\naccepts_pidf_lo: false", "set accepts_pidf_lo: true, or put a provider trunk first"},
      {"W304", "routing", "no fallback to a second trunk", "when the only trunk is down, emergency calls fail",
       "kind: VoiceRoute\nname: r\nnumber_pattern: '^\\+?911$'\ntrunks: [provider]", "add a backup trunk or a local PSTN fallback route"},
      {"W305", "routing", "voice policy usage reaches no route",
       "ordinary calls route by the usages of the caller's voice policy; a usage no enabled route with a trunk serves carries no call",
       "kind: VoicePolicy\nidentity: global\npstn_usages: [LongDistance]", "add a route that serves the usage and has a trunk, or drop the usage"},
      {"E401", "conflicts", "the same subnet, BSSID, chassis or port is mapped twice",
       "written differently (case, separators, leading zeros) but the same element: which location wins is undefined",
       "bssid: 00-1a-2b-3c-4d-5e and bssid: 00:1A:2B:3C:4D:5E", "keep one"},
      {"W403", "conflicts", "subnet lies inside a subnet of another site", "the longest prefix wins, which may not be what was meant",
       "10.1.0.0/16 in site A and 10.1.2.0/24 in site B", "check the site of each subnet"},
      {"E404", "conflicts", "emergency mask given twice in a policy", "masks must be unique within a policy",
       "kind: LocationPolicy\nidentity: global\nemergency_dial_mask: '112;112'", "remove the duplicate"},
      {"E405", "conflicts", "mask equals another policy's dial string",
       "a caller under one policy dialling the other's emergency number would be translated", "emergency_dial_mask: '911' in one policy, emergency_dial_string: '911' in another",
       "remove the mask"},
      {"E406", "conflicts", "regular expression does not compile",
       "a route or dial rule that cannot be compiled matches nothing; patterns run on every call in time linear in the number "
       "(RE2), so backreferences, lookahead and lookbehind, which need backtracking, do not compile",
       "kind: VoiceRoute\nname: r\nnumber_pattern: '^(911$'",
       "fix the expression; instead of lookaround, leave numbers to an earlier rule or narrow the pattern"},
      {"E407", "conflicts", "the policy's test number is one of its emergency numbers",
       "a test call is never sent to a PSAP as an emergency: a number that is both would make real emergency calls tests, or tests real calls",
       "kind: LocationPolicy\nidentity: global\nemergency_dial_string: '933'\ntest_number: '933'", "pick another test number (933 when unset)"},
      {"E501", "Kari's Law", "dial-plan rule consumes or rewrites an emergency number",
       "Kari's Law: 911 must be dialable with no prefix; an outside-line rule like '^9(\\d+)$' -> '$1' turns 911 into 11",
       "kind: DialPlan\nname: global\nrules: [{pattern: '^9(\\d+)$', translation: '$1'}]",
       "exclude the emergency numbers: put a rule that keeps them first ('^911$' -> '911'), or narrow the pattern: '^9([2-9]\\d{6,})$'"},
      {"E502", "Kari's Law", "policy in use with emergency services on has no notification target",
       "Kari's Law requires an on-site notification with callback number and location", "kind: LocationPolicy\nidentity: global\nenhanced_emergency_services: true",
       "add notification_uris (or notification_webhooks, notification_emails, a conference_uri)"},
      {"E601", "RAY BAUM'S Act", "location of a fixed device has no floor, room or unit",
       "a dispatchable location is a validated street address plus the floor/room/suite needed to find the caller",
       "kind: Location\nid: b1\nhouse_number: '1'\nstreet_name: Main", "fill location (floor/room text), floor, room or unit"},
      {"W602", "RAY BAUM'S Act", "location known only from Wi-Fi is approximate",
       "an access point covers an area; the PSAP receives an approximate location", "a location used only by access points",
       "map the switch ports or subnets of the area to it as well"},
      {"W603", "RAY BAUM'S Act", "address not validated with the provider",
       "an unvalidated address goes to the provider's ECRC for confirmation by voice, delaying the call",
       "kind: Location\nid: b1\nvalidation_status: unvalidated", "run e911ctl location validate-addresses"},
      {"E604", "RAY BAUM'S Act", "location lacks a street address", "Lync requires Location, HouseNumber, StreetName, City, State and Country",
       "kind: Location\nid: b1\ncity: Redmond", "fill the missing fields"},
      {"E701", "ELIN", "ELIN assigned to two locations", "a PSAP callback to the ELIN could reach the wrong place",
       "elins: ['4255550100'] on two locations", "give each location its own ELINs"},
  };
  return all;
}

const Rule* find_rule(const std::string& code) {
  for (const auto& r : rules())
    if (to_lower(r.code) == to_lower(code)) return &r;
  return nullptr;
}

namespace {

const std::set<std::string>& iso_countries() {
  static const std::set<std::string> codes = [] {
    std::set<std::string> s;
    const std::string all =
        "AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS BT BV BW BY BZ CA CC CD CF "
        "CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH "
        "GI GL GM GN GP GQ GR GS GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN KP KR KW "
        "KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ NA NC NE NF NG "
        "NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN "
        "SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI VN VU WF WS YE YT "
        "ZA ZM ZW";
    for (const auto& c : split(all, ' ')) s.insert(c);
    return s;
  }();
  return codes;
}

struct Ctx {
  const Store& store;
  std::vector<Diagnostic> out;
  // Every location id with what names it: bit 1 a fixed element (subnet, switch, port, default
  // location), bit 2 an access point. Built once from plain scans: on a million-row store, one
  // index lookup per row is a million random reads.
  KeyIndex locations;
  std::vector<uint8_t> location_flags;  // by id in `locations`
  void mark(std::string_view id, uint8_t bit) {
    if (const int32_t i = locations.find(id); i >= 0) location_flags[static_cast<std::size_t>(i)] |= bit;
  }
  // Enough of each severity to act on; more would drown the first. Warnings never crowd out errors.
  std::size_t errors = 0, warnings = 0;
  static constexpr std::size_t kCap = 10000;
  bool full(char kind) const { return (kind == 'W' ? warnings : errors) >= kCap; }
  void add(const std::string& code, const std::string& subject, const std::string& pointer, const std::string& message,
           const std::string& hint = {}) {
    if (full(code[0])) return;
    const Severity sev = code[0] == 'W' ? Severity::warning : Severity::error;
    ++(sev == Severity::warning ? warnings : errors);
    out.push_back({sev, code, message, {}, subject, hint, pointer});
  }
};

std::string subj(const Kind& k, const std::string& key) { return k.noun + " '" + Kind::display_key(key) + "'"; }

// Field limits on raw column text: every kind, every row, with each field's schema compiled once.
// Values repeat (every location of a campus has the same city, state and country), so each
// field remembers the verdict on values it has seen, up to a bound.
void check_fields(Ctx& c) {
  for (const auto& k : kinds()) {
    struct FieldCheck {
      const Field* field;
      CompiledSchema schema;
      std::unordered_map<std::string, std::string> seen;  // value -> problem ("" when valid)
      bool memo;  // only checks dearer than a length are worth remembering, and only while values repeat
      std::size_t lookups = 0, hits = 0;
    };
    std::vector<FieldCheck> checks;
    std::string cols;
    for (const auto& f : k.fields) {
      const bool dear = f.schema->contains("pattern") || f.schema->contains("format") || f.schema->contains("enum");
      const bool unique_key = k.key_fields.size() == 1 && k.key_fields.front() == f.name;  // never repeats
      checks.push_back({&f, CompiledSchema(*f.schema), {}, dear && !unique_key});
      cols += ", " + f.name;
    }
    Rows st(const_cast<Store&>(c.store).db(), "SELECT key" + cols + " FROM " + k.table + " NOT INDEXED WHERE rev_removed IS NULL");
    std::string text;
    while (st.next()) {
      for (std::size_t i = 0; i < checks.size(); ++i) {
        const int col = static_cast<int>(i) + 1;
        if (st.null(col)) continue;
        FieldCheck& fc = checks[i];
        const Field& f = *fc.field;
        std::vector<SchemaViolation> v;
        if (f.type == FieldType::string) {
          text.assign(st.text(col));
          auto verdict = [&] {
            std::string why = fc.schema.check_text(text);
            if (f.name == "country" && k.noun == "location" && why.empty()) why = country_problem(text);
            return why;
          };
          if (!fc.memo) {
            std::string why = verdict();
            if (!why.empty()) v.push_back({"", std::move(why)});
          } else {
            auto it = fc.seen.find(text);
            ++fc.lookups;
            if (it == fc.seen.end()) {
              if (fc.seen.size() > 65536) fc.seen.clear();
              it = fc.seen.emplace(text, verdict()).first;
            } else {
              ++fc.hits;
            }
            if (!it->second.empty()) v.push_back({"", it->second});
            // Mostly distinct values (room names, street numbers): remembering them costs more
            // than checking them again.
            if (fc.lookups == 4096 && fc.hits < fc.lookups / 2) {
              fc.memo = false;
              fc.seen.clear();
            }
          }
        } else if (f.type == FieldType::integer) {
          v = fc.schema.check(Json(st.int64(col)));
        } else if (f.type == FieldType::number) {
          v = fc.schema.check(Json(st.real(col)));
        } else if (f.type == FieldType::string_list || f.type == FieldType::object_list) {
          v = fc.schema.check(Json::parse(st.text(col), nullptr, false));
        }
        if (v.empty()) continue;
        const std::string key(st.text(0));
        for (const auto& one : v) {
          const bool country = f.name == "country" && one.message.find("ISO 3166") != std::string::npos;
          c.add(country ? "E105" : field_rule_code(k, f.name), subj(k, key), "/" + f.name + one.pointer,
                "'" + f.name + one.pointer + "': " + one.message, country && text == "UK" ? "the United Kingdom is GB" : "");
        }
      }
    }
  }
}

// References that name nothing, by rule family.
void check_references(Ctx& c) {
  auto& db = const_cast<Store&>(c.store).db();
  {
    c.locations.reserve(max_rowid(db, "location"));
    Rows st(db, "SELECT key FROM location NOT INDEXED WHERE rev_removed IS NULL");
    while (st.next()) c.locations.insert(st.text(0));
    c.location_flags.assign(c.locations.size(), 0);
  }
  for (const auto& k : kinds()) {
    for (const auto& f : k.fields) {
      if (f.ref_kind.empty()) continue;
      const Kind& target = *find_kind(f.ref_kind);
      const bool list = f.type == FieldType::string_list;
      if (!list && f.ref_kind == "Location") {
        const uint8_t bit = k.noun == "wap" ? 2 : 1;
        Rows st(db, "SELECT key, " + f.name + " FROM " + k.table + " NOT INDEXED WHERE rev_removed IS NULL AND " + f.name + " IS NOT NULL");
        while (st.next()) {
          const std::string_view id = st.text(1);
          if (const int32_t i = c.locations.find(id); i >= 0) {
            c.location_flags[static_cast<std::size_t>(i)] |= bit;
            continue;
          }
          c.add(reference_rule_code(k, f.name), subj(k, std::string(st.text(0))), "/" + f.name,
                "'" + f.name + "' names location '" + std::string(id) + "', which does not exist");
        }
        continue;
      }
      const std::string sql =
          list ? "SELECT a.key, j.value, j.key FROM " + k.table + " a, json_each(a." + f.name + ") j WHERE a.rev_removed IS NULL"
                     " AND NOT EXISTS (SELECT 1 FROM " + target.table + " b WHERE b.key = j.value AND b.rev_removed IS NULL)"
               : "SELECT a.key, a." + f.name + ", NULL FROM " + k.table + " a WHERE a.rev_removed IS NULL AND a." + f.name +
                     " IS NOT NULL AND NOT EXISTS (SELECT 1 FROM " + target.table + " b WHERE b.key = a." + f.name + " AND b.rev_removed IS NULL)";
      const std::string code = reference_rule_code(k, f.name);
      SQLite::Statement st(db, sql);
      while (st.executeStep()) {
        std::string ptr = "/" + f.name;
        if (!st.getColumn(2).isNull()) ptr += "/" + st.getColumn(2).getString();
        c.add(code, subj(k, st.getColumn(0).getString()), ptr,
              "'" + f.name + "' names " + target.noun + " '" + st.getColumn(1).getString() + "', which does not exist");
      }
    }
  }
}

// Elements that are the same thing written two ways.
void check_conflicts(Ctx& c) {
  auto& db = const_cast<Store&>(c.store).db();
  // BSSIDs, chassis and ports compare without case and separators.
  const std::string norm = "upper(replace(replace(replace(%s, ':', ''), '-', ''), '.', ''))";
  auto normalized = [&](const std::string& col) {
    std::string s = norm;
    return s.replace(s.find("%s"), 2, col);
  };
  struct Q {
    const char* noun;
    std::string expr;
  };
  for (const Q& q : {Q{"wap", normalized("bssid")}, Q{"switch", normalized("chassis_id")},
                     Q{"port", normalized("chassis_id") + " || '|' || upper(port_id)"}}) {
    const Kind& k = kind_by_noun(q.noun);
    SQLite::Statement st(db, "SELECT group_concat(key, ' and '), count(*) FROM " + k.table + " WHERE rev_removed IS NULL GROUP BY " + q.expr +
                                 " HAVING count(*) > 1");
    while (st.executeStep())
      c.add("E401", k.noun + " " + st.getColumn(0).getString(), "", "the same " + k.noun + " is mapped " + st.getColumn(1).getString() + " times",
            "keep one of them");
  }
  // Subnets: by canonical network; host bits; nesting across sites.
  const Kind& subnet = kind_by_noun("subnet");
  struct Net : Network {
    std::string key, site;
  };
  std::vector<Net> nets;
  KeyIndex canon;                // canonical network bytes -> id
  std::string first_keys;             // by canon id: the subnet that had it first, end to end
  std::vector<uint32_t> first_offsets;
  canon.reserve(max_rowid(db, "subnet"));
  Rows st(db, "SELECT key, site FROM subnet NOT INDEXED WHERE rev_removed IS NULL");
  while (st.next()) {
    Net n;
    n.key = st.text(0);
    n.site = st.text(1);
    if (!parse_network(n.key, n)) continue;  // the field check reported it
    if (n.host_bits) {
      const std::string text = n.text();
      c.add("E108", subj(subnet, n.key), "/subnet", host_bits_message(n.key, text), "write '" + text + "'");
    }
    // The canonical network as bytes: cheaper than text for a million subnets.
    std::string canonical(reinterpret_cast<const char*>(n.addr.data()), n.v6 ? 16 : 4);
    canonical += static_cast<char>(n.bits);
    const auto [id, fresh] = canon.insert(canonical);
    if (fresh) {
      first_offsets.push_back(static_cast<uint32_t>(first_keys.size()));
      first_keys += n.key;
    } else {
      const std::size_t i = static_cast<std::size_t>(id);
      const std::size_t end = i + 1 < first_offsets.size() ? first_offsets[i + 1] : first_keys.size();
      c.add("E401", subj(subnet, n.key), "/subnet", "the same network as subnet '" + first_keys.substr(first_offsets[i], end - first_offsets[i]) + "'",
            "keep one of them");
    }
    if (!n.site.empty()) nets.push_back(std::move(n));
  }
  // Nesting across sites: sort by address, then walk each network's enclosing candidates.
  std::sort(nets.begin(), nets.end(), [](const Net& a, const Net& b) {
    if (a.v6 != b.v6) return a.v6 < b.v6;
    if (a.addr != b.addr) return a.addr < b.addr;
    return a.bits < b.bits;
  });
  std::vector<const Net*> stack;  // enclosing networks of the current one
  for (const auto& n : nets) {
    auto contains = [](const Net& outer, const Net& inner) {
      if (outer.v6 != inner.v6 || outer.bits > inner.bits) return false;
      for (int i = 0; i < outer.bits; ++i) {
        const int byte = i / 8, bit = 7 - i % 8;
        if ((outer.addr[static_cast<std::size_t>(byte)] ^ inner.addr[static_cast<std::size_t>(byte)]) & (1 << bit)) return false;
      }
      return true;
    };
    while (!stack.empty() && !contains(*stack.back(), n)) stack.pop_back();
    if (!stack.empty() && stack.back()->site != n.site && stack.back()->bits < n.bits)
      c.add("W403", subj(subnet, n.key), "/site",
            "subnet of site '" + n.site + "' lies inside subnet '" + stack.back()->key + "' of site '" + stack.back()->site + "'");
    stack.push_back(&n);
  }
}

// ELINs shared by locations.
void check_elins(Ctx& c) {
  auto& db = const_cast<Store&>(c.store).db();
  SQLite::Statement el(db, "SELECT j.value, group_concat(l.key, ', '), count(*) FROM location l NOT INDEXED, json_each(l.elins) j WHERE l.rev_removed IS NULL AND l.elins IS NOT NULL "
                           "GROUP BY j.value HAVING count(*) > 1");
  while (el.executeStep())
    c.add("E701", "elin '" + el.getColumn(0).getString() + "'", "", "ELIN is assigned to " + el.getColumn(2).getString() + " locations: " + el.getColumn(1).getString(),
          "give each location its own ELINs");
}

// RAY BAUM'S Act and Lync's required address fields.
void check_dispatchable(Ctx& c) {
  auto& db = const_cast<Store&>(c.store).db();
  const Kind& location = kind_by_noun("location");
  // Default locations of policies and sites are where a caller is placed: as good as fixed.
  for (const char* q : {"SELECT default_location FROM location_policy WHERE rev_removed IS NULL AND default_location IS NOT NULL",
                        "SELECT default_location FROM network_site WHERE rev_removed IS NULL AND default_location IS NOT NULL"}) {
    SQLite::Statement d(db, q);
    while (d.executeStep()) {
      c.mark(d.getColumn(0).getString(), 1);
    }
  }
  Rows st(db, "SELECT l.key, l.location, l.floor, l.room, l.unit, l.validation_status, l.house_number, l.street_name, l.city, "
              "l.state, l.country FROM location l NOT INDEXED WHERE l.rev_removed IS NULL");
  std::size_t row = 0;
  while (st.next()) {
    const std::string_view key = st.text(0);
    // The same scan order as check_references: the row is the id, unless the store moved.
    int32_t id = static_cast<int32_t>(row++);
    if (static_cast<std::size_t>(id) >= c.locations.size() || c.locations.at(id) != key) id = c.locations.find(key);
    const uint8_t bits = id < 0 ? 0 : c.location_flags[static_cast<std::size_t>(id)];
    const bool is_fixed = bits & 1, is_wifi = bits & 2;
    if (!is_fixed && !is_wifi) {
      if (!c.full('W'))
        c.add("W205", subj(location, std::string(key)), "", "location is not used by any element, site or policy",
              "map a subnet, switch, port or access point to it, or remove it");
      continue;
    }
    static constexpr std::string_view kFields[] = {"location", "floor", "room", "unit", "validation_status", "house_number",
                                                   "street_name", "city", "state", "country"};
    auto get = [&](std::string_view field) -> std::string_view {
      for (int i = 0; i < 10; ++i)
        if (kFields[i] == field) return st.null(i + 1) ? std::string_view() : st.text(i + 1);
      return {};
    };
    for (auto& d : location_rules(get, is_fixed, is_wifi)) {
      if (d.severity == Severity::warning && c.full('W')) continue;
      if (d.code == "W603") d.hint = "run 'e911ctl location validate-addresses " + std::string(key) + "' (the provider's URL in --url or E911_PROVIDER_URL)";
      c.add(d.code, subj(location, std::string(key)), d.pointer, d.message, d.hint);
    }
  }
}

// How many locations have no ELIN, and one of them (empty when there is no location at all).
std::pair<int64_t, std::string> locations_without_elin(Ctx& c) {
  auto& db = const_cast<Store&>(c.store).db();
  SQLite::Statement s(db, "SELECT (SELECT count(*) FROM location WHERE rev_removed IS NULL AND (elins IS NULL OR elins IN ('', '[]'))), "
                          "(SELECT min(key) FROM location WHERE rev_removed IS NULL AND (elins IS NULL OR elins IN ('', '[]'))), "
                          "(SELECT min(key) FROM location WHERE rev_removed IS NULL)");
  s.executeStep();
  const int64_t without = s.getColumn(0).getInt64();
  std::string example = without > 0 ? s.getColumn(1).getString() : s.isColumnNull(2) ? std::string() : s.getColumn(2).getString();
  return {without, example};
}

// Routing coverage, conflicts inside policies, Kari's Law: the small kinds, as objects.
void check_policies(Ctx& c) {
  const Kind& pk = kind_by_noun("policy");
  const Kind& rk = kind_by_noun("route");
  const Kind& tk = kind_by_noun("trunk");
  const auto policies = c.store.list(pk);
  const auto routes_raw = c.store.list(rk);
  std::map<std::string, Json> trunks;
  for (auto& t : c.store.list(tk)) trunks[t["name"].get<std::string>()] = t;

  struct Route {
    Json obj;
    Pattern re;
    bool ok;
  };
  std::vector<Route> routes;
  for (const auto& r : routes_raw) {
    const std::string pat = r.value("number_pattern", "");
    Route x{r, Pattern(pat), false};
    x.ok = x.re.ok();
    if (!x.ok)
      c.add("E406", subj(rk, r["name"].get<std::string>()), "/number_pattern",
            "'" + excerpt(pat) + "' is not a valid regular expression: " + x.re.error(), x.re.hint());
    routes.push_back(std::move(x));
  }
  std::stable_sort(routes.begin(), routes.end(), [](const Route& a, const Route& b) { return a.obj.value("priority", 0) < b.obj.value("priority", 0); });

  // Which policies can apply to a call: global always; a site policy through a site with subnets;
  // a tag policy through a user it is granted to.
  std::set<std::string> reachable = {"global"};
  {
    auto& db = const_cast<Store&>(c.store).db();
    SQLite::Statement s(db, "SELECT DISTINCT location_policy FROM network_site WHERE rev_removed IS NULL AND location_policy IS NOT NULL "
                            "UNION SELECT DISTINCT location_policy FROM sip_user WHERE rev_removed IS NULL AND location_policy IS NOT NULL");
    while (s.executeStep()) reachable.insert(s.getColumn(0).getString());
  }

  std::map<std::string, std::string> dial_owner;  // dial string -> policy
  for (const auto& p : policies)
    for (const auto& e : policy_emergency_numbers(p))
      if (e.mask.empty()) dial_owner.emplace(e.dial, p["identity"].get<std::string>());

  std::set<std::string> all_numbers;
  std::set<std::string> pidf_reported;  // routes already reported by E303
  for (const auto& p : policies) {
    const std::string id = p["identity"].get<std::string>();
    const std::string s = subj(pk, id);
    const auto numbers = policy_emergency_numbers(p);
    std::set<std::string> seen;
    for (const auto& e : numbers) {
      if (e.mask.empty()) continue;
      if (!seen.insert(e.mask).second) c.add("E404", s, "/emergency_dial_mask", "mask '" + e.mask + "' is given twice");
      const auto owner = dial_owner.find(e.mask);
      if (owner != dial_owner.end() && owner->second != id)
        c.add("E405", s, "/emergency_dial_mask", "mask '" + e.mask + "' is the emergency dial string of policy '" + owner->second + "'");
    }
    {
      const std::string test = p.value("test_number", std::string(routing::kTestNumber));
      for (const auto& e : numbers)
        if (e.dial == test || e.mask == test) {
          c.add("E407", s, p.contains("test_number") ? "/test_number" : e.mask.empty() ? "/emergency_dial_string" : "/emergency_dial_mask",
                "test number '" + test + "'" + (p.contains("test_number") ? "" : " (the default)") + " is also an emergency " +
                    (e.mask.empty() ? "dial string" : "dial mask") + " of the policy",
                "pick another test_number, or another emergency number");
          break;
        }
    }
    for (const auto& e : numbers) {
      all_numbers.insert(e.dial);
      if (!e.mask.empty()) all_numbers.insert(e.mask);
    }
    if (!p.value("enhanced_emergency_services", false)) continue;
    const bool in_use = reachable.count(id) > 0;
    if (in_use && !p.contains("notification_uris") && !p.contains("conference_uri") && !p.contains("notification_webhooks") &&
        !p.contains("notification_emails"))
      c.add("E502", s, "/notification_uris", "emergency services are on but nobody on site is notified",
            "add notification_uris: [sip:security-desk@...] (or notification_webhooks, notification_emails)");
    if (numbers.empty()) {
      c.add("E301", s, "/emergency_dial_string", "emergency services are on but no emergency number is set", "set emergency_dial_string: '911'");
      continue;
    }
    const std::string usage = p.value("pstn_usage", "");
    if (usage.empty()) {
      c.add("E301", s, "/pstn_usage", "emergency services are on but the policy has no PSTN usage, so no route can be chosen");
      continue;
    }
    std::set<std::string> all_trunks;
    bool first_checked = false;
    for (const auto& e : numbers) {
      // A mask is translated to the dial string before routing.
      const std::string& d = e.dial;
      const Route* first = nullptr;
      for (const auto& r : routes) {
        if (!r.ok || !r.obj.value("enabled", true)) continue;
        const auto& usages = r.obj.contains("pstn_usages") ? r.obj["pstn_usages"] : Json::array();
        if (std::find(usages.begin(), usages.end(), usage) == usages.end()) continue;
        if (!(r.re.search(d) || r.re.search("+" + d))) continue;
        if (!r.obj.contains("trunks") || r.obj["trunks"].empty()) continue;
        if (!first) first = &r;
        for (const auto& t : r.obj["trunks"]) all_trunks.insert(t.get<std::string>());
      }
      if (!first) {
        c.add("E301", s, e.mask.empty() ? "/emergency_dial_string" : "/emergency_dial_mask",
              "emergency number '" + d + "'" + (e.mask.empty() ? "" : " (dialled as mask '" + e.mask + "')") +
                  " reaches no enabled route with a trunk for usage '" + usage + "'",
              "add a route with number_pattern '^\\+?" + d + "$', pstn_usages [" + usage + "] and a trunk");
        continue;
      }
      if (!first_checked) {
        first_checked = true;
        const std::string t0 = first->obj["trunks"][0].get<std::string>();
        const auto ti = trunks.find(t0);
        const std::string route_name = first->obj["name"].get<std::string>();
        // A first trunk that takes no PIDF-LO runs in ELIN mode (DOMAIN.md §5): the caller's number
        // is replaced by an ELIN of the caller's location and the carrier's ALI maps it to the address.
        // That is sound only when every location has an ELIN; a call from one without would reach the
        // PSAP with neither a location nor a number its ALI knows.
        if (ti != trunks.end() && !ti->second.value("accepts_pidf_lo", false) && pidf_reported.insert(route_name).second) {
          const auto [without, example] = locations_without_elin(c);
          if (without > 0 || example.empty())
            c.add("E303", subj(rk, route_name), "/trunks/0",
                  "first trunk '" + t0 + "' of emergency route '" + route_name + "' does not accept PIDF-LO" +
                      (example.empty() ? std::string(" and no location has an ELIN")
                                       : " and " + std::to_string(without) + " location" + (without == 1 ? " has" : "s have") +
                                             " no ELIN for ELIN mode (e.g. '" + example + "')"),
                  "set accepts_pidf_lo: true on the provider trunk, put a provider trunk first, or give every location an ELIN (elins: ['+14255550100'])");
        }
      }
    }
    if (first_checked && all_trunks.size() < 2)
      c.add("W304", s, "/pstn_usage", "emergency calls of usage '" + usage + "' have only one trunk and no fallback",
            "add a backup provider trunk or a local PSTN fallback route");
  }
  // W302 on every route that could carry an emergency number.
  for (const auto& r : routes) {
    if (!r.ok) continue;
    for (const auto& d : all_numbers) {
      const bool bare = r.re.search(d), plus = r.re.search("+" + d);
      if (bare != plus) {
        c.add("W302", subj(rk, r.obj["name"].get<std::string>()), "/number_pattern",
              "pattern '" + r.obj.value("number_pattern", "") + "' matches '" + (bare ? d : "+" + d) + "' but not '" + (bare ? "+" + d : d) + "'",
              "match both: '^\\+?" + d + "$'");
        break;
      }
    }
  }
  // Kari's Law: no dial rule may consume or rewrite an emergency number. The first rule that
  // matches a number is the one that applies, as in normalisation, so an earlier rule that keeps
  // 911 as it is lets a later outside-line rule stand.
  const Kind& dk = kind_by_noun("dialplan");
  for (const auto& plan : c.store.list(dk)) {
    if (!plan.contains("rules")) continue;
    const std::string s = subj(dk, plan["name"].get<std::string>());
    struct Rule {
      DialRule rule;
      std::string pattern, pointer;
    };
    std::vector<Rule> rules;
    std::size_t i = 0;
    for (const auto& rule : plan["rules"]) {
      const std::string pat = rule.value("pattern", "");
      const std::string ptr = "/rules/" + std::to_string(i++);
      Rule r{DialRule(pat, rule.value("translation", "")), pat, ptr};
      if (!r.rule.ok()) {
        if (r.rule.translation_error()) c.add("E406", s, ptr + "/translation", r.rule.error(), r.rule.hint());
        else c.add("E406", s, ptr + "/pattern", "'" + excerpt(pat) + "' is not a valid regular expression: " + r.rule.error(), r.rule.hint());
        continue;  // normalisation skips it too
      }
      rules.push_back(std::move(r));
    }
    std::map<std::size_t, std::pair<std::string, std::string>> eaten;  // rule -> first number it rewrites, and into what
    for (const auto& d : all_numbers)
      for (std::size_t k = 0; k < rules.size(); ++k) {
        auto result = rules[k].rule.apply(d);
        if (!result) continue;
        if (*result != d && *result != "+" + d) eaten.emplace(k, std::make_pair(d, std::move(*result)));
        break;
      }
    for (const auto& [k, e] : eaten) {
      const auto& [d, result] = e;
      c.add("E501", s, rules[k].pointer, "rule '" + excerpt(rules[k].pattern) + "' turns the emergency number '" + d + "' into '" + excerpt(result) + "'",
            "put a rule that keeps it before this one (pattern '^" + d + "$', translation '" + d +
                "'), or narrow the pattern so that it cannot match '" + d + "', e.g. '^9([2-9]\\d{6,})$'");
    }
  }
}

// W305: every usage of a voice policy is served by an enabled route with a trunk and a pattern
// that compiles. A usage that does not exist is a reference problem, reported there.
void check_voice_policies(Ctx& c) {
  const Kind& vk = kind_by_noun("voicepolicy");
  const auto usages = c.store.keys(kind_by_noun("usage"));
  const std::set<std::string> existing(usages.begin(), usages.end());
  std::set<std::string> served;
  for (const auto& r : c.store.list(kind_by_noun("route"))) {
    if (!r.value("enabled", true) || !r.contains("trunks") || r["trunks"].empty() || !Pattern(r.value("number_pattern", "")).ok()) continue;
    if (r.contains("pstn_usages"))
      for (const auto& u : r["pstn_usages"]) served.insert(u.get<std::string>());
  }
  for (const auto& p : c.store.list(vk)) {
    if (!p.contains("pstn_usages")) continue;
    std::size_t i = 0;
    for (const auto& u : p["pstn_usages"]) {
      const std::string usage = u.get<std::string>();
      const std::string ptr = "/pstn_usages/" + std::to_string(i++);
      if (!existing.count(usage) || served.count(usage)) continue;
      c.add("W305", subj(vk, p["identity"].get<std::string>()), ptr,
            "usage '" + usage + "' is served by no enabled route with a trunk: ordinary calls of this usage fail",
            "add a route with pstn_usages [" + usage + "] and a trunk, or remove the usage from the policy");
    }
  }
}

}  // namespace

std::string field_rule_code(const Kind& k, const std::string& field) {
  if (k.noun == "policy") {
    if (field == "emergency_dial_string" || field == "emergency_dial_mask" || field == "emergency_numbers") return "E101";
    if (field == "notification_uris" || field == "conference_uri") return "E102";
    if (field == "location_refresh_interval") return "E103";
    if (field == "notification_webhooks") return "E111";
    if (field == "notification_emails") return "E112";
  }
  if (k.noun == "runtime" && (field == "url" || field == "token_file")) return "E113";
  if (k.noun == "user" && field == "sip_uri") return "E102";
  if (k.noun == "location") {
    if (field == "elins") return "E109";
    if (field == "country") return "E105";
    if (field != "id" && field != "latitude" && field != "longitude" && field != "validation_status" && field != "validated_at") return "E104";
  }
  if ((k.noun == "wap" && field == "bssid") || ((k.noun == "switch" || k.noun == "port") && field == "chassis_id")) return "E106";
  if (k.noun == "port" && field == "port_id_subtype") return "E107";
  if (k.noun == "subnet" && field == "subnet") return "E108";
  return "E100";
}

std::string reference_rule_code(const Kind& k, const std::string& field) {
  const Field* f = k.field(field);
  const std::string target = f ? f->ref_kind : "";
  if (target == "PstnUsage" && k.noun != "route") return "E201";
  if (k.noun == "route") return "E202";
  if (target == "Location" && k.noun != "policy" && k.noun != "site") return "E204";
  return "E203";
}

std::string country_problem(std::string_view code) {
  // A table of the 676 two-letter codes: a million imported rows ask, most of them "US".
  static const std::array<bool, 26 * 26> assigned = [] {
    std::array<bool, 26 * 26> t{};
    for (const auto& c : iso_countries()) t[static_cast<std::size_t>((c[0] - 'A') * 26 + (c[1] - 'A'))] = true;
    return t;
  }();
  if (code.size() == 2 && code[0] >= 'A' && code[0] <= 'Z' && code[1] >= 'A' && code[1] <= 'Z' &&
      assigned[static_cast<std::size_t>((code[0] - 'A') * 26 + (code[1] - 'A'))])
    return {};
  return "'" + std::string(code) + "' is not an assigned ISO 3166-1 alpha-2 country code";
}

std::string host_bits_message(const std::string& subnet, const std::string& network) {
  return "'" + subnet + "' has host bits set; the network is " + network;
}

LocationVerdict location_verdict(const std::function<std::string_view(std::string_view)>& get, bool fixed, bool wifi) {
  LocationVerdict v;
  for (const char* f : required_address_fields()) v.missing_address |= get(f).empty();
  const bool sub_location = !get("location").empty() || !get("floor").empty() || !get("room").empty() || !get("unit").empty();
  v.no_sub_location = fixed && !sub_location;
  const std::string_view status = get("validation_status");
  v.unvalidated = status != "valid";
  v.approximate = wifi && !fixed;
  return v;
}

std::vector<Diagnostic> location_rules(const std::function<std::string_view(std::string_view)>& get, bool fixed, bool wifi) {
  std::vector<Diagnostic> out;
  auto add = [&](const char* code, std::string pointer, std::string message, std::string hint = {}) {
    out.push_back({code[0] == 'W' ? Severity::warning : Severity::error, code, std::move(message), {}, {}, std::move(hint), std::move(pointer)});
  };
  std::string missing, first;
  for (const char* f : required_address_fields())
    if (get(f).empty()) {
      missing += (missing.empty() ? "" : ", ") + std::string(f);
      if (first.empty()) first = f;
    }
  if (!missing.empty())
    add("E604", "/" + first, "address lacks " + missing, "Lync needs location, house_number, street_name, city, state and country");
  const bool sub_location = !get("location").empty() || !get("floor").empty() || !get("room").empty() || !get("unit").empty();
  if (fixed && !sub_location)
    add("E601", "/location", "location of a fixed device has no floor, room or unit", "fill location, floor, room or unit");
  std::string_view status = get("validation_status");
  if (status.empty()) status = "unvalidated";
  if (status != "valid")
    add("W603", "/validation_status", "address is " + std::string(status) + " with the provider",
        "run 'e911ctl location validate-addresses --all' (the provider's URL in --url or E911_PROVIDER_URL)");
  if (wifi && !fixed) add("W602", "", "location is known only from Wi-Fi access points and is approximate");
  return out;
}

const std::array<const char*, 6>& required_address_fields() {
  static const std::array<const char*, 6> names = {"location", "house_number", "street_name", "city", "state", "country"};
  return names;
}

std::string Network::text() const {
  char buf[INET6_ADDRSTRLEN];
  inet_ntop(v6 ? AF_INET6 : AF_INET, addr.data(), buf, sizeof buf);
  return std::string(buf) + "/" + std::to_string(bits);
}

bool parse_address(std::string_view text, Network& out) {
  out = Network{};
  out.v6 = text.find(':') != std::string_view::npos;
  if (!out.v6) {
    // Dotted decimal, four parts of 0-255 without leading zeros, as inet_pton reads it; by hand,
    // because an import parses a million of them.
    std::size_t part = 0, i = 0;
    while (part < 4) {
      const std::size_t start = i;
      unsigned v = 0;
      while (i < text.size() && text[i] >= '0' && text[i] <= '9' && i - start < 3) v = v * 10 + static_cast<unsigned>(text[i++] - '0');
      const std::size_t digits = i - start;
      if (digits == 0 || v > 255 || (digits > 1 && text[start] == '0')) return false;
      out.addr[part++] = static_cast<unsigned char>(v);
      if (part < 4) {
        if (i >= text.size() || text[i] != '.') return false;
        ++i;
      }
    }
    if (i != text.size()) return false;
    out.bits = 32;
    return true;
  }
  const std::string a(text);
  if (inet_pton(out.v6 ? AF_INET6 : AF_INET, a.c_str(), out.addr.data()) != 1) return false;
  out.bits = out.v6 ? 128 : 32;
  return true;
}

bool parse_network(std::string_view cidr, Network& out) {
  const auto slash = cidr.find('/');
  if (slash == std::string_view::npos) return false;
  const std::string_view len = cidr.substr(slash + 1);
  if (len.empty() || len.size() > 3 || len.find_first_not_of("0123456789") != std::string_view::npos) return false;
  if (!parse_address(cidr.substr(0, slash), out)) return false;
  const int total = out.bits;
  out.bits = 0;
  for (const char c : len) out.bits = out.bits * 10 + (c - '0');
  if (out.bits > total) return false;
  for (int i = out.bits; i < total; ++i) {
    const int byte = i / 8, bit = 7 - i % 8;
    if (out.addr[static_cast<std::size_t>(byte)] & (1 << bit)) {
      out.host_bits = true;
      out.addr[static_cast<std::size_t>(byte)] &= static_cast<unsigned char>(~(1 << bit));
    }
  }
  return true;
}

std::vector<Diagnostic> introduced_diagnostics(const std::vector<Diagnostic>& before, std::vector<Diagnostic> after) {
  auto id = [](const Diagnostic& d) { return d.code + "\x1f" + d.subject + "\x1f" + d.message; };
  std::unordered_set<std::string> known;
  for (const auto& d : before) known.insert(id(d));
  std::vector<Diagnostic> out;
  for (auto& d : after)
    if (!known.count(id(d))) out.push_back(std::move(d));
  return out;
}

std::vector<Diagnostic> validate_store(const Store& store, unsigned passes) {
  Ctx c{store, {}};
  if (passes & kCheckDispatchable) passes |= kCheckReferences;
  try {
    phase_mark("validate: start");
    if (passes & kCheckFields) check_fields(c);
    phase_mark("validate: fields checked");
    if (passes & kCheckReferences) check_references(c);
    phase_mark("validate: references checked");
    if (passes & kCheckElements) check_conflicts(c);
    if (passes & kCheckElins) check_elins(c);
    phase_mark("validate: conflicts checked");
    if (passes & kCheckDispatchable) check_dispatchable(c);
    phase_mark("validate: dispatchable locations checked");
    if (passes & kCheckPolicies) check_policies(c);
    phase_mark("validate: policies checked");
    check_voice_policies(c);
    phase_mark("validate: voice policies checked");
  } catch (const SQLite::Exception& e) {
    c.add("E100", "store", "", std::string("cannot read the store: ") + e.what());
  }
  std::stable_sort(c.out.begin(), c.out.end(), [](const Diagnostic& a, const Diagnostic& b) {
    if ((a.severity == Severity::error) != (b.severity == Severity::error)) return a.severity == Severity::error;
    return false;
  });
  return c.out;
}

}  // namespace e911
