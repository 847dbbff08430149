// The runtime's memory, read from /proc and malloc: see runtime_memory.hpp.
#include "e911/runtime_memory.hpp"

#include <dirent.h>
#include <malloc.h>

#include <cstdio>
#include <cstring>

namespace e911::runtime {

namespace {

std::uint64_t resident_bytes() {
  std::FILE* f = std::fopen("/proc/self/statm", "r");
  if (!f) return 0;
  unsigned long long size = 0, resident = 0;
  const int n = std::fscanf(f, "%llu %llu", &size, &resident);
  std::fclose(f);
  return n == 2 ? static_cast<std::uint64_t>(resident) * 4096u : 0;
}

std::size_t count_fds() {
  DIR* d = opendir("/proc/self/fd");
  if (!d) return 0;
  std::size_t n = 0;
  while (const dirent* e = readdir(d))
    if (e->d_name[0] != '.') ++n;
  closedir(d);
  return n > 0 ? n - 1 : 0;  // the directory's own descriptor, open while it is read
}

}  // namespace

MemoryUse memory_use() {
  MemoryUse m;
  m.resident = resident_bytes();
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 33))
  const struct mallinfo2 mi = mallinfo2();
  m.heap_in_use = mi.uordblks + mi.hblkhd;  // small blocks from the arenas, large ones mmap'ed
  m.heap_free = mi.fordblks;
#endif
  m.open_fds = count_fds();
  return m;
}

Trim HeapTrimmer::run() {
  Trim t;
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 33))
  const struct mallinfo2 before = mallinfo2();
  const std::uint64_t in_use = before.uordblks + before.hblkhd;
  t.heap_free = before.fordblks;
  t.resident_before = resident_bytes();
  const std::uint64_t beyond = t.resident_before > in_use ? t.resident_before - in_use : 0;
  if (t.heap_free <= slack_ || beyond <= floor_ + slack_) {
    // Less than the slack to give back. A heap that shrank below the last trim's mark lowers it.
    if (beyond < floor_) floor_ = beyond;
    return t;
  }
  const auto start = std::chrono::steady_clock::now();
  malloc_trim(static_cast<std::size_t>(slack_));
  t.took = std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - start);
  t.resident_after = resident_bytes();
  const struct mallinfo2 after = mallinfo2();
  const std::uint64_t in_use_after = after.uordblks + after.hblkhd;
  floor_ = t.resident_after > in_use_after ? t.resident_after - in_use_after : 0;
  t.trimmed = true;
#endif
  return t;
}

}  // namespace e911::runtime
