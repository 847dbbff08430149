// Crash-safe file writes (see durable_file.hpp).
#include "e911/durable_file.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "e911/error.hpp"

namespace e911 {

namespace {

[[noreturn]] void fail(const std::string& what, const std::string& path, int err) {
  throw Error(ErrorKind::failure, "cannot " + what + " '" + path + "': " + std::strerror(err));
}

void sync_fd(int fd, const std::string& what, const std::string& path) {
  if (::fsync(fd) != 0) {
    const int err = errno;
    ::close(fd);
    fail(what, path, err);
  }
}

std::string parent_of(const std::string& path) {
  const std::filesystem::path p(path);
  return p.has_parent_path() ? p.parent_path().string() : ".";
}

}  // namespace

void sync_file(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail("sync", path, errno);
  sync_fd(fd, "sync", path);
  ::close(fd);
}

void sync_parent_dir(const std::string& path) {
  const std::string dir = parent_of(path);
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) fail("sync the folder", dir, errno);
  sync_fd(fd, "sync the folder", dir);
  ::close(fd);
}

void write_file_durably(const std::string& path, const std::vector<std::string_view>& parts) {
  std::error_code ec;
  std::filesystem::create_directories(parent_of(path), ec);
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) fail("write", path, errno);
  auto give_up = [&](int err) {
    ::close(fd);
    ::unlink(tmp.c_str());
    fail("write", path, err);
  };
  for (std::string_view part : parts) {
    while (!part.empty()) {
      const ssize_t n = ::write(fd, part.data(), part.size());
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) give_up(errno);
      part.remove_prefix(static_cast<std::size_t>(n));
    }
  }
  // The data reaches the disk before the name points at it: else a power cut after the rename
  // could leave `path` naming an empty or partial file.
  if (::fsync(fd) != 0) give_up(errno);
  if (::close(fd) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    fail("write", path, err);
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    fail("write", path, err);
  }
  sync_parent_dir(path);
}

}  // namespace e911
