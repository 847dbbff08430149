#pragma once
// The runtime's memory as the system sees it, and giving freed heap back (issue 14, soak).
//
// Why: `serve` keeps freed memory in the process (M_TRIM_THRESHOLD 256 MB, serve.cpp) so that
// the next wave of calls does not fault in fresh zeroed pages: without it a sixth of a loaded
// runtime's CPU went to clearing pages. The price was that a burst (a desk outage holding tens
// of thousands of deliveries for their retries) left resident memory at its high-water mark for
// good. HeapTrimmer pays the page faults once, after the burst, when the heap holds more free
// memory than a wave of calls needs; the runtime runs it once a minute (serve.cpp).
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
  bool trimmed = false;            ///< false: not enough to give back, nothing done
  std::uint64_t heap_free = 0;     ///< free heap before (malloc's count: pages already given back included)
  std::uint64_t resident_before = 0, resident_after = 0;
  std::chrono::microseconds took{0};
};

/// Gives free heap back to the kernel (malloc_trim) once the memory the process holds beyond
/// what its heap has in use has grown by more than `slack` since the last trim (or since start),
/// keeping `slack` at the top of the heap for the next wave; else does nothing.
///
/// Why "grown since the last trim": malloc still counts the pages it gave back as free, and a
/// heap fragmented by a burst keeps some partly used pages that no trim can give back. Judged by
/// malloc's free count alone, every minute after a burst would trim again, stalling the loop for
/// tens of milliseconds to give back nothing.
class HeapTrimmer {
 public:
  explicit HeapTrimmer(std::uint64_t slack) : slack_(slack) {}
  Trim run();

 private:
  std::uint64_t slack_;
  std::uint64_t floor_ = 0;  ///< resident beyond the heap in use, as the last trim left it
};

}  // namespace e911::runtime
