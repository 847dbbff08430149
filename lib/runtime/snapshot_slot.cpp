// The snapshot in service, its reload and its last-good copy (see runtime_snapshot.hpp).
#include "e911/runtime_snapshot.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <optional>
#include <exception>
#include <filesystem>
#include <fstream>

#include "e911/durable_file.hpp"
#include "e911/error.hpp"

namespace e911::runtime {

namespace {

// The whole file in one read (a character iterator over a few hundred MB is slow); nullopt when
// it cannot be read, with `why`. Only a regular file is read: a FIFO, a device or a socket would
// block the read until a writer came (opened without blocking, and refused before a byte is read).
std::optional<std::string> read_all(const std::string& path, std::string& why) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) {
    why = std::string("cannot read it: ") + std::strerror(errno);
    return std::nullopt;
  }
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    why = std::string("cannot read it: ") + std::strerror(errno);
    return std::nullopt;
  }
  if (!S_ISREG(st.st_mode)) {
    why = std::string("it is not a regular file (") +
          (S_ISFIFO(st.st_mode) ? "a FIFO" : S_ISDIR(st.st_mode) ? "a directory" : S_ISSOCK(st.st_mode) ? "a socket" : "a device") + ")";
    return std::nullopt;
  }
  std::string data(static_cast<std::size_t>(st.st_size), '\0');
  std::size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = ::read(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      why = std::string("cannot read it: ") + std::strerror(errno);
      return std::nullopt;
    }
    if (n == 0) break;  // cut short while read: the checksum refuses it
    done += static_cast<std::size_t>(n);
  }
  data.resize(done);
  return data;
}

// A snapshot file read once and checked: the snapshot and the very bytes it came from, or why
// it was refused.
struct Loaded {
  std::shared_ptr<const Snapshot> snapshot;
  std::string bytes;
  std::string why;
};

Loaded load_file(const std::string& path) {
  Loaded got;
  try {
    std::string why;
    auto bytes = read_all(path, why);
    if (!bytes) throw Error(ErrorKind::failure, why);
    got.bytes = std::move(*bytes);
    got.snapshot = Snapshot::parse(got.bytes, path);
  } catch (const Error& e) {
    got.why = e.what();
  } catch (const std::exception& e) {  // e.g. std::bad_alloc on a corrupt size: still refused
    got.why = e.what();
  }
  if (!got.snapshot) got.bytes.clear();
  return got;
}

// Keeps `bytes` as the last-good copy of `path` unless it already holds them. Returns why it
// could not (empty: kept).
std::string keep_last_good(const std::string& path, const std::string& bytes) {
  const std::string copy = SnapshotSlot::last_good_path(path);
  std::error_code ec;
  std::string unread;
  if (std::filesystem::file_size(copy, ec) == bytes.size() && !ec)
    if (const auto have = read_all(copy, unread); have && *have == bytes) return {};
  try {
    write_file_durably(copy, {bytes});
    return {};
  } catch (const Error& e) {
    return std::string(e.what()) + "; a restart with a bad '" + path + "' would have no good copy to fall back on";
  }
}

}  // namespace

SnapshotSlot::Reload SnapshotSlot::reload(const std::string& path) {
  std::lock_guard one_at_a_time(reload_mutex_);
  Loaded got = load_file(path);
  if (!got.snapshot) {
    return {false, "snapshot '" + path + "' refused: " + got.why + "; revision " + revision_text(current()) + " stays in service", {}};
  }
  const auto was = replace(got.snapshot);
  set_source(path);
  return {true, "snapshot revision " + revision_text(got.snapshot) + " in service (was " + revision_text(was) + ")", keep_last_good(path, got.bytes)};
}

SnapshotSlot::Start SnapshotSlot::start(const std::string& path) {
  std::lock_guard one_at_a_time(reload_mutex_);
  const std::string copy = last_good_path(path);
  std::error_code ec;
  const bool have_file = std::filesystem::exists(path, ec), have_copy = std::filesystem::exists(copy, ec);
  if (!have_file && !have_copy) return {};
  std::string why = "it is missing";
  if (have_file) {
    Loaded got = load_file(path);
    if (got.snapshot) {
      replace(got.snapshot);
      set_source(path);
      Start s{true, false, "snapshot revision " + revision_text(got.snapshot) + " in service"};
      if (const std::string w = keep_last_good(path, got.bytes); !w.empty()) s.message += "; its last-good copy was not kept: " + w;
      return s;
    }
    why = got.why;
  }
  if (!have_copy)
    throw Error(ErrorKind::invalid, "snapshot '" + path + "' refused: " + why + "; there is no last-good copy ('" + copy + "') to serve instead",
                "publish a good snapshot ('e911ctl publish'), then start again");
  Loaded old = load_file(copy);
  if (!old.snapshot)
    throw Error(ErrorKind::invalid, "snapshot '" + path + "' refused: " + why + "; its last-good copy is refused too: " + old.why,
                "publish a good snapshot ('e911ctl publish'), then start again");
  replace(old.snapshot);
  set_source(copy);
  return {true, true,
          "snapshot '" + path + "' refused: " + why + "; serving its last-good copy '" + copy + "', revision " + revision_text(old.snapshot) +
              ", until a good snapshot is published and loaded"};
}

}  // namespace e911::runtime
