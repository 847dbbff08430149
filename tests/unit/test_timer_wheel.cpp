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

TEST_CASE("a burst of timers in one tick leaves no large buffer behind in the wheel") {
  // 20,000 timers due in the same tick (an outage's retransmissions), then one timer in each
  // tick for a whole turn of the wheel: the burst's slot gives its buffer back once it is empty,
  // and no other slot inherits it (a 5-minute soak at 400 calls/s once held 22 MB this way).
  asio::io_context io;
  runtime::TimerWheel wheel(io, milliseconds(5), 64);
  Fired f;
  for (std::uint64_t i = 0; i < 20000; ++i) wheel.start(milliseconds(10), &record, &f, i);
  CHECK(wheel.reserved() >= 20000);
  // Bounded waits, long enough for a loaded (or sanitized) machine: each ends once all fired.
  auto run_until = [&](std::size_t fired) {
    for (int i = 0; i < 100 && f.order.size() < fired; ++i) run_for(io, milliseconds(50));
  };
  run_until(20000);
  REQUIRE(f.order.size() == 20000);
  for (std::size_t turn = 1; turn <= 2; ++turn) {
    for (std::uint64_t i = 0; i < 64; ++i) wheel.start(milliseconds(5 * (i + 1)), &record, &f, i);
    run_until(20000 + 64 * turn);
  }
  CHECK(f.order.size() == 20000 + 128);
  CHECK(wheel.size() == 0);
  CHECK(wheel.reserved() <= 64 * 8 + 64);
}
