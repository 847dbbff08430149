#pragma once
#include <nlohmann/json.hpp>

namespace e911 {
/// Objects, plans and outputs keep the order their fields were defined in.
using Json = nlohmann::ordered_json;
}  // namespace e911
