#pragma once
// What one source may hold of the runtime (issue 14): TCP and TLS connections and calls in
// progress counted by source address, and the log line of a refusal, written at most once per
// source and limit in a window however hard that source floods. One of each belongs to one
// io_context thread (the chain's): nothing here takes a lock.
//
// The limits themselves are applied where the thing is taken: connections at accept
// (runtime_transport.hpp, `max_connections_per_source`), ordinary calls in the B2BUA
// (runtime_b2bua.hpp, `max_calls_per_source`, `max_calls`). Emergency, test and PSAP callback
// calls are counted but never refused by any of them.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <unordered_map>

namespace e911::runtime {

/// How many of something (connections, calls) each source address holds now.
class PerSource {
 public:
  /// One more for `source` (an IP literal); returns how many it holds now, this one included.
  std::size_t add(const std::string& source);
  /// One fewer for `source`; a source at 0 is forgotten. Never below 0.
  void remove(const std::string& source);
  /// How many `source` holds now.
  std::size_t count(const std::string& source) const;
  /// Sources holding at least one.
  std::size_t sources() const { return counts_.size(); }

 private:
  std::unordered_map<std::string, std::size_t> counts_;
};

/// The log lines of refusals, rate-limited: for each key (what was refused and from where) at most
/// one line per window. A refusal held back is counted; the next line for its key says how many
/// were held back, and flush() writes a line for the keys whose window has passed with refusals
/// held back, so a flood that stops is still reported whole. At most `max_keys` keys are kept:
/// beyond that (a flood from many addresses) the refusals share one key, "many sources".
class LimitLog {
 public:
  using Clock = std::chrono::steady_clock;
  /// `sink(level, message)` writes one log line (CoreOptions::on_event); may be empty (no lines).
  explicit LimitLog(std::function<void(const std::string&, const std::string&)> sink, std::chrono::seconds window = std::chrono::seconds(10),
                    std::size_t max_keys = 4096);

  /// A refusal under `key` ("connections 10.1.2.3"), described by `message` ("TCP connection from
  /// 10.1.2.3 refused: ..."). Writes `message` at level warn, with "; N more like it in the last
  /// 10 s" when refusals were held back since the last line, unless a line for `key` was written
  /// less than a window ago: then it is only counted. Returns true when a line was written.
  bool refused(const std::string& key, const std::string& message, Clock::time_point now = Clock::now());
  /// For every key whose last line is a window old or more: when refusals were held back since,
  /// one line "N more like it in the last 10 s: <the last message>"; keys with nothing held back
  /// are forgotten. Run about once a second (the chain's housekeeping).
  void flush(Clock::time_point now = Clock::now());
  /// Lines written, and refusals counted but not written (for tests).
  std::uint64_t written() const { return written_; }
  std::uint64_t held_back() const { return held_back_; }

 private:
  struct Entry {
    Clock::time_point last;  ///< when its last line was written
    std::uint64_t held = 0;  ///< refusals since then not written
    std::string message;     ///< the last of them
  };
  void write(const std::string& message);
  std::string suffix(std::uint64_t held) const;

  std::function<void(const std::string&, const std::string&)> sink_;
  std::chrono::seconds window_;
  std::size_t max_keys_;
  std::unordered_map<std::string, Entry> entries_;
  std::uint64_t written_ = 0, held_back_ = 0;
};

}  // namespace e911::runtime
