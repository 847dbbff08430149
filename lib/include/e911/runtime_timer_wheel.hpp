#pragma once
// The runtime's timers (ARCHITECTURE.md "The runtime"): one hashed timing wheel per loop thread,
// driven by a single asio timer, instead of one asio timer per RFC 3261 timer.
//
// Why: a call starts and stops some twenty timers (A, B, D, E, F, G, H, I, J, K, L, M, 100
// Trying, failover, ring, 2xx retransmission, linger), and most of them are cancelled long before
// they fire. With one asio timer each, every start is a heap insert and every stop a heap removal
// in asio's timer queue (tens of thousands of entries in steady state), and a change of the
// earliest deadline is a timerfd_settime system call; every expiry is a wake-up of its own.
// Here a start is an append to a slot, a stop bumps a generation (the stale entry is skipped when
// its slot comes round), and the expiries of one tick share one wake-up.
//
// Precision: a timer fires at the first tick at or after its deadline, never before it; the tick
// (10 ms by default; the runtime's chain uses T1/10, at most 50 ms) is far below the 500 ms of T1,
// the shortest RFC 3261 timer that matters on the wire. One wheel belongs to one io_context thread: nothing in it takes a lock.
#include <asio.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <vector>

namespace e911::runtime {

class TimerWheel {
 public:
  using Clock = std::chrono::steady_clock;
  /// What a timer runs: a plain function with two words of context, so that starting a timer
  /// allocates nothing (a lambda capturing a key would).
  using Fn = void (*)(void* context, std::uint64_t argument);

  /// A started timer; default-constructed: none. Stale handles are harmless (cancel is a no-op).
  struct Handle {
    std::uint32_t index = UINT32_MAX;
    std::uint32_t generation = 0;
    bool started() const { return index != UINT32_MAX; }
  };

  explicit TimerWheel(asio::io_context& io, std::chrono::milliseconds tick = std::chrono::milliseconds(10), std::size_t slots = 8192);
  TimerWheel(const TimerWheel&) = delete;
  TimerWheel& operator=(const TimerWheel&) = delete;
  ~TimerWheel();

  /// Runs fn(context, argument) on the loop after `after`.
  Handle start(std::chrono::milliseconds after, Fn fn, void* context, std::uint64_t argument);
  /// Runs `fn` on the loop after `after` (for the rare timer whose owner has no stable address).
  Handle start(std::chrono::milliseconds after, std::function<void()> fn);
  /// Cancels the timer if it has not fired yet, and resets the handle.
  void cancel(Handle& handle);
  /// Cancels `handle` and starts it again: the idiom for a timer restarted with a new interval.
  void restart(Handle& handle, std::chrono::milliseconds after, Fn fn, void* context, std::uint64_t argument) {
    cancel(handle);
    handle = start(after, fn, context, argument);
  }

  /// Timers started and not yet fired or cancelled.
  std::size_t size() const { return live_; }
  std::chrono::milliseconds tick() const { return tick_; }
  /// Timer references the slots have room for (their buffers' capacity): the wheel's memory.
  std::size_t reserved() const;

 private:
  struct Entry {
    std::uint64_t due = 0;           ///< in ticks since the wheel's epoch
    std::uint32_t generation = 1;    ///< bumped when the entry fires, is cancelled or reused
    bool armed = false;
    Fn fn = nullptr;
    void* context = nullptr;
    std::uint64_t argument = 0;
    std::function<void()> slow;      ///< used when fn is null
  };
  struct Ref {
    std::uint32_t index, generation;
  };

  std::uint64_t now_tick() const;
  std::uint32_t allocate();
  void release(std::uint32_t index);
  void schedule(std::uint64_t due);
  void expire();

  asio::steady_timer timer_;
  std::chrono::milliseconds tick_;
  Clock::time_point epoch_;
  std::vector<std::vector<Ref>> slots_;
  std::vector<Entry> entries_;
  std::vector<std::uint32_t> free_;
  std::uint64_t done_ = 0;           ///< every tick up to this one has been expired
  std::uint64_t armed_for_ = 0;      ///< the tick the asio timer waits for (0: not waiting)
  std::size_t live_ = 0;
  /// A slot keeps a buffer of up to this many references however empty it is; a larger one is
  /// cut down once three quarters of it are unused. A slot that fills to a few hundred every turn
  /// (82 s) grows again once per turn: a few hundred reallocations a second over 8192 slots, for a
  /// wheel whose memory follows the timers it holds (at most 4 MB of idle buffers).
  static constexpr std::size_t kSlotKeep = 64;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace e911::runtime
