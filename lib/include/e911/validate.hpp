#pragma once
#include <array>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "e911/diagnostic.hpp"
#include "e911/store.hpp"

namespace e911 {

/// One validation rule: its code, what it checks, an example that trips it and the fix.
struct Rule {
  std::string code;      ///< E… (error) or W… (warning)
  std::string family;    ///< field limits, references, routing, conflicts, Kari's Law, RAY BAUM'S Act, ELIN
  std::string title;     ///< one line
  std::string detail;    ///< why it matters
  std::string example;   ///< YAML that trips it
  std::string fix;       ///< how to fix it
};

/// Every rule, in code order.
const std::vector<Rule>& rules();
/// The rule with this code (case-insensitive), or nullptr.
const Rule* find_rule(const std::string& code);

/// The rule a value of `field` of `kind` breaks when it breaks the field's schema (E101-E109, else
/// E100): the same code whether the value came from YAML, CSV, a command-line option or the store.
std::string field_rule_code(const Kind& kind, const std::string& field);

/// The rule a reference from `field` of `kind` to an object that does not exist breaks (E201-E204),
/// whether the name is wrong or the object it named is being removed.
std::string reference_rule_code(const Kind& kind, const std::string& field);

/// Why `code` is not an assigned ISO 3166-1 alpha-2 country code (E105), or "" when it is one.
std::string country_problem(std::string_view code);

/// One location's own rules, exactly as validate_store checks them: the address Lync requires
/// (E604), a floor, room or unit when a fixed device uses it (E601), validation with the provider
/// (W603), and an approximate location when only access points use it (W602). `get` returns a
/// location field's text, "" when absent. The caller sets each diagnostic's subject and place.
std::vector<Diagnostic> location_rules(const std::function<std::string_view(std::string_view field)>& get, bool fixed, bool wifi);

/// Which of location_rules() a location breaks, without building a message: for paths that see
/// a million locations and report most of them as a count.
struct LocationVerdict {
  bool missing_address = false;  ///< E604
  bool no_sub_location = false;  ///< E601
  bool unvalidated = false;      ///< W603
  bool approximate = false;      ///< W602
  bool errors() const { return missing_address || no_sub_location; }
};
LocationVerdict location_verdict(const std::function<std::string_view(std::string_view field)>& get, bool fixed, bool wifi);

/// The E108 message for a subnet written with host bits set.
std::string host_bits_message(const std::string& subnet, const std::string& network);

/// The location fields Lync requires of an address (E604), in the order they are reported.
const std::array<const char*, 6>& required_address_fields();

/// A network in CIDR form, with any host bits cleared.
struct Network {
  std::array<unsigned char, 16> addr{};
  int bits = 0;
  bool v6 = false;
  bool host_bits = false;  ///< the text had host bits set (E108)
  /// The network as text, e.g. "10.10.1.0/24"; IPv6 in RFC 5952 form.
  std::string text() const;
};

/// Parses "ADDRESS/BITS"; false when it is not an IPv4 or IPv6 network.
bool parse_network(std::string_view cidr, Network& out);

/// Parses a bare IPv4 or IPv6 address (a Lync LIS subnet, written without a mask) as a /32 or /128.
bool parse_address(std::string_view text, Network& out);

/// The passes of validate_store, to check part of the rules (dispatchable locations need the
/// references pass, which finds what uses each location).
enum ValidatePass : unsigned {
  kCheckFields = 1,        ///< E100-E109 on every field
  kCheckReferences = 2,    ///< E201-E204
  kCheckElements = 4,      ///< conflicts between elements: E108, E401, W403
  kCheckDispatchable = 8,  ///< E601, W602, W603, E604, W205
  kCheckPolicies = 16,     ///< routing, policy conflicts, Kari's Law
  kCheckElins = 32,        ///< ELINs shared by locations: E701
  kCheckConflicts = kCheckElements | kCheckElins,
  kCheckAll = 63,
};

/// The diagnostics of `after` that `before` lacks (same code, subject and message): what a
/// change brought. Problems a store already had are not the change's fault.
std::vector<Diagnostic> introduced_diagnostics(const std::vector<Diagnostic>& before, std::vector<Diagnostic> after);

/// Checks the objects the store (or an open Writer on it) currently holds against every rule.
/// Diagnostics name the object (`subject`) and field (`pointer`); never throws for bad data.
/// Designed for a million locations and elements: the large kinds are checked in SQL and on raw
/// column text, the small ones as objects.
std::vector<Diagnostic> validate_store(const Store& store, unsigned passes = kCheckAll);

}  // namespace e911
