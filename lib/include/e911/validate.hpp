#pragma once
#include <string>
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

/// Checks the objects the store (or an open Writer on it) currently holds against every rule.
/// Diagnostics name the object (`subject`) and field (`pointer`); never throws for bad data.
/// Designed for a million locations and elements: the large kinds are checked in SQL and on raw
/// column text, the small ones as objects.
std::vector<Diagnostic> validate_store(const Store& store);

}  // namespace e911
