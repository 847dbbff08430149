#pragma once
// The snapshot in service (ARCHITECTURE.md "The runtime"): loaded from the published file,
// checked (format version, checksum) by Snapshot::load, and swapped in whole. A request copies
// the pointer once and keeps that snapshot to its end, whatever is swapped in meanwhile; a file
// that fails to load is refused and the last good snapshot stays in service.
//
// The pointer is a std::shared_ptr<const Snapshot> guarded by a mutex and copied out per
// request, not std::atomic<std::shared_ptr> (GCC 12's libstdc++ has none) nor the
// std::atomic_load/atomic_store overloads (deprecated in C++20). The lock is held only for the
// copy of the pointer (a reference-count increment), never for a load: reload() reads and
// indexes the file first, then takes the lock to swap.
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

#include "e911/snapshot.hpp"

namespace e911::runtime {

class SnapshotSlot {
 public:
  SnapshotSlot() = default;
  explicit SnapshotSlot(std::shared_ptr<const Snapshot> first) : current_(std::move(first)) {}
  SnapshotSlot(const SnapshotSlot&) = delete;
  SnapshotSlot& operator=(const SnapshotSlot&) = delete;

  /// The snapshot in service (nullptr: none); the caller's copy stays valid after a swap.
  std::shared_ptr<const Snapshot> current() const {
    std::lock_guard lock(mutex_);
    return current_;
  }
  /// Puts `next` in service; returns the one it replaces.
  std::shared_ptr<const Snapshot> replace(std::shared_ptr<const Snapshot> next) {
    std::lock_guard lock(mutex_);
    current_.swap(next);
    return next;
  }

  /// What a reload did, with the one log line that says so.
  struct Reload {
    bool swapped = false;
    std::string message;  ///< "snapshot revision N in service (was M)" or why the file was refused
    std::string warning;  ///< why the last-good copy could not be kept (empty: kept)
  };
  /// Loads `path` (Snapshot::parse of the bytes read once) and swaps it in when it loads; never
  /// throws for a bad file. The bytes put in service are then kept as last_good_path(path),
  /// durably (write_file_durably), so a restart after a crash has them even when `path` is
  /// later overwritten with a bad file. One reload at a time (SIGHUP and the admin API alike).
  Reload reload(const std::string& path);

  /// What start() put in service.
  struct Start {
    bool serving = false;       ///< a snapshot is in service
    bool from_last_good = false;  ///< it is the last-good copy: `path` is missing or refused
    std::string message;        ///< the log line: what is in service, and why not `path`
  };
  /// At start: `path` if it loads (and it becomes the last-good copy), else its last-good copy,
  /// with the reason `path` was refused in the message. Neither file: nothing in service, not an
  /// error (the runtime answers 503 until a snapshot is published). Throws Error(invalid) when
  /// there is a file but no good one: an emergency runtime that would route nothing must not
  /// look as if it were up.
  Start start(const std::string& path);

  /// The file the snapshot in service was read from by start() or reload(): the snapshot's
  /// path, or its last-good copy; empty when none was.
  std::string source() const {
    std::lock_guard lock(mutex_);
    return source_;
  }

  /// Where the last snapshot put in service is kept: `path` + ".last-good".
  static std::string last_good_path(const std::string& path) { return path + ".last-good"; }

  /// The revision in service as text: its number, or "none".
  static std::string revision_text(const std::shared_ptr<const Snapshot>& snap) {
    return snap ? std::to_string(snap->revision()) : std::string("none");
  }

 private:
  void set_source(const std::string& path) {
    std::lock_guard lock(mutex_);
    source_ = path;
  }

  mutable std::mutex mutex_;
  std::mutex reload_mutex_;  // held through a whole reload: load, swap and last-good copy
  std::shared_ptr<const Snapshot> current_;
  std::string source_;
};

}  // namespace e911::runtime
