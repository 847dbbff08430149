#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace e911 {

/// Strings to dense ids (0, 1, 2... in order of insertion): the strings are kept end to end in
/// one buffer and found by open addressing with a hash tag per slot. For a million keys this is
/// a few allocations where a std::unordered_map<std::string, ...> makes two million.
class KeyIndex {
 public:
  void reserve(std::size_t n);
  /// The id of `key`, and whether it was added now.
  std::pair<int32_t, bool> insert(std::string_view key) { return insert(key, hash(key)); }
  /// The id of `key`, or -1.
  int32_t find(std::string_view key) const { return find(key, hash(key)); }
  /// The same, for a caller that has `hashed` = hash(key) already (one hash for several uses).
  std::pair<int32_t, bool> insert(std::string_view key, uint64_t hashed);
  int32_t find(std::string_view key, uint64_t hashed) const;
  std::string_view at(int32_t id) const;
  /// Starts fetching the slot where a key of hash `hashed` would be (a hint; no effect on content).
  void prefetch(uint64_t hashed) const {
    if (!slots_.empty()) __builtin_prefetch(&slots_[hashed & mask_]);
  }
  std::size_t size() const { return offsets_.size(); }
  /// The hash it places keys by (FNV-1a, mixed so both halves are usable): for tables like it.
  static uint64_t hash(std::string_view key) { return mix(fnv1a(key)); }
  /// 64-bit FNV-1a, and the mix that hash() puts over it.
  static uint64_t fnv1a(std::string_view key);
  static uint64_t mix(uint64_t h);

 private:
  void grow();
  std::string arena_;
  std::vector<uint32_t> offsets_;  // start of each key; the next start (or the end) ends it
  std::vector<uint64_t> slots_;    // hash tag in the high half, id + 1 in the low; 0 empty
  uint64_t mask_ = 0;
};

}  // namespace e911
