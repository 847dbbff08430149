#include "e911/key_index.hpp"

#include <stdexcept>

namespace e911 {

uint64_t KeyIndex::fnv1a(std::string_view s) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
  return h;
}

uint64_t KeyIndex::mix(uint64_t h) {
  h = (h ^ (h >> 30)) * 0xbf58476d1ce4e5b9ull;
  return h ^ (h >> 31);
}

namespace {

constexpr uint64_t kTagMask = 0xffffffff00000000ull;

}  // namespace

void KeyIndex::reserve(std::size_t n) {
  offsets_.reserve(n);
  arena_.reserve(n * 16);
  std::size_t cap = 16;
  while (cap < n * 2) cap <<= 1;
  if (cap > slots_.size()) {
    std::vector<uint64_t> old;
    old.swap(slots_);
    slots_.assign(cap, 0);
    mask_ = cap - 1;
    for (uint64_t slot : old) {
      if (slot == 0) continue;
      for (uint64_t h = hash(at(static_cast<int32_t>((slot & 0xffffffffu) - 1))) & mask_;; h = (h + 1) & mask_)
        if (slots_[h] == 0) {
          slots_[h] = slot;
          break;
        }
    }
  }
}

void KeyIndex::grow() { reserve(slots_.empty() ? 8 : slots_.size()); }

std::string_view KeyIndex::at(int32_t id) const {
  const auto i = static_cast<std::size_t>(id);
  const std::size_t start = offsets_[i];
  const std::size_t end = i + 1 < offsets_.size() ? offsets_[i + 1] : arena_.size();
  return std::string_view(arena_).substr(start, end - start);
}

std::pair<int32_t, bool> KeyIndex::insert(std::string_view key, uint64_t hashed) {
  if ((offsets_.size() + 1) * 2 > slots_.size()) grow();
  const uint64_t tag = hashed & kTagMask;
  for (uint64_t h = hashed & mask_;; h = (h + 1) & mask_) {
    uint64_t& slot = slots_[h];
    if (slot == 0) {
      if (arena_.size() + key.size() > UINT32_MAX) throw std::length_error("KeyIndex: more than 4 GiB of keys");
      const auto id = static_cast<int32_t>(offsets_.size());
      offsets_.push_back(static_cast<uint32_t>(arena_.size()));
      arena_.append(key);
      slot = tag | (static_cast<uint64_t>(id) + 1);
      return {id, true};
    }
    const auto id = static_cast<int32_t>((slot & 0xffffffffu) - 1);
    if ((slot & kTagMask) == tag && at(id) == key) return {id, false};
  }
}

int32_t KeyIndex::find(std::string_view key, uint64_t hashed) const {
  if (slots_.empty()) return -1;
  const uint64_t tag = hashed & kTagMask;
  for (uint64_t h = hashed & mask_;; h = (h + 1) & mask_) {
    const uint64_t slot = slots_[h];
    if (slot == 0) return -1;
    const auto id = static_cast<int32_t>((slot & 0xffffffffu) - 1);
    if ((slot & kTagMask) == tag && at(id) == key) return id;
  }
}

}  // namespace e911
