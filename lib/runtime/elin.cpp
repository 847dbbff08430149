// ELIN gateway mode: the choice of ELIN and PSAP callbacks (see runtime_elin.hpp).
#include "e911/runtime_elin.hpp"

namespace e911::runtime {

std::string ElinPool::digits(std::string_view number) {
  std::string out;
  for (char c : number)
    if (c >= '0' && c <= '9') out += c;
  return out;
}

std::size_t ElinPool::pick(std::span<const std::string> elins, std::string_view caller, Clock::time_point now, std::string* why) const {
  std::size_t free_one = std::string::npos, idlest = std::string::npos;
  Clock::time_point idlest_at = Clock::time_point::max();
  for (std::size_t i = 0; i < elins.size(); ++i) {
    const auto u = uses_.find(digits(elins[i]));
    const bool live = u != uses_.end() && now - u->second.at <= window_;
    if (live && u->second.caller == caller) {
      if (why) *why = "held by this caller within the callback window";
      return i;
    }
    if (!live) {
      if (free_one == std::string::npos) free_one = i;
    } else if (u->second.at < idlest_at) {
      idlest_at = u->second.at;
      idlest = i;
    }
  }
  if (free_one != std::string::npos) {
    if (why) *why = "the first ELIN of the location not in use";
    return free_one;
  }
  if (why && idlest != std::string::npos) *why = "every ELIN of the location is in use: the one idle longest";
  return idlest;
}

void ElinPool::map(std::string_view elin, std::string caller, std::vector<std::string> desks, Clock::time_point now) {
  const std::string key = digits(elin);
  if (key.empty()) return;
  uses_[key] = Use{std::move(caller), now, std::move(desks)};
}

std::optional<ElinPool::Callback> ElinPool::callback(std::string_view number, Clock::time_point now) const {
  const std::string key = digits(number);
  if (key.empty()) return std::nullopt;
  auto u = uses_.find(key);
  // A PSAP may dial the ELIN without its country code (10 digits of a NANP +1 number).
  if (u == uses_.end() && key.size() == 10) u = uses_.find("1" + key);
  if (u == uses_.end()) return std::nullopt;
  return Callback{u->first, now - u->second.at <= window_, u->second.caller, u->second.desks};
}

}  // namespace e911::runtime
