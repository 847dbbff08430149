// The runtime's timing wheel, on a real asio loop in real (short) time.
#include <catch2/catch.hpp>
#include <chrono>
#include <string>
#include <vector>

#include "e911/runtime_timer_wheel.hpp"

using namespace e911;
using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

namespace {

struct Fired {
  std::vector<std::pair<std::uint64_t, Clock::duration>> order;  ///< argument, time since start
  Clock::time_point start = Clock::now();
};

void record(void* context, std::uint64_t argument) {
  auto& f = *static_cast<Fired*>(context);
  f.order.emplace_back(argument, Clock::now() - f.start);
}

void run_for(asio::io_context& io, milliseconds d) {
  io.restart();
  io.run_for(d);
}

}  // namespace

TEST_CASE("wheel timers fire in deadline order, never before their time") {
  asio::io_context io;
  runtime::TimerWheel wheel(io, milliseconds(5), 64);
  Fired f;
  wheel.start(milliseconds(60), &record, &f, 3);
  wheel.start(milliseconds(10), &record, &f, 1);
  wheel.start(milliseconds(30), &record, &f, 2);
  CHECK(wheel.size() == 3);
  run_for(io, milliseconds(300));
  REQUIRE(f.order.size() == 3);
  CHECK(f.order[0].first == 1);
  CHECK(f.order[1].first == 2);
  CHECK(f.order[2].first == 3);
  CHECK(f.order[0].second >= milliseconds(10));
  CHECK(f.order[1].second >= milliseconds(30));
  CHECK(f.order[2].second >= milliseconds(60));
  CHECK(wheel.size() == 0);
}

TEST_CASE("a cancelled wheel timer never fires; a stale handle cancels nothing") {
  asio::io_context io;
  runtime::TimerWheel wheel(io, milliseconds(5), 64);
  Fired f;
  auto a = wheel.start(milliseconds(20), &record, &f, 1);
  auto b = wheel.start(milliseconds(20), &record, &f, 2);
  wheel.cancel(a);
  CHECK_FALSE(a.started());
  CHECK(wheel.size() == 1);
  run_for(io, milliseconds(100));
  REQUIRE(f.order.size() == 1);
  CHECK(f.order[0].first == 2);
  // `b` fired; its entry is reused by `c`. Cancelling the old handle must leave `c` alone.
  auto c = wheel.start(milliseconds(10), &record, &f, 3);
  CHECK(c.index == b.index);
  wheel.cancel(b);
  run_for(io, milliseconds(100));
  REQUIRE(f.order.size() == 2);
  CHECK(f.order[1].first == 3);
}

TEST_CASE("a wheel timer past the wheel's span fires after its whole time") {
  asio::io_context io;
  runtime::TimerWheel wheel(io, milliseconds(5), 8);  // 40 ms around
  Fired f;
  wheel.start(milliseconds(130), &record, &f, 1);
  wheel.start(milliseconds(15), &record, &f, 2);  // the wheel turns three times under the first
  run_for(io, milliseconds(400));
  REQUIRE(f.order.size() == 2);
  CHECK(f.order[0].first == 2);
  CHECK(f.order[1].first == 1);
  CHECK(f.order[1].second >= milliseconds(130));
}

TEST_CASE("a wheel timer started by a firing one, and a restarted one, behave") {
  asio::io_context io;
  runtime::TimerWheel wheel(io, milliseconds(5), 64);
  Fired f;
  int chained = 0;
  // A zero-delay timer started from a callback fires on a later tick, not never.
  wheel.start(milliseconds(10), [&] {
    ++chained;
    wheel.start(milliseconds(0), [&] { ++chained; });
  });
  runtime::TimerWheel::Handle h = wheel.start(milliseconds(15), &record, &f, 1);
  wheel.restart(h, milliseconds(50), &record, &f, 2);  // replaces the first deadline
  run_for(io, milliseconds(200));
  CHECK(chained == 2);
  REQUIRE(f.order.size() == 1);
  CHECK(f.order[0].first == 2);
  CHECK(f.order[0].second >= milliseconds(50));
}

TEST_CASE("a wheel destroyed with timers pending runs none of them") {
  asio::io_context io;
  Fired f;
  {
    runtime::TimerWheel wheel(io, milliseconds(5), 64);
    wheel.start(milliseconds(10), &record, &f, 1);
  }
  run_for(io, milliseconds(60));
  CHECK(f.order.empty());
}
