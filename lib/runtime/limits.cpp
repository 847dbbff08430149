// Per-source counts and the rate-limited log of refusals (see runtime_limits.hpp).
#include "e911/runtime_limits.hpp"

namespace e911::runtime {

std::size_t PerSource::add(const std::string& source) { return ++counts_[source]; }

void PerSource::remove(const std::string& source) {
  auto it = counts_.find(source);
  if (it == counts_.end()) return;
  if (--it->second == 0) counts_.erase(it);
}

std::size_t PerSource::count(const std::string& source) const {
  auto it = counts_.find(source);
  return it == counts_.end() ? 0 : it->second;
}

LimitLog::LimitLog(std::function<void(const std::string&, const std::string&)> sink, std::chrono::seconds window, std::size_t max_keys)
    : sink_(std::move(sink)), window_(window), max_keys_(max_keys == 0 ? 1 : max_keys) {}

void LimitLog::write(const std::string& message) {
  ++written_;
  if (sink_) sink_("warn", message);
}

std::string LimitLog::suffix(std::uint64_t held) const {
  return " (and " + std::to_string(held) + " more like it not logged since the last line)";
}

bool LimitLog::refused(const std::string& key, const std::string& message, Clock::time_point now) {
  auto it = entries_.find(key);
  if (it == entries_.end()) {
    // A flood from many addresses must not grow this map without bound, nor write a line per
    // address: past max_keys they share one key (and one line per window).
    static const std::string kMany = "many sources";
    if (entries_.size() >= max_keys_ && key != kMany) {
      flush(now);
      if (entries_.size() >= max_keys_) return refused(kMany, message + " (one of many sources refused)", now);
    }
    entries_.emplace(key, Entry{now, 0, {}});
    write("limit: " + message);
    return true;
  }
  Entry& e = it->second;
  if (now - e.last < window_) {
    ++e.held;
    ++held_back_;
    e.message = message;
    return false;
  }
  write("limit: " + message + (e.held ? suffix(e.held) : std::string()));
  e.last = now;
  e.held = 0;
  e.message.clear();
  return true;
}

void LimitLog::flush(Clock::time_point now) {
  for (auto it = entries_.begin(); it != entries_.end();) {
    Entry& e = it->second;
    if (now - e.last < window_) {
      ++it;
      continue;
    }
    if (e.held == 0) {
      it = entries_.erase(it);
      continue;
    }
    write("limit: " + std::to_string(e.held) + " more like this not logged since the last line: " + e.message);
    e.last = now;
    e.held = 0;
    e.message.clear();
    ++it;
  }
}

}  // namespace e911::runtime
