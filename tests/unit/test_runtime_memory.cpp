// The runtime's memory readings and HeapTrimmer, on this process's own heap.
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
namespace {

// What a desk outage leaves: many small blocks freed between survivors, so no trim at the top of
// the heap can give them back; only malloc_trim's release of whole free pages can. Returns the
// survivors (one per 64 kB or so).
std::vector<std::unique_ptr<char[]>> burst() {
  std::vector<std::unique_ptr<char[]>> blocks(200'000);
  for (auto& b : blocks) {
    b.reset(new char[1000]);
    for (int i = 0; i < 1000; i += 64) b[i] = static_cast<char>(i);  // resident, not just reserved
  }
  for (std::size_t i = 0; i < blocks.size(); ++i)
    if (i % 64 != 0) blocks[i].reset();
  return blocks;
}

}  // namespace

TEST_CASE("the heap trimmer gives back a burst's free heap once, and again only after another burst") {
  constexpr std::uint64_t MB = std::uint64_t{1} << 20;
  runtime::HeapTrimmer never(std::uint64_t{1} << 40);
  runtime::HeapTrimmer trimmer(16 * MB);

  auto first = burst();
  CHECK_FALSE(never.run().trimmed);  // less to give back than its slack: nothing done

  const runtime::MemoryUse before = runtime::memory_use();
  REQUIRE(before.heap_free > 100 * MB);
  const runtime::Trim t = trimmer.run();
  CHECK(t.trimmed);
  CHECK(t.heap_free >= 100 * MB);
  CHECK(t.resident_before > t.resident_after + 100 * MB);
  CHECK(runtime::memory_use().resident + 100 * MB < before.resident);
  for (std::size_t i = 0; i < first.size(); i += 64) CHECK(first[i][64] == 64);  // survivors intact

  // malloc still counts the pages it gave back as free: a trim now would give back nothing.
  CHECK(runtime::memory_use().heap_free > 100 * MB);
  CHECK_FALSE(trimmer.run().trimmed);

  // The next burst is given back in its turn.
  auto second = burst();
  const runtime::Trim again = trimmer.run();
  CHECK(again.trimmed);
  CHECK(again.resident_before > again.resident_after + 100 * MB);
}
#endif
