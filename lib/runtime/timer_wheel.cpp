// The runtime's timing wheel: see runtime_timer_wheel.hpp for why it exists.
#include "e911/runtime_timer_wheel.hpp"

#include <algorithm>
#include <utility>

namespace e911::runtime {

TimerWheel::TimerWheel(asio::io_context& io, std::chrono::milliseconds tick, std::size_t slots)
    : timer_(io), tick_(tick.count() > 0 ? tick : std::chrono::milliseconds(1)), epoch_(Clock::now()), slots_(slots ? slots : 1) {}

TimerWheel::~TimerWheel() { *alive_ = false; }

std::uint64_t TimerWheel::now_tick() const {
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - epoch_).count() / tick_.count());
}

std::uint32_t TimerWheel::allocate() {
  if (!free_.empty()) {
    const std::uint32_t index = free_.back();
    free_.pop_back();
    return index;
  }
  entries_.emplace_back();
  return static_cast<std::uint32_t>(entries_.size() - 1);
}

std::size_t TimerWheel::reserved() const {
  std::size_t n = 0;
  for (const std::vector<Ref>& slot : slots_) n += slot.capacity();
  return n;
}

void TimerWheel::release(std::uint32_t index) {
  Entry& e = entries_[index];
  ++e.generation;  // every handle and slot reference to it is stale from now on
  e.armed = false;
  e.fn = nullptr;
  e.context = nullptr;
  e.slow = nullptr;
  free_.push_back(index);
  --live_;
}

TimerWheel::Handle TimerWheel::start(std::chrono::milliseconds after, Fn fn, void* context, std::uint64_t argument) {
  // The first tick whose start is at or after now + after: never early, at most one tick late.
  const auto at = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - epoch_) + std::max(after, std::chrono::milliseconds(0));
  std::uint64_t due = static_cast<std::uint64_t>((at.count() + tick_.count() - 1) / tick_.count());
  if (due <= done_) due = done_ + 1;  // a tick already expired (or being expired) is not looked at again
  const std::uint32_t index = allocate();
  Entry& e = entries_[index];
  e.due = due;
  e.armed = true;
  e.fn = fn;
  e.context = context;
  e.argument = argument;
  ++live_;
  slots_[due % slots_.size()].push_back(Ref{index, e.generation});
  schedule(due);
  return Handle{index, e.generation};
}

TimerWheel::Handle TimerWheel::start(std::chrono::milliseconds after, std::function<void()> fn) {
  Handle h = start(after, nullptr, nullptr, 0);
  entries_[h.index].slow = std::move(fn);
  return h;
}

void TimerWheel::cancel(Handle& handle) {
  if (handle.started() && handle.index < entries_.size()) {
    Entry& e = entries_[handle.index];
    if (e.armed && e.generation == handle.generation) release(handle.index);
  }
  handle = Handle{};
}

void TimerWheel::schedule(std::uint64_t due) {
  if (armed_for_ != 0 && armed_for_ <= due) return;  // the wait in progress comes first
  armed_for_ = due;
  timer_.expires_at(epoch_ + due * tick_);
  timer_.async_wait([this, alive = std::weak_ptr<bool>(alive_)](const std::error_code& ec) {
    if (ec) return;  // replaced by an earlier deadline, or the wheel is going away
    auto a = alive.lock();
    if (!a || !*a) return;
    expire();
  });
}

void TimerWheel::expire() {
  armed_for_ = 0;
  const std::uint64_t now = now_tick();
  const std::size_t n = slots_.size();
  // Tick by tick, so that a timer started by a callback for the next tick is found in this pass.
  while (done_ < now) {
    const std::uint64_t t = ++done_;
    std::vector<Ref>& slot = slots_[t % n];  // slots_ itself never grows: the reference holds
    if (slot.empty()) continue;
    // In place: what stays (a later turn of the wheel) is compacted to the front, and a callback
    // may append to this very slot (a timer a whole turn away), read by index as the loop goes.
    // No buffer changes hands between slots: swapping each slot's buffer with a spare carried
    // the largest buffer seen from slot to slot until every slot held one that size, memory
    // that grew with uptime (22 MB after 5 minutes at 400 calls/s) and was never given back.
    std::size_t keep = 0;
    for (std::size_t i = 0; i < slot.size(); ++i) {
      const Ref r = slot[i];
      Entry& e = entries_[r.index];
      if (!e.armed || e.generation != r.generation) continue;  // cancelled (or fired and reused)
      if (e.due > t) {                                          // a later turn of the wheel
        slot[keep++] = r;
        continue;
      }
      const Fn fn = e.fn;
      void* const context = e.context;
      const std::uint64_t argument = e.argument;
      std::function<void()> slow = std::move(e.slow);
      release(r.index);
      // `e` may be reused by the callback from here on, and `slot` appended to.
      if (fn)
        fn(context, argument);
      else if (slow)
        slow();
    }
    slot.resize(keep);
    // A burst (an outage's retransmissions) leaves a large buffer behind: give it back once the
    // slot holds a quarter of it, so the wheel's memory follows the timers running now.
    if (slot.capacity() > kSlotKeep && slot.size() < slot.capacity() / 4) {
      std::vector<Ref> smaller;
      smaller.reserve(std::max(kSlotKeep, 2 * slot.size()));
      smaller.assign(slot.begin(), slot.end());
      slot.swap(smaller);
    }
  }
  if (live_ == 0) return;
  // The next slot with anything in it; stale references only cost one early wake-up.
  for (std::uint64_t t = done_ + 1; t <= done_ + n; ++t)
    if (!slots_[t % n].empty()) return schedule(t);
}

}  // namespace e911::runtime
