#pragma once
// The runtime's memory as the system sees it, and giving freed heap back (issue 14, soak).
//
// Why: `serve` keeps freed memory in the process (M_TRIM_THRESHOLD 256 MB, serve.cpp) so that
// the next wave of calls does not fault in fresh zeroed pages: without it a sixth of a loaded
// runtime's CPU went to clearing pages. The price was that a burst (a desk outage holding tens
// of thousands of deliveries for their retries) left resident memory at its high-water mark for
// good. trim_heap() pays the page faults once, after the burst, when the heap holds more free
// memory than a wave of calls needs; the runtime calls it once a minute (serve.cpp).
#include <chrono>
#include <cstddef>
#include <cstdint>

namespace e911::runtime {

struct MemoryUse {
  std::uint64_t resident = 0;     ///< resident set (VmRSS), bytes; 0 when /proc is not there
  std::uint64_t heap_in_use = 0;  ///< bytes malloc has handed out and not had back
  std::uint64_t heap_free = 0;    ///< bytes malloc holds free (kept for the next allocations)
  std::size_t open_fds = 0;       ///< open file descriptors (sockets, the log, the snapshot)
};

/// Read now (a few system calls and a walk of malloc's free lists: for a scrape, not per call).
MemoryUse memory_use();

struct Trim {
  bool trimmed = false;            ///< false: less than the slack was free, nothing done
  std::uint64_t heap_free = 0;     ///< free heap before
  std::uint64_t resident_before = 0, resident_after = 0;
  std::chrono::microseconds took{0};
};

/// Gives free heap back to the kernel (malloc_trim) when more than `slack` bytes of it are free,
/// keeping `slack` at the top of the heap for the next wave; else does nothing.
Trim trim_heap(std::uint64_t slack);

}  // namespace e911::runtime
