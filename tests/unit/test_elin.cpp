// ELIN gateway mode (DOMAIN.md §5): which ELIN a call takes, and where a callback to it goes.
#include <catch2/catch.hpp>
#include <chrono>
#include <string>
#include <vector>

#include "e911/runtime_elin.hpp"

using e911::runtime::ElinPool;
using std::chrono::minutes;

namespace {
const std::vector<std::string> kElins = {"+14255550190", "+14255550191"};
const ElinPool::Clock::time_point t0{};
}  // namespace

TEST_CASE("ELIN: the first ELIN not in use, then the next") {
  ElinPool pool(minutes(30));
  std::string why;
  REQUIRE(pool.pick(kElins, "sip:alice@x", t0, &why) == 0);
  CHECK(why == "the first ELIN of the location not in use");
  pool.map(kElins[0], "sip:alice@x", {}, t0);
  CHECK(pool.pick(kElins, "sip:bob@x", t0 + minutes(1)) == 1);
}

TEST_CASE("ELIN: a caller calling again keeps the ELIN they hold") {
  ElinPool pool(minutes(30));
  pool.map(kElins[0], "sip:alice@x", {}, t0);
  pool.map(kElins[1], "sip:bob@x", {}, t0 + minutes(1));
  std::string why;
  CHECK(pool.pick(kElins, "sip:bob@x", t0 + minutes(2), &why) == 1);
  CHECK(why == "held by this caller within the callback window");
}

TEST_CASE("ELIN: all in use, the one idle longest; an expired mapping is free again") {
  ElinPool pool(minutes(30));
  pool.map(kElins[0], "sip:alice@x", {}, t0 + minutes(5));
  pool.map(kElins[1], "sip:bob@x", {}, t0);
  std::string why;
  CHECK(pool.pick(kElins, "sip:carol@x", t0 + minutes(10), &why) == 1);
  CHECK(why == "every ELIN of the location is in use: the one idle longest");
  // Bob's mapping is past the window 31 minutes after t0: it is free, and the first free wins.
  CHECK(pool.pick(kElins, "sip:carol@x", t0 + minutes(31)) == 1);
  CHECK(pool.pick(kElins, "sip:carol@x", t0 + minutes(36)) == 0);
  CHECK(pool.pick({}, "sip:carol@x", t0) == std::string::npos);
}

TEST_CASE("ELIN callback: the last caller within the window, then that call's desks") {
  ElinPool pool(minutes(30));
  pool.map("+1 (425) 555-0190", "sip:alice@x", {"sip:desk@x"}, t0);
  pool.map(kElins[0], "sip:bob@x", {"sip:desk@x"}, t0 + minutes(2));  // the same ELIN, another call
  auto cb = pool.callback("+14255550190", t0 + minutes(20));
  REQUIRE(cb);
  CHECK(cb->in_window);
  CHECK(cb->caller == "sip:bob@x");
  // Dialled without the country code, as a PSAP may.
  auto local = pool.callback("4255550190", t0 + minutes(20));
  REQUIRE(local);
  CHECK(local->caller == "sip:bob@x");
  auto late = pool.callback("+14255550190", t0 + minutes(33));
  REQUIRE(late);
  CHECK_FALSE(late->in_window);
  CHECK(late->desks == std::vector<std::string>{"sip:desk@x"});
  CHECK_FALSE(pool.callback("+14255550191", t0));  // never sent: no ELIN callback
  CHECK_FALSE(pool.callback("", t0));
  CHECK(pool.size() == 1);
}
