// Crash-safe file writes (see durable_file.hpp).
#include "e911/durable_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
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

void create_folders(const std::string& dir) {
  if (dir.empty()) return;
  std::filesystem::path so_far;
  for (const auto& part : std::filesystem::path(dir)) {
    so_far /= part;
    // 0755 less the umask: never writable by group or others, even under umask 000, where a
    // folder others may write would let them swap the files in it.
    if (::mkdir(so_far.c_str(), 0755) != 0 && errno != EEXIST) return;  // the write that follows says why
  }
}

int create_private_file(const std::string& path, const std::string& replacing) {
  // A stale file of that name (a process of the same id killed mid-write) goes first: the new
  // one is created, never opened through a link someone left there.
  ::unlink(path.c_str());
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) return -1;
  // 0600 whatever the umask, and whatever it was created with; a file it replaces that its
  // owner shared with a group (chgrp e911ctl, chmod 0640) stays readable by that group.
  mode_t mode = 0600;
  struct stat old {}, made {};
  if (!replacing.empty() && ::stat(replacing.c_str(), &old) == 0 && S_ISREG(old.st_mode) && (old.st_mode & S_IRGRP) &&
      ::fstat(fd, &made) == 0 && (made.st_gid == old.st_gid || ::fchown(fd, static_cast<uid_t>(-1), old.st_gid) == 0))
    mode |= S_IRGRP;
  if (::fchmod(fd, mode) != 0) {
    const int err = errno;
    ::close(fd);
    ::unlink(path.c_str());
    errno = err;
    return -1;
  }
  return fd;
}

void write_file_durably(const std::string& path, const std::vector<std::string_view>& parts, bool sync) {
  create_folders(parent_of(path));
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  const int fd = create_private_file(tmp, path);
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
  if (sync && ::fsync(fd) != 0) give_up(errno);
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
  if (sync) sync_parent_dir(path);
}

}  // namespace e911
