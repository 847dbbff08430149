// ELIN gateway mode (DOMAIN.md §5): which ELIN of a location a call is sent with, and who a PSAP
// calling that ELIN back reaches.
#pragma once

#include <chrono>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace e911::runtime {

/// The ELINs the runtime has sent, each mapped to the last caller it stood for. Single-threaded:
/// one per B2BUA (one per loop). Time is given by the caller, so the rules are testable.
class ElinPool {
 public:
  using Clock = std::chrono::steady_clock;

  explicit ElinPool(std::chrono::seconds window) : window_(window) {}
  void set_window(std::chrono::seconds window) { window_ = window; }
  std::chrono::seconds window() const { return window_; }

  /// The ELIN of `elins` (a location's, in their configured order) an emergency call from
  /// `caller` is sent with: the one this caller already holds within the callback window (a
  /// second call keeps the callback reaching them), else the first not mapped within the window,
  /// else the one idle longest. Empty `elins`: npos. `why` says which rule chose.
  std::size_t pick(std::span<const std::string> elins, std::string_view caller, Clock::time_point now, std::string* why = nullptr) const;

  /// Maps `elin` to `caller` from `now`, with the security desks of that call.
  void map(std::string_view elin, std::string caller, std::vector<std::string> desks, Clock::time_point now);

  struct Callback {
    std::string elin;                ///< as mapped (digits)
    bool in_window = false;          ///< the mapping is younger than the callback window
    std::string caller;              ///< who it stood for
    std::vector<std::string> desks;  ///< that call's security desks: reached after the window
  };
  /// A call to `number`: the mapping of the ELIN it is, or nullopt when it is no ELIN sent here.
  std::optional<Callback> callback(std::string_view number, Clock::time_point now) const;

  /// Mappings held: at most one per ELIN ever sent, so bounded by the snapshots' ELINs. They are
  /// kept past the window, since a late callback still rings that call's security desk.
  std::size_t size() const { return uses_.size(); }

  /// The digits of a number (an ELIN as configured, dialled or normalised: +1 425..., 1425...).
  static std::string digits(std::string_view number);

 private:
  struct Use {
    std::string caller;
    Clock::time_point at;
    std::vector<std::string> desks;
  };
  std::chrono::seconds window_;
  std::unordered_map<std::string, Use> uses_;  ///< by the ELIN's digits
};

}  // namespace e911::runtime
