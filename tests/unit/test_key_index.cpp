#include <catch2/catch.hpp>
#include <string>
#include <unordered_map>

#include "e911/key_index.hpp"

using namespace e911;

TEST_CASE("KeyIndex gives each distinct key one dense id, across growth", "[key_index]") {
  KeyIndex idx;
  std::unordered_map<std::string, int32_t> ref;
  // Keys that share long prefixes and differ only at the end, like location ids, and the empty key.
  for (int round = 0; round < 2; ++round) {
    for (int i = 0; i < 50000; ++i) {
      const std::string key = i == 0 ? std::string() : "loc-" + std::to_string(i * 7919 % 100003);
      const auto [id, fresh] = idx.insert(key);
      const auto [it, ref_fresh] = ref.emplace(key, static_cast<int32_t>(ref.size()));
      REQUIRE(fresh == ref_fresh);
      REQUIRE(id == it->second);
    }
  }
  REQUIRE(idx.size() == ref.size());
  for (const auto& [key, id] : ref) {
    REQUIRE(idx.find(key) == id);
    REQUIRE(idx.at(id) == key);
  }
  CHECK(idx.find("loc-100004") == -1);
  CHECK(idx.find("loc-") == -1);
  KeyIndex reserved;
  reserved.reserve(3);
  CHECK(reserved.insert("a").second);
  CHECK_FALSE(reserved.insert("a").second);
  CHECK(reserved.find("b") == -1);
  CHECK(KeyIndex().find("a") == -1);
}
