// The runtime's memory readings and trim_heap(), on this process's own heap.
#include <catch2/catch.hpp>
#include <fcntl.h>
#include <unistd.h>

#include <memory>
#include <vector>

#include "e911/runtime_memory.hpp"

using namespace e911;

TEST_CASE("memory_use reads the resident set, the heap and the open descriptors") {
  const runtime::MemoryUse before = runtime::memory_use();
  CHECK(before.resident > 1'000'000);
  CHECK(before.open_fds >= 3);  // stdin, stdout, stderr
  const int fd = ::open("/dev/null", O_RDONLY);
  REQUIRE(fd >= 0);
  CHECK(runtime::memory_use().open_fds == before.open_fds + 1);
  ::close(fd);
  CHECK(runtime::memory_use().open_fds == before.open_fds);
}

#if defined(__SANITIZE_ADDRESS__)
// AddressSanitizer has an allocator of its own: malloc's figures and malloc_trim do not see it.
#else
TEST_CASE("trim_heap gives back free heap past the slack, and leaves a small one alone") {
  // What a desk outage leaves: many small blocks freed between survivors, so no trim at the top
  // of the heap can give them back; only malloc_trim's release of whole free pages can.
  std::vector<std::unique_ptr<char[]>> blocks(200'000);
  for (auto& b : blocks) {
    b.reset(new char[1000]);
    for (int i = 0; i < 1000; i += 64) b[i] = static_cast<char>(i);  // resident, not just reserved
  }
  for (std::size_t i = 0; i < blocks.size(); ++i)
    if (i % 64 != 0) blocks[i].reset();  // one survivor per 64 kB or so

  const runtime::Trim none = runtime::trim_heap(std::uint64_t{1} << 40);
  CHECK_FALSE(none.trimmed);  // less free than the slack: nothing done

  const runtime::MemoryUse before = runtime::memory_use();
  REQUIRE(before.heap_free > (std::uint64_t{100} << 20));
  const runtime::Trim t = runtime::trim_heap(std::uint64_t{16} << 20);
  CHECK(t.trimmed);
  CHECK(t.heap_free >= (std::uint64_t{100} << 20));
  CHECK(t.resident_before > t.resident_after + (std::uint64_t{100} << 20));
  CHECK(runtime::memory_use().resident + (std::uint64_t{100} << 20) < before.resident);
  for (std::size_t i = 0; i < blocks.size(); i += 64) CHECK(blocks[i][64] == 64);  // survivors intact
}
#endif
